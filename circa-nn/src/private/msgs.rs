//! The messages of a session. Control messages carry a 1-byte tag; every other message is a
//! vector of field elements whose length both parties derive from the public architecture, so
//! nothing the peer sends decides an allocation (the architecture itself is decoded with
//! `Architecture::from_bytes`, bounded by [`MAX_ARCHITECTURE_BYTES`]).
//!
//! The session starts with the server's parameters (12 B), the architecture frame (u64
//! length + bytes), the weights' bit width (1 B) and the per-layer sign-test choices (u32
//! count, then per choice: u32 layer, u8 k, u8 tie rule; at most one per layer, validated
//! against the architecture by `Plan::with_sites`) and the input bound (u8 flag, then f64 when
//! 1: the largest `|x|` calibration saw); the protocol's one greeting and version
//! are the connection's (`crate::net::hello`). Then:
//!
//! | tag | direction | content |
//! |---|---|---|
//! | [`TAG_INFER`] | client -> server | start one inference (its offline phase follows) |
//! | [`TAG_DONE`] | client -> server | end the session |
//!
//! Field-element vectors (8 B each, little-endian, canonical; a value `>= p` is an error):
//! the input share, re-masking corrections, the polynomial openings, the logits share; the
//! linear-layer OLE corrections; the ReLU protocol's own messages (`circa_relu::protocol`).

use circa_ot::Channel;

use super::error::{PrivateError, Result};
use crate::engine::SiteChoice;

/// Client: run one inference.
pub const TAG_INFER: u8 = 0x11;
/// Client: end the session.
pub const TAG_DONE: u8 = 0x1D;
/// Largest encoded architecture a client accepts.
pub const MAX_ARCHITECTURE_BYTES: usize = 16 << 20;

pub(crate) fn send_tag<C: Channel + ?Sized>(ch: &mut C, tag: u8) -> Result<()> {
    ch.send(&[tag])?;
    Ok(())
}

pub(crate) fn recv_tag<C: Channel + ?Sized>(ch: &mut C) -> Result<u8> {
    let mut b = [0u8; 1];
    ch.recv(&mut b)?;
    Ok(b[0])
}

/// Bytes of one sign-test choice on the wire.
const SITE_BYTES: usize = 6;

/// The wire form of the per-layer sign-test choices.
pub(crate) fn encode_sites(sites: &[SiteChoice]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + SITE_BYTES * sites.len());
    out.extend_from_slice(&(sites.len() as u32).to_le_bytes());
    for s in sites {
        out.extend_from_slice(&(s.layer as u32).to_le_bytes());
        out.push(s.k.min(255) as u8);
        out.push(match s.mode {
            circa_relu::TieMode::NegPass => 0,
            circa_relu::TieMode::PosZero => 1,
        });
    }
    out
}

/// Receives the per-layer sign-test choices of a network of `layers` layers (at most one per
/// layer: the count is checked before anything is allocated).
pub(crate) fn recv_sites<C: Channel + ?Sized>(
    ch: &mut C,
    layers: usize,
) -> Result<Vec<SiteChoice>> {
    let mut n = [0u8; 4];
    ch.recv(&mut n)?;
    let n = u32::from_le_bytes(n) as usize;
    if n > layers {
        return Err(PrivateError::InvalidParams {
            reason: "more sign-test choices than layers",
        });
    }
    let mut buf = vec![0u8; n * SITE_BYTES];
    ch.recv(&mut buf)?;
    buf.chunks_exact(SITE_BYTES)
        .map(|b| {
            let mode = match b[5] {
                0 => circa_relu::TieMode::NegPass,
                1 => circa_relu::TieMode::PosZero,
                _ => {
                    return Err(PrivateError::InvalidParams {
                        reason: "unknown tie rule",
                    });
                }
            };
            Ok(SiteChoice {
                layer: u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
                k: u32::from(b[4]),
                mode,
            })
        })
        .collect()
}

/// The wire form of the server's input bound: a flag byte, then the bound as a little-endian
/// `f64` when the flag is 1.
pub(crate) fn encode_input_bound(bound: Option<f64>) -> Vec<u8> {
    match bound {
        None => vec![0],
        Some(b) => {
            let mut v = vec![1];
            v.extend_from_slice(&b.to_le_bytes());
            v
        }
    }
}

/// Receives the server's input bound (finite and non-negative, or none).
pub(crate) fn recv_input_bound<C: Channel + ?Sized>(ch: &mut C) -> Result<Option<f64>> {
    match recv_tag(ch)? {
        0 => Ok(None),
        1 => {
            let mut b = [0u8; 8];
            ch.recv(&mut b)?;
            let v = f64::from_le_bytes(b);
            if v.is_finite() && v >= 0.0 {
                Ok(Some(v))
            } else {
                Err(PrivateError::InvalidParams {
                    reason: "input bound not a finite non-negative number",
                })
            }
        }
        _ => Err(PrivateError::InvalidParams {
            reason: "malformed input bound",
        }),
    }
}
