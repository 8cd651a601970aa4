//! The private-inference cost estimate printed by `circa inspect` (the model itself is the
//! library's `circa_nn::cost`; this is its presentation).

use circa_nn::Network;
use circa_nn::cost::{self, DELPHI_STORAGE_PER_RELU, ReluUnit};
use circa_nn::private::ServerModel;
use circa_relu::Variant;

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
    let c = cost::estimate(plan, params, w, unit, model.linear_choices()).total();
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
        "  linear layers: {} weights ({w}-bit), {} multiply-accumulates; {:.2} B per MAC offline \
         ({}), {} offline",
        c.weights,
        c.macs,
        per_mac,
        model.linear_mode(),
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
    s.push_str(&linear_table(network, model));
    s.push_str(&sites_table(network, model));
    s
}

/// A layer name fit for a table column (control characters replaced, at most 20 characters).
fn layer_name(network: &Network, layer: usize) -> String {
    network.architecture().layers()[layer]
        .name
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(20)
        .collect()
}

/// Per linear layer: the correlation chosen, its bytes and estimated seconds, and the other
/// method's (times from `circa_share::he::cost`'s measured constants, over a 1 Gbit/s link).
fn linear_table(network: &Network, model: &ServerModel) -> String {
    use std::fmt::Write as _;
    let link = circa_nn::private::DEFAULT_LINK_BYTES_PER_SEC;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nlinear layers ({}; times estimated at 1 Gbit/s)",
        model.linear_mode()
    );
    let _ = writeln!(
        s,
        "{:>4}  {:<20} {:>10} {:>10} {:>11} {:>8} {:>11} {:>8} {:>9}",
        "#", "layer", "MACs", "method", "OT bytes", "OT s", "HE bytes", "HE s", "B/MAC"
    );
    for c in model.linear_choices() {
        let (he_bytes, he_s) = match c.he {
            Some((_, h)) => (
                human(h.bytes() as f64),
                format!("{:.3}", h.seconds_over(link)),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let _ = writeln!(
            s,
            "{:>4}  {:<20} {:>10} {:>10} {:>11} {:>8.3} {:>11} {:>8} {:>9.3}",
            c.layer,
            layer_name(network, c.layer),
            c.macs,
            c.method.to_string(),
            human(c.ot.bytes() as f64),
            c.ot.seconds_over(link),
            he_bytes,
            he_s,
            c.cost().bytes() as f64 / c.macs.max(1) as f64
        );
    }
    s
}

/// Per layer with sign tests: the scale they run at, `k`, tie rule, comparator bits, AND gates,
/// the fault band in real units and how the rescale after it is done (fused into the sign
/// test, a local truncation, or none).
fn sites_table(network: &Network, model: &ServerModel) -> String {
    use std::fmt::Write as _;
    let params = model.params();
    let f = params.frac_bits;
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
        "{:>4}  {:<20} {:>8} {:>6} {:>4} {:>8} {:>9} {:>10} {:>11} {:>8}",
        "#", "layer", "relus", "scale", "k", "mode", "AND/ReLU", "AND gates", "band", "rescale"
    );
    let sites = match cost::site_gates(model) {
        Ok(sites) => sites,
        Err(e) => {
            let _ = writeln!(s, "(no circuit for these parameters: {e})");
            return s;
        }
    };
    for g in &sites {
        let site = g.site;
        let name = layer_name(network, g.layer);
        let (k, mode, band) = match site.variant {
            Variant::TruncatedSign { k, mode } => (
                k.to_string(),
                mode.name(),
                format!(
                    "{:.4}",
                    (f64::from(k) - f64::from(site.scale_bits(f))).exp2()
                ),
            ),
            v => ("-".to_owned(), v.name(), "-".to_owned()),
        };
        let rescale = match (site.scale, site.fused) {
            (_, true) => "fused",
            (circa_nn::engine::Scale::Product, false) => "local",
            (circa_nn::engine::Scale::Single, false) => "-",
        };
        let _ = writeln!(
            s,
            "{:>4}  {:<20} {:>8} {:>6} {:>4} {:>8} {:>9} {:>10} {:>11} {:>8}",
            g.layer,
            name,
            g.tests,
            format!("2^{}", site.scale_bits(f)),
            k,
            mode,
            g.and_per_test,
            g.and_gates(),
            band,
            rescale
        );
    }
    let total: u64 = sites.iter().map(cost::SiteGates::and_gates).sum();
    let _ = writeln!(s, "AND gates per inference: {total}");
    if let Some(b) = model.input_bound() {
        let _ = writeln!(s, "calibrated input range: [-{b}, {b}]");
    }
    s
}
