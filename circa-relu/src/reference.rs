//! Plaintext references: exactly what each circuit computes on given shares, faults included.
//!
//! These are the test oracles for the circuits and the two-party protocol: given the same
//! shares `c` (client) and `s` (server) they return the same bit and value as the circuit,
//! including the stochastic sign's wrong answers.

use circa_share::{Fp, Modulus};

use crate::params::{ReluParams, TieMode, Variant};

/// The true sign bit of `y`: 1 ("non-negative") iff its centred representative is `>= 0`,
/// i.e. `y <= (p-1)/2`.
pub fn true_sign<M: Modulus>(y: Fp<M>) -> bool {
    y.value() <= M::HALF
}

/// The sign bit the variant's circuit outputs for shares `c`, `s` (for the baseline, the bit
/// its circuit selects with, which is exact).
pub fn sign_bit<M: Modulus>(params: &ReluParams<M>, c: Fp<M>, s: Fp<M>) -> bool {
    let t = (-s).value();
    match params.variant() {
        Variant::DelphiBaseline | Variant::ExactSign => true_sign(c + s),
        Variant::StochasticSign => c.value() >= t,
        Variant::TruncatedSign { k, mode } => {
            let (cc, tt) = (c.value() >> k, t >> k);
            match mode {
                TieMode::NegPass => cc >= tt,
                TieMode::PosZero => cc > tt,
            }
        }
    }
}

/// The ReLU value the protocol reconstructs: `y * sign_bit(c, s)` with `y = c + s`
/// (for the baseline, the exact `ReLU(y)`).
pub fn relu_value<M: Modulus>(params: &ReluParams<M>, c: Fp<M>, s: Fp<M>) -> Fp<M> {
    let y = c + s;
    if sign_bit(params, c, s) { y } else { Fp::ZERO }
}

/// The baseline circuit's output word: `(ReLU(y) + mask) mod p`.
pub fn baseline_output<M: Modulus>(c: Fp<M>, s: Fp<M>, mask: Fp<M>) -> Fp<M> {
    let y = c + s;
    let relu = if true_sign(y) { y } else { Fp::ZERO };
    relu + mask
}
