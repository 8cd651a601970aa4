//! The protocol's messages and their exact encodings (the online ones are built and parsed by the
//! pure steps of `online.rs`). Every length is derived from the agreed
//! parameters and batch sizes, never read from the peer (except the batch size itself, which is
//! checked against [`MAX_BATCH`](super::MAX_BATCH) before anything is allocated).
//!
//! | phase | direction | content | bytes |
//! |---|---|---|---|
//! | setup | S -> C, C -> S | params fingerprint | 32 each |
//! | setup | S -> C | session tweak (garbling; the conversion tweak is derived) | 16 |
//! | setup | both | base OTs of the COT instance(s) | (circa-ot) |
//! | offline | C -> S | batch size | 8 |
//! | offline, per chunk | C -> S | garbling COT (client's input labels) | 16 per input bit + 8 |
//! | offline, per chunk | S -> C | garbled tables | 32 per AND gate |
//! | offline, per chunk, baseline | S -> C | labels of `r'`, output colours | 16 n + n/8 per ReLU |
//! | offline, per chunk, sign | S -> C | lambda-OT (reversed COT) | 16 per ReLU + 8 |
//! | online (flight 1) | S -> C | batch id | 8 |
//! | online, per chunk | S -> C | garbler input labels | 16 per garbler input bit |
//! | online, per chunk, label table | S -> C | output tables | 16 per ReLU |
//! | online, sign | C -> S | `d` | 8 per ReLU |
//! | online, Beaver | C -> S / S -> C | Beaver openings | 16 per ReLU each way |

use circa_gc::Label;
use circa_ot::{Block, Channel};

use crate::error::Error;

/// Sends labels as raw bytes.
pub(crate) fn send_labels<C: Channel + ?Sized>(ch: &mut C, labels: &[Label]) -> Result<(), Error> {
    ch.send(bytemuck::cast_slice(labels))?;
    Ok(())
}

/// Receives exactly `n` labels (`n` is a locally derived length).
pub(crate) fn recv_labels<C: Channel + ?Sized>(ch: &mut C, n: usize) -> Result<Vec<Label>, Error> {
    let mut v = vec![Label::default(); n];
    ch.recv(bytemuck::cast_slice_mut(&mut v))?;
    Ok(v)
}

/// Receives exactly `n` blocks.
pub(crate) fn recv_blocks<C: Channel + ?Sized>(ch: &mut C, n: usize) -> Result<Vec<Block>, Error> {
    let mut v = vec![Block::ZERO; n];
    ch.recv_blocks(&mut v)?;
    Ok(v)
}

/// Bytes of `n` packed bits.
pub(crate) fn packed_len(n: usize) -> usize {
    n.div_ceil(8)
}

/// Sends bits packed LSB first.
pub(crate) fn send_bits<C: Channel + ?Sized>(ch: &mut C, bits: &[bool]) -> Result<(), Error> {
    let mut buf = vec![0u8; packed_len(bits.len())];
    for (i, &b) in bits.iter().enumerate() {
        buf[i / 8] |= u8::from(b) << (i % 8);
    }
    ch.send(&buf)?;
    Ok(())
}

/// Receives exactly `n` packed bits; padding bits must be zero.
pub(crate) fn recv_bits<C: Channel + ?Sized>(ch: &mut C, n: usize) -> Result<Vec<bool>, Error> {
    let mut buf = vec![0u8; packed_len(n)];
    ch.recv(&mut buf)?;
    if !n.is_multiple_of(8) && buf[n / 8] >> (n % 8) != 0 {
        return Err(Error::MalformedMessage {
            what: "packed bits: non-zero padding",
        });
    }
    Ok((0..n).map(|i| (buf[i / 8] >> (i % 8)) & 1 == 1).collect())
}

/// Sends a batch size or id.
pub(crate) fn send_u64<C: Channel + ?Sized>(ch: &mut C, x: u64) -> Result<(), Error> {
    ch.send_u64(x)?;
    Ok(())
}

/// Receives a batch size or id.
pub(crate) fn recv_u64<C: Channel + ?Sized>(ch: &mut C) -> Result<u64, Error> {
    Ok(ch.recv_u64()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use circa_ot::MemChannel;

    #[test]
    fn bits_and_field_round_trip_and_reject_bad_input() {
        let (mut a, mut b) = MemChannel::pair();
        let bits: Vec<bool> = (0..13).map(|i| i % 3 == 0).collect();
        send_bits(&mut a, &bits).unwrap();
        a.flush().unwrap();
        assert_eq!(recv_bits(&mut b, 13).unwrap(), bits);
        a.send(&[0xff, 0xff]).unwrap();
        a.flush().unwrap();
        assert!(matches!(
            recv_bits(&mut b, 13),
            Err(Error::MalformedMessage { .. })
        ));
    }
}
