//! `circa-bench share`: convolution on shares next to plain `i64`.

use crate::{Error, Record, Size};
use circa_share::bench_support::{conv_throughput, standard_conv_shapes};
use circa_share::field::P2061584302081;
use serde_json::json;
use std::time::Duration;

/// Convolution throughput on shares and in plain `i64` (same shapes, same run).
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
    Ok(out)
}
