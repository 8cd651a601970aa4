//! The server loop with a small stand-in service (no private inference): session bound,
//! greetings, message limits, deadlines, garbage, disconnects and shutdown. Every socket binds
//! 127.0.0.1:0; deadlines are 1 s so every test ends in a few seconds. (The hostile-client
//! suite is `tests/hostile_*.rs`.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use circa_nn::net::{
    ClientConfig, NetError, NetResult, ServeReport, ServerConfig, Service, SessionChannel,
    Shutdown, connect_channel, hello, serve_with,
};
use circa_ot::Channel;
use circa_ot::Prg;
use rand_core::Rng;

const DEADLINE: Duration = Duration::from_secs(1);
const MAX_MESSAGE: usize = 1024;

/// No setup; requests: tag 1 + frame of little-endian u64 values -> reply: their wrapping sum
/// and one random u64 from the session generator; tag 0 -> end of session.
struct SumService;

impl Service for SumService {
    type Session = Prg;

    fn handshake(&self, _ch: &mut SessionChannel, rng: Prg) -> NetResult<Prg> {
        Ok(rng)
    }

    fn serve(&self, mut rng: Prg, ch: &mut SessionChannel) -> NetResult<u64> {
        let mut served = 0;
        loop {
            let mut tag = [0u8];
            ch.recv(&mut tag)?;
            match tag[0] {
                0 => return Ok(served),
                1 => {
                    let frame = ch.recv_frame(usize::MAX)?;
                    let sum = frame
                        .chunks(8)
                        .map(|c| {
                            let mut b = [0u8; 8];
                            b[..c.len()].copy_from_slice(c);
                            u64::from_le_bytes(b)
                        })
                        .fold(0u64, u64::wrapping_add);
                    ch.send_u64(sum)?;
                    ch.send_u64(rng.next_u64())?;
                    ch.flush()?;
                    served += 1;
                }
                _ => {
                    return Err(NetError::Channel(circa_ot::Error::LengthMismatch {
                        expected: 1,
                        actual: tag[0] as usize,
                    }));
                }
            }
        }
    }
}

struct Running {
    addr: SocketAddr,
    shutdown: Shutdown,
    handle: JoinHandle<NetResult<ServeReport>>,
}

impl Running {
    fn stop(self) -> ServeReport {
        self.shutdown.trigger();
        self.handle
            .join()
            .expect("server thread")
            .expect("server result")
    }
}

fn start(max_sessions: usize) -> Running {
    start_with(max_sessions, None)
}

fn start_with(max_sessions: usize, max_session_time: Option<Duration>) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let config = ServerConfig {
        max_sessions,
        handshake_timeout: DEADLINE,
        read_timeout: DEADLINE,
        write_timeout: DEADLINE,
        flight_timeout: DEADLINE * 2,
        max_message: MAX_MESSAGE,
        max_session_time,
        log: true,
        shutdown: shutdown.clone(),
        ..ServerConfig::default()
    };
    let handle = std::thread::spawn(move || serve_with(listener, Arc::new(SumService), config));
    Running {
        addr,
        shutdown,
        handle,
    }
}

fn client_config() -> ClientConfig {
    ClientConfig {
        read_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(5),
        max_message: MAX_MESSAGE,
        ..ClientConfig::default()
    }
}

fn request(ch: &mut SessionChannel, values: &[u64]) -> Result<(u64, u64), circa_ot::Error> {
    ch.send(&[1])?;
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    ch.send_frame(&bytes)?;
    ch.flush()?;
    Ok((ch.recv_u64()?, ch.recv_u64()?))
}

fn finish(mut ch: SessionChannel) {
    ch.send(&[0]).unwrap();
    ch.flush().unwrap();
}

/// A well-behaved client: two requests, then a clean end.
fn good_client(addr: SocketAddr) -> u64 {
    let mut ch = connect_channel(addr, &client_config()).unwrap();
    assert_eq!(request(&mut ch, &[1, 2, 3]).unwrap().0, 6);
    let (sum, r) = request(&mut ch, &[u64::MAX, 2]).unwrap();
    assert_eq!(sum, 1);
    finish(ch);
    r
}

/// Raw socket past the greetings.
fn raw_connect(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&hello::client_hello()).unwrap();
    let mut greeting = [0u8; hello::SERVER_HELLO_LEN];
    s.read_exact(&mut greeting).unwrap();
    assert_eq!(
        hello::parse_server_hello(&greeting).unwrap(),
        hello::Status::Ready
    );
    s
}

/// Reads until the server closes the connection; panics if it does not within 5 s.
fn assert_closed_by_server(mut s: TcpStream) {
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("server did not close the connection: {e}"),
        }
    }
}

#[test]
fn serves_clients_with_independent_generators() {
    let server = start(4);
    let a = good_client(server.addr);
    let b = good_client(server.addr);
    assert_ne!(a, b, "two sessions drew the same random value");
    let report = server.stop();
    assert_eq!(report.sessions_completed, 2);
    assert_eq!(report.sessions_failed, 0);
    assert_eq!(report.inferences, 4);
}

#[test]
fn garbage_greeting_ends_only_that_session() {
    let server = start(4);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    good_client(server.addr);
    assert_closed_by_server(s);
    let report = server.stop();
    assert_eq!(report.sessions_failed, 1);
    assert_eq!(report.sessions_completed, 1);
}

#[test]
fn wrong_protocol_version_is_rejected() {
    let server = start(4);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut greeting = hello::client_hello();
    greeting[hello::MAGIC.len()] = hello::PROTOCOL_VERSION + 1;
    s.write_all(&greeting).unwrap();
    // The server answers with its own version, so the client can tell who is out of date.
    let mut answer = [0u8; hello::SERVER_HELLO_LEN];
    s.read_exact(&mut answer).unwrap();
    assert_eq!(
        hello::parse_server_hello(&answer).unwrap(),
        hello::Status::UnsupportedVersion
    );
    assert_closed_by_server(s);
    assert_eq!(server.stop().sessions_failed, 1);
}

#[test]
fn huge_frame_length_is_rejected_before_allocating() {
    let server = start(4);
    let mut s = raw_connect(server.addr);
    // A request announcing 2^62 bytes: the limit (1 KiB) refuses it without allocating.
    s.write_all(&[1]).unwrap();
    s.write_all(&(1u64 << 62).to_le_bytes()).unwrap();
    assert_closed_by_server(s);
    // Just above the limit is refused too; at the limit it is served.
    let mut ch = connect_channel(server.addr, &client_config()).unwrap();
    let at_limit = vec![1u64; MAX_MESSAGE / 8];
    assert_eq!(
        request(&mut ch, &at_limit).unwrap().0,
        (MAX_MESSAGE / 8) as u64
    );
    let above = vec![1u64; MAX_MESSAGE / 8 + 1];
    assert!(request(&mut ch, &above).is_err());
    let report = server.stop();
    assert_eq!(report.sessions_failed, 2);
}

#[test]
fn stalled_and_disconnected_clients_do_not_block_others() {
    let server = start(4);
    // Stalls after the greeting, in the middle of a request.
    let mut stalled = raw_connect(server.addr);
    stalled.write_all(&[1, 16, 0]).unwrap();
    // Disconnects in the middle of a request.
    let mut gone = raw_connect(server.addr);
    gone.write_all(&[1, 16, 0, 0, 0, 0, 0, 0, 0, 1, 2]).unwrap();
    drop(gone);
    // Meanwhile another client is served in full.
    good_client(server.addr);
    // The stalled one is dropped by the read deadline.
    assert_closed_by_server(stalled);
    let report = server.stop();
    assert_eq!(report.sessions_completed, 1);
    assert_eq!(report.sessions_failed, 2);
}

#[test]
fn session_time_limit_cuts_a_trickling_client() {
    let server = start_with(2, Some(Duration::from_millis(500)));
    let mut ch = connect_channel(server.addr, &client_config()).unwrap();
    // Requests every 100 ms, well within the read deadline: only the session time stops it.
    let mut cut = false;
    for _ in 0..50 {
        if request(&mut ch, &[1]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(cut, "the session outlived its time limit");
    // The server still serves others.
    good_client(server.addr);
    let report = server.stop();
    assert_eq!(report.sessions_failed, 1);
    assert_eq!(report.sessions_completed, 1);
}

#[test]
fn excess_sessions_are_refused_politely() {
    let server = start(1);
    let mut first = connect_channel(server.addr, &client_config()).unwrap();
    // Wait until the first session's slot is surely taken (it has answered a request).
    request(&mut first, &[5]).unwrap();
    match connect_channel(server.addr, &client_config()) {
        Err(NetError::ServerBusy) => {}
        other => panic!("expected ServerBusy, got {other:?}"),
    }
    finish(first);
    // The slot is released when the first session ends; retry until it is.
    let mut served = false;
    for _ in 0..200 {
        match connect_channel(server.addr, &client_config()) {
            Ok(mut ch) => {
                assert_eq!(request(&mut ch, &[7, 8]).unwrap().0, 15);
                finish(ch);
                served = true;
                break;
            }
            Err(NetError::ServerBusy) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(served, "the slot was never released");
    let report = server.stop();
    assert!(report.refused >= 1);
    assert_eq!(report.sessions_completed, 2);
}

#[test]
fn client_rejects_a_server_that_is_not_circa() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"SSH-2.0-OpenSSH\r\n").unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    });
    assert!(matches!(
        connect_channel(addr, &client_config()),
        Err(NetError::BadMagic)
    ));
    fake.join().unwrap();
}

#[test]
fn invalid_configuration_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = ServerConfig {
        max_sessions: 0,
        ..ServerConfig::default()
    };
    assert!(matches!(
        serve_with(listener, Arc::new(SumService), config),
        Err(NetError::InvalidConfig { .. })
    ));
}
