//! The private-inference cost estimate printed by `circa inspect`: counts from the
//! architecture, per-unit costs from the protocol descriptions (analytic) or from a loopback
//! run of the ReLU protocol (measured).
//!
//! Per-unit model (bytes; `n = bits(p)`):
//! * linear layers (the OT-based linear correlation of `circa_share::ole` as used by
//!   `circa_nn::private`, weight bits as choice bits): `w` OTs (16 B) per weight and `w`
//!   field elements (`ceil(n / 8)` B each, packed) per multiply-accumulate, `w` being the
//!   session's weight width;
//! * ReLU, label-table path: garbled tables `32` B per AND gate and one random OT (16 B) per
//!   ReLU for the conversion, server to client; one correlated OT (16 B, client to server) per
//!   client input bit; online the server's input labels (16 B per bit) and two field elements,
//!   and one field element back. Delphi's baseline instead receives `n` labels for its output
//!   mask offline and decodes `n` output bits. The Beaver path adds one triple per ReLU (not
//!   counted here).
//! * polynomial activation: one Beaver triple from `circa_share::OtTripleSource`
//!   (`2 n (16 + ceil(n / 8))` B) offline, two openings each way online.

use circa_nn::Network;
use circa_nn::model::Op;
use circa_nn::private::{Prime, PrivateParams};
use circa_relu::ReluParams;
use circa_relu::circuits;
use circa_share::{Modulus, P2138816513, P2061584302081};

/// Client storage per ReLU in Delphi (Mishra et al. 2020), for comparison.
pub const DELPHI_STORAGE_PER_RELU: f64 = 18_248.0;

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
    match params.prime {
        Prime::P41 => relu_unit_for::<P2061584302081>(params),
        Prime::P31 => relu_unit_for::<P2138816513>(params),
    }
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
    let report = match params.prime {
        Prime::P41 => circa_relu::protocol::bench::run(
            &ReluParams::<P2061584302081>::new(variant, product, params.frac_bits)?,
            relus,
        )?,
        Prime::P31 => circa_relu::protocol::bench::run(
            &ReluParams::<P2138816513>::new(variant, product, params.frac_bits)?,
            relus,
        )?,
    };
    Ok(ReluUnit {
        and_gates: report.and_gates,
        offline_bytes: report.offline_bytes,
        online_s2c: report.online_bytes_server_to_client,
        online_c2s: report.online_bytes_client_to_server,
        storage: report.client_storage_bytes,
    })
}

/// Counts taken from the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Weights of the linear layers.
    pub weights: u64,
    /// Multiply-accumulates of the linear layers (`weights x output positions`, padding
    /// included, as the correlation computes them).
    pub macs: u64,
    /// ReLUs (activations and max pooling).
    pub relus: u64,
    /// Polynomial activation units.
    pub polynomials: u64,
}

/// The counts of `network`.
pub fn counts(network: &Network) -> Counts {
    let arch = network.architecture();
    let mut out = Counts {
        relus: arch.relu_count() as u64,
        ..Counts::default()
    };
    for layer in arch.layers() {
        match &layer.op {
            Op::Conv2d(c) => {
                let w = c.weight_len() as u64;
                out.weights += w;
                out.macs += w * layer.output_shape().spatial() as u64;
            }
            Op::Dense {
                in_features,
                out_features,
            } => {
                let w = (*in_features as u64) * (*out_features as u64);
                out.weights += w;
                out.macs += w;
            }
            Op::Activation(circa_nn::Activation::Polynomial { .. }) => {
                out.polynomials += layer.output_shape().len() as u64;
            }
            _ => {}
        }
    }
    out
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
    // The weights are finite and encodable (checked at import / by the engine).
    let max = if max.is_finite() {
        max as u64
    } else {
        u64::MAX
    };
    (65 - max.leading_zeros()).max(2)
}

fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

/// The text of the estimate for `network` under `params`, with `unit` the per-ReLU costs and
/// `measured` whether they were measured.
pub fn report(
    network: &Network,
    params: &PrivateParams,
    unit: &ReluUnit,
    measured: bool,
) -> String {
    let c = counts(network);
    let n = f64::from(params.prime.bits());
    let w = weight_bits(network, params.frac_bits);
    let elem = (n / 8.0).ceil();
    let linear_offline = f64::from(w) * (c.weights as f64 * 16.0 + c.macs as f64 * elem);
    let relu_offline = c.relus as f64 * unit.offline_bytes;
    let poly_offline = c.polynomials as f64 * 2.0 * n * (16.0 + (n / 8.0).ceil());
    let storage_relu = c.relus as f64 * unit.storage;
    let per_mac = if c.macs > 0 {
        linear_offline / c.macs as f64
    } else {
        0.0
    };
    let kind = if measured {
        "measured over loopback"
    } else {
        "analytic"
    };
    let mut s = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(s, "\nprivate inference cost estimate");
    let _ = writeln!(s, "  parameters: {}", crate::cli::describe(params));
    let _ = writeln!(
        s,
        "  linear layers: {} weights ({w}-bit), {} multiply-accumulates; {:.1} B per MAC offline \
         ({w} OTs of 16 B per weight + {w} x {elem} B per MAC), {} offline",
        c.weights,
        c.macs,
        per_mac,
        human(linear_offline)
    );
    let _ = writeln!(
        s,
        "  ReLUs: {} x {} AND gates = {} AND gates",
        c.relus,
        unit.and_gates,
        c.relus * unit.and_gates as u64
    );
    let _ = writeln!(
        s,
        "  per ReLU ({kind}): offline {:.0} B, online {:.0} B server->client + {:.0} B client->server, \
         client storage {:.0} B ({:.1}x less than Delphi's {:.0} B)",
        unit.offline_bytes,
        unit.online_s2c,
        unit.online_c2s,
        unit.storage,
        DELPHI_STORAGE_PER_RELU / unit.storage.max(1.0),
        DELPHI_STORAGE_PER_RELU
    );
    if c.polynomials > 0 {
        let _ = writeln!(
            s,
            "  polynomial activations: {} units, {} offline (Beaver triples), 1 round online",
            c.polynomials,
            human(poly_offline)
        );
    }
    let online = c.relus as f64 * (unit.online_s2c + unit.online_c2s)
        + c.polynomials as f64 * 32.0
        + 8.0 * network.architecture().input_shape().len() as f64
        + 8.0 * network.architecture().output_shape().len() as f64;
    let _ = writeln!(
        s,
        "  per inference: offline {} (ReLUs {}, {:.1}% of it), online about {}, client storage \
         about {} for the ReLUs",
        human(linear_offline + relu_offline + poly_offline),
        human(relu_offline),
        100.0 * relu_offline / (linear_offline + relu_offline + poly_offline).max(1.0),
        human(online),
        human(storage_relu)
    );
    if !params.relu.0.is_sign() && !measured {
        let _ = writeln!(
            s,
            "  note: baseline figures are approximate; `circa inspect --measure N` measures them"
        );
    }
    s
}
