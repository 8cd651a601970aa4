//! Server and client settings, and the handle that stops a server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::admission::Monitor;
use super::channel::Deadlines;
use super::error::{NetError, NetResult};
use super::hello::CLIENT_HELLO_LEN;

/// Default bound on concurrent sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 16;
/// Default bound on connections in the admission stage (greeting not yet answered).
pub const DEFAULT_MAX_PENDING: usize = 64;
/// Default bound on the connections (admission stage and sessions) of one client address.
pub const DEFAULT_MAX_PER_ADDRESS: usize = 4;
/// Default deadline of the handshake: from the connection's acceptance to the end of the
/// session's setup (greetings, parameters, architecture, OT setup), which an honest client
/// completes in well under a second.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default read and write deadline of one channel operation on a session's socket.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bound on the time one party waits for its peer over one flight (see
/// [`ServerConfig::flight_timeout`]).
pub const DEFAULT_FLIGHT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default deadline of the client's TCP connect.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default largest single message accepted from the peer (64 MiB).
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;
/// Default longest session (one hour).
pub const DEFAULT_MAX_SESSION_TIME: Duration = Duration::from_secs(3600);
/// How often the accept loop looks at the shutdown flag when no client is connecting.
pub const ACCEPT_POLL: Duration = Duration::from_millis(10);

/// Largest accepted value of every duration in [`ServerConfig`] and [`ClientConfig`] (a week):
/// deadlines are computed as `now + duration`, which must not overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Largest accepted [`ServerConfig::max_sessions`] (each session is a thread).
pub const MAX_SESSIONS_CAP: usize = 4096;
/// Largest accepted [`ServerConfig::max_pending`] (each connection in admission is a thread).
pub const MAX_PENDING_CAP: usize = 4096;
/// Largest accepted `max_message` (1 GiB): one message of the peer is allocated whole.
pub const MAX_MESSAGE_CAP: usize = 1 << 30;

/// A cloneable flag that stops [`serve`](super::serve): the accept loop notices it within
/// [`ACCEPT_POLL`], stops accepting, and returns once the running sessions have ended.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the server to stop.
    pub fn trigger(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`Shutdown::trigger`] was called.
    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Settings of [`serve`](super::serve).
///
/// Admission: a new connection waits in the admission stage (at most `max_pending` of them)
/// until its greeting is complete, then takes one of `max_sessions` session slots; no client
/// address holds more than `max_per_address` of either. A connection over any of these bounds
/// is answered "busy" at once and closed. Time: the greeting and the session's setup must end
/// within `handshake_timeout` of the connection's acceptance; after that every channel
/// operation is bounded by `read_timeout` / `write_timeout`, the time spent waiting on the
/// client over one flight by `flight_timeout`, and the whole session by `max_session_time`. A
/// session slot is released as soon as its session ends (a peer that disconnects ends it at
/// the server's next read or write).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest number of sessions served at once; further clients receive a "busy" greeting
    /// and are closed. At least 1, at most [`MAX_SESSIONS_CAP`].
    pub max_sessions: usize,
    /// Largest number of connections in the admission stage (accepted, greeting not yet
    /// answered). At least 1, at most [`MAX_PENDING_CAP`].
    pub max_pending: usize,
    /// Largest number of connections (admission stage and sessions) from one client address:
    /// an IPv4 address, or an IPv6 /64 prefix. At least 1.
    pub max_per_address: usize,
    /// Deadline of the greeting and the session's setup, counted from the acceptance: a
    /// client that sends nothing, or trickles, is dropped after it.
    pub handshake_timeout: Duration,
    /// Read deadline of one channel operation: a client silent for this long loses its
    /// session.
    pub read_timeout: Duration,
    /// Write deadline of one channel operation: a client that stops reading loses its session.
    pub write_timeout: Duration,
    /// The progress rule: the longest the server spends blocked on the client (reading, or
    /// writing into a full socket) between two changes of direction, i.e. over one flight of
    /// the client's or of its own, plus one second per
    /// [`FLIGHT_CREDIT_BYTES`](super::FLIGHT_CREDIT_BYTES) the flight moves. A client that
    /// trickles a flight, or reads one slowly, is dropped after it, however many small messages
    /// it is made of.
    pub flight_timeout: Duration,
    /// Largest single message accepted from a client, checked before allocating. At least the
    /// client greeting, at most [`MAX_MESSAGE_CAP`].
    pub max_message: usize,
    /// Longest a session may last, however busy its client keeps it; `None` for no limit.
    pub max_session_time: Option<Duration>,
    /// Whether to print one line per session to standard error.
    pub log: bool,
    /// The flag that stops the server.
    pub shutdown: Shutdown,
    /// Live counters of the server (sessions, admission stage, totals).
    pub monitor: Monitor,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_pending: DEFAULT_MAX_PENDING,
            max_per_address: DEFAULT_MAX_PER_ADDRESS,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            read_timeout: DEFAULT_TIMEOUT,
            write_timeout: DEFAULT_TIMEOUT,
            flight_timeout: DEFAULT_FLIGHT_TIMEOUT,
            max_message: DEFAULT_MAX_MESSAGE,
            max_session_time: Some(DEFAULT_MAX_SESSION_TIME),
            log: true,
            shutdown: Shutdown::new(),
            monitor: Monitor::new(),
        }
    }
}

/// `d` is positive and at most [`MAX_DURATION`].
fn check_duration(d: Duration, what: &'static str) -> NetResult<()> {
    if d.is_zero() || d > MAX_DURATION {
        return Err(NetError::InvalidConfig { what });
    }
    Ok(())
}

fn check_count(n: usize, max: usize, what: &'static str) -> NetResult<()> {
    if n == 0 || n > max {
        return Err(NetError::InvalidConfig { what });
    }
    Ok(())
}

fn check_message(n: usize) -> NetResult<()> {
    if !(CLIENT_HELLO_LEN..=MAX_MESSAGE_CAP).contains(&n) {
        return Err(NetError::InvalidConfig {
            what: "max_message must be between the greeting's length and 1 GiB",
        });
    }
    Ok(())
}

impl ServerConfig {
    /// Checks every bound: counts at least 1 and within their caps, durations positive and at
    /// most [`MAX_DURATION`]. [`serve_with`](super::serve_with) calls it first.
    pub fn validate(&self) -> NetResult<()> {
        check_count(
            self.max_sessions,
            MAX_SESSIONS_CAP,
            "max_sessions must be between 1 and 4096",
        )?;
        check_count(
            self.max_pending,
            MAX_PENDING_CAP,
            "max_pending must be between 1 and 4096",
        )?;
        check_count(
            self.max_per_address,
            usize::MAX,
            "max_per_address must be at least 1",
        )?;
        check_message(self.max_message)?;
        let week = "timeouts must be positive and at most a week";
        for d in [
            self.handshake_timeout,
            self.read_timeout,
            self.write_timeout,
            self.flight_timeout,
        ] {
            check_duration(d, week)?;
        }
        if let Some(d) = self.max_session_time {
            check_duration(d, "max_session_time must be positive and at most a week")?;
        }
        Ok(())
    }

    /// The deadlines of a session's channel.
    pub(crate) fn deadlines(&self) -> Deadlines {
        Deadlines {
            read: self.read_timeout,
            write: self.write_timeout,
            flight: self.flight_timeout,
        }
    }
}

/// Settings of the client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Deadline of the TCP connect (per resolved address).
    pub connect_timeout: Duration,
    /// Read deadline of one channel operation (a server silent for this long ends the
    /// session).
    pub read_timeout: Duration,
    /// Write deadline of one channel operation.
    pub write_timeout: Duration,
    /// The longest the client spends blocked on the server over one flight (as
    /// [`ServerConfig::flight_timeout`]: a server that trickles is dropped).
    pub flight_timeout: Duration,
    /// Largest single message accepted from the server, checked before allocating.
    pub max_message: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_TIMEOUT,
            write_timeout: DEFAULT_TIMEOUT,
            flight_timeout: DEFAULT_FLIGHT_TIMEOUT,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }
}

impl ClientConfig {
    /// Checks every bound (durations positive and at most [`MAX_DURATION`], the message limit
    /// between the greeting's length and [`MAX_MESSAGE_CAP`]).
    pub fn validate(&self) -> NetResult<()> {
        let week = "timeouts must be positive and at most a week";
        for d in [
            self.connect_timeout,
            self.read_timeout,
            self.write_timeout,
            self.flight_timeout,
        ] {
            check_duration(d, week)?;
        }
        check_message(self.max_message)
    }

    /// The deadlines of the session's channel.
    pub(crate) fn deadlines(&self) -> Deadlines {
        Deadlines {
            read: self.read_timeout,
            write: self.write_timeout,
            flight: self.flight_timeout,
        }
    }
}

/// A fresh generator seeded from the operating system (one per session): `circa_ot::Prg`
/// (AES-CTR under a 128-bit seed), whose state is wiped when it is dropped -- a generator
/// whose state outlived the session would reveal every mask, Delta and seed drawn from it.
pub fn session_rng() -> NetResult<circa_ot::Prg> {
    use rand_core::SeedableRng;
    let mut seed = [0u8; 16];
    getrandom::fill(&mut seed).map_err(|_| NetError::Entropy)?;
    let rng = circa_ot::Prg::from_seed(seed);
    zeroize::Zeroize::zeroize(&mut seed);
    Ok(rng)
}
