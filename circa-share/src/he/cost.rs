//! Cost model: exact bytes each way and estimated compute time of the HE
//! correlation ([`he_cost`], from the plan) and of the OT correlation
//! ([`ot_cost`], from [`crate::ole::Direction::bytes`]'s accounting), and
//! the per-layer choice between them ([`choose`]) for a given link.
//!
//! Bytes are exact (the message sizes; the OT figure counts extension
//! rows and corrections, not the once-per-session base OTs). Times are
//! estimates from per-operation constants measured on the project's 2-core
//! machine (`cargo bench -p circa-share --bench he`), one core per party;
//! they order methods, they are not promises.

use super::params::HeParams;
use super::plan::HePlan;
use crate::error::Error;
use crate::field::Modulus;
use crate::field::batch::packed_width;
use crate::linalg::Conv2dShape;
use crate::ole::Direction;

/// Nanoseconds per butterfly of a negacyclic NTT (one prime), measured.
pub const NTT_NS_PER_BUTTERFLY: f64 = 3.5;
/// Nanoseconds per modular multiply-accumulate in the NTT domain, measured.
pub const MULACC_NS: f64 = 6.0;
/// Nanoseconds per returned coefficient (mask, flood, switch, pack) and per
/// sampled coefficient, measured.
pub const COEFF_NS: f64 = 25.0;
/// Throughput of the OT correlation, bytes per second of one party pair
/// (about 1e6 multiply-accumulates/s at 52.8 B per MAC, crate README).
pub const OT_BYTES_PER_SEC: f64 = 5.3e7;

/// Bytes and estimated seconds of one layer call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cost {
    /// Bytes the client sends.
    pub client_to_server: u64,
    /// Bytes the server sends.
    pub server_to_client: u64,
    /// Estimated compute seconds of the client.
    pub client_seconds: f64,
    /// Estimated compute seconds of the server.
    pub server_seconds: f64,
}

impl Cost {
    /// Bytes both ways.
    pub fn bytes(&self) -> u64 {
        self.client_to_server + self.server_to_client
    }

    /// Estimated wall time over a link of `bytes_per_sec` (the parties
    /// compute one after the other: client, server, client).
    pub fn seconds_over(&self, bytes_per_sec: f64) -> f64 {
        self.client_seconds + self.server_seconds + self.bytes() as f64 / bytes_per_sec
    }
}

fn ntt_seconds(n: usize, count: f64) -> f64 {
    count * (n / 2) as f64 * n.trailing_zeros() as f64 * NTT_NS_PER_BUTTERFLY * 1e-9
}

/// Cost of the HE correlation under `plan`.
pub fn he_cost<M: Modulus>(plan: &HePlan<M>) -> Cost {
    let n = plan.params.degree();
    let l = plan.params.inner.query.len() as f64;
    let (n_in, n_out) = (plan.n_in() as f64, plan.n_out() as f64);
    let returned = plan.shape.output_len() as f64;
    let images_tiles = (plan.shape.batch * plan.tiles()) as f64;
    let pairs = plan.kernel_pairs() as f64;
    let nf = n as f64;
    let client = ntt_seconds(n, n_in * l + 2.0 * n_out)
        + (n_in * 2.0 * l * nf + n_out * nf) * MULACC_NS * 1e-9
        + (n_in * 3.0 * l * nf + returned) * COEFF_NS * 1e-9;
    let server = ntt_seconds(n, pairs * l + n_out * 3.0 * l)
        + (pairs * images_tiles * 2.0 * l * nf + n_out * 2.0 * l * nf) * MULACC_NS * 1e-9
        + (n_in * l * nf + n_out * 2.0 * nf + returned * 4.0) * COEFF_NS * 1e-9;
    Cost {
        client_to_server: plan.query_bytes() as u64,
        server_to_client: plan.answer_bytes() as u64,
        client_seconds: client,
        server_seconds: server,
    }
}

/// Cost of the OT correlation ([`crate::ole::LinearCorrelationClient`])
/// for the same layer: one matrix product per image and group, in the
/// direction it picks. Weight bits: the server (COT receiver) sends 16 B
/// per OT, the client `n e` bytes of corrections; mask bits: the client
/// sends 16 B per OT, the server `m e`.
pub fn ot_cost<M: Modulus>(shape: &Conv2dShape, weight_bits: u32) -> Result<Cost, Error> {
    shape.validate()?;
    let (m, k, n) = (
        shape.out_channels / shape.groups,
        shape.patch_len(),
        shape.out_positions(),
    );
    let calls = (shape.batch * shape.groups) as u128;
    let e = packed_width::<M>() as u128;
    let (mu, ku, nu) = (m as u128, k as u128, n as u128);
    let (c2s, s2c) = match Direction::choose::<M>(m, k, n, weight_bits) {
        Direction::WeightBits => {
            let ots = mu * ku * weight_bits as u128;
            (ots * nu * e, ots * 16)
        }
        Direction::MaskBits => {
            let ots = ku * nu * M::BITS as u128;
            (ots * 16, ots * mu * e)
        }
    };
    let (c2s, s2c) = ((c2s * calls) as u64, (s2c * calls) as u64);
    let secs = (c2s + s2c) as f64 / OT_BYTES_PER_SEC / 2.0;
    Ok(Cost {
        client_to_server: c2s,
        server_to_client: s2c,
        client_seconds: secs,
        server_seconds: secs,
    })
}

/// Which correlation serves a layer.
#[derive(Clone, Debug)]
pub enum Method<M: Modulus> {
    /// HE under this plan.
    He(Box<HePlan<M>>),
    /// The OT correlation.
    Ot,
}

/// The per-layer decision and both costs.
#[derive(Clone, Debug)]
pub struct Choice<M: Modulus> {
    /// The method with the lower estimated time over the link.
    pub method: Method<M>,
    /// Cost of the best HE plan, if any parameter set fits the layer.
    pub he: Option<Cost>,
    /// Cost of the OT correlation.
    pub ot: Cost,
}

/// Picks HE (the cheapest plan over `params`) or OT for a convolution, by
/// estimated time over a link of `bytes_per_sec` (compute plus transfer);
/// OT where no HE parameter set fits the layer.
pub fn choose<M: Modulus>(
    params: &[HeParams<M>],
    shape: &Conv2dShape,
    weight_bits: u32,
    bytes_per_sec: f64,
) -> Result<Choice<M>, Error> {
    let ot = ot_cost::<M>(shape, weight_bits)?;
    let mut best: Option<(HePlan<M>, Cost)> = None;
    for p in params {
        match HePlan::conv(p, shape, weight_bits) {
            Ok(plan) => {
                let c = he_cost(&plan);
                if best.as_ref().is_none_or(|(_, b)| {
                    c.seconds_over(bytes_per_sec) < b.seconds_over(bytes_per_sec)
                }) {
                    best = Some((plan, c));
                }
            }
            Err(Error::HeLayerTooLarge { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(match best {
        Some((plan, he)) if he.seconds_over(bytes_per_sec) <= ot.seconds_over(bytes_per_sec) => {
            Choice {
                method: Method::He(Box::new(plan)),
                he: Some(he),
                ot,
            }
        }
        best => Choice {
            method: Method::Ot,
            he: best.map(|(_, c)| c),
            ot,
        },
    })
}
