//! The analytic fault model: the exact probability, over a uniform client share `c`, that a
//! variant's sign bit is wrong for a given `y` (the server share is `s = y - c`).
//!
//! Write `v = y mod p`, `K = 2^k` (`k = 0` for the untruncated stochastic sign, which is the
//! `NegPass` rule at `k = 0`), `t = (p - s) mod p`, `c' = floor(c/K)`, `t' = floor(t/K)`.
//! Splitting the `p` values of `c` into three regions:
//!
//! * `c < v`: `s = v - c > 0`, so `t = c + (p - v)` lies above `c`;
//! * `c = v`: `s = 0` and, by the `mod p`, `t = 0` (not `p`): the test compares `c'` with 0;
//! * `c > v`: `s = p - (c - v)`, so `t = c - v` lies below `c`.
//!
//! For `t = c + d` (`d > 0`), `c' >= t'` holds iff `d < K` and `c mod K < K - d`, and `c' > t'`
//! never holds. For `t = c - e` (`e >= 0`), `c' >= t'` always holds, and `c' > t'` holds iff
//! `e >= K` or `c mod K < e`. Counting the `c` of each region that satisfy these congruence
//! conditions is closed-form (the partial top bucket `[K*floor(p/K), p)` included), so the model
//! is exact, and the tests check it against enumeration over every `c` for small primes.
//!
//! Consequences (for `|y| >= K` the model is at most `|y|/p` for both tie rules, and exactly
//! `|y|/p` whenever `K <= (p-1)/2`):
//!
//! * `NegPass`: a non-negative `y` faults with probability `y/p`; a negative `y` with `|y| < K`
//!   passes with probability about `1 - |y|/K`.
//! * `PosZero`: a negative `y` faults with probability about `|y|/p`; a positive `y < K` is zeroed
//!   with probability about `1 - y/K`; `y = 0` always gets sign bit 0 (harmless: `0 * b = 0`).
//!
//! With a fused rescale ([`ReluParams::with_rescale`]) the circuit also requires `c' - t'` to
//! be below half the comparator's range. For `|y|` within [`ReluParams::fused_range`] that
//! changes nothing for a non-negative `y` (regions `c >= v` have `c - t = y`, a small
//! difference) and zeroes every `c` of the regions `c = v` and `c > v` for a negative `y`
//! (there `c - t = p + y`, above half the range): a negative `y` then faults only by a tie
//! (`NegPass`, `|y| < K`), never with probability `|y|/p`. The model is exact within that range.
//!
//! The exact sign and the baseline never fault.

use circa_share::{Fp, Modulus};

use crate::params::{ReluParams, TieMode, Variant};

/// `#{c in [0, x) : c mod K < r}` for `r <= K`.
fn low_residues_below(x: u64, r: u64, k: u32) -> u64 {
    let big_k = 1u64 << k;
    (x >> k) * r + (x & (big_k - 1)).min(r)
}

/// `#{c in [a, b) : c mod K < r}` for `a <= b`, `r <= K`.
fn low_residues(a: u64, b: u64, r: u64, k: u32) -> u64 {
    low_residues_below(b, r, k) - low_residues_below(a, r, k)
}

/// How many `c` in `[a, b)` give sign bit 1 when `t = c + d`, `d > 0`.
fn ones_above(a: u64, b: u64, d: u64, k: u32, mode: TieMode) -> u64 {
    let big_k = 1u64 << k;
    match mode {
        TieMode::NegPass if d < big_k => low_residues(a, b, big_k - d, k),
        _ => 0,
    }
}

/// How many `c` in `[a, b)` give sign bit 1 when `t = c - e`, `e >= 0`.
fn ones_below(a: u64, b: u64, e: u64, k: u32, mode: TieMode) -> u64 {
    let big_k = 1u64 << k;
    match mode {
        TieMode::NegPass => b - a,
        TieMode::PosZero if e >= big_k => b - a,
        TieMode::PosZero => low_residues(a, b, e, k),
    }
}

/// The exact number of client shares `c in [0, p)` for which the variant's sign bit differs
/// from the true sign `[y >= 0]` (`y` is taken mod p, as its centred representative).
pub fn fault_count<M: Modulus>(params: &ReluParams<M>, y: i64) -> u64 {
    let (k, mode) = match params.variant() {
        Variant::DelphiBaseline | Variant::ExactSign => return 0,
        Variant::StochasticSign => (0, TieMode::NegPass),
        Variant::TruncatedSign { k, mode } => (k, mode),
    };
    let p = M::P;
    let v = Fp::<M>::from_i64_reduced(y).value();
    // Region c < v: t = c + (p - v).
    let ones_a = ones_above(0, v, p - v, k, mode);
    // Region c = v: t = 0.
    let one_b = match mode {
        TieMode::NegPass => true,
        TieMode::PosZero => (v >> k) > 0,
    };
    // Region c > v: t = c - v.
    let ones_c = ones_below(v + 1, p, v, k, mode);
    if v <= M::HALF {
        (v - ones_a) + u64::from(!one_b) + ((p - v - 1) - ones_c)
    } else if params.rescale() {
        // The fused rescale's range check turns the ones of regions c = v and c > v (where
        // c - t = v is the integer p + y) into zeros (see the module docs).
        ones_a
    } else {
        ones_a + u64::from(one_b) + ones_c
    }
}

/// `P[wrong sign bit]` over a uniform client share: [`fault_count`]` / p`.
pub fn fault_probability<M: Modulus>(params: &ReluParams<M>, y: i64) -> f64 {
    fault_count(params, y) as f64 / M::P as f64
}

/// `P[the ReLU output differs from ReLU(y)]`: the fault probability, except that `y = 0` never
/// produces a wrong value (`0 * b = 0`).
pub fn value_fault_probability<M: Modulus>(params: &ReluParams<M>, y: i64) -> f64 {
    if Fp::<M>::from_i64_reduced(y).is_zero() {
        0.0
    } else {
        fault_probability(params, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residue_counting() {
        // K = 4, residues < 3 in [0, 10): 0,1,2,4,5,6,8,9 -> 8.
        assert_eq!(low_residues(0, 10, 3, 2), 8);
        assert_eq!(low_residues(5, 10, 3, 2), 4);
        assert_eq!(low_residues(3, 3, 3, 2), 0);
        assert_eq!(low_residues(0, 7, 1, 0), 7);
    }
}
