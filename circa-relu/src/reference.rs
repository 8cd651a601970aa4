//! Plaintext references: exactly what each circuit computes on given shares, faults included.
//!
//! These are the test oracles for the circuits and the two-party protocol: given the same
//! shares `c` (client) and `s` (server) they return the same bit and value as the circuit,
//! including the stochastic sign's wrong answers.

use circa_share::fixed_point::{truncate_client_share, truncate_server_share};
use circa_share::{Fp, Modulus};

use crate::params::{ReluParams, TieMode, Variant};

/// The true sign bit of `y`: 1 ("non-negative") iff its centred representative is `>= 0`,
/// i.e. `y <= (p-1)/2`.
pub fn true_sign<M: Modulus>(y: Fp<M>) -> bool {
    y.value() <= M::HALF
}

/// The sign bit the variant's circuit outputs for shares `c`, `s` (for the baseline, the bit
/// its circuit selects with, which is exact). With a fused rescale the comparator's difference
/// must also be below half its range (see [`crate::circuits`]).
pub fn sign_bit<M: Modulus>(params: &ReluParams<M>, c: Fp<M>, s: Fp<M>) -> bool {
    let t = (-s).value();
    let (k, mode) = match params.variant() {
        Variant::DelphiBaseline | Variant::ExactSign => return true_sign(c + s),
        Variant::StochasticSign => (0, TieMode::NegPass),
        Variant::TruncatedSign { k, mode } => (k, mode),
    };
    let (cc, tt) = (c.value() >> k, t >> k);
    let half = 1u64 << (M::BITS - k - 1);
    match (mode, params.rescale()) {
        (TieMode::NegPass, false) => cc >= tt,
        (TieMode::PosZero, false) => cc > tt,
        (TieMode::NegPass, true) => cc >= tt && cc - tt < half,
        (TieMode::PosZero, true) => cc > tt && cc - tt <= half,
    }
}

/// The ReLU value the protocol reconstructs: `y * sign_bit(c, s)` with `y = c + s` (for the
/// baseline, the exact `ReLU(y)`). With a fused rescale, `sign_bit(c, s)` times the sum of
/// the locally truncated shares `floor(c / 2^f) - floor(t / 2^f)`: within one unit of
/// `floor(y / 2^f)` when the bit is 1 and `|y|` is within [`ReluParams::fused_range`].
pub fn relu_value<M: Modulus>(params: &ReluParams<M>, c: Fp<M>, s: Fp<M>) -> Fp<M> {
    if !sign_bit(params, c, s) {
        return Fp::ZERO;
    }
    if params.rescale() {
        let f = params.frac_bits();
        truncate_client_share(c, f) + truncate_server_share(s, f)
    } else {
        c + s
    }
}

/// The client's share the product multiplies the sign bit with: `c`, or with a fused rescale
/// the locally truncated `floor(c / 2^f)`.
pub fn product_client_share<M: Modulus>(params: &ReluParams<M>, c: Fp<M>) -> Fp<M> {
    if params.rescale() {
        truncate_client_share(c, params.frac_bits())
    } else {
        c
    }
}

/// The server's share the product multiplies the sign bit with: `s`, or with a fused rescale
/// the locally truncated `-floor(t / 2^f)`.
pub fn product_server_share<M: Modulus>(params: &ReluParams<M>, s: Fp<M>) -> Fp<M> {
    if params.rescale() {
        truncate_server_share(s, params.frac_bits())
    } else {
        s
    }
}

/// The baseline circuit's output word: `(ReLU(y) + mask) mod p`.
pub fn baseline_output<M: Modulus>(c: Fp<M>, s: Fp<M>, mask: Fp<M>) -> Fp<M> {
    let y = c + s;
    let relu = if true_sign(y) { y } else { Fp::ZERO };
    relu + mask
}
