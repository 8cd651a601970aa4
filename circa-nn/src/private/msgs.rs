//! The messages of a session. Control messages carry a 1-byte tag; every other message is a
//! vector of field elements whose length both parties derive from the public architecture, so
//! nothing the peer sends decides an allocation (the architecture itself is decoded with
//! `Architecture::from_bytes`, bounded by [`MAX_ARCHITECTURE_BYTES`]).
//!
//! The session starts with the server's parameters (12 B), the architecture frame (u64
//! length + bytes) and the weights' bit width (1 B); the protocol's one greeting and version
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

use super::error::Result;

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
