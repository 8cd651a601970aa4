//! The accept loop: one thread per session, a bound on concurrent sessions, deadlines and
//! message limits per connection, and a shutdown flag.

use std::io::{ErrorKind, Write as _};
use std::net::{Shutdown as SocketShutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use circa_ot::Prg;
use circa_ot::{Channel, TcpChannel};

use super::config::{ACCEPT_POLL, ServerConfig, session_rng};
use super::error::{NetError, NetResult};
use super::hello::{CLIENT_HELLO_LEN, Status, parse_client_hello, server_hello};
use super::limited::LimitedChannel;

/// The channel a session runs on: TCP with deadlines, under the message-size limit.
pub type SessionChannel = LimitedChannel<TcpChannel>;

/// What a server does with one connection once the greetings are exchanged. Each call gets its
/// own channel and its own generator, seeded from the operating system; nothing is shared
/// between sessions except `&self`.
pub trait Service: Send + Sync + 'static {
    /// Runs one session to its end and returns how many inferences it served.
    fn run_session(&self, ch: &mut SessionChannel, rng: &mut Prg) -> NetResult<u64>;
}

/// Counters of a server run, returned by [`serve_with`](crate::net::serve_with) when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeReport {
    /// Sessions that ended normally.
    pub sessions_completed: u64,
    /// Sessions that ended with an error (the peer misbehaved, disconnected or stalled).
    pub sessions_failed: u64,
    /// Connections refused because all session slots were taken (or the server was stopping).
    pub refused: u64,
    /// Inferences served by sessions that ended normally.
    pub inferences: u64,
}

#[derive(Default)]
struct Counters {
    active: AtomicUsize,
    completed: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
    inferences: AtomicU64,
}

impl Counters {
    fn report(&self) -> ServeReport {
        ServeReport {
            sessions_completed: self.completed.load(Ordering::SeqCst),
            sessions_failed: self.failed.load(Ordering::SeqCst),
            refused: self.refused.load(Ordering::SeqCst),
            inferences: self.inferences.load(Ordering::SeqCst),
        }
    }
}

/// Most queued connections told "shutting down" when the server stops.
const SHUTDOWN_DRAIN: usize = 1024;

/// Sockets of the running sessions with their end-of-time, for the watchdog.
type Registry = Arc<Mutex<Vec<(u64, Instant, TcpStream)>>>;

/// A reserved session slot, released when the session thread ends (also on a panic); it also
/// removes the session's socket from the watchdog's registry.
struct Slot {
    counters: Arc<Counters>,
    registry: Registry,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut r) = self.registry.lock() {
            r.retain(|(id, _, _)| *id != self.id);
        }
        self.counters.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Shuts down the sockets of sessions past their end-of-time (their threads then fail on the
/// next read or write and end).
fn enforce_session_time(registry: &Registry, log: bool) {
    let now = Instant::now();
    let Ok(mut r) = registry.lock() else {
        return;
    };
    r.retain(|(id, deadline, stream)| {
        if now < *deadline {
            return true;
        }
        if log {
            eprintln!("circa serve: session {id}: maximum session time reached, closing");
        }
        let _ = stream.shutdown(SocketShutdown::Both);
        false
    });
}

/// Serves `service` on `listener` until `config.shutdown` is triggered, then waits for the
/// running sessions to end (each is bounded by the read deadline) and returns the counters.
///
/// Every accepted connection gets its own thread, socket deadlines, message-size limit and
/// generator. When `config.max_sessions` sessions are running, a new connection receives a
/// "busy" greeting and is closed. A session that fails ends alone, with one line on standard
/// error when `config.log` is set. Errors of `accept` itself (for example running out of file
/// descriptors) are logged and retried after a pause: they do not stop the server.
pub fn serve_with<S: Service>(
    listener: TcpListener,
    service: Arc<S>,
    config: ServerConfig,
) -> NetResult<ServeReport> {
    if config.max_sessions == 0 {
        return Err(NetError::InvalidConfig {
            what: "max_sessions must be at least 1",
        });
    }
    if config.max_message < CLIENT_HELLO_LEN {
        return Err(NetError::InvalidConfig {
            what: "max_message is smaller than the client greeting",
        });
    }
    if config.read_timeout.is_zero() || config.write_timeout.is_zero() {
        return Err(NetError::InvalidConfig {
            what: "read and write timeouts must be positive",
        });
    }
    listener.set_nonblocking(true)?;
    let counters = Arc::new(Counters::default());
    let registry: Registry = Arc::new(Mutex::new(Vec::new()));
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id: u64 = 0;
    while !config.shutdown.is_triggered() {
        if config.max_session_time.is_some() {
            enforce_session_time(&registry, config.log);
        }
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                ) =>
            {
                continue;
            }
            Err(e) => {
                if config.log {
                    eprintln!("circa serve: accept failed: {e}; retrying");
                }
                std::thread::sleep(ACCEPT_POLL * 10);
                continue;
            }
        };
        workers.retain(|w| !w.is_finished());
        next_id += 1;
        let id = next_id;
        if counters.active.load(Ordering::SeqCst) >= config.max_sessions {
            counters.refused.fetch_add(1, Ordering::SeqCst);
            if config.log {
                eprintln!(
                    "circa serve: session {id} from {peer}: refused, {} sessions running",
                    config.max_sessions
                );
            }
            refuse(stream, Status::Busy, config.write_timeout);
            continue;
        }
        counters.active.fetch_add(1, Ordering::SeqCst);
        let slot = Slot {
            counters: Arc::clone(&counters),
            registry: Arc::clone(&registry),
            id,
        };
        if let Some(limit) = config.max_session_time
            && let (Ok(clone), Ok(mut r)) = (stream.try_clone(), registry.lock())
        {
            r.push((id, Instant::now() + limit, clone));
        }
        let service = Arc::clone(&service);
        let cfg = config.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("circa-session-{id}"))
            .spawn(move || run_connection(id, stream, peer, &*service, &cfg, slot));
        match spawned {
            Ok(handle) => workers.push(handle),
            Err(e) => {
                // The closure (with the stream and the slot) was dropped: the slot is free again
                // and the client sees the connection close.
                counters.failed.fetch_add(1, Ordering::SeqCst);
                if config.log {
                    eprintln!("circa serve: session {id} from {peer}: cannot start a thread: {e}");
                }
            }
        }
    }
    // Stopping: tell the clients still waiting in the listen queue (a bounded number of them),
    // then wait for the running sessions (bounded by the deadlines and, if set, the session
    // time, which is still enforced while waiting).
    for _ in 0..SHUTDOWN_DRAIN {
        let Ok((stream, _)) = listener.accept() else {
            break;
        };
        counters.refused.fetch_add(1, Ordering::SeqCst);
        refuse(stream, Status::ShuttingDown, config.write_timeout);
    }
    while workers.iter().any(|w| !w.is_finished()) {
        if config.max_session_time.is_some() {
            enforce_session_time(&registry, config.log);
        }
        std::thread::sleep(ACCEPT_POLL);
    }
    for w in workers {
        // A panicking session thread has already released its slot; nothing else to do.
        let _ = w.join();
    }
    Ok(counters.report())
}

/// Sends `status` to a connection that will not be served and closes it.
fn refuse(stream: TcpStream, status: Status, write_timeout: Duration) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(write_timeout.min(Duration::from_secs(1))));
    let mut stream = stream;
    let _ = stream.write_all(&server_hello(status));
    let _ = stream.shutdown(SocketShutdown::Write);
}

fn run_connection<S: Service + ?Sized>(
    id: u64,
    stream: TcpStream,
    peer: SocketAddr,
    service: &S,
    config: &ServerConfig,
    slot: Slot,
) {
    let start = Instant::now();
    let mut stats = None;
    let result = open_session(stream, config).and_then(|mut ch| {
        let rng = session_rng();
        let outcome = rng.and_then(|mut rng| service.run_session(&mut ch, &mut rng));
        stats = Some(ch.stats());
        outcome
    });
    let counters = &slot.counters;
    let traffic = stats
        .map(|s| format!(", {} B in, {} B out", s.bytes_received, s.bytes_sent))
        .unwrap_or_default();
    let secs = start.elapsed().as_secs_f64();
    match result {
        Ok(n) => {
            counters.completed.fetch_add(1, Ordering::SeqCst);
            counters.inferences.fetch_add(n, Ordering::SeqCst);
            if config.log {
                eprintln!(
                    "circa serve: session {id} from {peer}: done, {n} inferences in {secs:.2} s{traffic}"
                );
            }
        }
        Err(e) => {
            counters.failed.fetch_add(1, Ordering::SeqCst);
            if config.log {
                eprintln!(
                    "circa serve: session {id} from {peer}: ended after {secs:.2} s: {e}{traffic}"
                );
            }
        }
    }
    drop(slot);
}

/// Wraps the socket with deadlines and the message limit and exchanges the greetings.
fn open_session(stream: TcpStream, config: &ServerConfig) -> NetResult<SessionChannel> {
    stream.set_nonblocking(false)?;
    let ch = TcpChannel::with_timeouts(
        stream,
        Some(config.read_timeout),
        Some(config.write_timeout),
    )?;
    let mut ch = LimitedChannel::new(ch, config.max_message);
    ch.send(&server_hello(Status::Ready))?;
    ch.flush()?;
    let mut hello = [0u8; CLIENT_HELLO_LEN];
    ch.recv(&mut hello)?;
    parse_client_hello(&hello)?;
    Ok(ch)
}
