//! The private-inference cost estimate printed by `circa inspect` (the model itself is the
//! library's `circa_nn::cost`; this is its presentation).

use circa_nn::Network;
use circa_nn::cost::{self, DELPHI_STORAGE_PER_RELU, ReluUnit};
use circa_nn::engine::Plan;
use circa_nn::private::PrivateParams;

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
) -> Result<String, circa_nn::NnError> {
    let plan = Plan::new(network.architecture(), params.plan())?;
    let w = cost::weight_bits(network, params.frac_bits);
    let c = cost::estimate(&plan, params, w, unit).total();
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
    Ok(s)
}
