//! `circa-bench share`: convolution on shares next to plain `i64`.

use crate::{Error, Record, Size};
use circa_share::bench_support::{
    OtThroughput, conv_throughput, linear_correlation_throughput, standard_conv_shapes,
    triples_ot_throughput,
};
use circa_share::field::{P2138816513, P2061584302081};
use circa_share::{Modulus, linalg::Conv2dShape};
use serde_json::json;
use std::time::Duration;

/// Fixed-point weight magnitude bits for the linear-correlation run (`f = 10`
/// plus sign and headroom, as in the bundled models).
const WEIGHT_BITS: u32 = 13;

fn ot_record(op: &str, prime: &str, unit: &str, t: &OtThroughput) -> Record {
    json!({
        "bench": "share",
        "op": op,
        "prime": prime,
        "unit": unit,
        "ops": t.ops,
        "per_sec": t.per_sec,
        "bytes_per_op": t.bytes_per_op,
        "analytic_bytes_per_op": t.analytic_bytes_per_op,
    })
}

fn ot_section<M: Modulus>(prime: &str, size: Size, out: &mut Vec<Record>) -> Result<(), Error> {
    let triples = match size {
        Size::Full => 1 << 16,
        Size::Quick => 1 << 8,
    };
    out.push(ot_record(
        "triples_ot",
        prime,
        "triples",
        &triples_ot_throughput::<M>(triples)?,
    ));
    // The second conv layer of the bundled digits CNN: 8x4x4 -> 16, 3x3, padding 1.
    let shape = match size {
        Size::Full => Conv2dShape::new(16, 16, 16, 16, 3).with_padding(1),
        Size::Quick => Conv2dShape::new(8, 4, 4, 16, 3).with_padding(1),
    };
    let t = linear_correlation_throughput::<M>(&shape, WEIGHT_BITS)?;
    out.push(ot_record(
        "linear_correlation",
        prime,
        "multiply-accumulates",
        &t,
    ));
    Ok(())
}

/// Convolution throughput on shares and in plain `i64` (same shapes, same
/// run), then OT-based triples and linear-layer correlations over loopback.
pub fn run(size: Size) -> Result<Vec<Record>, Error> {
    let min_time = match size {
        Size::Full => Duration::from_secs(2),
        Size::Quick => Duration::from_millis(50),
    };
    let mut out = Vec::new();
    for (name, shape) in standard_conv_shapes() {
        let t = conv_throughput::<P2061584302081>(&shape, min_time)?;
        for (op, per_sec) in [
            ("conv_shares", t.shares_macs_per_sec),
            ("conv_plain_i64", t.plain_i64_macs_per_sec),
        ] {
            out.push(json!({
                "bench": "share",
                "op": op,
                "shape": name,
                "macs": t.macs_per_conv,
                "per_sec": per_sec,
                "shares_over_plain": t.ratio(),
            }));
        }
    }
    ot_section::<P2061584302081>("p41", size, &mut out)?;
    ot_section::<P2138816513>("p31", size, &mut out)?;
    Ok(out)
}
