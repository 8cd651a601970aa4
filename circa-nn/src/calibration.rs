//! What calibration found for a network and how it travels in the model file: per-layer sign
//! tests (`k` and tie rule), the largest input value and the largest value of every tensor,
//! for one field, one `f` and one sign scale.
//!
//! It is stored in the ONNX model's `metadata_props` under [`METADATA_KEY`], as text (one item
//! per line, our own format):
//!
//! ```text
//! circa-calibration 2
//! prime p41
//! frac_bits 10
//! sign_scale product
//! site 3 16 negpass
//! input_bound 1
//! tensor_bound 4 7.25
//! ```
//!
//! [`append_to_model`] adds the entry to a serialised model without re-encoding it (a protobuf
//! message may carry a repeated field anywhere, so appending the bytes of one more
//! `metadata_props` entry is a valid model); the importer takes the last entry with the key.
//! [`Calibration::from_text`] is bounded and gives typed errors.

use crate::engine::{SignScale, SiteChoice};
use crate::error::{NnError, Result};
use crate::private::Prime;

/// The `metadata_props` key of a calibration.
pub const METADATA_KEY: &str = "ai.circa.calibration";

/// Longest calibration text accepted.
pub const MAX_CALIBRATION_BYTES: usize = 4 << 20;

/// A network's calibration.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// The field it was made for.
    pub prime: Prime,
    /// The fractional bits it was made for.
    pub frac_bits: u32,
    /// The sign scale it was made for.
    pub sign_scale: SignScale,
    /// Per-layer sign tests.
    pub sites: Vec<SiteChoice>,
    /// The largest `|x|` of any input element seen.
    pub input_bound: f64,
    /// Per tensor id (input = 0, layer `i` = `i + 1`): the largest `|value|` seen (real units).
    pub tensor_bounds: Vec<(usize, f64)>,
}

fn bad(line: usize, reason: &'static str) -> NnError {
    NnError::InvalidCalibration { line, reason }
}

fn parse_num<T: core::str::FromStr>(s: Option<&str>, line: usize) -> Result<T> {
    s.and_then(|v| v.parse().ok())
        .ok_or(bad(line, "missing or malformed number"))
}

impl Calibration {
    /// The text form (see the module docs).
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::from("circa-calibration 2\n");
        let _ = writeln!(s, "prime {}", self.prime.name());
        let _ = writeln!(s, "frac_bits {}", self.frac_bits);
        let _ = writeln!(s, "sign_scale {}", self.sign_scale.name());
        for c in &self.sites {
            let _ = writeln!(s, "site {} {} {}", c.layer, c.k, c.mode.name());
        }
        let _ = writeln!(s, "input_bound {:e}", self.input_bound);
        for (t, b) in &self.tensor_bounds {
            let _ = writeln!(s, "tensor_bound {t} {b:e}");
        }
        s
    }

    /// Parses the text form, with at most `layers` layers in the network: every number
    /// checked, every line known, sites and tensors within range.
    pub fn from_text(text: &str, layers: usize) -> Result<Self> {
        if text.len() > MAX_CALIBRATION_BYTES {
            return Err(bad(0, "calibration text too long"));
        }
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
        match lines.next() {
            Some((_, "circa-calibration 2")) => {}
            Some((_, "circa-calibration 1")) => {
                return Err(bad(
                    1,
                    "a version-1 calibration: its k were chosen before residual adds and max \
                     pools tested at the product scale with a fused rescale; recalibrate",
                ));
            }
            _ => return Err(bad(1, "not a version-2 calibration")),
        }
        let (mut prime, mut frac_bits, mut sign_scale) = (None, None, None);
        let mut input_bound = None;
        let mut sites = Vec::new();
        let mut tensor_bounds = Vec::new();
        for (n, line) in lines {
            if line.is_empty() {
                continue;
            }
            let mut w = line.split_ascii_whitespace();
            match w.next() {
                Some("prime") => {
                    prime = Some(match w.next() {
                        Some("p41") => Prime::P41,
                        Some("p31") => Prime::P31,
                        _ => return Err(bad(n, "unknown prime")),
                    })
                }
                Some("frac_bits") => frac_bits = Some(parse_num::<u32>(w.next(), n)?),
                Some("sign_scale") => {
                    sign_scale = Some(match w.next() {
                        Some("product") => SignScale::Product,
                        Some("rescaled") => SignScale::Rescaled,
                        _ => return Err(bad(n, "unknown sign scale")),
                    })
                }
                Some("site") => {
                    let layer: usize = parse_num(w.next(), n)?;
                    let k: u32 = parse_num(w.next(), n)?;
                    let mode = match w.next() {
                        Some("negpass") => circa_relu::TieMode::NegPass,
                        Some("poszero") => circa_relu::TieMode::PosZero,
                        _ => return Err(bad(n, "unknown tie rule")),
                    };
                    if layer >= layers || sites.len() >= layers {
                        return Err(bad(n, "site outside the network"));
                    }
                    sites.push(SiteChoice { layer, k, mode });
                }
                Some("input_bound") => {
                    input_bound = Some(parse_num::<f64>(w.next(), n)?);
                }
                Some("tensor_bound") => {
                    let t: usize = parse_num(w.next(), n)?;
                    let b: f64 = parse_num(w.next(), n)?;
                    if t > layers || tensor_bounds.len() > layers {
                        return Err(bad(n, "tensor outside the network"));
                    }
                    if !b.is_finite() || b < 0.0 {
                        return Err(bad(n, "bound not a finite non-negative number"));
                    }
                    tensor_bounds.push((t, b));
                }
                _ => return Err(bad(n, "unknown item")),
            }
            if w.next().is_some() {
                return Err(bad(n, "trailing words"));
            }
        }
        let input_bound = input_bound.ok_or(bad(0, "no input_bound"))?;
        if !input_bound.is_finite() || input_bound < 0.0 {
            return Err(bad(0, "input_bound not a finite non-negative number"));
        }
        Ok(Self {
            prime: prime.ok_or(bad(0, "no prime"))?,
            frac_bits: frac_bits.ok_or(bad(0, "no frac_bits"))?,
            sign_scale: sign_scale.ok_or(bad(0, "no sign_scale"))?,
            sites,
            input_bound,
            tensor_bounds,
        })
    }

    /// The calibration's bound on tensor `t` (`None` if none was recorded).
    pub fn tensor_bound(&self, t: usize) -> Option<f64> {
        self.tensor_bounds
            .iter()
            .rev()
            .find(|(id, _)| *id == t)
            .map(|(_, b)| *b)
    }
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn length_delimited(field: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint(field << 3 | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// `model` (a serialised ONNX `ModelProto`) with one more `metadata_props` entry (field 14,
/// a `StringStringEntryProto` with `key` = field 1, `value` = field 2) holding `calibration`.
pub fn append_to_model(model: &[u8], calibration: &Calibration) -> Vec<u8> {
    let mut entry = Vec::new();
    length_delimited(1, METADATA_KEY.as_bytes(), &mut entry);
    length_delimited(2, calibration.to_text().as_bytes(), &mut entry);
    let mut out = Vec::with_capacity(model.len() + entry.len() + 8);
    out.extend_from_slice(model);
    length_delimited(14, &entry, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Calibration {
        Calibration {
            prime: Prime::P41,
            frac_bits: 10,
            sign_scale: SignScale::Product,
            sites: vec![SiteChoice {
                layer: 1,
                k: 18,
                mode: circa_relu::TieMode::NegPass,
            }],
            input_bound: 1.0,
            tensor_bounds: vec![(0, 1.0), (1, 12.5), (2, 12.5)],
        }
    }

    #[test]
    fn text_round_trips_and_rejects_malformed_lines() {
        let c = sample();
        assert_eq!(Calibration::from_text(&c.to_text(), 5).unwrap(), c);
        for (text, why) in [
            ("circa-calibration 2\n", "version"),
            ("circa-calibration 2\nprime p99\n", "prime"),
            ("circa-calibration 2\nsite 9 16 negpass\n", "site range"),
            ("circa-calibration 2\nsite 1 x negpass\n", "k"),
            ("circa-calibration 2\ntensor_bound 1 -3\n", "negative bound"),
            ("circa-calibration 2\ntensor_bound 1 NaN\n", "nan bound"),
            ("circa-calibration 2\nhello\n", "unknown"),
            (
                "circa-calibration 2\nprime p41\nframe 1 2\nsign_scale product\ninput_bound 1\n",
                "typo",
            ),
            ("circa-calibration 2\nprime p41 extra\n", "trailing"),
            (
                "circa-calibration 2\nprime p41\nfrac_bits 10\nsign_scale product\n",
                "no input",
            ),
            (
                "circa-calibration 1\nprime p41\nfrac_bits 10\nsign_scale product\ninput_bound 1\n",
                "version 1 (k chosen under other site scales)",
            ),
        ] {
            assert!(Calibration::from_text(text, 5).is_err(), "{why}");
        }
    }

    #[test]
    fn appended_entry_is_a_valid_metadata_field() {
        use prost::Message as _;
        let model = crate::onnx::ModelProto {
            ir_version: 8,
            ..Default::default()
        }
        .encode_to_vec();
        let out = append_to_model(&model, &sample());
        let decoded = crate::onnx::ModelProto::decode(out.as_slice()).unwrap();
        assert_eq!(decoded.ir_version, 8);
        let entry = decoded.metadata_props.last().unwrap();
        assert_eq!(entry.key, METADATA_KEY);
        assert_eq!(Calibration::from_text(&entry.value, 5).unwrap(), sample());
    }
}
