//! 2-D convolution (NCHW input, OIHW weights) by im2col and the blocked
//! multiply, over the field and over plain `i64` with the same layout.

use super::kernel::{DotScalar, Schedule, gemm_nt};
use crate::error::Error;
use crate::field::batch::check_len;
use crate::field::{Fp, Modulus};

/// The shape of a 2-D convolution.
///
/// Input: `batch x in_channels x in_height x in_width` (NCHW, row-major).
/// Weights: `out_channels x (in_channels / groups) x kernel_height x kernel_width` (OIHW).
/// Output: `batch x out_channels x out_height x out_width`.
/// Padding is symmetric and pads with zeros (a zero is a valid share of zero).
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
    /// Kernel height.
    pub kernel_height: usize,
    /// Kernel width.
    pub kernel_width: usize,
    /// Stride (both directions).
    pub stride: usize,
    /// Zero padding on each side (both directions).
    pub padding: usize,
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
            kernel_height: kernel,
            kernel_width: kernel,
            stride: 1,
            padding: 0,
            groups: 1,
        }
    }

    /// Sets the stride.
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the zero padding.
    pub fn with_padding(mut self, padding: usize) -> Self {
        self.padding = padding;
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
            ("kernel_height", self.kernel_height),
            ("kernel_width", self.kernel_width),
            ("stride", self.stride),
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
        for (kernel, extent) in [
            (self.kernel_height, self.in_height),
            (self.kernel_width, self.in_width),
        ] {
            let padded_input = self
                .padding
                .checked_mul(2)
                .and_then(|both_sides| extent.checked_add(both_sides))
                .ok_or(Error::ShapeOverflow)?;
            if kernel > padded_input {
                return Err(Error::KernelTooLarge {
                    kernel,
                    padded_input,
                });
            }
        }
        let total = [
            self.input_len_checked(),
            self.weight_len_checked(),
            self.output_len_checked(),
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
        self.out_channels.checked_mul(self.patch_len_checked()?)
    }

    fn patch_len_checked(&self) -> Option<usize> {
        (self.in_channels / self.groups)
            .checked_mul(self.kernel_height)?
            .checked_mul(self.kernel_width)
    }

    fn output_len_checked(&self) -> Option<usize> {
        self.batch
            .checked_mul(self.out_channels)?
            .checked_mul(self.out_height())?
            .checked_mul(self.out_width())
    }

    /// Output height: `(H + 2 pad - kh) / stride + 1`.
    pub fn out_height(&self) -> usize {
        (self.in_height + 2 * self.padding - self.kernel_height) / self.stride + 1
    }

    /// Output width.
    pub fn out_width(&self) -> usize {
        (self.in_width + 2 * self.padding - self.kernel_width) / self.stride + 1
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
        self.batch * self.out_channels * self.out_height() * self.out_width()
    }

    /// Length of one im2col patch: `(C / groups) * kh * kw`.
    pub fn patch_len(&self) -> usize {
        (self.in_channels / self.groups) * self.kernel_height * self.kernel_width
    }

    /// Multiply-accumulates of one call (all images).
    pub fn macs(&self) -> u64 {
        self.output_len() as u64 * self.patch_len() as u64
    }
}

/// Writes the im2col matrix of one image and one group into `cols`:
/// one row of [`Conv2dShape::patch_len`] elements per output position
/// (row-major over `(oy, ox)`), each row ordered `(channel, ky, kx)` like the
/// weights. Out-of-image taps are `T::default()` (zero).
pub(crate) fn im2col_into<T: Copy + Default>(
    shape: &Conv2dShape,
    image: &[T],
    group: usize,
    cols: &mut [T],
) {
    let (h, w) = (shape.in_height, shape.in_width);
    let (kh, kw) = (shape.kernel_height, shape.kernel_width);
    let (oh, ow) = (shape.out_height(), shape.out_width());
    let cg = shape.in_channels / shape.groups;
    let k = shape.patch_len();
    let pad = shape.padding as isize;
    for oy in 0..oh {
        for ox in 0..ow {
            let patch = &mut cols[(oy * ow + ox) * k..][..k];
            let y0 = (oy * shape.stride) as isize - pad;
            let x0 = (ox * shape.stride) as isize - pad;
            let mut t = 0;
            for c in 0..cg {
                let plane = &image[(group * cg + c) * h * w..][..h * w];
                for ky in 0..kh {
                    let iy = y0 + ky as isize;
                    let dst = &mut patch[t..t + kw];
                    if iy < 0 || iy >= h as isize {
                        dst.fill(T::default());
                    } else {
                        let src_row = &plane[iy as usize * w..][..w];
                        for (kx, d) in dst.iter_mut().enumerate() {
                            let ix = x0 + kx as isize;
                            *d = if ix < 0 || ix >= w as isize {
                                T::default()
                            } else {
                                src_row[ix as usize]
                            };
                        }
                    }
                    t += kw;
                }
            }
        }
    }
}

/// The im2col matrix of one image and one group (public for inspection and
/// for callers that reuse one layout for several weight sets).
pub fn im2col<T: Copy + Default>(
    shape: &Conv2dShape,
    image: &[T],
    group: usize,
) -> Result<Vec<T>, Error> {
    shape.validate()?;
    check_len(shape.input_len() / shape.batch, image.len())?;
    if group >= shape.groups {
        return Err(Error::GroupsMismatch {
            channels: shape.in_channels,
            groups: shape.groups,
        });
    }
    let mut cols = vec![T::default(); shape.out_height() * shape.out_width() * shape.patch_len()];
    im2col_into(shape, image, group, &mut cols);
    Ok(cols)
}

pub(crate) fn conv2d_generic<T: DotScalar>(
    shape: &Conv2dShape,
    weights: &[T],
    input: &[T],
    schedule: Schedule,
) -> Result<Vec<T>, Error> {
    shape.validate()?;
    check_len(shape.weight_len(), weights.len())?;
    check_len(shape.input_len(), input.len())?;
    let npos = shape.out_height() * shape.out_width();
    let k = shape.patch_len();
    let ocg = shape.out_channels / shape.groups;
    let in_img = shape.in_channels * shape.in_height * shape.in_width;
    let out_img = shape.out_channels * npos;
    let mut out = vec![T::default(); shape.output_len()];
    let mut cols = vec![T::default(); npos * k];
    for n in 0..shape.batch {
        let image = &input[n * in_img..][..in_img];
        for g in 0..shape.groups {
            im2col_into(shape, image, g, &mut cols);
            let w = &weights[g * ocg * k..][..ocg * k];
            let o = &mut out[n * out_img + g * ocg * npos..][..ocg * npos];
            gemm_nt(w, ocg, &cols, npos, k, o, schedule);
        }
    }
    Ok(out)
}

/// Convolution over the field. Linear, so it applies to either party's
/// share (or to a plaintext) with the weights as public-to-the-caller field
/// elements (signed fixed-point values); no bias (add it with
/// [`crate::Share::add_public`]). With the `rayon` feature the output
/// channels of each group are split over rayon's pool (bit-identical
/// results); otherwise one thread.
pub fn conv2d<M: Modulus>(
    shape: &Conv2dShape,
    weights: &[Fp<M>],
    input: &[Fp<M>],
) -> Result<Vec<Fp<M>>, Error> {
    conv2d_generic(shape, weights, input, Schedule::DEFAULT)
}

/// The same convolution in plain wrapping `i64` arithmetic (the benchmark
/// reference and a plaintext oracle), with the identical im2col layout,
/// blocked multiply and (with the `rayon` feature) parallel split.
pub fn conv2d_i64(shape: &Conv2dShape, weights: &[i64], input: &[i64]) -> Result<Vec<i64>, Error> {
    conv2d_generic(shape, weights, input, Schedule::DEFAULT)
}
