//! Folding a sum pooling (average pooling times a public constant) into an
//! adjacent convolution, so that the engine can run `conv . pool` or
//! `pool . conv` as one HE layer (any linear map expressible as a
//! convolution is a valid [`super::HePlan`]). Pooling must be unpadded
//! (ONNX `count_include_pad` needs no padding then); the folded weights are
//! exact integer sums of the original weights, `ceil(log2(window area))`
//! bits wider.

use crate::error::Error;
use crate::linalg::{Conv2dShape, Pool2dShape, Window2d};

fn unpadded(pool: &Pool2dShape) -> Result<(), Error> {
    if pool.window.has_padding() {
        return Err(Error::LimitExceeded {
            what: "pooling padding for folding",
            requested: 1,
            limit: 0,
        });
    }
    pool.validate()
}

/// Folded weights: every conv tap `(ky, kx)` of every `(out, in)` plane is
/// added at each of the pooling window's positions `place(ky, kx, py, px)`
/// of a `kh x kw` kernel.
fn fold_weights(
    conv: &Conv2dShape,
    weights: &[i64],
    pool: &Window2d,
    (kh, kw): (usize, usize),
    place: impl Fn(usize, usize, usize, usize) -> (usize, usize),
) -> Vec<i64> {
    let cw = conv.window;
    let planes = conv.out_channels * (conv.in_channels / conv.groups);
    let mut out = vec![0i64; planes * kh * kw];
    for p in 0..planes {
        for ky in 0..cw.kernel_h {
            for kx in 0..cw.kernel_w {
                let w = weights[(p * cw.kernel_h + ky) * cw.kernel_w + kx];
                for py in 0..pool.kernel_h {
                    for px in 0..pool.kernel_w {
                        let (y, x) = place(ky, kx, py, px);
                        out[(p * kh + y) * kw + x] += w;
                    }
                }
            }
        }
    }
    out
}

/// `conv(sum_pool(x))` as one convolution of `x`: kernel `kp + (k - 1) sp`,
/// stride `sp sc`, the convolution's padding times `sp` (a padded pooled
/// position is a window of input zeros). The pooling's output must be the
/// convolution's input.
pub fn fold_pool_then_conv(
    pool: &Pool2dShape,
    conv: &Conv2dShape,
    weights: &[i64],
) -> Result<(Conv2dShape, Vec<i64>), Error> {
    unpadded(pool)?;
    conv.validate()?;
    let (pw, cw) = (pool.window, conv.window);
    if (
        pool.channels,
        pool.out_height(),
        pool.out_width(),
        pool.batch,
    ) != (conv.in_channels, conv.in_height, conv.in_width, conv.batch)
    {
        return Err(Error::LengthMismatch {
            expected: conv.input_len(),
            actual: pool.output_len(),
        });
    }
    crate::field::batch::check_len(conv.weight_len(), weights.len())?;
    // A padded pooled position must be a window of input padding only:
    // non-overlapping windows that tile the padded sides exactly.
    let tiles_exactly = |k: usize, s: usize, extent: usize, out: usize| k <= s && extent == out * s;
    if (cw.pad_top | cw.pad_bottom != 0
        && !tiles_exactly(pw.kernel_h, pw.stride_h, pool.in_height, pool.out_height()))
        || (cw.pad_left | cw.pad_right != 0
            && !tiles_exactly(pw.kernel_w, pw.stride_w, pool.in_width, pool.out_width()))
    {
        return Err(Error::LimitExceeded {
            what: "overlapping or ragged pooling before a padded convolution",
            requested: 1,
            limit: 0,
        });
    }
    let kh = pw.kernel_h + (cw.kernel_h - 1) * pw.stride_h;
    let kw = pw.kernel_w + (cw.kernel_w - 1) * pw.stride_w;
    let window = Window2d {
        kernel_h: kh,
        kernel_w: kw,
        stride_h: pw.stride_h * cw.stride_h,
        stride_w: pw.stride_w * cw.stride_w,
        pad_top: cw.pad_top * pw.stride_h,
        pad_left: cw.pad_left * pw.stride_w,
        pad_bottom: cw.pad_bottom * pw.stride_h,
        pad_right: cw.pad_right * pw.stride_w,
    };
    let shape = Conv2dShape {
        in_height: pool.in_height,
        in_width: pool.in_width,
        window,
        ..*conv
    };
    shape.validate()?;
    let out = fold_weights(conv, weights, &pw, (kh, kw), |ky, kx, py, px| {
        (ky * pw.stride_h + py, kx * pw.stride_w + px)
    });
    Ok((shape, out))
}

/// `sum_pool(conv(x))` as one convolution of `x`: kernel
/// `k + (kp - 1) sc`, stride `sc sp`, the convolution's padding. The
/// convolution's output must be the pooling's input.
pub fn fold_conv_then_pool(
    conv: &Conv2dShape,
    weights: &[i64],
    pool: &Pool2dShape,
) -> Result<(Conv2dShape, Vec<i64>), Error> {
    unpadded(pool)?;
    conv.validate()?;
    let (pw, cw) = (pool.window, conv.window);
    if (pool.channels, pool.in_height, pool.in_width, pool.batch)
        != (
            conv.out_channels,
            conv.out_height(),
            conv.out_width(),
            conv.batch,
        )
    {
        return Err(Error::LengthMismatch {
            expected: pool.input_len(),
            actual: conv.output_len(),
        });
    }
    crate::field::batch::check_len(conv.weight_len(), weights.len())?;
    let kh = cw.kernel_h + (pw.kernel_h - 1) * cw.stride_h;
    let kw = cw.kernel_w + (pw.kernel_w - 1) * cw.stride_w;
    let window = Window2d {
        kernel_h: kh,
        kernel_w: kw,
        stride_h: cw.stride_h * pw.stride_h,
        stride_w: cw.stride_w * pw.stride_w,
        ..cw
    };
    let shape = Conv2dShape { window, ..*conv };
    shape.validate()?;
    let out = fold_weights(conv, weights, &pw, (kh, kw), |ky, kx, py, px| {
        (py * cw.stride_h + ky, px * cw.stride_w + kx)
    });
    Ok((shape, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{conv2d, sum_pool2d};

    fn fill(len: usize, seed: i64) -> Vec<i64> {
        (0..len as i64)
            .map(|i| (i * 7919 + seed * 104729) % 61 - 30)
            .collect()
    }

    #[test]
    fn folded_maps_equal_the_composition() {
        for (pool, conv) in [
            (
                Pool2dShape::new(3, 8, 8, 2),
                Conv2dShape::new(3, 4, 4, 5, 3).with_padding(1),
            ),
            (
                Pool2dShape::new(4, 9, 9, 3),
                Conv2dShape::new(4, 3, 3, 2, 1),
            ),
            (
                Pool2dShape::new(4, 8, 8, 2),
                Conv2dShape::new(4, 4, 4, 4, 3)
                    .with_groups(2)
                    .with_window(Window2d::square(3, 2).with_pads(1, 0, 1, 1)),
            ),
        ] {
            let w = fill(conv.weight_len(), 1);
            let x = fill(pool.input_len(), 2);
            let want = conv2d(&conv, &w, &sum_pool2d(&pool, &x).unwrap()).unwrap();
            let (shape, fw) = fold_pool_then_conv(&pool, &conv, &w).unwrap();
            assert_eq!(conv2d(&shape, &fw, &x).unwrap(), want, "{pool:?} {conv:?}");
        }
        for (conv, pool) in [
            (
                Conv2dShape::new(3, 10, 10, 4, 3).with_padding(1),
                Pool2dShape::new(4, 10, 10, 2),
            ),
            (
                Conv2dShape::new(2, 11, 11, 3, 3).with_stride(2),
                Pool2dShape::new(3, 5, 5, 2),
            ),
        ] {
            let w = fill(conv.weight_len(), 3);
            let x = fill(conv.input_len(), 4);
            let want = sum_pool2d(&pool, &conv2d(&conv, &w, &x).unwrap()).unwrap();
            let (shape, fw) = fold_conv_then_pool(&conv, &w, &pool).unwrap();
            assert_eq!(conv2d(&shape, &fw, &x).unwrap(), want, "{conv:?} {pool:?}");
        }
        let padded =
            Pool2dShape::new(3, 8, 8, 2).with_window(Window2d::square(2, 2).with_padding(1));
        let conv = Conv2dShape::new(3, 5, 5, 1, 1);
        assert!(fold_pool_then_conv(&padded, &conv, &[0; 3]).is_err());
        // A ragged pooling (9 rows, 4 windows of 2) before a padded conv.
        let ragged = Pool2dShape::new(1, 9, 9, 2);
        let conv = Conv2dShape::new(1, 4, 4, 1, 3).with_padding(1);
        assert!(fold_pool_then_conv(&ragged, &conv, &[0; 9]).is_err());
    }
}
