//! The accept loop: admission (a bounded stage where connections wait for their greeting,
//! session slots, a share per client address), one thread per connection, the time rules of
//! [`SessionChannel`], refusals answered at once, and a shutdown flag.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{Shutdown as SocketShutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use circa_ot::{Channel, ChannelStats, Prg, TcpChannel};

use super::admission::{Admission, ServeReport, Ticket};
use super::channel::{Expired, SessionChannel};
use super::config::{ACCEPT_POLL, ServerConfig, session_rng};
use super::error::{NetError, NetResult};
use super::hello::{CLIENT_HELLO_LEN, Status, parse_client_hello, server_hello};

/// What a server does with one connection once the greetings are exchanged, in two steps: the
/// session's setup, which must end within the handshake deadline, then the session itself.
/// Each connection gets its own channel and its own generator, seeded from the operating
/// system; nothing is shared between sessions except `&self`.
pub trait Service: Send + Sync + 'static {
    /// A session after its setup.
    type Session;

    /// Sets the session up (parameters, OT setup, ...) with the session's own generator.
    /// Runs under the handshake deadline ([`ServerConfig::handshake_timeout`]).
    fn handshake(&self, ch: &mut SessionChannel, rng: Prg) -> NetResult<Self::Session>;

    /// Runs the session to its end and returns how many inferences it served.
    fn serve(&self, session: Self::Session, ch: &mut SessionChannel) -> NetResult<u64>;
}

/// Most queued connections told "shutting down" when the server stops.
const SHUTDOWN_DRAIN: usize = 1024;
/// How long a refused connection is kept open (its input drained) so that the refusal is read
/// before the socket closes: closing a socket with unread input resets the connection, and
/// the reset can overtake the answer.
const LINGER: Duration = Duration::from_secs(1);
/// Most refused connections kept lingering at once (beyond it they are closed at once).
const MAX_LINGERING: usize = 1024;

/// Refused connections kept open for [`LINGER`], polled by the accept loop (no thread each).
#[derive(Default)]
struct Lingering(Vec<(TcpStream, Instant)>);

impl Lingering {
    /// Answers `status` at once (the greeting fits any fresh socket's send buffer; the write
    /// never blocks) and keeps the connection until its peer closes it or [`LINGER`] passes.
    fn refuse(&mut self, stream: TcpStream, status: Status) {
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        let _ = (&stream).write(&server_hello(status));
        let _ = stream.shutdown(SocketShutdown::Write);
        if self.0.len() < MAX_LINGERING {
            self.0.push((stream, Instant::now() + LINGER));
        }
    }

    /// Drains what the lingering peers sent; closes those that closed or whose time is up.
    fn tick(&mut self) {
        let now = Instant::now();
        self.0.retain(|(stream, until)| {
            let mut scratch = [0u8; 512];
            for _ in 0..4 {
                match (&*stream).read(&mut scratch) {
                    Ok(0) => return false,
                    Ok(_) => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => return false,
                }
            }
            now < *until
        });
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Serves `service` on `listener` until `config.shutdown` is triggered, then waits for the
/// running connections to end (each is bounded by its deadlines) and returns the counters.
///
/// Every accepted connection gets a place in the admission stage (or is answered "busy" at
/// once, when the stage is full or its address holds its share, see [`ServerConfig`]) and its
/// own thread, which reads the client's greeting under the handshake deadline, takes a
/// session slot (or answers "busy"), and runs the session with its own generator. A session
/// that fails ends alone, with one line on standard error when `config.log` is set; a session
/// thread that panics is contained and counted ([`ServeReport::sessions_panicked`]). Errors of
/// `accept` itself (for example running out of file descriptors) are logged and retried after
/// a pause: they do not stop the server.
pub fn serve_with<S: Service>(
    listener: TcpListener,
    service: Arc<S>,
    config: ServerConfig,
) -> NetResult<ServeReport> {
    config.validate()?;
    listener.set_nonblocking(true)?;
    let admission = Arc::new(Admission::new(
        config.max_sessions,
        config.max_pending,
        config.max_per_address,
        config.monitor.clone(),
    ));
    let config = Arc::new(config);
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let mut lingering = Lingering::default();
    let mut next_id: u64 = 0;
    while !config.shutdown.is_triggered() {
        lingering.tick();
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
        let accepted = Instant::now();
        workers.retain(|w| !w.is_finished());
        next_id += 1;
        let id = next_id;
        let ticket = match admission.admit(peer.ip()) {
            Ok(ticket) => ticket,
            Err(why) => {
                admission.monitor().refused();
                if config.log {
                    eprintln!(
                        "circa serve: connection {id} from {peer}: refused, {}",
                        why.describe()
                    );
                }
                lingering.refuse(stream, Status::Busy);
                continue;
            }
        };
        let service = Arc::clone(&service);
        let cfg = Arc::clone(&config);
        let spawned = std::thread::Builder::new()
            .name(format!("circa-session-{id}"))
            .spawn(move || run_connection(id, stream, peer, accepted, &*service, &cfg, ticket));
        match spawned {
            Ok(handle) => workers.push(handle),
            Err(e) => {
                // The closure (with the stream and the ticket) was dropped: the place is free
                // again and the client sees the connection close.
                admission.monitor().failed();
                if config.log {
                    eprintln!("circa serve: session {id} from {peer}: cannot start a thread: {e}");
                }
            }
        }
    }
    // Stopping: tell the clients still waiting in the listen queue (a bounded number of them),
    // then wait for the running connections (bounded by their deadlines).
    for _ in 0..SHUTDOWN_DRAIN {
        let Ok((stream, _)) = listener.accept() else {
            break;
        };
        admission.monitor().refused();
        lingering.refuse(stream, Status::ShuttingDown);
    }
    while workers.iter().any(|w| !w.is_finished()) || !lingering.is_empty() {
        lingering.tick();
        std::thread::sleep(ACCEPT_POLL);
    }
    for w in workers {
        // Session panics are caught inside the thread; nothing else to do.
        let _ = w.join();
    }
    Ok(admission.monitor().report())
}

/// How a connection ended, when it did not fail.
enum Outcome {
    /// The session ran to its end and served this many inferences.
    Served(u64),
    /// The connection was refused after its greeting (answered, then closed), for this reason.
    Refused(&'static str),
}

/// Everything a connection's log line reports.
struct Ended {
    result: NetResult<Outcome>,
    stats: Option<ChannelStats>,
    expired: Option<Expired>,
}

fn run_connection<S: Service + ?Sized>(
    id: u64,
    stream: TcpStream,
    peer: SocketAddr,
    accepted: Instant,
    service: &S,
    config: &ServerConfig,
    mut ticket: Ticket,
) {
    let monitor = config.monitor.clone();
    let ended = catch_unwind(AssertUnwindSafe(|| {
        connection(stream, accepted, service, config, &mut ticket)
    }));
    // The place is returned before the log line is written.
    drop(ticket);
    let secs = accepted.elapsed().as_secs_f64();
    let ended = match ended {
        Ok(ended) => ended,
        Err(_) => {
            monitor.panicked();
            if config.log {
                eprintln!(
                    "circa serve: session {id} from {peer}: panicked after {secs:.2} s (a bug)"
                );
            }
            return;
        }
    };
    let traffic = ended
        .stats
        .map(|s| format!(", {} B in, {} B out", s.bytes_received, s.bytes_sent))
        .unwrap_or_default();
    match ended.result {
        Ok(Outcome::Served(n)) => {
            monitor.completed(n);
            if config.log {
                eprintln!(
                    "circa serve: session {id} from {peer}: done, {n} inferences in {secs:.2} s{traffic}"
                );
            }
        }
        Ok(Outcome::Refused(why)) => {
            monitor.refused();
            if config.log {
                eprintln!("circa serve: connection {id} from {peer}: refused, {why}");
            }
        }
        Err(e) => {
            monitor.failed();
            if config.log {
                let why = ended
                    .expired
                    .map(|x| format!("{} ({e})", x.describe()))
                    .unwrap_or_else(|| e.to_string());
                eprintln!(
                    "circa serve: session {id} from {peer}: ended after {secs:.2} s: {why}{traffic}"
                );
            }
        }
    }
}

/// Greeting, slot, setup and session of one connection.
fn connection<S: Service + ?Sized>(
    stream: TcpStream,
    accepted: Instant,
    service: &S,
    config: &ServerConfig,
    ticket: &mut Ticket,
) -> Ended {
    let mut ch = match open(stream, config) {
        Ok(ch) => ch,
        Err(e) => {
            return Ended {
                result: Err(e),
                stats: None,
                expired: None,
            };
        }
    };
    ch.set_deadline(
        accepted
            .checked_add(config.handshake_timeout)
            .map(|at| (at, Expired::Handshake)),
    );
    let result = session(&mut ch, accepted, service, config, ticket);
    Ended {
        result,
        stats: Some(ch.stats()),
        expired: ch.expired(),
    }
}

fn open(stream: TcpStream, config: &ServerConfig) -> NetResult<SessionChannel> {
    stream.set_nonblocking(false)?;
    let tcp = TcpChannel::with_timeouts(
        stream,
        Some(config.read_timeout),
        Some(config.write_timeout),
    )?;
    Ok(SessionChannel::new(
        tcp,
        config.deadlines(),
        config.max_message,
    ))
}

fn session<S: Service + ?Sized>(
    ch: &mut SessionChannel,
    accepted: Instant,
    service: &S,
    config: &ServerConfig,
    ticket: &mut Ticket,
) -> NetResult<Outcome> {
    let mut hello = [0u8; CLIENT_HELLO_LEN];
    if let Err(e) = ch.recv(&mut hello) {
        if ch.expired() == Some(Expired::Handshake) {
            answer_and_close(ch, Status::TimedOut);
        }
        return Err(e.into());
    }
    match parse_client_hello(&hello) {
        Ok(()) => {}
        Err(e @ NetError::UnsupportedVersion { .. }) => {
            answer_and_close(ch, Status::UnsupportedVersion);
            return Err(e);
        }
        // Not a circa peer: nothing it would understand to answer.
        Err(e) => return Err(e),
    }
    if config.shutdown.is_triggered() {
        answer_and_close(ch, Status::ShuttingDown);
        return Ok(Outcome::Refused("the server is stopping"));
    }
    if let Err(why) = ticket.promote() {
        answer_and_close(ch, Status::Busy);
        return Ok(Outcome::Refused(why.describe()));
    }
    ch.send(&server_hello(Status::Ready))?;
    ch.flush()?;
    let rng = session_rng()?;
    let session = service.handshake(ch, rng)?;
    ch.set_deadline(
        config
            .max_session_time
            .and_then(|t| accepted.checked_add(t))
            .map(|at| (at, Expired::Session)),
    );
    Ok(Outcome::Served(service.serve(session, ch)?))
}

/// Answers `status` straight on the socket (nothing else was sent on it), ends the sending
/// side, and reads what the peer still sends until it closes or [`LINGER`] passes, so the
/// answer is not lost to a reset.
fn answer_and_close(ch: &SessionChannel, status: Status) {
    let mut stream = ch.tcp().stream();
    let _ = stream.set_write_timeout(Some(LINGER));
    let _ = stream.write_all(&server_hello(status));
    let _ = stream.shutdown(SocketShutdown::Write);
    let until = Instant::now() + LINGER;
    let mut scratch = [0u8; 512];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
