//! A synchronous, buffered byte channel between the two parties.
//!
//! The channel knows nothing of protocols: it moves bytes, counts them in
//! each direction, and counts *rounds*. A round is one flight of messages:
//! the counter goes up by one whenever a flush (explicit, or the implicit
//! one before every `recv`) pushes out data written since the previous
//! flight. Protocol code calls [`Channel::flush`] at its round boundaries.

mod mem;
mod tcp;

pub use mem::MemChannel;
pub use tcp::TcpChannel;

use crate::{Block, Error};

/// Byte and round counters of one endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Bytes this endpoint has sent.
    pub bytes_sent: u64,
    /// Bytes this endpoint has received.
    pub bytes_received: u64,
    /// Flights of messages this endpoint has sent (see the module docs).
    pub rounds: u64,
}

impl ChannelStats {
    /// The counters accumulated since `earlier` was taken.
    pub fn since(&self, earlier: &ChannelStats) -> ChannelStats {
        ChannelStats {
            bytes_sent: self.bytes_sent - earlier.bytes_sent,
            bytes_received: self.bytes_received - earlier.bytes_received,
            rounds: self.rounds - earlier.rounds,
        }
    }
}

/// A reliable, ordered, buffered byte stream to the peer.
pub trait Channel {
    /// Queues `data` for sending (it may go out before the next flush).
    fn send(&mut self, data: &[u8]) -> Result<(), Error>;
    /// Fills `buf` exactly with the next bytes from the peer, flushing
    /// pending output first so that the two parties cannot deadlock.
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Error>;
    /// Pushes out everything queued; ends a round if anything was queued.
    fn flush(&mut self) -> Result<(), Error>;
    /// The counters so far.
    fn stats(&self) -> ChannelStats;

    /// Sends blocks as raw bytes.
    fn send_blocks(&mut self, blocks: &[Block]) -> Result<(), Error> {
        self.send(bytemuck::cast_slice(blocks))
    }
    /// Receives exactly `blocks.len()` blocks.
    fn recv_blocks(&mut self, blocks: &mut [Block]) -> Result<(), Error> {
        self.recv(bytemuck::cast_slice_mut(blocks))
    }
    /// Sends a little-endian `u64`.
    fn send_u64(&mut self, x: u64) -> Result<(), Error> {
        self.send(&x.to_le_bytes())
    }
    /// Receives a little-endian `u64`.
    fn recv_u64(&mut self) -> Result<u64, Error> {
        let mut b = [0u8; 8];
        self.recv(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    /// Sends `data` behind a `u64` length prefix.
    fn send_frame(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send_u64(data.len() as u64)?;
        self.send(data)
    }
    /// Receives a length-prefixed frame of at most `max_len` bytes. The
    /// prefix is checked against `max_len` before anything is allocated.
    fn recv_frame(&mut self, max_len: usize) -> Result<Vec<u8>, Error> {
        let len = self.recv_u64()?;
        if len > max_len as u64 {
            return Err(Error::MessageTooLarge {
                len,
                max: max_len as u64,
            });
        }
        let mut buf = vec![0u8; len as usize];
        self.recv(&mut buf)?;
        Ok(buf)
    }
}

impl<C: Channel + ?Sized> Channel for &mut C {
    fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        (**self).send(data)
    }
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        (**self).recv(buf)
    }
    fn flush(&mut self) -> Result<(), Error> {
        (**self).flush()
    }
    fn stats(&self) -> ChannelStats {
        (**self).stats()
    }
}

impl<C: Channel + ?Sized> Channel for Box<C> {
    fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        (**self).send(data)
    }
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        (**self).recv(buf)
    }
    fn flush(&mut self) -> Result<(), Error> {
        (**self).flush()
    }
    fn stats(&self) -> ChannelStats {
        (**self).stats()
    }
}
