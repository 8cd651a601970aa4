//! Server and client settings, and the handle that stops a server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Default bound on concurrent sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 16;
/// Default read and write deadline on a session's socket.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default largest single message accepted from the peer (64 MiB).
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;
/// Default longest session (one hour).
pub const DEFAULT_MAX_SESSION_TIME: Duration = Duration::from_secs(3600);
/// How often the accept loop looks at the shutdown flag when no client is connecting.
pub const ACCEPT_POLL: Duration = Duration::from_millis(10);

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
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest number of sessions served at once; further connections receive a "busy"
    /// greeting and are closed. At least 1.
    pub max_sessions: usize,
    /// Read deadline on a session's socket: a client silent for this long loses its session.
    pub read_timeout: Duration,
    /// Write deadline on a session's socket: a client that stops reading loses its session.
    pub write_timeout: Duration,
    /// Largest single message accepted from a client, checked before allocating.
    pub max_message: usize,
    /// Longest a session may last, however busy its client keeps it; `None` for no limit.
    /// A session over time has its socket shut down (bounds a client that trickles bytes
    /// just fast enough to beat the read deadline).
    pub max_session_time: Option<Duration>,
    /// Whether to print one line per session to standard error.
    pub log: bool,
    /// The flag that stops the server.
    pub shutdown: Shutdown,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_sessions: DEFAULT_MAX_SESSIONS,
            read_timeout: DEFAULT_TIMEOUT,
            write_timeout: DEFAULT_TIMEOUT,
            max_message: DEFAULT_MAX_MESSAGE,
            max_session_time: Some(DEFAULT_MAX_SESSION_TIME),
            log: true,
            shutdown: Shutdown::new(),
        }
    }
}

/// Settings of the client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Read deadline (a server silent for this long ends the session).
    pub read_timeout: Duration,
    /// Write deadline.
    pub write_timeout: Duration,
    /// Largest single message accepted from the server, checked before allocating.
    pub max_message: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            read_timeout: DEFAULT_TIMEOUT,
            write_timeout: DEFAULT_TIMEOUT,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }
}

/// A fresh generator seeded from the operating system (one per session): `circa_ot::Prg`
/// (AES-CTR under a 128-bit seed), whose state is wiped when it is dropped -- a generator
/// whose state outlived the session would reveal every mask, Delta and seed drawn from it.
pub fn session_rng() -> Result<circa_ot::Prg, super::NetError> {
    use rand_core::SeedableRng;
    let mut seed = [0u8; 16];
    getrandom::fill(&mut seed).map_err(|_| super::NetError::Entropy)?;
    let rng = circa_ot::Prg::from_seed(seed);
    zeroize::Zeroize::zeroize(&mut seed);
    Ok(rng)
}
