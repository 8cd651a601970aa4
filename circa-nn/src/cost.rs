//! The cost model of private inference, per layer of the plan: what `circa inspect` prints
//! and what the engine can choose by. Counts come from the plan (public), per-unit costs from
//! the protocol descriptions (analytic) or from a loopback run of the ReLU protocol
//! ([`measure_relu`]).
//!
//! Per-unit model (bytes; `n = bits(p)`, `e = ceil(n / 8)`):
//! * linear layers: the OT-based linear correlation of `circa_share::ole` in the direction it
//!   picks from the public shapes ([`circa_share::ole::Direction`], exact bytes: OT-extension
//!   rows and corrections), per group of a convolution;
//! * ReLU, label-table path: garbled tables (32 B per AND gate) and one random OT (16 B) per
//!   ReLU for the conversion, server to client; one correlated OT (16 B, client to server) per
//!   client input bit; online the server's input labels (16 B per bit) and two field elements,
//!   and one field element back. Delphi's baseline instead receives `n` labels for its output
//!   mask offline and decodes `n` output bits. The Beaver path adds one triple per ReLU (not
//!   counted here).
//! * polynomial activation: one Beaver triple from `circa_share::OtTripleSource`
//!   (`2 n (16 + e)` B) offline, the two openings and the re-masking online (40 B);
//! * re-masking: 8 B per element (offline or online, as the plan says); the input share and the
//!   output share: 8 B per element online.

use circa_relu::ReluParams;
use circa_relu::circuits;
use circa_share::Modulus;
use circa_share::ole::Direction;

use crate::engine::{Kind, Plan, Remask};
use crate::model::Network;
use crate::private::{PrivateParams, by_prime, by_prime_new};

/// Client storage per ReLU in Delphi (Mishra et al. 2020), for comparison.
pub const DELPHI_STORAGE_PER_RELU: f64 = 18_248.0;

/// Bytes of one field element on the wire.
const FIELD_BYTES: f64 = 8.0;

/// Per-ReLU costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReluUnit {
    /// AND gates per ReLU.
    pub and_gates: usize,
    /// Offline bytes, both directions.
    pub offline_bytes: f64,
    /// Online bytes, server to client.
    pub online_s2c: f64,
    /// Online bytes, client to server.
    pub online_c2s: f64,
    /// Client storage between the phases.
    pub storage: f64,
}

/// Analytic per-ReLU costs for `params` (see the module docs).
pub fn relu_unit(params: &PrivateParams) -> Result<ReluUnit, circa_relu::Error> {
    let unit = by_prime_new!(params.prime, M => relu_unit_for::<M>(params));
    by_prime!(unit, u => u)
}

fn relu_unit_for<M: Modulus>(params: &PrivateParams) -> Result<ReluUnit, circa_relu::Error> {
    let (variant, product) = params.relu;
    let p = ReluParams::<M>::new(variant, product, params.frac_bits)?;
    let and_gates = circuits::and_gates_per_relu(&p);
    let eval_in = circuits::evaluator_inputs_per_relu(&p) as f64;
    let garb_on = circuits::garbler_online_inputs_per_relu(&p) as f64;
    let garb_off = circuits::garbler_offline_inputs_per_relu(&p) as f64;
    let outputs = circuits::outputs_per_relu(&p) as f64;
    let tables = 32.0 * and_gates as f64;
    let unit = if variant.is_sign() {
        ReluUnit {
            and_gates,
            offline_bytes: tables + 16.0 * eval_in + 16.0,
            online_s2c: 16.0 * garb_on + 16.0,
            online_c2s: 8.0,
            storage: tables + 16.0 * eval_in + 16.0,
        }
    } else {
        ReluUnit {
            and_gates,
            offline_bytes: tables + 16.0 * eval_in + 16.0 * garb_off + outputs / 8.0,
            online_s2c: 16.0 * garb_on,
            online_c2s: 0.0,
            storage: tables + 16.0 * (eval_in + garb_off) + outputs / 8.0,
        }
    };
    Ok(unit)
}

/// Measured per-ReLU costs: `relus` ReLUs through the real protocol over loopback.
pub fn measure_relu(params: &PrivateParams, relus: usize) -> Result<ReluUnit, circa_relu::Error> {
    let (variant, product) = params.relu;
    let report = by_prime_new!(params.prime, M => {
        ReluParams::<M>::new(variant, product, params.frac_bits)
            .and_then(|p| circa_relu::protocol::bench::run(&p, relus))
    });
    let report = by_prime!(report, r => r)?;
    Ok(ReluUnit {
        and_gates: report.and_gates,
        offline_bytes: report.offline_bytes,
        online_s2c: report.online_bytes_server_to_client,
        online_c2s: report.online_bytes_client_to_server,
        storage: report.client_storage_bytes,
    })
}

/// The estimated cost of one layer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LayerCost {
    /// Weights (linear layers).
    pub weights: u64,
    /// Multiply-accumulates (linear layers; padding included, as the correlation computes them).
    pub macs: u64,
    /// ReLUs.
    pub relus: u64,
    /// AND gates of its ReLUs.
    pub and_gates: u64,
    /// Polynomial units.
    pub polynomials: u64,
    /// Offline bytes, both directions.
    pub offline_bytes: f64,
    /// Of which the linear correlation's.
    pub linear_bytes: f64,
    /// Of which the ReLU preprocessing's.
    pub relu_bytes: f64,
    /// Online bytes, both directions.
    pub online_bytes: f64,
    /// Client storage between the phases.
    pub storage_bytes: f64,
}

impl core::ops::AddAssign for LayerCost {
    fn add_assign(&mut self, o: Self) {
        self.weights += o.weights;
        self.macs += o.macs;
        self.relus += o.relus;
        self.and_gates += o.and_gates;
        self.polynomials += o.polynomials;
        self.offline_bytes += o.offline_bytes;
        self.linear_bytes += o.linear_bytes;
        self.relu_bytes += o.relu_bytes;
        self.online_bytes += o.online_bytes;
        self.storage_bytes += o.storage_bytes;
    }
}

/// The estimated cost of a network: one entry per layer, plus the input and output shares.
#[derive(Debug, Clone, PartialEq)]
pub struct CostEstimate {
    /// Per layer of the plan.
    pub layers: Vec<LayerCost>,
    /// Online bytes of the input and output shares.
    pub io_bytes: f64,
}

impl CostEstimate {
    /// The sum over the layers, with the input and output shares in the online bytes.
    pub fn total(&self) -> LayerCost {
        let mut t = LayerCost::default();
        for l in &self.layers {
            t += *l;
        }
        t.online_bytes += self.io_bytes;
        t
    }
}

/// Bytes of the OT-based linear correlation of `A B` (`m x k` weights of `weight_bits` bits,
/// `k x n` mask) in the direction both parties pick.
fn correlation_bytes(
    params: &PrivateParams,
    m: usize,
    k: usize,
    n: usize,
    weight_bits: u32,
) -> f64 {
    let bytes = by_prime_new!(params.prime, M => {
        Direction::choose::<M>(m, k, n, weight_bits).bytes::<M>(m, k, n, weight_bits)
    });
    by_prime!(bytes, b => b as f64)
}

/// The cost of every layer of `plan` under `params`, with `weight_bits`-bit weights, the
/// per-ReLU costs `unit` and the linear layers' correlations `linear` (a layer without a
/// choice there is costed as OT).
pub fn estimate(
    plan: &Plan,
    params: &PrivateParams,
    weight_bits: u32,
    unit: &ReluUnit,
    linear: &[crate::engine::LinearChoice],
) -> CostEstimate {
    let n = f64::from(params.prime.bits());
    let e = (n / 8.0).ceil();
    let layers = plan
        .steps()
        .iter()
        .enumerate()
        .map(|(layer, step)| {
            let mut c = LayerCost::default();
            let remask = FIELD_BYTES * plan.tensor_len(step.inputs[0]) as f64;
            match step.remask {
                Remask::No => {}
                Remask::Offline => c.offline_bytes += remask,
                Remask::Online => c.online_bytes += remask,
            }
            match &step.kind {
                Kind::Linear(l) => {
                    c.weights = l.weight_len() as u64;
                    c.macs = l.macs();
                    let chosen = linear.iter().find(|c| c.layer == layer);
                    c.linear_bytes = match (chosen, l.conv()) {
                        (Some(chosen), _) => chosen.cost().bytes() as f64,
                        (None, Some(conv)) => {
                            let s = conv.shape(l.input());
                            conv.groups as f64
                                * correlation_bytes(
                                    params,
                                    conv.out_channels / conv.groups,
                                    s.patch_len(),
                                    s.out_positions(),
                                    weight_bits,
                                )
                        }
                        (None, None) => correlation_bytes(
                            params,
                            l.output().len(),
                            l.input().len(),
                            1,
                            weight_bits,
                        ),
                    };
                    c.offline_bytes += c.linear_bytes;
                    c.storage_bytes += FIELD_BYTES * l.output().len() as f64;
                }
                Kind::Polynomial(p) => {
                    c.polynomials = p.len() as u64;
                    c.offline_bytes += c.polynomials as f64 * 2.0 * n * (16.0 + e);
                    c.online_bytes += c.polynomials as f64 * 5.0 * FIELD_BYTES;
                    c.storage_bytes += c.polynomials as f64 * 4.0 * FIELD_BYTES;
                }
                kind => {
                    c.relus = kind.relu_count() as u64;
                    c.and_gates = c.relus * unit.and_gates as u64;
                    c.relu_bytes = c.relus as f64 * unit.offline_bytes;
                    c.offline_bytes += c.relu_bytes;
                    c.online_bytes += c.relus as f64 * (unit.online_s2c + unit.online_c2s);
                    c.storage_bytes += c.relus as f64 * unit.storage;
                }
            }
            c
        })
        .collect();
    let io = FIELD_BYTES * (plan.input_len() + plan.tensor_len(plan.output())) as f64;
    CostEstimate {
        layers,
        io_bytes: io,
    }
}

/// The session's weight width: the smallest signed width holding every weight encoded at
/// `2^f` (at least 2 bits), as the server announces it.
pub fn weight_bits(network: &Network, frac_bits: u32) -> u32 {
    let scale = f64::from(frac_bits).exp2();
    let max = network
        .weights()
        .iter()
        .flatten()
        .flat_map(|w| w.weight().iter())
        .map(|w| (w * scale).round().abs())
        .fold(0.0f64, f64::max);
    // Saturating: a weight too large for u64 is refused by the engine anyway.
    let max = if max.is_finite() && max < u64::MAX as f64 {
        max as u64
    } else {
        u64::MAX
    };
    crate::engine::signed_bits(max)
}

/// AND gates of one sign test at `site` (its variant and fused rescale) under `params`' prime,
/// product path and `f` (counted from the built circuit, [`circuits::and_gates_per_relu`]).
pub fn and_gates_per_test(
    params: &PrivateParams,
    site: &crate::engine::SignSite,
) -> Result<usize, circa_relu::Error> {
    let gates = by_prime_new!(params.prime, M => {
        ReluParams::<M>::new(params.relu.0, params.relu.1, params.frac_bits)
            .and_then(|p| site.relu_params(&p))
            .map(|p| circuits::and_gates_per_relu(&p))
    });
    by_prime!(gates, g => g)
}

/// One layer's sign tests in a served model: where, how many, and their circuit size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteGates {
    /// The layer (a ReLU or max-pool layer of the plan).
    pub layer: usize,
    /// The site: its variant (`k`, tie rule) and the scale of its tests.
    pub site: crate::engine::SignSite,
    /// Sign tests per inference.
    pub tests: usize,
    /// AND gates per test.
    pub and_per_test: usize,
}

impl SiteGates {
    /// AND gates per inference at this site.
    pub fn and_gates(&self) -> u64 {
        self.tests as u64 * self.and_per_test as u64
    }
}

/// Every layer with sign tests in `model`'s plan (with its calibrated choices, if any).
pub fn site_gates(
    model: &crate::private::ServerModel,
) -> Result<Vec<SiteGates>, circa_relu::Error> {
    let mut out = Vec::new();
    for (layer, step) in model.plan().steps().iter().enumerate() {
        let (site, tests) = match &step.kind {
            Kind::Relu(r) => (*r.site(), r.count()),
            Kind::MaxPool(p) => (*p.site(), p.relu_count()),
            _ => continue,
        };
        if tests == 0 {
            continue;
        }
        out.push(SiteGates {
            layer,
            site,
            tests,
            and_per_test: and_gates_per_test(model.params(), &site)?,
        });
    }
    Ok(out)
}

/// AND gates per inference of `model` (every sign test of every site).
pub fn and_gates(model: &crate::private::ServerModel) -> Result<u64, circa_relu::Error> {
    Ok(site_gates(model)?.iter().map(SiteGates::and_gates).sum())
}
