//! A buffered channel over a TCP stream.

use super::{Channel, ChannelStats};
use crate::Error;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Buffer size in each direction.
const BUF_BYTES: usize = 1 << 18;

/// A [`Channel`] over a `TcpStream`, with optional read and write deadlines
/// (a stalled peer gives [`Error::Timeout`], a closed one [`Error::Closed`]).
pub struct TcpChannel {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    pending_round: bool,
    stats: ChannelStats,
}

impl TcpChannel {
    /// Wraps a connected stream, without deadlines. Disables Nagle's algorithm:
    /// the channel does its own buffering and flushes at round boundaries.
    pub fn new(stream: TcpStream) -> Result<TcpChannel, Error> {
        Self::with_timeouts(stream, None, None)
    }

    /// Wraps a connected stream with read and write deadlines.
    pub fn with_timeouts(
        stream: TcpStream,
        read: Option<Duration>,
        write: Option<Duration>,
    ) -> Result<TcpChannel, Error> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(read)?;
        stream.set_write_timeout(write)?;
        let reader = BufReader::with_capacity(BUF_BYTES, stream.try_clone()?);
        let writer = BufWriter::with_capacity(BUF_BYTES, stream);
        Ok(TcpChannel {
            reader,
            writer,
            pending_round: false,
            stats: ChannelStats::default(),
        })
    }

    /// Connects to `addr` (no deadlines).
    pub fn connect<A: ToSocketAddrs>(addr: A) -> Result<TcpChannel, Error> {
        Self::new(TcpStream::connect(addr)?)
    }

    /// Two channels connected over loopback on an ephemeral port (binds
    /// `127.0.0.1:0`), for tests and benchmarks.
    pub fn loopback_pair() -> Result<(TcpChannel, TcpChannel), Error> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let client = TcpStream::connect(addr)?;
        let (server, _) = listener.accept()?;
        Ok((TcpChannel::new(server)?, TcpChannel::new(client)?))
    }

    /// Changes the read deadline.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> Result<(), Error> {
        Ok(self.reader.get_ref().set_read_timeout(t)?)
    }

    /// The underlying stream (for addresses and shutdown).
    pub fn stream(&self) -> &TcpStream {
        self.writer.get_ref()
    }
}

impl Channel for TcpChannel {
    fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        self.writer.write_all(data).map_err(Error::from_io)?;
        self.stats.bytes_sent += data.len() as u64;
        self.pending_round |= !data.is_empty();
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        self.flush()?;
        self.reader.read_exact(buf).map_err(Error::from_io)?;
        self.stats.bytes_received += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.writer.flush().map_err(Error::from_io)?;
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

impl core::fmt::Debug for TcpChannel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TcpChannel")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
