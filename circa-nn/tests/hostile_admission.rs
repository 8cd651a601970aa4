//! Hostile clients at the door: 50 connections from 50 loopback addresses that stay silent,
//! trickle their greeting, greet and then stall or trickle, send garbage or huge length
//! prefixes, plus one address opening more than its share. An honest client is served at its
//! first attempt while they are open; the server answers every refusal at once, drops the
//! silent and trickling ones at the handshake deadline, returns every place, stays within a
//! memory bound (VmRSS from /proc) and panics nowhere.

mod hostile;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use circa_nn::net::{ClientConfig, NetError, ServerConfig, hello};
use hostile::{circa, connect_from, rss_bytes, server_config, start, test_images};

const HANDSHAKE: Duration = Duration::from_secs(2);

fn config() -> ServerConfig {
    ServerConfig {
        max_per_address: 2,
        ..server_config(16, HANDSHAKE)
    }
}

/// What a hostile connection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Connects and says nothing.
    Silent,
    /// Sends its greeting one byte every 300 ms.
    TrickleGreeting,
    /// Greets, then says nothing (the session's setup waits for it).
    GreetThenStall,
    /// Greets, then sends one byte every 300 ms.
    GreetThenTrickle,
    /// Sends an HTTP request instead of a greeting.
    Garbage,
    /// Greets, then sends 2^62 as if it were a length prefix, and more 0xff.
    HugePrefix,
}

/// Runs `behaviour` on `s` until the server closes it (or 20 s pass); returns how long the
/// server kept it and the status it answered, if any.
fn misbehave(mut s: TcpStream, behaviour: Behaviour) -> (Duration, Option<hello::Status>) {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let greeting = hello::client_hello();
    let mut answer = Vec::new();
    let mut sent = 0usize;
    let mut closed = false;
    while start.elapsed() < Duration::from_secs(20) && !closed {
        let step: Vec<u8> = match behaviour {
            Behaviour::Silent => Vec::new(),
            Behaviour::TrickleGreeting if sent < greeting.len() => vec![greeting[sent]],
            Behaviour::TrickleGreeting => Vec::new(),
            Behaviour::GreetThenStall | Behaviour::GreetThenTrickle if sent == 0 => {
                greeting.to_vec()
            }
            Behaviour::GreetThenStall => Vec::new(),
            Behaviour::GreetThenTrickle => vec![0x5a],
            Behaviour::Garbage if sent == 0 => b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Behaviour::HugePrefix if sent == 0 => {
                let mut v = greeting.to_vec();
                v.extend_from_slice(&(1u64 << 62).to_le_bytes());
                v.extend_from_slice(&[0xff; 64]);
                v
            }
            Behaviour::Garbage | Behaviour::HugePrefix => Vec::new(),
        };
        if !step.is_empty() && s.write_all(&step).is_err() {
            break;
        }
        sent += step.len();
        // Read whatever the server says for up to 300 ms (the pace of the trickle).
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => closed = true,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => closed = true,
        }
    }
    let status = (answer.len() >= hello::SERVER_HELLO_LEN)
        .then(|| {
            let mut h = [0u8; hello::SERVER_HELLO_LEN];
            h.copy_from_slice(&answer[..hello::SERVER_HELLO_LEN]);
            hello::parse_server_hello(&h).ok()
        })
        .flatten();
    (start.elapsed(), status)
}

#[test]
fn honest_client_is_served_while_fifty_hostile_connections_are_open() {
    let server = start(hostile::model("digits_cnn.onnx"), circa(), config());
    let images = test_images(2);
    // Warm up (and measure the idle footprint with one session served).
    server.honest(&images[..1]);
    let idle = rss_bytes();

    let mix = [
        (Behaviour::Silent, 20),
        (Behaviour::TrickleGreeting, 10),
        (Behaviour::GreetThenStall, 6),
        (Behaviour::GreetThenTrickle, 4),
        (Behaviour::Garbage, 7),
        (Behaviour::HugePrefix, 3),
    ];
    let mut hostile = Vec::new();
    let mut last = 10u8;
    for (behaviour, count) in mix {
        for _ in 0..count {
            let s = connect_from(last, server.addr).expect("hostile connect");
            last += 1;
            hostile.push(std::thread::spawn(move || {
                (behaviour, misbehave(s, behaviour))
            }));
        }
    }
    assert_eq!(hostile.len(), 50);
    // One more address opens six connections: two are admitted (its share), four are told
    // "busy" at once (not at a deadline).
    let greedy_at = Instant::now();
    let greedy: Vec<TcpStream> = (0..6)
        .map(|_| connect_from(200, server.addr).expect("greedy connect"))
        .collect();
    for (i, s) in greedy.iter().enumerate() {
        let mut s = s.try_clone().unwrap();
        let mut h = [0u8; hello::SERVER_HELLO_LEN];
        if i < 2 {
            // Admitted: waiting for a greeting, nothing to read.
            s.set_nonblocking(true).unwrap();
            let r = s.read(&mut h);
            assert!(
                matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
                "{r:?}"
            );
        } else {
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            s.read_exact(&mut h).expect("busy answer");
            assert_eq!(hello::parse_server_hello(&h).unwrap(), hello::Status::Busy);
        }
    }
    let busy_ms = greedy_at.elapsed().as_secs_f64() * 1e3;
    let mem_busy = rss_bytes();

    // The honest client, at its first attempt, while all of the above are open.
    let t = Instant::now();
    server.honest(&images);
    let honest_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "honest client: 2 inferences in {honest_secs:.2} s with 50 hostile connections open \
         (6 connections from one address: 4 refused, answers read {busy_ms:.0} ms after the \
         first connect)"
    );

    // The server drops the silent and trickling ones at the handshake deadline.
    for h in hostile {
        let (behaviour, (held, status)) = h.join().unwrap();
        assert!(
            held < HANDSHAKE + Duration::from_secs(3),
            "{behaviour:?} held its connection {held:?}"
        );
        match behaviour {
            Behaviour::Silent | Behaviour::TrickleGreeting => {
                assert_eq!(status, Some(hello::Status::TimedOut), "{behaviour:?}")
            }
            Behaviour::GreetThenStall | Behaviour::GreetThenTrickle | Behaviour::HugePrefix => {
                assert_eq!(status, Some(hello::Status::Ready), "{behaviour:?}")
            }
            Behaviour::Garbage => assert_eq!(status, None),
        }
    }
    drop(greedy);
    let idle_after = server.wait_idle(Duration::from_secs(5));
    assert!(idle_after.is_some(), "places not returned within 5 s");
    server.honest(&images[..1]);
    if let (Some(idle), Some(busy)) = (idle, mem_busy) {
        let grown = busy.saturating_sub(idle);
        eprintln!(
            "RSS: {} MiB idle, {} MiB with 56 hostile connections (+{} MiB)",
            idle >> 20,
            busy >> 20,
            grown >> 20
        );
        assert!(
            grown < 64 << 20,
            "hostile connections grew RSS by {grown} B"
        );
    }
    assert!(
        server.service.errors().len() >= 13,
        "the hostile sessions failed"
    );
    let report = server.stop();
    assert_eq!(report.sessions_panicked, 0);
    assert_eq!(report.sessions_completed, 3);
    assert!(report.refused >= 4);
}

#[test]
fn busy_answer_is_immediate_and_a_freed_slot_is_reused() {
    let config = ServerConfig {
        max_sessions: 1,
        ..config()
    };
    let server = start(hostile::model("digits_cnn.onnx"), circa(), config);
    let images = test_images(1);
    // An honest client holds the only slot (set up, idle).
    let holder = circa_nn::net::Client::connect(server.addr, &hostile::client_config()).unwrap();
    let t = Instant::now();
    match circa_nn::net::Client::connect(server.addr, &hostile::client_config()) {
        Err(NetError::ServerBusy) => {}
        other => panic!("expected busy, got {other:?}"),
    }
    let busy_ms = t.elapsed().as_secs_f64() * 1e3;
    eprintln!("busy answered in {busy_ms:.1} ms");
    assert!(t.elapsed() < Duration::from_secs(2));
    // The holder disconnects without closing its session: the slot is back within 5 s.
    let t = Instant::now();
    drop(holder);
    let freed = server.wait_idle(Duration::from_secs(5));
    assert!(freed.is_some(), "slot not released within 5 s");
    eprintln!(
        "slot released {:.1} ms after the disconnect",
        t.elapsed().as_secs_f64() * 1e3
    );
    server.honest(&images);
    let report = server.stop();
    assert_eq!(report.sessions_panicked, 0);
    assert_eq!(report.refused, 1);
}

#[test]
fn an_old_client_learns_the_version_and_a_bad_connect_names_the_address() {
    let server = start(hostile::model("digits_poly.onnx"), circa(), config());
    // A protocol-2 client waits for the server to speak first: the server answers at its
    // handshake deadline with its own version, which the client reports.
    let mut old = TcpStream::connect(server.addr).unwrap();
    old.set_read_timeout(Some(HANDSHAKE + Duration::from_secs(3)))
        .unwrap();
    let mut h = [0u8; hello::SERVER_HELLO_LEN];
    old.read_exact(&mut h).unwrap();
    assert_eq!(&h[..hello::MAGIC.len()], &hello::MAGIC);
    assert_eq!(
        h[hello::MAGIC.len()],
        hello::PROTOCOL_VERSION,
        "not version 2"
    );
    assert!(matches!(
        hello::parse_server_hello(&h),
        Ok(hello::Status::TimedOut)
    ));
    // Connect errors name the address (nothing listens on the port just released).
    let unused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let config = ClientConfig {
        connect_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    };
    match circa_nn::net::Client::connect(unused, &config) {
        Err(e @ NetError::Connect { .. }) => {
            assert!(e.to_string().contains(&unused.to_string()), "{e}")
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
    // Out-of-range client settings are typed errors, not panics.
    let absurd = ClientConfig {
        read_timeout: Duration::from_secs_f64(1e19),
        ..ClientConfig::default()
    };
    assert!(matches!(
        circa_nn::net::Client::connect(server.addr, &absurd),
        Err(NetError::InvalidConfig { .. })
    ));
    let report = server.stop();
    assert_eq!(report.sessions_panicked, 0);
}
