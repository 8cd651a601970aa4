//! With the `rayon` feature: the parallel row split gives exactly the serial
//! result (every element, both primes and plain `i64`) on random shapes,
//! with tasks as small as four rows and with the default task size.

use std::fmt::Debug;

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::conv::{Conv2dShape, conv2d_generic};
use super::dense::dense_generic;
use super::kernel::{Scalar, Schedule};
use crate::field::{Fp, Modulus, batch};
use crate::{P2138816513, P2061584302081};

/// Tasks of four rows (the smallest split), a few rows, and the default.
fn schedules() -> [Schedule; 3] {
    [
        Schedule::Rows { min_task_macs: 1 },
        Schedule::Rows { min_task_macs: 300 },
        Schedule::DEFAULT,
    ]
}

fn random_fp<M: Modulus>(rng: &mut ChaCha20Rng, n: usize) -> Vec<Fp<M>> {
    batch::random_many(rng, n)
}

fn random_i64(rng: &mut ChaCha20Rng, n: usize) -> Vec<i64> {
    (0..n).map(|_| rng.next_u64() as i64).collect()
}

fn check_conv<T: Scalar + PartialEq + Debug>(s: &Conv2dShape, w: &[T], x: &[T]) {
    let serial = conv2d_generic(s, w, x, Schedule::Serial);
    assert!(serial.is_ok(), "{s:?}: {serial:?}");
    let serial = serial.ok();
    for schedule in schedules() {
        let parallel = conv2d_generic(s, w, x, schedule).ok();
        assert_eq!(parallel, serial, "{s:?} {schedule:?}");
    }
}

fn check_dense<T: Scalar + PartialEq + Debug>(w: &[T], rows: usize, cols: usize, x: &[T]) {
    let serial = dense_generic(w, rows, cols, x, Schedule::Serial);
    assert!(serial.is_ok(), "{rows}x{cols}: {serial:?}");
    let serial = serial.ok();
    for schedule in schedules() {
        let parallel = dense_generic(w, rows, cols, x, schedule).ok();
        assert_eq!(parallel, serial, "{rows}x{cols} {schedule:?}");
    }
}

fn conv_all(s: &Conv2dShape, seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (wl, xl) = (s.weight_len(), s.input_len());
    check_conv(
        s,
        &random_fp::<P2138816513>(&mut rng, wl),
        &random_fp(&mut rng, xl),
    );
    check_conv(
        s,
        &random_fp::<P2061584302081>(&mut rng, wl),
        &random_fp(&mut rng, xl),
    );
    check_conv(s, &random_i64(&mut rng, wl), &random_i64(&mut rng, xl));
}

fn dense_all(rows: usize, cols: usize, seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let wl = rows * cols;
    check_dense(
        &random_fp::<P2138816513>(&mut rng, wl),
        rows,
        cols,
        &random_fp(&mut rng, cols),
    );
    check_dense(
        &random_fp::<P2061584302081>(&mut rng, wl),
        rows,
        cols,
        &random_fp(&mut rng, cols),
    );
    check_dense(
        &random_i64(&mut rng, wl),
        rows,
        cols,
        &random_i64(&mut rng, cols),
    );
}

fn conv_shape() -> impl Strategy<Value = Conv2dShape> {
    (
        (1usize..3, 1usize..4, 1usize..15, 1usize..4),
        (3usize..12, 3usize..12, 1usize..4, 1usize..4),
        0usize..2,
    )
        .prop_map(
            |((batch, groups, ocg, cg), (h, w, kernel, stride), padding)| {
                Conv2dShape::new(cg * groups, h, w, ocg * groups, kernel.min(h).min(w))
                    .with_batch(batch)
                    .with_groups(groups)
                    .with_stride(stride)
                    .with_padding(padding)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn conv_parallel_equals_serial(s in conv_shape(), seed in any::<u64>()) {
        conv_all(&s, seed);
    }

    #[test]
    fn dense_parallel_equals_serial(rows in 1usize..70, cols in 0usize..300, seed in any::<u64>()) {
        dense_all(rows, cols, seed);
    }
}

/// Shapes large enough that the default task size splits them (and rows
/// not a multiple of the task size).
#[test]
fn default_split_equals_serial_on_layer_sized_shapes() {
    conv_all(&Conv2dShape::new(16, 32, 32, 30, 3).with_padding(1), 7);
    dense_all(250, 1024, 8);
}
