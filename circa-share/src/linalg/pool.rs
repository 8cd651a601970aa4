//! Average pooling (no padding) as a window sum times a public constant.

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
    /// Square window size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
}

impl Pool2dShape {
    /// One image, stride equal to the window (non-overlapping pooling).
    pub fn new(channels: usize, in_height: usize, in_width: usize, kernel: usize) -> Self {
        Self {
            batch: 1,
            channels,
            in_height,
            in_width,
            kernel,
            stride: kernel,
        }
    }

    /// Checks every dimension.
    pub fn validate(&self) -> Result<(), Error> {
        for (dimension, v) in [
            ("batch", self.batch),
            ("channels", self.channels),
            ("in_height", self.in_height),
            ("in_width", self.in_width),
            ("kernel", self.kernel),
            ("stride", self.stride),
        ] {
            if v == 0 {
                return Err(Error::ZeroDimension { dimension });
            }
        }
        for padded_input in [self.in_height, self.in_width] {
            if self.kernel > padded_input {
                return Err(Error::KernelTooLarge {
                    kernel: self.kernel,
                    padded_input,
                });
            }
        }
        self.batch
            .checked_mul(self.channels)
            .and_then(|v| v.checked_mul(self.in_height))
            .and_then(|v| v.checked_mul(self.in_width))
            .ok_or(Error::ShapeOverflow)?;
        Ok(())
    }

    /// Output height.
    pub fn out_height(&self) -> usize {
        (self.in_height - self.kernel) / self.stride + 1
    }

    /// Output width.
    pub fn out_width(&self) -> usize {
        (self.in_width - self.kernel) / self.stride + 1
    }

    /// Input elements.
    pub fn input_len(&self) -> usize {
        self.batch * self.channels * self.in_height * self.in_width
    }

    /// Output elements.
    pub fn output_len(&self) -> usize {
        self.batch * self.channels * self.out_height() * self.out_width()
    }
}

/// Window sums.
pub fn sum_pool2d<M: Modulus>(shape: &Pool2dShape, input: &[Fp<M>]) -> Result<Vec<Fp<M>>, Error> {
    shape.validate()?;
    check_len(shape.input_len(), input.len())?;
    let (h, w, k) = (shape.in_height, shape.in_width, shape.kernel);
    let (oh, ow) = (shape.out_height(), shape.out_width());
    let mut out = Vec::with_capacity(shape.output_len());
    for plane in input.chunks_exact(h * w) {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc: u128 = 0;
                for ky in 0..k {
                    let row = &plane[(oy * shape.stride + ky) * w + ox * shape.stride..][..k];
                    acc += row.iter().map(|v| v.value() as u128).sum::<u128>();
                }
                out.push(Fp::from_u128_reduced(acc));
            }
        }
    }
    Ok(out)
}

/// Average pooling as `scale * window sum`. For fixed point pass
/// `scale = encode(1 / kernel^2)` (scale `2^f`): the output then carries the
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
