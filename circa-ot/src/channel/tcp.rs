//! A buffered channel over a TCP stream.

use super::{Channel, ChannelStats};
use crate::Error;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Buffer size in each direction.
const BUF_BYTES: usize = 1 << 18;

/// One direction of the stream with a deadline per channel operation.
///
/// The operating system's socket timeout only bounds a single `read`/`write`
/// system call, so a peer that trickles one byte just before each timeout
/// could keep a `recv` going for ever. Here [`Deadlined::arm`] fixes a
/// deadline at the start of each channel operation and every system call
/// gets the time left until it, so an operation takes at most `limit`.
struct Deadlined {
    stream: TcpStream,
    /// Time allowed per channel operation (`None`: no deadline).
    limit: Option<Duration>,
    /// Deadline of the operation in progress.
    deadline: Option<Instant>,
    /// Whether this is the reading half (which socket timeout to set).
    read: bool,
}

impl Deadlined {
    fn new(stream: TcpStream, limit: Option<Duration>, read: bool) -> io::Result<Deadlined> {
        let d = Deadlined {
            stream,
            limit,
            deadline: None,
            read,
        };
        d.set_socket_timeout(limit)?;
        Ok(d)
    }

    fn set_socket_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        if self.read {
            self.stream.set_read_timeout(t)
        } else {
            self.stream.set_write_timeout(t)
        }
    }

    /// Starts an operation: its deadline is now plus the limit.
    fn arm(&mut self) {
        self.deadline = self.limit.map(|l| Instant::now() + l);
    }

    /// Bounds the next system call by the time left; `TimedOut` if none is.
    fn before_syscall(&self) -> io::Result<()> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.set_socket_timeout(Some(left))
    }
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.before_syscall()?;
        self.stream.read(buf)
    }
}

impl Write for Deadlined {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.before_syscall()?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// A [`Channel`] over a `TcpStream`, with optional read and write deadlines.
///
/// A read deadline `t` bounds every [`Channel::recv`] call as a whole (not
/// just each system call): a stalled *or trickling* peer gives
/// [`Error::Timeout`] after at most `t`. A write deadline bounds every
/// [`Channel::send`] and [`Channel::flush`] the same way. A closed peer gives
/// [`Error::Closed`].
pub struct TcpChannel {
    reader: BufReader<Deadlined>,
    writer: BufWriter<Deadlined>,
    pending_round: bool,
    stats: ChannelStats,
}

impl TcpChannel {
    /// Wraps a connected stream, without deadlines. Disables Nagle's algorithm:
    /// the channel does its own buffering and flushes at round boundaries.
    pub fn new(stream: TcpStream) -> Result<TcpChannel, Error> {
        Self::with_timeouts(stream, None, None)
    }

    /// Wraps a connected stream with read and write deadlines (each bounds
    /// one `recv`, respectively one `send` or `flush`, see the type docs).
    pub fn with_timeouts(
        stream: TcpStream,
        read: Option<Duration>,
        write: Option<Duration>,
    ) -> Result<TcpChannel, Error> {
        stream.set_nodelay(true)?;
        let reader =
            BufReader::with_capacity(BUF_BYTES, Deadlined::new(stream.try_clone()?, read, true)?);
        let writer = BufWriter::with_capacity(BUF_BYTES, Deadlined::new(stream, write, false)?);
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

    /// Changes the read deadline (the time one `recv` may take in total).
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> Result<(), Error> {
        let r = self.reader.get_mut();
        r.limit = t;
        Ok(r.set_socket_timeout(t)?)
    }

    /// Changes the write deadline (the time one `send` or `flush` may take).
    pub fn set_write_timeout(&mut self, t: Option<Duration>) -> Result<(), Error> {
        let w = self.writer.get_mut();
        w.limit = t;
        Ok(w.set_socket_timeout(t)?)
    }

    /// The underlying stream (for addresses and shutdown).
    pub fn stream(&self) -> &TcpStream {
        &self.writer.get_ref().stream
    }
}

impl Channel for TcpChannel {
    fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        self.writer.get_mut().arm();
        self.writer.write_all(data).map_err(Error::from_io)?;
        self.stats.bytes_sent += data.len() as u64;
        self.pending_round |= !data.is_empty();
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        self.flush()?;
        self.reader.get_mut().arm();
        self.reader.read_exact(buf).map_err(Error::from_io)?;
        self.stats.bytes_received += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.writer.get_mut().arm();
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
