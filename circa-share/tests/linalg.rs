//! Convolution, dense and pooling on shares reconstruct to the plaintext
//! result; shape errors are typed.

use circa_share::field::batch;
use circa_share::linalg::{
    Conv2dShape, Im2colLayout, Pool2dShape, Window2d, avg_pool2d, conv2d, dense, im2col,
    sum_planes, sum_pool2d,
};
use circa_share::{Error, Fp, Modulus, P2138816513, P2061584302081, reconstruct, share};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// Direct (loop-nest) convolution over i128: the oracle.
fn conv_naive(s: &Conv2dShape, w: &[i64], x: &[i64]) -> Vec<i128> {
    let (oh, ow) = (s.out_height(), s.out_width());
    let win = s.window;
    let cg = s.in_channels / s.groups;
    let ocg = s.out_channels / s.groups;
    let mut out = vec![0i128; s.output_len()];
    for n in 0..s.batch {
        for oc in 0..s.out_channels {
            let g = oc / ocg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = 0i128;
                    for c in 0..cg {
                        for ky in 0..win.kernel_h {
                            for kx in 0..win.kernel_w {
                                let iy = (oy * win.stride_h + ky) as isize - win.pad_top as isize;
                                let ix = (ox * win.stride_w + kx) as isize - win.pad_left as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= s.in_height as isize
                                    || ix >= s.in_width as isize
                                {
                                    continue;
                                }
                                let ci = g * cg + c;
                                let xv = x[((n * s.in_channels + ci) * s.in_height + iy as usize)
                                    * s.in_width
                                    + ix as usize];
                                let wv = w[((oc * cg + c) * win.kernel_h + ky) * win.kernel_w + kx];
                                acc += xv as i128 * wv as i128;
                            }
                        }
                    }
                    out[((n * s.out_channels + oc) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    out
}

fn conv_shape() -> impl Strategy<Value = Conv2dShape> {
    (
        1usize..3,
        1usize..4,
        1usize..4,
        1usize..9,
        1usize..9,
        1usize..4,
        1usize..4,
        (1usize..3, 1usize..3),
        (0usize..3, 0usize..3, 0usize..3, 0usize..3),
        1usize..3,
    )
        .prop_map(
            |(batch, cg, ocg, h, w, kh, kw, (sh, sw), (pt, pl, pb, pr), groups)| Conv2dShape {
                batch,
                in_channels: cg * groups,
                in_height: h + kh,
                in_width: w + kw,
                out_channels: ocg * groups,
                window: Window2d {
                    kernel_h: kh,
                    kernel_w: kw,
                    stride_h: sh,
                    stride_w: sw,
                    pad_top: pt,
                    pad_left: pl,
                    pad_bottom: pb,
                    pad_right: pr,
                },
                groups,
            },
        )
}

fn check_conv<M: Modulus>(s: &Conv2dShape, seed: u64) -> Result<(), TestCaseError> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    // Signed fixed-point-sized weights and inputs.
    let w: Vec<i64> = (0..s.weight_len())
        .map(|_| (rng.next_u32() % 8001) as i64 - 4000)
        .collect();
    let x: Vec<i64> = (0..s.input_len())
        .map(|_| (rng.next_u32() % 8001) as i64 - 4000)
        .collect();
    let oracle = conv_naive(s, &w, &x);
    prop_assert_eq!(
        conv2d(s, &w, &x).unwrap(),
        oracle.iter().map(|&v| v as i64).collect::<Vec<_>>()
    );
    // f64: the products and sums of these integers are exact in f64.
    let wd: Vec<f64> = w.iter().map(|&v| v as f64).collect();
    let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    prop_assert_eq!(
        conv2d(s, &wd, &xd).unwrap(),
        oracle.iter().map(|&v| v as f64).collect::<Vec<_>>()
    );
    // The two im2col layouts are transposes of each other.
    let img = s.input_len() / s.batch;
    let a = im2col(s, &x[..img], 0, Im2colLayout::PositionMajor).unwrap();
    let b = im2col(s, &x[..img], 0, Im2colLayout::PatchMajor).unwrap();
    let (k, npos) = (s.patch_len(), s.out_positions());
    for p in 0..npos {
        for t in 0..k {
            prop_assert_eq!(a[p * k + t], b[t * npos + p]);
        }
    }
    let wf: Vec<Fp<M>> = w.iter().map(|&v| Fp::from_i64(v).unwrap()).collect();
    let xf: Vec<Fp<M>> = x.iter().map(|&v| Fp::from_i64(v).unwrap()).collect();
    let (xc, xs) = share(&xf, &mut rng);
    let yc = xc.map_linear(|v| conv2d(s, &wf, v)).unwrap();
    let ys = xs.map_linear(|v| conv2d(s, &wf, v)).unwrap();
    let y = reconstruct(&yc, &ys).unwrap();
    for (got, want) in y.iter().zip(&oracle) {
        prop_assert_eq!(got.to_i64() as i128, *want);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn conv_on_shares_reconstructs(s in conv_shape(), seed in any::<u64>()) {
        check_conv::<P2061584302081>(&s, seed)?;
        check_conv::<P2138816513>(&s, seed ^ 1)?;
    }

    #[test]
    fn dense_on_shares_reconstructs(rows in 1usize..40, cols in 1usize..70, seed in any::<u64>()) {
        type M = P2061584302081;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let w: Vec<Fp<M>> = batch::random_many(&mut rng, rows * cols);
        let x: Vec<Fp<M>> = batch::random_many(&mut rng, cols);
        let (xc, xs) = share(&x, &mut rng);
        let yc = xc.map_linear(|v| dense(&w, rows, cols, v)).unwrap();
        let ys = xs.map_linear(|v| dense(&w, rows, cols, v)).unwrap();
        let y = reconstruct(&yc, &ys).unwrap();
        for r in 0..rows {
            let want = (0..cols).fold(Fp::ZERO, |acc, c| acc + w[r * cols + c] * x[c]);
            prop_assert_eq!(y[r], want);
        }
        let wi: Vec<i64> = (0..rows * cols).map(|i| i as i64 - 7).collect();
        let xi: Vec<i64> = (0..cols).map(|i| 3 - i as i64).collect();
        let yi = dense(&wi, rows, cols, &xi).unwrap();
        for r in 0..rows {
            prop_assert_eq!(yi[r], (0..cols).map(|c| wi[r * cols + c] * xi[c]).sum::<i64>());
        }
    }
}

#[test]
fn full_range_conv_on_shares() {
    // Full-range field weights and inputs (no small-value assumption).
    type M = P2061584302081;
    let s = Conv2dShape::new(6, 7, 7, 4, 3)
        .with_padding(1)
        .with_stride(2)
        .with_groups(2);
    let mut rng = ChaCha20Rng::seed_from_u64(77);
    let w: Vec<Fp<M>> = batch::random_many(&mut rng, s.weight_len());
    let x: Vec<Fp<M>> = batch::random_many(&mut rng, s.input_len());
    let (xc, xs) = share(&x, &mut rng);
    let y = reconstruct(
        &xc.map_linear(|v| conv2d(&s, &w, v)).unwrap(),
        &xs.map_linear(|v| conv2d(&s, &w, v)).unwrap(),
    )
    .unwrap();
    assert_eq!(y, conv2d(&s, &w, &x).unwrap());
    // Compare with a direct evaluation at a few outputs.
    let (oh, ow) = (s.out_height(), s.out_width());
    for &(oc, oy, ox) in &[(0usize, 0usize, 0usize), (3, 3, 3), (2, 1, 2)] {
        let g = oc / 2;
        let mut want = Fp::<M>::ZERO;
        for c in 0..3 {
            for ky in 0..3 {
                for kx in 0..3 {
                    let (iy, ix) = ((oy * 2 + ky) as isize - 1, (ox * 2 + kx) as isize - 1);
                    if (0..7).contains(&iy) && (0..7).contains(&ix) {
                        want += w[(oc * 3 + c) * 9 + ky * 3 + kx]
                            * x[(g * 3 + c) * 49 + iy as usize * 7 + ix as usize];
                    }
                }
            }
        }
        assert_eq!(y[(oc * oh + oy) * ow + ox], want);
    }
}

#[test]
fn pooling_and_residual() {
    type M = P2138816513;
    let s = Pool2dShape::new(3, 6, 4, 2);
    let mut rng = ChaCha20Rng::seed_from_u64(88);
    let x: Vec<Fp<M>> = (0..s.input_len())
        .map(|i| Fp::from_i64(i as i64 * 37 - 300).unwrap())
        .collect();
    let (xc, xs) = share(&x, &mut rng);
    let scale = Fp::from_u64(5).unwrap();
    let y = reconstruct(
        &xc.map_linear(|v| avg_pool2d(&s, v, scale)).unwrap(),
        &xs.map_linear(|v| avg_pool2d(&s, v, scale)).unwrap(),
    )
    .unwrap();
    assert_eq!(y.len(), 3 * 3 * 2);
    let at = |c: usize, yy: usize, xx: usize| x[(c * 6 + yy) * 4 + xx];
    for c in 0..3 {
        for oy in 0..3 {
            for ox in 0..2 {
                let sum = at(c, 2 * oy, 2 * ox)
                    + at(c, 2 * oy + 1, 2 * ox)
                    + at(c, 2 * oy, 2 * ox + 1)
                    + at(c, 2 * oy + 1, 2 * ox + 1);
                assert_eq!(y[(c * 3 + oy) * 2 + ox], sum * scale);
            }
        }
    }
    // Residual add of two shared tensors.
    let (zc, zs) = share(&y, &mut rng);
    let (yc2, ys2) = share(&y, &mut rng);
    let r = reconstruct(&zc.add(&yc2).unwrap(), &zs.add(&ys2).unwrap()).unwrap();
    assert!(r.iter().zip(&y).all(|(&a, &b)| a == b + b));
}

/// Padded, strided pooling windows against a direct loop (padding counts as zero), over the
/// field and f64; per-plane sums.
#[test]
fn padded_pooling_matches_a_loop() {
    type F = Fp<P2061584302081>;
    let win = Window2d {
        kernel_h: 3,
        kernel_w: 2,
        stride_h: 2,
        stride_w: 1,
        pad_top: 1,
        pad_left: 0,
        pad_bottom: 2,
        pad_right: 1,
    };
    let s = Pool2dShape::new(2, 5, 4, 1).with_window(win);
    let (oh, ow) = (s.out_height(), s.out_width());
    assert_eq!((oh, ow), (3, 4));
    let x: Vec<i64> = (0..s.input_len() as i64).map(|i| i * 7 - 50).collect();
    let mut want = Vec::new();
    for c in 0..2 {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0;
                for ky in 0..3 {
                    for kx in 0..2 {
                        let (iy, ix) = ((oy * 2 + ky) as isize - 1, (ox + kx) as isize);
                        if (0..5).contains(&iy) && (0..4).contains(&ix) {
                            acc += x[(c * 5 + iy as usize) * 4 + ix as usize];
                        }
                    }
                }
                want.push(acc);
            }
        }
    }
    let xf: Vec<F> = x.iter().map(|&v| F::from_i64(v).unwrap()).collect();
    let got: Vec<i64> = sum_pool2d(&s, &xf)
        .unwrap()
        .iter()
        .map(|v| v.to_i64())
        .collect();
    assert_eq!(got, want);
    let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let got: Vec<f64> = sum_pool2d(&s, &xd).unwrap();
    assert_eq!(got, want.iter().map(|&v| v as f64).collect::<Vec<_>>());
    let planes: Vec<i64> = sum_planes(20, &xf)
        .unwrap()
        .iter()
        .map(|v| v.to_i64())
        .collect();
    assert_eq!(
        planes,
        vec![x[..20].iter().sum::<i64>(), x[20..].iter().sum()]
    );
    assert!(matches!(
        sum_planes(3, &xf),
        Err(Error::LengthMismatch { .. })
    ));
}

#[test]
fn shape_errors() {
    type F = Fp<P2138816513>;
    let ok = Conv2dShape::new(4, 5, 5, 6, 3);
    let w = vec![F::ZERO; ok.weight_len()];
    let x = vec![F::ZERO; ok.input_len()];
    assert!(conv2d(&ok, &w, &x).is_ok());
    assert!(matches!(
        conv2d(&ok, &w[1..], &x),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        conv2d(&ok, &w, &x[1..]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        conv2d(&ok.with_stride(0), &w, &x),
        Err(Error::ZeroDimension {
            dimension: "stride_h"
        })
    ));
    assert!(matches!(
        conv2d(&ok.with_groups(3), &w, &x),
        Err(Error::GroupsMismatch { .. })
    ));
    let big = Conv2dShape::new(4, 2, 2, 6, 3);
    assert!(matches!(
        big.validate(),
        Err(Error::KernelTooLarge {
            kernel: 3,
            padded_input: 2
        })
    ));
    assert!(big.with_padding(1).validate().is_ok());
    let huge = Conv2dShape::new(1 << 30, 1 << 20, 1 << 20, 1, 1);
    assert!(matches!(huge.validate(), Err(Error::ShapeOverflow)));
    // Padding whose double overflows is an error, not a panic or a wrap.
    assert!(matches!(
        Conv2dShape::new(1, 2, 2, 1, 1)
            .with_padding(usize::MAX / 2 + 1)
            .validate(),
        Err(Error::ShapeOverflow)
    ));
    assert!(matches!(
        dense(&[F::ZERO; 6], 2, 3, &[F::ZERO; 2]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        dense(&[F::ZERO; 5], 2, 3, &[F::ZERO; 3]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        dense(&[F::ZERO; 5], usize::MAX, 3, &[F::ZERO; 3]),
        Err(Error::ShapeOverflow)
    ));
    let p = Pool2dShape::new(2, 4, 4, 2);
    assert!(matches!(
        sum_pool2d(&p, &[F::ZERO; 31]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        Pool2dShape::new(2, 1, 4, 2).validate(),
        Err(Error::KernelTooLarge { .. })
    ));
}
