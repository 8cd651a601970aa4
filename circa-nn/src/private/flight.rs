//! A channel wrapper for the online phase that turns every protocol-level `flush` into a no-op,
//! so that consecutive messages in one direction (e.g. the ReLU's `d` and the re-masking message
//! that follows it) leave as ONE flight. Data still goes out before every receive (the inner
//! channel flushes before `recv`), so no party ever waits for bytes the other has not sent, and
//! the inner channel's round counter counts real flights. It also counts incoming flights (a
//! receive after a send, or the first receive).

use circa_ot::{Channel, ChannelStats, Error};

pub(crate) struct Coalescing<'a, C: Channel + ?Sized> {
    inner: &'a mut C,
    last_was_recv: bool,
    incoming_flights: u64,
}

impl<'a, C: Channel + ?Sized> Coalescing<'a, C> {
    pub(crate) fn new(inner: &'a mut C) -> Self {
        Self {
            inner,
            last_was_recv: false,
            incoming_flights: 0,
        }
    }

    /// Flights received so far.
    pub(crate) fn incoming_flights(&self) -> u64 {
        self.incoming_flights
    }

    /// Pushes out everything queued (the end of the phase).
    pub(crate) fn finish(&mut self) -> Result<(), Error> {
        self.inner.flush()
    }
}

impl<C: Channel + ?Sized> Channel for Coalescing<'_, C> {
    fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        if !data.is_empty() {
            self.last_was_recv = false;
        }
        self.inner.send(data)
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        if !buf.is_empty() && !self.last_was_recv {
            self.incoming_flights += 1;
            self.last_was_recv = true;
        }
        self.inner.recv(buf)
    }

    fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }

    fn stats(&self) -> ChannelStats {
        self.inner.stats()
    }
}
