//! The online flights of one party. Protocol steps send and receive through the [`Driver`]:
//! what a party sends is held back (in the channel's write buffer, no flush) until it next
//! waits for the peer, so consecutive messages in one direction leave as one flight, and no
//! party ever waits for bytes the other has not sent. The driver counts the flights of both
//! directions. Every length received is derived by the caller from the public plan, never
//! read from the peer.

use circa_ot::Channel;
use circa_share::field::batch::{decode_many, encode_many};
use circa_share::{FP_BYTES, Fp, Modulus};
use zeroize::Zeroizing;

use crate::private::Result;

/// One party's side of the online flights over a channel.
pub(crate) struct Driver<'c, C: Channel + ?Sized> {
    ch: &'c mut C,
    /// Bytes sent since the last flight went out.
    pending: bool,
    /// Whether the last operation was a receive (so the next receive is the same flight).
    receiving: bool,
    flights_out: u64,
    flights_in: u64,
}

impl<'c, C: Channel + ?Sized> Driver<'c, C> {
    /// A driver over `ch`.
    pub(crate) fn new(ch: &'c mut C) -> Self {
        Self {
            ch,
            pending: false,
            receiving: false,
            flights_out: 0,
            flights_in: 0,
        }
    }

    /// Queues `bytes` in the current outgoing flight.
    pub(crate) fn send(&mut self, bytes: &[u8]) -> Result<()> {
        if !bytes.is_empty() {
            self.ch.send(bytes)?;
            self.pending = true;
            self.receiving = false;
        }
        Ok(())
    }

    /// Queues field elements (8 bytes each, little-endian).
    pub(crate) fn send_field<M: Modulus>(&mut self, xs: &[Fp<M>]) -> Result<()> {
        let bytes = Zeroizing::new(encode_many(xs));
        self.send(&bytes)
    }

    /// Ends the current outgoing flight (if any) and receives exactly `n` bytes.
    pub(crate) fn recv(&mut self, n: usize) -> Result<Zeroizing<Vec<u8>>> {
        let mut buf = Zeroizing::new(vec![0u8; n]);
        if n == 0 {
            return Ok(buf);
        }
        self.end_flight()?;
        if !self.receiving {
            self.flights_in += 1;
            self.receiving = true;
        }
        self.ch.recv(&mut buf)?;
        Ok(buf)
    }

    /// Receives exactly `n` canonical field elements.
    pub(crate) fn recv_field<M: Modulus>(&mut self, n: usize) -> Result<Vec<Fp<M>>> {
        let bytes = self.recv(n * FP_BYTES)?;
        Ok(decode_many(&bytes)?)
    }

    fn end_flight(&mut self) -> Result<()> {
        if self.pending {
            self.ch.flush()?;
            self.flights_out += 1;
            self.pending = false;
        }
        Ok(())
    }

    /// Sends what is pending and returns the flights seen in both directions.
    pub(crate) fn finish(mut self) -> Result<u64> {
        self.end_flight()?;
        Ok(self.flights_out + self.flights_in)
    }
}
