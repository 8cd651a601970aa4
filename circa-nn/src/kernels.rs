//! Layer evaluation generic over the number type, shared by every numeric backend: `f64` for
//! the plaintext reference, field elements for the fixed-point reference and for either
//! party's additive shares. The products (convolution, dense, pooling sums) are circa-share's
//! blocked kernels ([`circa_share::linalg`]): one im2col, one multiply, one window type for the
//! references and the private engine alike. Only ring operations are used (no division, no
//! comparison); scaling after a multiplication is the caller's business.
//!
//! Layouts follow [`crate::model`]: tensors are `C x H x W` row-major, convolution weights
//! `[out][in/groups][kh][kw]`, dense weights `[out][in]`.

use circa_share::linalg::{self, Scalar};

use crate::error::NnError;
use crate::model::{Conv2d, Shape, Window2d, pool_shape};

/// What a kernel returns: circa-share's typed error on inconsistent geometry or operands.
pub type KernelResult<T> = std::result::Result<T, circa_share::Error>;

/// The network error for a kernel that refused the operands of layer `layer`.
pub(crate) fn refused(layer: usize, e: &circa_share::Error) -> NnError {
    use circa_share::Error as E;
    let reason = match e {
        E::LengthMismatch { .. } => "operand length differs from the geometry",
        E::ZeroDimension { .. } => "zero dimension",
        E::GroupsMismatch { .. } => "channels not divisible into groups",
        E::KernelTooLarge { .. } => "window larger than the padded input",
        E::ShapeOverflow => "shape too large",
        _ => "invalid operands",
    };
    NnError::KernelRefused { layer, reason }
}

/// The arithmetic the layers need: a commutative ring whose products circa-share's kernels
/// compute (field elements and `f64`).
pub trait Ring:
    Scalar
    + core::ops::Add<Output = Self>
    + core::ops::Sub<Output = Self>
    + core::ops::Mul<Output = Self>
{
}

impl<T> Ring for T where
    T: Scalar
        + core::ops::Add<Output = T>
        + core::ops::Sub<Output = T>
        + core::ops::Mul<Output = T>
{
}

/// 2-D convolution without bias over the zero-padded input of shape `input_shape`; the output
/// has shape `out_channels x out_h x out_w` as inferred by the architecture. Errors (typed, no
/// panic) when the geometry or the slice lengths are inconsistent.
pub fn conv2d<T: Ring>(
    conv: &Conv2d,
    input_shape: Shape,
    input: &[T],
    weight: &[T],
) -> KernelResult<Vec<T>> {
    linalg::conv2d(&conv.shape(input_shape), weight, input)
}

/// Dense layer without bias: `out[o] = sum_i w[o][i] * in[i]`.
pub fn dense<T: Ring>(
    in_features: usize,
    out_features: usize,
    input: &[T],
    weight: &[T],
) -> KernelResult<Vec<T>> {
    linalg::dense(weight, out_features, in_features, input)
}

/// Adds `bias[c]` to every element of channel `c` of a `C x spatial` tensor.
pub fn add_channel_bias<T: Ring>(data: &mut [T], bias: &[T], spatial: usize) {
    for (channel, &b) in data.chunks_mut(spatial.max(1)).zip(bias) {
        channel.iter_mut().for_each(|v| *v = *v + b);
    }
}

/// Element-wise sum of two equal-length tensors.
pub fn add<T: Ring>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter().zip(b).map(|(&x, &y)| x + y).collect()
}

/// Multiplies every element by a public constant.
pub fn scale<T: Ring>(data: &mut [T], factor: T) {
    data.iter_mut().for_each(|v| *v = *v * factor);
}

/// Sum over each pooling window (padding counts as zero). Average pooling is this times
/// `1 / window.area()`.
pub fn sum_pool<T: Ring>(
    window: &Window2d,
    input_shape: Shape,
    input: &[T],
) -> KernelResult<Vec<T>> {
    linalg::sum_pool2d(&pool_shape(*window, input_shape), input)
}

/// Sum over each channel's `height x width`; global average pooling is this times
/// `1 / input_shape.spatial()`.
pub fn sum_channels<T: Ring>(input_shape: Shape, input: &[T]) -> KernelResult<Vec<T>> {
    linalg::sum_planes(input_shape.spatial(), input)
}

/// Index table for max pooling (no padding): for output element `j` (in `C x H x W` order),
/// entries `j * area .. (j + 1) * area` are the input indices of its window, row by row.
/// A private evaluation folds each window in this order with `max(a, b) = a + ReLU(b - a)`.
pub fn pool_windows(window: &Window2d, input_shape: Shape) -> KernelResult<Vec<usize>> {
    let (oh, ow) = window.output_hw(input_shape.height, input_shape.width)?;
    let mut table = Vec::with_capacity(input_shape.channels * oh * ow * window.area());
    for c in 0..input_shape.channels {
        for oy in 0..oh {
            for ox in 0..ow {
                for ky in 0..window.kernel_h {
                    for kx in 0..window.kernel_w {
                        table.push(input_shape.index(
                            c,
                            oy * window.stride_h + ky,
                            ox * window.stride_w + kx,
                        ));
                    }
                }
            }
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv3x3() -> Conv2d {
        Conv2d {
            in_channels: 1,
            out_channels: 1,
            window: Window2d::square(3, 1).with_padding(1),
            groups: 1,
        }
    }

    #[test]
    fn conv_identity_kernel_copies_input() {
        let conv = conv3x3();
        let shape = Shape::new(1, 3, 4);
        let input: Vec<f64> = (0..12).map(f64::from).collect();
        let mut w = vec![0.0; 9];
        w[4] = 1.0;
        assert_eq!(conv2d(&conv, shape, &input, &w).unwrap(), input);
        // shift kernel: out[y][x] = in[y][x+1] (zero past the edge)
        let mut w = vec![0.0; 9];
        w[5] = 1.0;
        let out = conv2d(&conv, shape, &input, &w).unwrap();
        assert_eq!(&out[..4], &[1.0, 2.0, 3.0, 0.0]);
    }

    #[test]
    fn pools_and_windows() {
        let shape = Shape::new(1, 4, 4);
        let input: Vec<f64> = (0..16).map(f64::from).collect();
        let p = Window2d::square(2, 2);
        assert_eq!(
            sum_pool(&p, shape, &input).unwrap(),
            vec![10.0, 18.0, 42.0, 50.0]
        );
        assert_eq!(
            &pool_windows(&p, shape).unwrap()[..8],
            &[0, 1, 4, 5, 2, 3, 6, 7]
        );
        assert_eq!(sum_channels(shape, &input).unwrap(), vec![120.0]);
    }

    #[test]
    fn bad_geometry_is_an_error_not_a_panic() {
        let conv = conv3x3();
        // A window larger than the padded input used to wrap (release) into a huge shape.
        let small = Shape::new(1, 1, 1);
        let no_pad = Conv2d {
            window: Window2d::square(3, 1),
            ..conv
        };
        assert!(conv2d(&no_pad, small, &[0.0], &[0.0; 9]).is_err());
        assert!(pool_windows(&Window2d::square(1, 0), small).is_err());
        // Lengths that disagree with the geometry.
        assert!(conv2d(&conv, Shape::new(1, 3, 4), &[0.0; 11], &[0.0; 9]).is_err());
        assert!(dense(3, 2, &[0.0; 3], &[0.0; 5]).is_err());
    }

    #[test]
    fn dense_and_bias() {
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut y = dense(3, 2, &[1.0, 0.0, -1.0], &w).unwrap();
        assert_eq!(y, vec![-2.0, -2.0]);
        add_channel_bias(&mut y, &[1.0, 2.0], 1);
        assert_eq!(y, vec![-1.0, 0.0]);
    }
}
