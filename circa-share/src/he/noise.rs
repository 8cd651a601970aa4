//! The noise budget: for a parameter set and a layer's public data (weight
//! width, the number of weight taps meeting one output coefficient, the
//! number of returned coefficients), the flooding bound `F` that keeps
//! decryption correct and the statistical distance it buys.
//!
//! Notation: `Q` query modulus, `q_1` the query prime kept when switching,
//! `q_f` response modulus, `t = p` the field prime, `N` the degree, `d0` the
//! dropped bits of a returned `c0`. A returned coefficient decrypts
//! correctly iff its noise after switching, `E_f`, satisfies
//! `|E_f| < q_f / (2t)`, with
//!
//! ```text
//! E_f = (q_f / Q) (flood + delta + pk) + rounding
//! delta    = sum_k w_k (e_k + eps_k) + eps_mask     (depends on the weights)
//! pk       = s e2 + e_pk u + e1                        (re-randomisation)
//! rounding = (q_f/q_1)(eps_a0 + eps_a1 s) + eps_b0 + eps_b1 s + drop
//! ```
//!
//! where `e_k` is the client's encryption noise (centred binomial of
//! variance 10, a sub-Gaussian with variance proxy 10), `eps_k` the
//! rounding of the client's scaled encoding `round(Q r / t)` (in
//! `[-1/2, 1/2]`), `w_k` the weights (`|w_k| <= 2^(w-1)`), at most `taps`
//! terms per coefficient; `s` the ternary secret with `||s||^2 <= 0.7 N`,
//! `e_pk` the public key's noise with `||e_pk||^2 <= 11 N` (both enforced at
//! key generation), `u` ternary, `e1, e2` centred binomial; `eps_a, eps_b`
//! the roundings of the two switching steps (`Q -> q_1 -> q_f`), and
//! `drop <= 2^(d0-1)`.
//!
//! High-probability bounds, each failing with probability below
//! `FAIL = 2^-64` per coefficient: Hoeffding/sub-Gaussian tails
//! `sqrt(2 ln(2/FAIL) proxy)` for `delta` and `pk`; Bernstein for the
//! `eps_b1 s` sums (each term bounded by `b = (1 + q_f/q_1)/2`, variance at
//! most `(1 + q_f/q_1)^2 / 12` with `c1` uniform: it is re-randomised).
//!
//! The flood is uniform on `[-F, F]` with `F` the largest value keeping
//! `(q_f/Q)(F + B_delta + B_pk) + B_round < q_f/(2t)`. Statistical distance
//! of the client's view from one without `delta` (the only part that
//! depends on the weights): for each returned coefficient, shifting a
//! uniform on `2F + 1` points by `delta` moves at most `|delta| / (2F + 1)`
//! of its mass, so over the `n` returned coefficients of a layer, averaged
//! over the client's own randomness, the distance is at most
//! `n sqrt(E delta^2) / (2F + 1)`. The plan refuses a layer for which this
//! exceeds `2^-STAT_BITS`.

use super::params::HeParams;
use crate::field::Modulus;

/// Statistical security of the weight hiding, per layer (bits).
pub const STAT_BITS: u32 = 40;

/// `ln(2 / FAIL)` with `FAIL = 2^-64` per coefficient and bound.
const LN_2_OVER_FAIL: f64 = 65.0 * core::f64::consts::LN_2;

/// Variance (and sub-Gaussian proxy) of the centred binomial error.
pub(crate) const ERROR_VARIANCE: f64 = 10.0;
/// `||s||^2 <= S_NORM_FRACTION * N` for a ternary secret (checked at keygen).
pub(crate) const S_NORM_FRACTION: f64 = 0.7;
/// `||e_pk||^2 <= E_NORM_FACTOR * N` for the public key noise (checked).
pub(crate) const E_NORM_FACTOR: f64 = 11.0;

/// The budget of one layer under one parameter set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoiseBudget {
    /// Flooding bound `F` (the flood is uniform on `[-F, F]`).
    pub flood: u128,
    /// High-probability bound on the weight-dependent noise `delta`.
    pub delta_bound: f64,
    /// `sqrt(E delta^2)`.
    pub delta_rms: f64,
    /// Bound on the re-randomisation noise.
    pub pk_bound: f64,
    /// Bound on the rounding noise after switching to `q_f`.
    pub round_bound: f64,
    /// `-log2` of the statistical distance bound for the whole layer
    /// (reporting; decisions use [`NoiseBudget::meets`]).
    pub stat_bits: f64,
    /// `n sqrt(E delta^2)`: the distance bound is this over `2F + 1`.
    pub(crate) shift_mass: f64,
}

impl NoiseBudget {
    /// Whether the statistical distance is at most `2^-bits`, decided with
    /// correctly rounded operations only (IEEE products and square roots,
    /// no `log2`), so that both parties decide alike on any platform.
    pub fn meets(&self, bits: u32) -> bool {
        (2 * self.flood + 1) as f64 >= self.shift_mass * (1u128 << bits) as f64
    }
}

fn sub_gaussian_tail(proxy: f64) -> f64 {
    (2.0 * LN_2_OVER_FAIL * proxy).sqrt()
}

/// Bernstein: `P(|X| > x) <= 2 exp(-x^2 / (2 (v + b x / 3)))`, solved for `x`.
fn bernstein_tail(variance: f64, b: f64) -> f64 {
    let l = LN_2_OVER_FAIL;
    let a = 2.0 * l * b / 3.0;
    (a + (a * a + 8.0 * l * variance).sqrt()) / 2.0
}

/// Rounding noise after the switch `Q -> q_1 -> q_f` plus the dropped
/// bits of `c0` (independent of the layer).
pub(crate) fn round_bound<M: Modulus>(params: &HeParams<M>) -> f64 {
    let inner = &*params.inner;
    let n = inner.n as f64;
    let ratio = inner.fin.q as f64 / inner.query[0].q as f64;
    let b = (1.0 + ratio) / 2.0;
    let var = S_NORM_FRACTION * n * (1.0 + ratio) * (1.0 + ratio) / 12.0;
    b + (1u64 << (inner.set.dropped_bits() - 1)) as f64 + bernstein_tail(var, b)
}

/// The budget for a layer with `taps` weight taps per output coefficient,
/// `weight_bits`-bit weights and `returned` returned coefficients, or `None`
/// if decryption could not be correct at all.
pub fn budget<M: Modulus>(
    params: &HeParams<M>,
    weight_bits: u32,
    taps: u64,
    returned: u64,
) -> Option<NoiseBudget> {
    let inner = &*params.inner;
    let n = inner.n as f64;
    // 4^(w-1), exact.
    let w2 = (1u128 << (2 * (weight_bits - 1))) as f64;
    let delta_proxy = (ERROR_VARIANCE + 0.25) * taps as f64 * w2;
    let delta_bound = sub_gaussian_tail(delta_proxy) + 0.5;
    let s2 = S_NORM_FRACTION * n;
    let e2 = E_NORM_FACTOR * n;
    let pk_bound = sub_gaussian_tail(ERROR_VARIANCE * s2 + e2 + ERROR_VARIANCE);
    let round = round_bound(params);
    let q = inner.q as f64;
    let qf = inner.fin.q as f64;
    let t = inner.t as f64;
    // (qf/Q)(F + delta + pk) + round < qf / (2t), with a 2^-20 relative
    // margin for floating-point error.
    let room = (qf / (2.0 * t) - round) * (q / qf) * (1.0 - 1.0 / (1u64 << 20) as f64);
    let flood = room - delta_bound - pk_bound - 1.0;
    if flood.is_nan() || flood < 1.0 {
        return None;
    }
    // E delta^2 <= (10 + 1/4) taps 4^(w-1) + E pk^2 + 1/4 (the pk noise is
    // flooded too, so that the re-randomised c1 is independent of the phase).
    let pk_var = ERROR_VARIANCE * s2 + e2 * (2.0 / 3.0) + ERROR_VARIANCE;
    let delta_rms = (delta_proxy + pk_var + 0.25).sqrt();
    let flood = flood as u128;
    let shift_mass = returned.max(1) as f64 * delta_rms;
    let stat_bits = ((2 * flood + 1) as f64 / shift_mass).log2();
    Some(NoiseBudget {
        flood,
        delta_bound,
        delta_rms,
        pk_bound,
        round_bound: round,
        stat_bits,
        shift_mass,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{P2138816513, P2061584302081};
    use crate::he::params::HeParamSet;

    #[test]
    fn rounding_fits_the_response_modulus() {
        // The rounding must leave at least half of q_f/(2t) to the flood.
        fn check<M: Modulus>() {
            for set in HeParamSet::ALL {
                let p = HeParams::<M>::new(set).unwrap();
                let half = p.inner.fin.q as f64 / (4.0 * p.inner.t as f64);
                assert!(round_bound(&p) < half, "{set:?}");
            }
        }
        check::<P2061584302081>();
        check::<P2138816513>();
    }

    #[test]
    fn budget_shrinks_with_layer_size() {
        let p = HeParams::<P2061584302081>::new(HeParamSet::N8192).unwrap();
        let small = budget(&p, 13, 576, 1 << 10).unwrap();
        let big = budget(&p, 13, 576 * 8, 1 << 16).unwrap();
        assert!(small.stat_bits > big.stat_bits);
        assert!(small.stat_bits > 40.0);
        // 13-bit weights, 3x3x64 taps, 64 KiB outputs at N = 8192: the
        // ResNet/MiniONN 32x32x64 layer.
        let l2 = budget(&p, 13, 576 * 2, 65536).unwrap();
        assert!(l2.stat_bits > 40.0, "{}", l2.stat_bits);
    }
}
