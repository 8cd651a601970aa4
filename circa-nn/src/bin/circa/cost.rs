//! The private-inference cost estimate printed by `circa inspect` (the model itself is the
//! library's `circa_nn::cost`; this is its presentation).

use circa_nn::Network;
use circa_nn::cost::{self, DELPHI_STORAGE_PER_RELU, ReluUnit};
use circa_nn::engine::Kind;
use circa_nn::private::ServerModel;
use circa_relu::{ProductPath, ReluParams, Variant, circuits};

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
pub fn report(network: &Network, model: &ServerModel, unit: &ReluUnit, measured: bool) -> String {
    let params = model.params();
    let plan = model.plan();
    let w = model.weight_bits();
    let c = cost::estimate(plan, params, w, unit).total();
    let per_mac = if c.macs > 0 {
        c.linear_bytes / c.macs as f64
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
         (OT-based correlation), {} offline",
        c.weights,
        c.macs,
        per_mac,
        human(c.linear_bytes)
    );
    let _ = writeln!(
        s,
        "  ReLUs: {} x {} AND gates = {} AND gates",
        c.relus, unit.and_gates, c.and_gates
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
            "  polynomial activations: {} units, Beaver triples offline, 1 round online",
            c.polynomials
        );
    }
    let _ = writeln!(
        s,
        "  per inference: offline {} (ReLUs {}, {:.1}% of it), online about {}, client storage \
         about {} ({} for the ReLUs)",
        human(c.offline_bytes),
        human(c.relu_bytes),
        100.0 * c.relu_bytes / c.offline_bytes.max(1.0),
        human(c.online_bytes),
        human(c.storage_bytes),
        human(c.relus as f64 * unit.storage)
    );
    if !params.relu.0.is_sign() && !measured {
        let _ = writeln!(
            s,
            "  note: baseline figures are approximate; `circa inspect --measure N` measures them"
        );
    }
    s.push_str(&sites_table(network, model));
    s
}

/// Per layer with sign tests: the scale they run at, `k`, tie rule, comparator bits, AND gates
/// and the fault band in real units.
fn sites_table(network: &Network, model: &ServerModel) -> String {
    use std::fmt::Write as _;
    let params = model.params();
    let f = params.frac_bits;
    let n = params.prime.bits();
    let mut s = String::new();
    let calibrated = if model.sites().is_empty() {
        "defaults: one fault band for every site"
    } else {
        "calibrated"
    };
    let _ = writeln!(
        s,
        "
sign tests per layer ({calibrated})"
    );
    let _ = writeln!(
        s,
        "{:>4}  {:<20} {:>8} {:>6} {:>4} {:>8} {:>9} {:>10} {:>11}",
        "#", "layer", "relus", "scale", "k", "mode", "AND/ReLU", "AND gates", "band"
    );
    for (i, step) in model.plan().steps().iter().enumerate() {
        let (site, relus) = match &step.kind {
            Kind::Relu(r) => (*r.site(), r.count()),
            Kind::MaxPool(p) => (*p.site(), p.relu_count()),
            _ => continue,
        };
        if relus == 0 {
            continue;
        }
        let name: String = network.architecture().layers()[i]
            .name
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .take(20)
            .collect();
        let (k, mode, ands, band) = match site.variant {
            Variant::TruncatedSign { k, mode } => (
                k.to_string(),
                mode.name(),
                n - k,
                format!(
                    "{:.4}",
                    (f64::from(k) - f64::from(site.scale_bits(f))).exp2()
                ),
            ),
            v => (
                "-".to_owned(),
                v.name(),
                ReluParams::<circa_share::P2061584302081>::new(v, ProductPath::LabelTable, f)
                    .map(|p| circuits::and_gates_per_relu(&p) as u32)
                    .unwrap_or(0),
                "-".to_owned(),
            ),
        };
        let _ = writeln!(
            s,
            "{:>4}  {:<20} {:>8} {:>6} {:>4} {:>8} {:>9} {:>10} {:>11}",
            i,
            name,
            relus,
            format!("2^{}", site.scale_bits(f)),
            k,
            mode,
            ands,
            relus as u64 * u64::from(ands),
            band
        );
    }
    if let Some(b) = model.input_bound() {
        let _ = writeln!(s, "calibrated input range: [-{b}, {b}]");
    }
    s
}
