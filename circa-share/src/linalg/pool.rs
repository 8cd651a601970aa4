//! Pooling sums: average pooling is a window sum times a public constant
//! (zero padding counts as zero, ONNX `count_include_pad = 1`); global
//! average pooling is a sum over each channel.

use super::kernel::Scalar;
use super::window::Window2d;
use crate::error::Error;
use crate::field::batch::check_len;
use crate::field::{Fp, Modulus};

/// The shape of a 2-D pooling over `batch x channels x in_height x in_width`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dShape {
    /// Images (N).
    pub batch: usize,
    /// Channels (C).
    pub channels: usize,
    /// Input height.
    pub in_height: usize,
    /// Input width.
    pub in_width: usize,
    /// Window size, stride and padding.
    pub window: Window2d,
}

impl Pool2dShape {
    /// One image, a `kernel x kernel` window with stride equal to the window
    /// (non-overlapping pooling), no padding.
    pub fn new(channels: usize, in_height: usize, in_width: usize, kernel: usize) -> Self {
        Self {
            batch: 1,
            channels,
            in_height,
            in_width,
            window: Window2d::square(kernel, kernel),
        }
    }

    /// Sets the window.
    pub fn with_window(mut self, window: Window2d) -> Self {
        self.window = window;
        self
    }

    /// Checks every dimension.
    pub fn validate(&self) -> Result<(), Error> {
        for (dimension, v) in [
            ("batch", self.batch),
            ("channels", self.channels),
            ("in_height", self.in_height),
            ("in_width", self.in_width),
        ] {
            if v == 0 {
                return Err(Error::ZeroDimension { dimension });
            }
        }
        let (oh, ow) = self.window.output_hw(self.in_height, self.in_width)?;
        let planes = self
            .batch
            .checked_mul(self.channels)
            .ok_or(Error::ShapeOverflow)?;
        planes
            .checked_mul(self.in_height)
            .and_then(|v| v.checked_mul(self.in_width))
            .and_then(|_| planes.checked_mul(oh))
            .and_then(|v| v.checked_mul(ow))
            .ok_or(Error::ShapeOverflow)?;
        Ok(())
    }

    fn out_hw(&self) -> (usize, usize) {
        // A valid shape (see `validate`) has a valid window.
        self.window
            .output_hw(self.in_height, self.in_width)
            .unwrap_or((0, 0))
    }

    /// Output height.
    pub fn out_height(&self) -> usize {
        self.out_hw().0
    }

    /// Output width.
    pub fn out_width(&self) -> usize {
        self.out_hw().1
    }

    /// Input elements.
    pub fn input_len(&self) -> usize {
        self.batch * self.channels * self.in_height * self.in_width
    }

    /// Output elements.
    pub fn output_len(&self) -> usize {
        let (h, w) = self.out_hw();
        self.batch * self.channels * h * w
    }
}

/// Sums `values` in the accumulator of `T` (lazy reduction for field elements).
fn sum<T: Scalar>(values: impl Iterator<Item = T>) -> T {
    let one = T::one();
    let mut res = T::default();
    let mut acc = T::ACC_ZERO;
    let mut terms = 0usize;
    for v in values {
        acc = T::mac(acc, v, one);
        terms += 1;
        if terms == T::CHUNK {
            res = T::add(res, T::reduce(acc));
            acc = T::ACC_ZERO;
            terms = 0;
        }
    }
    T::add(res, T::reduce(acc))
}

/// Window sums (padding counts as zero), over any [`Scalar`].
pub fn sum_pool2d<T: Scalar>(shape: &Pool2dShape, input: &[T]) -> Result<Vec<T>, Error> {
    shape.validate()?;
    check_len(shape.input_len(), input.len())?;
    let (h, w) = (shape.in_height, shape.in_width);
    let win = shape.window;
    let (oh, ow) = (shape.out_height(), shape.out_width());
    let mut out = Vec::with_capacity(shape.output_len());
    for plane in input.chunks_exact(h * w) {
        for oy in 0..oh {
            let y0 = Window2d::origin(oy, win.stride_h, win.pad_top);
            let ys = y0.max(0) as usize..(y0 + win.kernel_h as isize).clamp(0, h as isize) as usize;
            for ox in 0..ow {
                let x0 = Window2d::origin(ox, win.stride_w, win.pad_left);
                let xs =
                    x0.max(0) as usize..(x0 + win.kernel_w as isize).clamp(0, w as isize) as usize;
                out.push(sum(ys.clone().flat_map(|y| {
                    plane[y * w + xs.start..y * w + xs.end].iter().copied()
                })));
            }
        }
    }
    Ok(out)
}

/// Sum over each `in_height x in_width` plane (global average pooling is this
/// times the public reciprocal of the plane size).
pub fn sum_planes<T: Scalar>(plane_len: usize, input: &[T]) -> Result<Vec<T>, Error> {
    if plane_len == 0 {
        return Err(Error::ZeroDimension { dimension: "plane" });
    }
    check_len(input.len().next_multiple_of(plane_len), input.len())?;
    Ok(input
        .chunks_exact(plane_len)
        .map(|p| sum(p.iter().copied()))
        .collect())
}

/// Average pooling as `scale * window sum`. For fixed point pass
/// `scale = encode(1 / area)` (scale `2^f`): the output then carries the
/// product scale `2^(2f)` like any linear layer, and is truncated with the
/// next rescale.
pub fn avg_pool2d<M: Modulus>(
    shape: &Pool2dShape,
    input: &[Fp<M>],
    scale: Fp<M>,
) -> Result<Vec<Fp<M>>, Error> {
    let mut out = sum_pool2d(shape, input)?;
    out.iter_mut().for_each(|v| *v *= scale);
    Ok(out)
}
