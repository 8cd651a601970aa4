//! The messages of a session. Control messages carry a 1-byte tag; every other message is a
//! vector of field elements whose length both parties derive from the public architecture, so
//! nothing the peer sends decides an allocation (the architecture itself is decoded with
//! `Architecture::from_bytes`, bounded by [`MAX_ARCHITECTURE_BYTES`]).
//!
//! | tag | direction | content |
//! |---|---|---|
//! | [`TAG_HELLO`] | server -> client | version byte, parameters (12 B), architecture frame (u64 length + bytes) |
//! | [`TAG_INFER`] | client -> server | start one inference (its offline phase follows) |
//! | [`TAG_DONE`] | client -> server | end the session |
//!
//! Field-element vectors (8 B each, little-endian, canonical; a value `>= p` is an error):
//! the input share, re-masking corrections, the polynomial openings, the logits share; the
//! linear-layer OLE corrections; the ReLU protocol's own messages (`circa_relu::protocol`).

use circa_ot::Channel;
use circa_share::field::batch::{decode_many, encode_many};
use circa_share::{FP_BYTES, Fp, Modulus};

use super::error::{PrivateError, Result};

/// Server hello.
pub const TAG_HELLO: u8 = 0xC1;
/// Client: run one inference.
pub const TAG_INFER: u8 = 0x11;
/// Client: end the session.
pub const TAG_DONE: u8 = 0x1D;
/// Protocol version in the hello.
pub const VERSION: u8 = 1;
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

pub(crate) fn expect_tag<C: Channel + ?Sized>(ch: &mut C, expected: u8) -> Result<()> {
    let actual = recv_tag(ch)?;
    if actual != expected {
        return Err(PrivateError::UnexpectedTag { expected, actual });
    }
    Ok(())
}

pub(crate) fn send_field<M: Modulus, C: Channel + ?Sized>(ch: &mut C, xs: &[Fp<M>]) -> Result<()> {
    ch.send(&encode_many(xs))?;
    Ok(())
}

/// Receives exactly `n` field elements (`n` comes from the architecture, not the peer).
pub(crate) fn recv_field<M: Modulus, C: Channel + ?Sized>(
    ch: &mut C,
    n: usize,
) -> Result<Vec<Fp<M>>> {
    let mut buf = vec![0u8; n * FP_BYTES];
    ch.recv(&mut buf)?;
    Ok(decode_many(&buf)?)
}
