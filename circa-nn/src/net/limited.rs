//! A [`Channel`] wrapper that enforces a per-message size limit on what the peer sends.

use circa_ot::{Channel, ChannelStats, Error};

/// Wraps a channel and refuses any single receive larger than `max_message` bytes, and any
/// length-prefixed frame announcing more than that, before a buffer is allocated for it.
///
/// The session protocols already check every count they read against the architecture; this
/// is the outer bound that holds whatever the session code asks for.
#[derive(Debug)]
pub struct LimitedChannel<C> {
    inner: C,
    max_message: usize,
}

impl<C: Channel> LimitedChannel<C> {
    /// Wraps `inner` with a limit of `max_message` bytes per message.
    pub fn new(inner: C, max_message: usize) -> Self {
        Self { inner, max_message }
    }

    /// The limit in force.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// The wrapped channel.
    pub fn get_ref(&self) -> &C {
        &self.inner
    }

    /// The wrapped channel, mutably.
    pub fn get_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    fn check(&self, len: u64) -> Result<(), Error> {
        if len > self.max_message as u64 {
            return Err(Error::MessageTooLarge {
                len,
                max: self.max_message as u64,
            });
        }
        Ok(())
    }
}

impl<C: Channel> Channel for LimitedChannel<C> {
    fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        self.inner.send(data)
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        self.check(buf.len() as u64)?;
        self.inner.recv(buf)
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.inner.flush()
    }

    fn stats(&self) -> ChannelStats {
        self.inner.stats()
    }

    fn recv_frame(&mut self, max_len: usize) -> Result<Vec<u8>, Error> {
        self.inner.recv_frame(max_len.min(self.max_message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use circa_ot::MemChannel;

    #[test]
    fn refuses_large_messages_and_frames() {
        let (a, b) = MemChannel::pair();
        let mut a = LimitedChannel::new(a, 1000);
        let mut b = LimitedChannel::new(b, 16);
        a.send_frame(&[7u8; 17]).unwrap();
        a.send(&[1u8; 4]).unwrap();
        a.flush().unwrap();
        assert!(matches!(
            b.recv_frame(1 << 20),
            Err(Error::MessageTooLarge { len: 17, max: 16 })
        ));
        let mut big = vec![0u8; 17];
        assert!(matches!(
            b.recv(&mut big),
            Err(Error::MessageTooLarge { len: 17, max: 16 })
        ));
        // Within the limit: passes through (the frame's payload is what is left to read).
        let mut small = [0u8; 16];
        b.recv(&mut small).unwrap();
        assert_eq!(small, [7u8; 16]);
    }
}
