//! An in-memory channel pair for tests and single-process runs.

use super::{Channel, ChannelStats};
use crate::Error;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

/// Outgoing data is handed to the peer in chunks of at most this many bytes.
const CHUNK_BYTES: usize = 1 << 20;
/// At most this many chunks are in flight per direction, bounding memory to
/// `CHUNK_BYTES * CHUNKS_IN_FLIGHT` bytes.
const CHUNKS_IN_FLIGHT: usize = 64;

/// One end of an in-memory channel (see [`MemChannel::pair`]).
pub struct MemChannel {
    tx: SyncSender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    out: Vec<u8>,
    inbox: Vec<u8>,
    inbox_pos: usize,
    timeout: Option<Duration>,
    pending_round: bool,
    stats: ChannelStats,
}

impl MemChannel {
    /// Two connected ends with no read deadline.
    pub fn pair() -> (MemChannel, MemChannel) {
        Self::make_pair(None)
    }

    /// Two connected ends whose reads and (blocked) writes fail with
    /// [`Error::Timeout`] after `timeout` (each `recv` call as a whole).
    pub fn pair_with_timeout(timeout: Duration) -> (MemChannel, MemChannel) {
        Self::make_pair(Some(timeout))
    }

    fn make_pair(timeout: Option<Duration>) -> (MemChannel, MemChannel) {
        let (tx_a, rx_b) = sync_channel(CHUNKS_IN_FLIGHT);
        let (tx_b, rx_a) = sync_channel(CHUNKS_IN_FLIGHT);
        (
            Self::end(tx_a, rx_a, timeout),
            Self::end(tx_b, rx_b, timeout),
        )
    }

    fn end(
        tx: SyncSender<Vec<u8>>,
        rx: Receiver<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> MemChannel {
        MemChannel {
            tx,
            rx,
            out: Vec::new(),
            inbox: Vec::new(),
            inbox_pos: 0,
            timeout,
            pending_round: false,
            stats: ChannelStats::default(),
        }
    }

    fn push_out(&mut self) -> Result<(), Error> {
        if self.out.is_empty() {
            return Ok(());
        }
        let mut chunk = std::mem::take(&mut self.out);
        let Some(deadline) = self.timeout else {
            return self.tx.send(chunk).map_err(|_| Error::Closed);
        };
        // A bounded queue has no send-with-timeout: poll until the deadline.
        let start = std::time::Instant::now();
        loop {
            match self.tx.try_send(chunk) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(_)) => return Err(Error::Closed),
                Err(TrySendError::Full(c)) => {
                    if start.elapsed() >= deadline {
                        return Err(Error::Timeout);
                    }
                    chunk = c;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }
}

impl Channel for MemChannel {
    fn send(&mut self, mut data: &[u8]) -> Result<(), Error> {
        self.stats.bytes_sent += data.len() as u64;
        self.pending_round |= !data.is_empty();
        while !data.is_empty() {
            let room = CHUNK_BYTES - self.out.len();
            let n = room.min(data.len());
            self.out.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.out.len() == CHUNK_BYTES {
                self.push_out()?;
            }
        }
        Ok(())
    }

    fn recv(&mut self, mut buf: &mut [u8]) -> Result<(), Error> {
        self.flush()?;
        // The timeout bounds the whole call, not each chunk: a peer sending
        // many small chunks slowly cannot stretch it.
        let deadline = self.timeout.map(|t| std::time::Instant::now() + t);
        while !buf.is_empty() {
            if self.inbox_pos == self.inbox.len() {
                self.inbox = match deadline {
                    None => self.rx.recv().map_err(|_| Error::Closed)?,
                    Some(d) => {
                        let left = d.saturating_duration_since(std::time::Instant::now());
                        self.rx.recv_timeout(left).map_err(|e| match e {
                            RecvTimeoutError::Timeout => Error::Timeout,
                            RecvTimeoutError::Disconnected => Error::Closed,
                        })?
                    }
                };
                self.inbox_pos = 0;
            }
            let n = buf.len().min(self.inbox.len() - self.inbox_pos);
            buf[..n].copy_from_slice(&self.inbox[self.inbox_pos..self.inbox_pos + n]);
            self.inbox_pos += n;
            self.stats.bytes_received += n as u64;
            buf = &mut buf[n..];
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.push_out()?;
        if self.pending_round {
            self.stats.rounds += 1;
            self.pending_round = false;
        }
        Ok(())
    }

    fn stats(&self) -> ChannelStats {
        self.stats
    }
}

impl core::fmt::Debug for MemChannel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemChannel")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
