//! The ReLU circuits, built from `circa-gc` gadgets only, and the input/output bit layouts.
//!
//! One circuit holds `count` independent ReLUs. Every layout is ReLU-major and every word is
//! least significant bit first (`n = bits(p)`, `t = (p - s) mod p`):
//!
//! | variant | garbler inputs per ReLU | evaluator inputs | outputs |
//! |---|---|---|---|
//! | `DelphiBaseline` | `s` (n bits), then the mask `r'` (n bits) | `c` (n) | `(ReLU(y) + r') mod p` (n) |
//! | `ExactSign` | `s` (n) | `c` (n) | `[y >= 0]` (1) |
//! | `StochasticSign` | `t` (n) | `c` (n) | `[c >= t]` (1) |
//! | `TruncatedSign{k,..}` | `floor(t/2^k)` (n-k) | `floor(c/2^k)` (n-k) | `[c' >= t']` / `[c' > t']` (1) |
//!
//! With a fused rescale ([`ReluParams::with_rescale`]) the stochastic and truncated signs also
//! require the comparator's difference `c' - t'` (mod `2^(n-k)`) to be below `2^(n-k-1)`
//! (`NegPass`; at most `2^(n-k-1)` for `PosZero`): one more AND gate per ReLU.
//!
//! A sign bit of 1 means "non-negative": the ReLU passes `y`. The garbler's baseline inputs split
//! into an online part (`s`, known online only) and an offline part (`r'`, chosen offline); the
//! sign variants have online garbler inputs only. [`split_garbler_inputs`] and
//! [`merge_garbler_inputs`] convert between the circuit's order and that split.

use circa_gc::{Circuit, CircuitBuilder, Wire};
use circa_share::{Fp, Modulus};

use crate::error::{Error, check_len};
use crate::params::{ReluParams, TieMode, Variant};

/// Largest number of ReLUs in one circuit (the protocol works in chunks far below this).
pub const MAX_RELUS_PER_CIRCUIT: usize = 1 << 20;

/// Appends the low `width` bits of `v`, LSB first.
fn push_word(out: &mut Vec<bool>, v: u64, width: usize) {
    out.extend((0..width).map(|i| (v >> i) & 1 == 1));
}

/// `t = (p - s) mod p`, the stochastic comparator's garbler input.
fn t_of<M: Modulus>(s: Fp<M>) -> u64 {
    (-s).value()
}

/// Online garbler input bits per ReLU (`s` or `t` or `t'`).
pub fn garbler_online_inputs_per_relu<M: Modulus>(params: &ReluParams<M>) -> usize {
    params.comparator_bits()
}

/// Offline garbler input bits per ReLU (`r'` for the baseline, none otherwise).
pub fn garbler_offline_inputs_per_relu<M: Modulus>(params: &ReluParams<M>) -> usize {
    if params.variant().is_sign() {
        0
    } else {
        params.field_bits()
    }
}

/// All garbler input bits per ReLU.
pub fn garbler_inputs_per_relu<M: Modulus>(params: &ReluParams<M>) -> usize {
    garbler_online_inputs_per_relu(params) + garbler_offline_inputs_per_relu(params)
}

/// Evaluator input bits per ReLU (`c` or `c'`).
pub fn evaluator_inputs_per_relu<M: Modulus>(params: &ReluParams<M>) -> usize {
    params.comparator_bits()
}

/// Output bits per ReLU: 1 for the sign variants, `n` for the baseline.
pub fn outputs_per_relu<M: Modulus>(params: &ReluParams<M>) -> usize {
    if params.variant().is_sign() {
        1
    } else {
        params.field_bits()
    }
}

/// Builds the circuit of `count` independent ReLUs (see the module docs for the layout).
///
/// Errors: `count == 0` or `count > MAX_RELUS_PER_CIRCUIT` ([`Error::InvalidParams`]), or a
/// builder failure.
pub fn relu_circuit<M: Modulus>(params: &ReluParams<M>, count: usize) -> Result<Circuit, Error> {
    if count == 0 || count > MAX_RELUS_PER_CIRCUIT {
        return Err(Error::InvalidParams {
            reason: "a ReLU circuit holds between 1 and MAX_RELUS_PER_CIRCUIT ReLUs",
        });
    }
    let mut b = CircuitBuilder::new();
    for _ in 0..count {
        build_one(&mut b, params);
    }
    Ok(b.finish()?)
}

/// Adds one ReLU's inputs, gates and outputs to `b`.
fn build_one<M: Modulus>(b: &mut CircuitBuilder, params: &ReluParams<M>) {
    let n = params.field_bits();
    let w = params.comparator_bits();
    match params.variant() {
        Variant::DelphiBaseline => {
            let s = b.garbler_input(n);
            let mask = b.garbler_input(n);
            let c = b.evaluator_input(n);
            let y = b.add_mod(&c, &s, u128::from(M::P));
            let non_negative = b.le_const(&y, u128::from(M::HALF));
            let relu: Vec<Wire> = y.iter().map(|&bit| b.and(non_negative, bit)).collect();
            let out = b.add_mod(&relu, &mask, u128::from(M::P));
            b.output(&out);
        }
        Variant::ExactSign => {
            let s = b.garbler_input(n);
            let c = b.evaluator_input(n);
            let y = b.add_mod(&c, &s, u128::from(M::P));
            let non_negative = b.le_const(&y, u128::from(M::HALF));
            b.output(&[non_negative]);
        }
        Variant::StochasticSign | Variant::TruncatedSign { .. } => {
            let mode = params.variant().tie_mode().unwrap_or(TieMode::NegPass);
            let t = b.garbler_input(w);
            let c = b.evaluator_input(w);
            let bit = match (mode, params.rescale()) {
                (TieMode::NegPass, false) => b.ge(&c, &t),
                (TieMode::PosZero, false) => b.gt(&c, &t),
                // Fused rescale: also require the difference to be below 2^(w-1). Its top bit
                // is free from the borrow chain; the test costs one AND gate.
                (TieMode::NegPass, true) => {
                    // [c >= t] and (c - t mod 2^w) < 2^(w-1): neither the borrow nor the top
                    // bit of the difference is set.
                    let (diff, borrow) = b.sub_with_borrow(&c, &t);
                    let top = diff[w - 1];
                    let either = b.or(borrow, top);
                    b.not(either)
                }
                (TieMode::PosZero, true) => {
                    // [c > t] is the borrow of t - c; with it, (t - c mod 2^w) >= 2^(w-1)
                    // says c - t <= 2^(w-1).
                    let (diff, borrow) = b.sub_with_borrow(&t, &c);
                    b.and(borrow, diff[w - 1])
                }
            };
            b.output(&[bit]);
        }
    }
}

/// AND gates per ReLU, counted from a built one-ReLU circuit (the circuit of `count` ReLUs has
/// exactly `count` times as many).
pub fn and_gates_per_relu<M: Modulus>(params: &ReluParams<M>) -> usize {
    let mut b = CircuitBuilder::new();
    build_one(&mut b, params);
    b.and_count()
}

/// The garbler's online input word of one ReLU (`s`, `t` or `t' = floor(t / 2^k)`), whose low
/// [`garbler_online_inputs_per_relu`] bits are the circuit's inputs.
pub fn garbler_online_word<M: Modulus>(params: &ReluParams<M>, s: Fp<M>) -> u64 {
    match params.variant() {
        Variant::DelphiBaseline | Variant::ExactSign => s.value(),
        Variant::StochasticSign | Variant::TruncatedSign { .. } => {
            t_of(s) >> params.variant().truncation_bits()
        }
    }
}

/// The garbler's online input bits (`s`, `t` or `t'` per ReLU, ReLU-major); replaces `out`.
pub fn garbler_online_bits<M: Modulus>(params: &ReluParams<M>, s: &[Fp<M>], out: &mut Vec<bool>) {
    let w = params.comparator_bits();
    out.clear();
    out.reserve(s.len() * w);
    for &si in s {
        push_word(out, garbler_online_word(params, si), w);
    }
}

/// The garbler's offline input bits: the baseline's masks `r'` (n bits per ReLU); for the sign
/// variants `masks` must be empty and `out` ends up empty. Replaces `out`.
pub fn garbler_offline_bits<M: Modulus>(
    params: &ReluParams<M>,
    masks: &[Fp<M>],
    out: &mut Vec<bool>,
) -> Result<(), Error> {
    out.clear();
    if params.variant().is_sign() {
        return check_len("masks (sign variants take none)", 0, masks.len());
    }
    let n = params.field_bits();
    out.reserve(masks.len() * n);
    for &r in masks {
        push_word(out, r.value(), n);
    }
    Ok(())
}

/// All garbler input bits in circuit order: per ReLU, the online word then (baseline) the mask.
/// `masks` has one entry per ReLU for the baseline and is empty otherwise. Replaces `out`.
pub fn garbler_bits<M: Modulus>(
    params: &ReluParams<M>,
    s: &[Fp<M>],
    masks: &[Fp<M>],
    out: &mut Vec<bool>,
) -> Result<(), Error> {
    let mut online = Vec::new();
    let mut offline = Vec::new();
    if !params.variant().is_sign() {
        check_len("masks", s.len(), masks.len())?;
    }
    garbler_online_bits(params, s, &mut online);
    garbler_offline_bits(params, masks, &mut offline)?;
    merge_garbler_inputs(params, &online, &offline, out)
}

/// The evaluator's input bits (`c` or `floor(c/2^k)` per ReLU); replaces `out`.
pub fn evaluator_bits<M: Modulus>(params: &ReluParams<M>, c: &[Fp<M>], out: &mut Vec<bool>) {
    let w = params.comparator_bits();
    let k = params.variant().truncation_bits();
    out.clear();
    out.reserve(c.len() * w);
    for &ci in c {
        push_word(out, ci.value() >> k, w);
    }
}

/// Splits per-garbler-input items (bits, labels) in circuit order into the online part and the
/// offline part (both ReLU-major). Replaces both outputs.
pub fn split_garbler_inputs<T: Copy>(
    params: &ReluParams<impl Modulus>,
    all: &[T],
    online: &mut Vec<T>,
    offline: &mut Vec<T>,
) -> Result<(), Error> {
    let (on, off) = (
        garbler_online_inputs_per_relu(params),
        garbler_offline_inputs_per_relu(params),
    );
    let per = on + off;
    if !all.len().is_multiple_of(per) {
        return check_len(
            "garbler inputs (whole ReLUs)",
            all.len() - all.len() % per,
            all.len(),
        );
    }
    online.clear();
    offline.clear();
    for relu in all.chunks_exact(per) {
        online.extend_from_slice(&relu[..on]);
        offline.extend_from_slice(&relu[on..]);
    }
    Ok(())
}

/// Inverse of [`split_garbler_inputs`]: interleaves the online and offline parts into circuit
/// order. Replaces `out`.
pub fn merge_garbler_inputs<T: Copy>(
    params: &ReluParams<impl Modulus>,
    online: &[T],
    offline: &[T],
    out: &mut Vec<T>,
) -> Result<(), Error> {
    let (on, off) = (
        garbler_online_inputs_per_relu(params),
        garbler_offline_inputs_per_relu(params),
    );
    if !online.len().is_multiple_of(on) {
        return check_len(
            "online garbler inputs (whole ReLUs)",
            online.len() - online.len() % on,
            online.len(),
        );
    }
    let count = online.len() / on;
    check_len("offline garbler inputs", count * off, offline.len())?;
    out.clear();
    out.reserve(online.len() + offline.len());
    for i in 0..count {
        out.extend_from_slice(&online[i * on..(i + 1) * on]);
        out.extend_from_slice(&offline[i * off..(i + 1) * off]);
    }
    Ok(())
}

/// Decodes the baseline circuit's output bits (n per ReLU, LSB first) into field elements.
/// Errors on a length that is not a whole number of words or a word `>= p`.
pub fn decode_field_outputs<M: Modulus>(
    params: &ReluParams<M>,
    bits: &[bool],
) -> Result<Vec<Fp<M>>, Error> {
    let n = params.field_bits();
    if !bits.len().is_multiple_of(n) {
        return Err(Error::LengthMismatch {
            what: "output bits (whole words)",
            expected: bits.len() - bits.len() % n,
            actual: bits.len(),
        });
    }
    bits.chunks_exact(n)
        .map(|word| {
            let v = word
                .iter()
                .rev()
                .fold(0u64, |acc, &bit| (acc << 1) | u64::from(bit));
            Ok(Fp::from_u64(v)?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ProductPath;
    use circa_share::P2138816513;

    type P = ReluParams<P2138816513>;

    #[test]
    fn layouts_match_the_circuit() {
        for v in [
            Variant::DelphiBaseline,
            Variant::ExactSign,
            Variant::StochasticSign,
            Variant::TruncatedSign {
                k: 7,
                mode: TieMode::PosZero,
            },
        ] {
            let p = P::new(v, ProductPath::LabelTable, 12).unwrap();
            let c = relu_circuit(&p, 3).unwrap();
            assert_eq!(c.garbler_inputs(), 3 * garbler_inputs_per_relu(&p));
            assert_eq!(c.evaluator_inputs(), 3 * evaluator_inputs_per_relu(&p));
            assert_eq!(c.outputs().len(), 3 * outputs_per_relu(&p));
            assert_eq!(c.and_count(), 3 * and_gates_per_relu(&p));
        }
        assert!(
            relu_circuit(
                &P::new(Variant::ExactSign, ProductPath::Beaver, 12).unwrap(),
                0
            )
            .is_err()
        );
    }

    #[test]
    fn split_and_merge_are_inverse() {
        let p = P::new(Variant::DelphiBaseline, ProductPath::LabelTable, 12).unwrap();
        let all: Vec<u32> = (0..2 * 62).collect();
        let (mut on, mut off, mut back) = (Vec::new(), Vec::new(), Vec::new());
        split_garbler_inputs(&p, &all, &mut on, &mut off).unwrap();
        assert_eq!(on, (0..31).chain(62..93).collect::<Vec<_>>());
        assert_eq!(off, (31..62).chain(93..124).collect::<Vec<_>>());
        merge_garbler_inputs(&p, &on, &off, &mut back).unwrap();
        assert_eq!(back, all);
        assert!(split_garbler_inputs(&p, &all[1..], &mut on, &mut off).is_err());
        assert!(merge_garbler_inputs(&p, &on, &off[1..], &mut back).is_err());
    }
}
