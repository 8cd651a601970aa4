//! Layer evaluation generic over the number type, shared by every numeric backend: `f64` here,
//! fixed point and additive shares over a prime field elsewhere. Only ring operations are used
//! (no division, no comparison); scaling after a multiplication is the caller's business.
//!
//! Layouts follow [`crate::model`]: tensors are `C x H x W` row-major, convolution weights
//! `[out][in/groups][kh][kw]`, dense weights `[out][in]`.

use crate::model::{Conv2d, Pool, Shape, window_output};

/// The arithmetic the linear layers need: a commutative ring.
pub trait Ring: Copy {
    /// The additive identity.
    fn zero() -> Self;
    /// `self + rhs`.
    fn add(self, rhs: Self) -> Self;
    /// `self * rhs`.
    fn mul(self, rhs: Self) -> Self;
}

impl Ring for f64 {
    fn zero() -> Self {
        0.0
    }
    fn add(self, rhs: Self) -> Self {
        self + rhs
    }
    fn mul(self, rhs: Self) -> Self {
        self * rhs
    }
}

/// 2-D convolution without bias: `out[o][y][x] = sum w[o][i][ky][kx] * in[g*ipg+i][y*s+ky-p][x*s+kx-p]`
/// over the zero-padded input. `input` has shape `input_shape`; the output has shape
/// `out_channels x out_h x out_w` as inferred by the architecture.
///
/// # Panics
///
/// These kernels take geometry and data on trust, for speed: the caller guarantees the geometry
/// was validated (as [`crate::Architecture::new`] does for every layer) and the slice lengths
/// match it (as [`crate::plain::evaluate`] checks for the input and the backend's parameters).
/// Violating that panics, on the geometry (see [`conv_output_shape`]) or on an index. Never call
/// them on unvalidated peer or file data.
pub fn conv2d<T: Ring>(conv: &Conv2d, input_shape: Shape, input: &[T], weight: &[T]) -> Vec<T> {
    let out_shape = conv_output_shape(conv, input_shape);
    let in_per_group = conv.in_channels / conv.groups;
    let out_per_group = conv.out_channels / conv.groups;
    let (ih, iw) = (input_shape.height as isize, input_shape.width as isize);
    let mut out = vec![T::zero(); out_shape.len()];
    for o in 0..conv.out_channels {
        let g = o / out_per_group;
        for oy in 0..out_shape.height {
            for ox in 0..out_shape.width {
                let mut acc = T::zero();
                for i in 0..in_per_group {
                    let ic = g * in_per_group + i;
                    for ky in 0..conv.kernel_h {
                        let y = (oy * conv.stride_h + ky) as isize - conv.pad_top as isize;
                        if y < 0 || y >= ih {
                            continue;
                        }
                        for kx in 0..conv.kernel_w {
                            let x = (ox * conv.stride_w + kx) as isize - conv.pad_left as isize;
                            if x < 0 || x >= iw {
                                continue;
                            }
                            let w = weight[((o * in_per_group + i) * conv.kernel_h + ky)
                                * conv.kernel_w
                                + kx];
                            let v = input[input_shape.index(ic, y as usize, x as usize)];
                            acc = acc.add(w.mul(v));
                        }
                    }
                }
                out[out_shape.index(o, oy, ox)] = acc;
            }
        }
    }
    out
}

/// Output shape of a convolution on `input_shape`, computed as [`crate::Architecture::new`]
/// does.
///
/// # Panics
///
/// On a zero kernel or stride, a window larger than the padded input, or padding that
/// overflows (geometry that [`crate::Architecture::new`] rejects).
pub fn conv_output_shape(conv: &Conv2d, input_shape: Shape) -> Shape {
    let (h, w) = valid_window(
        input_shape,
        (conv.kernel_h, conv.kernel_w),
        (conv.stride_h, conv.stride_w),
        (conv.pad_top, conv.pad_left, conv.pad_bottom, conv.pad_right),
    );
    Shape::new(conv.out_channels, h, w)
}

/// Output shape of a pooling window on `input_shape`, computed as
/// [`crate::Architecture::new`] does.
///
/// # Panics
///
/// As [`conv_output_shape`].
pub fn pool_output_shape(pool: &Pool, input_shape: Shape) -> Shape {
    let (h, w) = valid_window(
        input_shape,
        (pool.kernel_h, pool.kernel_w),
        (pool.stride_h, pool.stride_w),
        (pool.pad_top, pool.pad_left, pool.pad_bottom, pool.pad_right),
    );
    Shape::new(input_shape.channels, h, w)
}

/// The architecture's window arithmetic, for geometry the caller promised is valid: a clear
/// panic instead of a wrapped subtraction (and a huge allocation) when it is not.
fn valid_window(
    x: Shape,
    kernel: (usize, usize),
    stride: (usize, usize),
    pads: (usize, usize, usize, usize),
) -> (usize, usize) {
    match window_output(x, kernel, stride, pads) {
        Ok(hw) => hw,
        Err(reason) => panic!(
            "kernels: invalid window geometry ({reason}); validate with Architecture::new first"
        ),
    }
}

/// Dense layer without bias: `out[o] = sum_i w[o][i] * in[i]`.
pub fn dense<T: Ring>(
    in_features: usize,
    out_features: usize,
    input: &[T],
    weight: &[T],
) -> Vec<T> {
    (0..out_features)
        .map(|o| {
            weight[o * in_features..(o + 1) * in_features]
                .iter()
                .zip(input)
                .fold(T::zero(), |acc, (&w, &x)| acc.add(w.mul(x)))
        })
        .collect()
}

/// Adds `bias[c]` to every element of channel `c` of a `C x spatial` tensor.
pub fn add_channel_bias<T: Ring>(data: &mut [T], bias: &[T], spatial: usize) {
    for (c, &b) in bias.iter().enumerate() {
        for v in &mut data[c * spatial..(c + 1) * spatial] {
            *v = v.add(b);
        }
    }
}

/// Element-wise sum of two equal-length tensors.
pub fn add<T: Ring>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter().zip(b).map(|(&x, &y)| x.add(y)).collect()
}

/// Multiplies every element by a public constant.
pub fn scale<T: Ring>(data: &mut [T], factor: T) {
    for v in data {
        *v = v.mul(factor);
    }
}

/// Sum over each pooling window (padding counts as zero). Average pooling is this times
/// `1 / pool.area()`.
pub fn sum_pool<T: Ring>(pool: &Pool, input_shape: Shape, input: &[T]) -> Vec<T> {
    let out_shape = pool_output_shape(pool, input_shape);
    let mut out = vec![T::zero(); out_shape.len()];
    let (ih, iw) = (input_shape.height as isize, input_shape.width as isize);
    for c in 0..input_shape.channels {
        for oy in 0..out_shape.height {
            for ox in 0..out_shape.width {
                let mut acc = T::zero();
                for ky in 0..pool.kernel_h {
                    let y = (oy * pool.stride_h + ky) as isize - pool.pad_top as isize;
                    if y < 0 || y >= ih {
                        continue;
                    }
                    for kx in 0..pool.kernel_w {
                        let x = (ox * pool.stride_w + kx) as isize - pool.pad_left as isize;
                        if x < 0 || x >= iw {
                            continue;
                        }
                        acc = acc.add(input[input_shape.index(c, y as usize, x as usize)]);
                    }
                }
                out[out_shape.index(c, oy, ox)] = acc;
            }
        }
    }
    out
}

/// Sum over each channel's `height x width`; global average pooling is this times
/// `1 / input_shape.spatial()`.
pub fn sum_channels<T: Ring>(input_shape: Shape, input: &[T]) -> Vec<T> {
    let spatial = input_shape.spatial();
    (0..input_shape.channels)
        .map(|c| {
            input[c * spatial..(c + 1) * spatial]
                .iter()
                .fold(T::zero(), |acc, &v| acc.add(v))
        })
        .collect()
}

/// Index table for max pooling (no padding): for output element `j` (in `C x H x W` order),
/// entries `j * area .. (j + 1) * area` are the input indices of its window, row by row.
/// A private evaluation folds each window in this order with `max(a, b) = a + ReLU(b - a)`.
pub fn pool_windows(pool: &Pool, input_shape: Shape) -> Vec<usize> {
    let out_shape = pool_output_shape(pool, input_shape);
    let mut table = Vec::with_capacity(out_shape.len() * pool.area());
    for c in 0..input_shape.channels {
        for oy in 0..out_shape.height {
            for ox in 0..out_shape.width {
                for ky in 0..pool.kernel_h {
                    for kx in 0..pool.kernel_w {
                        table.push(input_shape.index(
                            c,
                            oy * pool.stride_h + ky,
                            ox * pool.stride_w + kx,
                        ));
                    }
                }
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_identity_kernel_copies_input() {
        let conv = Conv2d {
            in_channels: 1,
            out_channels: 1,
            kernel_h: 3,
            kernel_w: 3,
            stride_h: 1,
            stride_w: 1,
            pad_top: 1,
            pad_left: 1,
            pad_bottom: 1,
            pad_right: 1,
            groups: 1,
        };
        let shape = Shape::new(1, 3, 4);
        let input: Vec<f64> = (0..12).map(f64::from).collect();
        let mut w = vec![0.0; 9];
        w[4] = 1.0;
        assert_eq!(conv2d(&conv, shape, &input, &w), input);
        // shift kernel: out[y][x] = in[y][x+1] (zero past the edge)
        let mut w = vec![0.0; 9];
        w[5] = 1.0;
        let out = conv2d(&conv, shape, &input, &w);
        assert_eq!(&out[..4], &[1.0, 2.0, 3.0, 0.0]);
    }

    #[test]
    fn pools_and_windows() {
        let shape = Shape::new(1, 4, 4);
        let input: Vec<f64> = (0..16).map(f64::from).collect();
        let p = Pool::square(2, 2);
        assert_eq!(sum_pool(&p, shape, &input), vec![10.0, 18.0, 42.0, 50.0]);
        assert_eq!(&pool_windows(&p, shape)[..8], &[0, 1, 4, 5, 2, 3, 6, 7]);
        assert_eq!(sum_channels(shape, &input), vec![120.0]);
    }

    #[test]
    fn output_shapes_follow_the_architecture_and_refuse_bad_geometry() {
        let conv = Conv2d {
            in_channels: 1,
            out_channels: 2,
            kernel_h: 3,
            kernel_w: 2,
            stride_h: 2,
            stride_w: 1,
            pad_top: 1,
            pad_left: 0,
            pad_bottom: 0,
            pad_right: 1,
            groups: 1,
        };
        // (5 + 1 - 3) / 2 + 1 = 2, (4 + 1 - 2) / 1 + 1 = 4
        assert_eq!(
            conv_output_shape(&conv, Shape::new(1, 5, 4)),
            Shape::new(2, 2, 4)
        );
        // A window larger than the padded input used to wrap (release) into a huge shape.
        let small = Shape::new(1, 1, 1);
        assert!(std::panic::catch_unwind(|| conv_output_shape(&conv, small)).is_err());
        let zero_stride = Pool::square(1, 0);
        assert!(std::panic::catch_unwind(|| pool_output_shape(&zero_stride, small)).is_err());
    }

    #[test]
    fn dense_and_bias() {
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut y = dense(3, 2, &[1.0, 0.0, -1.0], &w);
        assert_eq!(y, vec![-2.0, -2.0]);
        add_channel_bias(&mut y, &[1.0, 2.0], 1);
        assert_eq!(y, vec![-1.0, 0.0]);
    }
}
