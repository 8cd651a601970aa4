//! `circa-bench relu`: the per-ReLU cost table of every variant, measured
//! over TCP loopback with one thread per party.

use crate::{Error, Record, Size};
use circa_relu::protocol::bench::{CostReport, run_threads, run_with_ot_triples};
use circa_relu::{ProductPath, ReluParams, TieMode, Variant};
use circa_share::{Modulus, P2138816513, P2061584302081};

/// Fixed-point fractional bits used for the cost runs (costs do not depend on it).
const FRAC_BITS: u32 = 12;

fn record(r: &CostReport) -> Record {
    // The protocol crate formats its own line; parse it so the report has one record type.
    serde_json::from_str(&r.to_json_line())
        .unwrap_or_else(|_| serde_json::json!({"bench": "relu", "error": "unparsable line"}))
}

fn variants(ks: &[u32]) -> Vec<(Variant, ProductPath)> {
    let mut v = vec![
        (Variant::DelphiBaseline, ProductPath::LabelTable),
        (Variant::ExactSign, ProductPath::LabelTable),
        (Variant::StochasticSign, ProductPath::LabelTable),
    ];
    for &k in ks {
        for mode in [TieMode::NegPass, TieMode::PosZero] {
            v.push((Variant::TruncatedSign { k, mode }, ProductPath::LabelTable));
        }
    }
    v
}

fn section<M: Modulus>(
    n: usize,
    ks: &[u32],
    threads: usize,
    out: &mut Vec<Record>,
) -> Result<(), Error> {
    for (variant, product) in variants(ks) {
        let params = ReluParams::<M>::new(variant, product, FRAC_BITS)?;
        out.push(record(&run_threads(&params, n, threads)?));
    }
    // The paper's product path (Beaver triples from OT) at the largest k, NegPass.
    if let Some(&k) = ks.last() {
        let variant = Variant::TruncatedSign {
            k,
            mode: TieMode::NegPass,
        };
        let params = ReluParams::<M>::new(variant, ProductPath::Beaver, FRAC_BITS)?;
        // Triples from circa-share's OT-based source; their traffic is in `offline_bytes`.
        out.push(record(&run_with_ot_triples(&params, n)?));
    }
    Ok(())
}

/// Every variant on both shipped primes, `2^16` ReLUs per run (`2^10` quick), the server
/// garbling on `threads` threads (the Beaver row always on one).
pub fn run_all(size: Size, threads: usize) -> Result<Vec<Record>, Error> {
    let n = match size {
        Size::Full => 1 << 16,
        Size::Quick => 1 << 10,
    };
    let mut out = Vec::new();
    section::<P2061584302081>(n, &[8, 12, 16], threads, &mut out)?;
    section::<P2138816513>(n, &[4, 8, 12], threads, &mut out)?;
    Ok(out)
}
