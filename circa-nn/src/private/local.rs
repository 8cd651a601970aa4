//! Local operations on one party's shares (no communication): truncation, pooling sums, the
//! residual add, and the helpers both parties use to walk max-pool windows.

use circa_share::fixed_point::{truncate_client_share, truncate_server_share};
use circa_share::{Fp, Modulus};

use crate::kernels;
use crate::model::{Op, Shape};

/// Which party holds the shares (role-specific behaviour: truncation, public constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Party {
    Client,
    Server,
}

/// Local share truncation by `bits` (SecureML-style with the prime-field wrap correction, see
/// `circa_share::fixed_point`): off by at most one unit, fails with probability `|x| / p`.
pub(crate) fn truncate<M: Modulus>(party: Party, data: &mut [Fp<M>], bits: u32) {
    match party {
        Party::Client => data
            .iter_mut()
            .for_each(|v| *v = truncate_client_share(*v, bits)),
        Party::Server => data
            .iter_mut()
            .for_each(|v| *v = truncate_server_share(*v, bits)),
    }
}

/// The public fixed-point reciprocal `round(2^f / divisor)` (as in the reference).
pub(crate) fn reciprocal<M: Modulus>(frac_bits: u32, divisor: usize) -> Fp<M> {
    let r = ((frac_bits as f64).exp2() / divisor.max(1) as f64).round();
    Fp::from_i64_reduced(r as i64)
}

/// A layer without weights and without interaction: average pooling (sum times the public
/// reciprocal; the caller truncates), residual add, reshape, identity. `None` for other ops.
pub(crate) fn local_layer<M: Modulus>(
    op: &Op,
    xs: Shape,
    x: &[Fp<M>],
    second: Option<&[Fp<M>]>,
    frac_bits: u32,
) -> Option<Vec<Fp<M>>> {
    Some(match op {
        Op::AvgPool(p) => {
            let mut y = kernels::sum_pool(p, xs, x).ok()?;
            kernels::scale(&mut y, reciprocal(frac_bits, p.area()));
            y
        }
        Op::GlobalAvgPool => {
            let mut y = kernels::sum_channels(xs, x).ok()?;
            kernels::scale(&mut y, reciprocal(frac_bits, xs.spatial()));
            y
        }
        Op::Add => kernels::add(x, second?),
        Op::Reshape { .. } | Op::Activation(crate::model::Activation::Identity) => x.to_vec(),
        _ => return None,
    })
}

/// `2^f` as a field element (the lift of a max-pool difference to the product scale).
pub(crate) fn lift<M: Modulus>(frac_bits: u32) -> Fp<M> {
    Fp::from_u64_reduced(1u64 << frac_bits)
}

/// The differences `cand[2k+1] - cand[2k]` of every pair of one max-pool level (`width`
/// candidates per output), multiplied by `scale`.
pub(crate) fn pair_differences<M: Modulus>(
    cand: &[Fp<M>],
    width: usize,
    scale: Fp<M>,
) -> Vec<Fp<M>> {
    let mut out = Vec::with_capacity(cand.len() / 2);
    for w in cand.chunks_exact(width) {
        for pair in w.chunks_exact(2) {
            out.push((pair[1] - pair[0]) * scale);
        }
    }
    out
}

/// The next level's candidates: `cand[2k] + relu[k]` for every pair, the odd candidate passed
/// through.
pub(crate) fn fold_level<M: Modulus>(cand: &[Fp<M>], width: usize, relu: &[Fp<M>]) -> Vec<Fp<M>> {
    let pairs = width / 2;
    let mut out = Vec::with_capacity(cand.len() / width * (pairs + width % 2));
    for (j, w) in cand.chunks_exact(width).enumerate() {
        for k in 0..pairs {
            out.push(w[2 * k] + relu[j * pairs + k]);
        }
        if width % 2 == 1 {
            out.push(w[width - 1]);
        }
    }
    out
}

/// Gathers the level-0 candidates of a max pool (input indices from `kernels::pool_windows`).
pub(crate) fn gather<M: Modulus>(x: &[Fp<M>], windows: &[usize]) -> Vec<Fp<M>> {
    windows.iter().map(|&i| x[i]).collect()
}

/// Positions of the ReLU elements (from `plan::relu_mask`).
pub(crate) fn select<M: Modulus>(x: &[Fp<M>], mask: &[bool]) -> Vec<Fp<M>> {
    x.iter()
        .zip(mask)
        .filter(|(_, m)| **m)
        .map(|(v, _)| *v)
        .collect()
}

/// Writes `values` back into the ReLU positions of `x`.
pub(crate) fn scatter<M: Modulus>(x: &mut [Fp<M>], mask: &[bool], values: &[Fp<M>]) {
    let mut it = values.iter();
    for (v, &m) in x.iter_mut().zip(mask) {
        if m && let Some(&r) = it.next() {
            *v = r;
        }
    }
}
