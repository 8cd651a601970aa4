//! The geometry of a 2-D window (a convolution kernel or a pooling window)
//! sliding over an image: kernel size, stride and zero padding, each per
//! axis and the padding per side (ONNX `pads = [top, left, bottom, right]`).
//! Convolution ([`super::Conv2dShape`]), pooling ([`super::Pool2dShape`]) and
//! the networks above this crate all use this one type, so the output-size
//! arithmetic lives in one place ([`Window2d::output_hw`]).

use crate::error::Error;

/// Kernel, stride and zero padding of a 2-D window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window2d {
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Zero padding above.
    pub pad_top: usize,
    /// Zero padding on the left.
    pub pad_left: usize,
    /// Zero padding below.
    pub pad_bottom: usize,
    /// Zero padding on the right.
    pub pad_right: usize,
}

impl Window2d {
    /// A `k x k` window with stride `s` in both directions and no padding.
    pub const fn square(k: usize, s: usize) -> Self {
        Self {
            kernel_h: k,
            kernel_w: k,
            stride_h: s,
            stride_w: s,
            pad_top: 0,
            pad_left: 0,
            pad_bottom: 0,
            pad_right: 0,
        }
    }

    /// The same window with stride `s` in both directions.
    pub const fn with_stride(mut self, s: usize) -> Self {
        self.stride_h = s;
        self.stride_w = s;
        self
    }

    /// The same window with `p` zeros of padding on every side.
    pub const fn with_padding(mut self, p: usize) -> Self {
        self.pad_top = p;
        self.pad_left = p;
        self.pad_bottom = p;
        self.pad_right = p;
        self
    }

    /// The same window with padding `(top, left, bottom, right)`.
    pub const fn with_pads(mut self, top: usize, left: usize, bottom: usize, right: usize) -> Self {
        self.pad_top = top;
        self.pad_left = left;
        self.pad_bottom = bottom;
        self.pad_right = right;
        self
    }

    /// The parameters in a fixed order: kernel h/w, stride h/w, pads top,
    /// left, bottom, right.
    pub const fn to_array(self) -> [usize; 8] {
        [
            self.kernel_h,
            self.kernel_w,
            self.stride_h,
            self.stride_w,
            self.pad_top,
            self.pad_left,
            self.pad_bottom,
            self.pad_right,
        ]
    }

    /// Inverse of [`Window2d::to_array`].
    pub const fn from_array(v: [usize; 8]) -> Self {
        let [
            kernel_h,
            kernel_w,
            stride_h,
            stride_w,
            pad_top,
            pad_left,
            pad_bottom,
            pad_right,
        ] = v;
        Self {
            kernel_h,
            kernel_w,
            stride_h,
            stride_w,
            pad_top,
            pad_left,
            pad_bottom,
            pad_right,
        }
    }

    /// Whether any padding is set.
    pub const fn has_padding(&self) -> bool {
        self.pad_top | self.pad_left | self.pad_bottom | self.pad_right != 0
    }

    /// Window area `kernel_h * kernel_w` (saturating).
    pub const fn area(&self) -> usize {
        self.kernel_h.saturating_mul(self.kernel_w)
    }

    /// Output height and width on an `in_h x in_w` image:
    /// `(in + pads - kernel) / stride + 1` per axis, with every step checked.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroDimension`] for a zero kernel or stride,
    /// [`Error::ShapeOverflow`] when the padded extent overflows,
    /// [`Error::KernelTooLarge`] when the window exceeds the padded image.
    pub fn output_hw(&self, in_h: usize, in_w: usize) -> Result<(usize, usize), Error> {
        for (dimension, v) in [
            ("kernel_h", self.kernel_h),
            ("kernel_w", self.kernel_w),
            ("stride_h", self.stride_h),
            ("stride_w", self.stride_w),
        ] {
            if v == 0 {
                return Err(Error::ZeroDimension { dimension });
            }
        }
        let axis = |extent: usize, lo: usize, hi: usize, kernel: usize, stride: usize| {
            let padded_input = extent
                .checked_add(lo)
                .and_then(|v| v.checked_add(hi))
                .ok_or(Error::ShapeOverflow)?;
            if kernel > padded_input {
                return Err(Error::KernelTooLarge {
                    kernel,
                    padded_input,
                });
            }
            Ok((padded_input - kernel) / stride + 1)
        };
        Ok((
            axis(
                in_h,
                self.pad_top,
                self.pad_bottom,
                self.kernel_h,
                self.stride_h,
            )?,
            axis(
                in_w,
                self.pad_left,
                self.pad_right,
                self.kernel_w,
                self.stride_w,
            )?,
        ))
    }

    /// For output row (or column) `o` of an axis, the first input coordinate
    /// of the window (negative inside the leading padding).
    #[inline]
    pub(crate) fn origin(o: usize, stride: usize, pad: usize) -> isize {
        (o * stride) as isize - pad as isize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_and_refusals() {
        // (5 + 1 + 0 - 3) / 2 + 1 = 2, (4 + 0 + 1 - 2) / 1 + 1 = 4
        let w = Window2d {
            kernel_h: 3,
            kernel_w: 2,
            stride_h: 2,
            stride_w: 1,
            pad_top: 1,
            pad_left: 0,
            pad_bottom: 0,
            pad_right: 1,
        };
        assert_eq!(w.output_hw(5, 4).ok(), Some((2, 4)));
        assert_eq!(Window2d::square(2, 2).output_hw(7, 8).ok(), Some((3, 4)));
        assert!(matches!(
            w.output_hw(1, 1),
            Err(Error::KernelTooLarge { kernel: 3, .. })
        ));
        assert!(matches!(
            Window2d::square(1, 0).output_hw(3, 3),
            Err(Error::ZeroDimension { .. })
        ));
        assert!(matches!(
            Window2d::square(1, 1)
                .with_padding(usize::MAX / 2 + 1)
                .output_hw(2, 2),
            Err(Error::ShapeOverflow)
        ));
        let a = w.to_array();
        assert_eq!(Window2d::from_array(a), w);
        assert!(w.has_padding() && !Window2d::square(3, 1).has_padding());
    }
}
