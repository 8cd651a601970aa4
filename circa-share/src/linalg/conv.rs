//! 2-D convolution (NCHW input, OIHW weights) by im2col and the blocked
//! multiply, over the field and over plain `i64` with the same layout.

use super::kernel::{Scalar, Schedule, gemm_nt};
use super::window::Window2d;
use crate::error::Error;
use crate::field::batch::check_len;

/// The shape of a 2-D convolution.
///
/// Input: `batch x in_channels x in_height x in_width` (NCHW, row-major).
/// Weights: `out_channels x (in_channels / groups) x kernel_h x kernel_w` (OIHW).
/// Output: `batch x out_channels x out_height x out_width`.
/// The kernel slides as its [`Window2d`] says (stride and zero padding per
/// axis and side; a zero is a valid share of zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dShape {
    /// Images per call (N).
    pub batch: usize,
    /// Input channels (C).
    pub in_channels: usize,
    /// Input height (H).
    pub in_height: usize,
    /// Input width (W).
    pub in_width: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size, stride and padding.
    pub window: Window2d,
    /// Channel groups (1 = dense convolution, `in_channels` = depthwise).
    pub groups: usize,
}

impl Conv2dShape {
    /// A square-kernel convolution of one image, stride 1, no padding, one group.
    pub fn new(
        in_channels: usize,
        in_height: usize,
        in_width: usize,
        out_channels: usize,
        kernel: usize,
    ) -> Self {
        Self {
            batch: 1,
            in_channels,
            in_height,
            in_width,
            out_channels,
            window: Window2d::square(kernel, 1),
            groups: 1,
        }
    }

    /// Sets the stride (both directions).
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.window = self.window.with_stride(stride);
        self
    }

    /// Sets the zero padding (every side).
    pub fn with_padding(mut self, padding: usize) -> Self {
        self.window = self.window.with_padding(padding);
        self
    }

    /// Sets the window (kernel, stride, padding).
    pub fn with_window(mut self, window: Window2d) -> Self {
        self.window = window;
        self
    }

    /// Sets the number of groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Sets the batch size.
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// Checks every dimension; all other methods assume a valid shape.
    pub fn validate(&self) -> Result<(), Error> {
        for (dimension, v) in [
            ("batch", self.batch),
            ("in_channels", self.in_channels),
            ("in_height", self.in_height),
            ("in_width", self.in_width),
            ("out_channels", self.out_channels),
            ("groups", self.groups),
        ] {
            if v == 0 {
                return Err(Error::ZeroDimension { dimension });
            }
        }
        for channels in [self.in_channels, self.out_channels] {
            if channels % self.groups != 0 {
                return Err(Error::GroupsMismatch {
                    channels,
                    groups: self.groups,
                });
            }
        }
        let (oh, ow) = self.window.output_hw(self.in_height, self.in_width)?;
        let total = [
            self.input_len_checked(),
            self.weight_len_checked(),
            self.batch
                .checked_mul(self.out_channels)
                .and_then(|v| v.checked_mul(oh))
                .and_then(|v| v.checked_mul(ow)),
        ];
        if total.iter().any(Option::is_none) {
            return Err(Error::ShapeOverflow);
        }
        Ok(())
    }

    fn input_len_checked(&self) -> Option<usize> {
        self.batch
            .checked_mul(self.in_channels)?
            .checked_mul(self.in_height)?
            .checked_mul(self.in_width)
    }

    fn weight_len_checked(&self) -> Option<usize> {
        self.out_channels.checked_mul(
            (self.in_channels / self.groups)
                .checked_mul(self.window.kernel_h)?
                .checked_mul(self.window.kernel_w)?,
        )
    }

    fn out_hw(&self) -> (usize, usize) {
        // A valid shape (see `validate`) has a valid window.
        self.window
            .output_hw(self.in_height, self.in_width)
            .unwrap_or((0, 0))
    }

    /// Output height: `(H + pad_top + pad_bottom - kh) / stride_h + 1`.
    pub fn out_height(&self) -> usize {
        self.out_hw().0
    }

    /// Output width.
    pub fn out_width(&self) -> usize {
        self.out_hw().1
    }

    /// Output positions per image and channel: `out_height * out_width`.
    pub fn out_positions(&self) -> usize {
        let (h, w) = self.out_hw();
        h * w
    }

    /// Elements of the input (all images).
    pub fn input_len(&self) -> usize {
        self.batch * self.in_channels * self.in_height * self.in_width
    }

    /// Elements of the weight tensor.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.patch_len()
    }

    /// Elements of the output (all images).
    pub fn output_len(&self) -> usize {
        self.batch * self.out_channels * self.out_positions()
    }

    /// Length of one im2col patch: `(C / groups) * kh * kw`.
    pub fn patch_len(&self) -> usize {
        (self.in_channels / self.groups) * self.window.kernel_h * self.window.kernel_w
    }

    /// Multiply-accumulates of one call (all images).
    pub fn macs(&self) -> u64 {
        self.output_len() as u64 * self.patch_len() as u64
    }
}

/// Layout of an im2col matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Im2colLayout {
    /// One row of [`Conv2dShape::patch_len`] elements per output position
    /// (`npos x k`): what the blocked multiply reads.
    PositionMajor,
    /// One row of [`Conv2dShape::out_positions`] elements per patch entry
    /// (`k x npos`): the matrix `B` of `W B` with the weights as `A`.
    PatchMajor,
}

/// Writes the im2col matrix of one image and one group into `cols` in the
/// given layout. Patch entries are ordered `(channel, ky, kx)` like the
/// weights, positions row-major over `(oy, ox)`; out-of-image taps are
/// `T::default()` (zero).
pub(crate) fn im2col_into<T: Copy + Default>(
    shape: &Conv2dShape,
    image: &[T],
    group: usize,
    layout: Im2colLayout,
    cols: &mut [T],
) {
    let (h, w) = (shape.in_height, shape.in_width);
    let win = shape.window;
    let (kh, kw) = (win.kernel_h, win.kernel_w);
    let (oh, ow) = (shape.out_height(), shape.out_width());
    let cg = shape.in_channels / shape.groups;
    let k = shape.patch_len();
    let npos = oh * ow;
    for oy in 0..oh {
        let y0 = Window2d::origin(oy, win.stride_h, win.pad_top);
        for ox in 0..ow {
            let x0 = Window2d::origin(ox, win.stride_w, win.pad_left);
            let pos = oy * ow + ox;
            let mut t = 0;
            for c in 0..cg {
                let plane = &image[(group * cg + c) * h * w..][..h * w];
                for ky in 0..kh {
                    let iy = y0 + ky as isize;
                    for kx in 0..kw {
                        let ix = x0 + kx as isize;
                        let v = if iy < 0 || iy >= h as isize || ix < 0 || ix >= w as isize {
                            T::default()
                        } else {
                            plane[iy as usize * w + ix as usize]
                        };
                        match layout {
                            Im2colLayout::PositionMajor => cols[pos * k + t] = v,
                            Im2colLayout::PatchMajor => cols[t * npos + pos] = v,
                        }
                        t += 1;
                    }
                }
            }
        }
    }
}

/// The im2col matrix of one image and one group in the given layout (public
/// for inspection and for the linear-layer correlations, which multiply the
/// weights by the client's im2col of its mask).
pub fn im2col<T: Copy + Default>(
    shape: &Conv2dShape,
    image: &[T],
    group: usize,
    layout: Im2colLayout,
) -> Result<Vec<T>, Error> {
    shape.validate()?;
    check_len(shape.input_len() / shape.batch, image.len())?;
    if group >= shape.groups {
        return Err(Error::GroupsMismatch {
            channels: shape.in_channels,
            groups: shape.groups,
        });
    }
    let mut cols = vec![T::default(); shape.out_positions() * shape.patch_len()];
    im2col_into(shape, image, group, layout, &mut cols);
    Ok(cols)
}

pub(crate) fn conv2d_generic<T: Scalar>(
    shape: &Conv2dShape,
    weights: &[T],
    input: &[T],
    schedule: Schedule,
) -> Result<Vec<T>, Error> {
    shape.validate()?;
    check_len(shape.weight_len(), weights.len())?;
    check_len(shape.input_len(), input.len())?;
    let npos = shape.out_positions();
    let k = shape.patch_len();
    let ocg = shape.out_channels / shape.groups;
    let in_img = shape.in_channels * shape.in_height * shape.in_width;
    let out_img = shape.out_channels * npos;
    let mut out = vec![T::default(); shape.output_len()];
    let mut cols = vec![T::default(); npos * k];
    for n in 0..shape.batch {
        let image = &input[n * in_img..][..in_img];
        for g in 0..shape.groups {
            im2col_into(shape, image, g, Im2colLayout::PositionMajor, &mut cols);
            let w = &weights[g * ocg * k..][..ocg * k];
            let o = &mut out[n * out_img + g * ocg * npos..][..ocg * npos];
            gemm_nt(w, ocg, &cols, npos, k, o, schedule);
        }
    }
    Ok(out)
}

/// Convolution over the field, over plain wrapping `i64` (the benchmark
/// reference) or over `f64` (the plaintext reference of a network), with one
/// im2col layout and blocked multiply for all. Linear, so it applies to
/// either party's share (or to a plaintext) with the weights as
/// public-to-the-caller values (signed fixed-point values in the field); no
/// bias (add it with [`crate::Share::add_public`]). With the `rayon` feature
/// the output channels of each group are split over rayon's pool
/// (bit-identical results); otherwise one thread.
pub fn conv2d<T: Scalar>(shape: &Conv2dShape, weights: &[T], input: &[T]) -> Result<Vec<T>, Error> {
    conv2d_generic(shape, weights, input, Schedule::DEFAULT)
}
