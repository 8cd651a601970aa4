//! Hostile clients inside a real private session (the bundled digits CNN, Circa ReLU): a
//! disconnect at the start and in the middle of every one of the client's flights (offline and
//! online), every flight's first 8 bytes set to 0xff (a field element >= p, an invalid point)
//! and its first 32 bytes to zero (the identity point), a replayed transcript, a trickled flight and late messages. After each case
//! the session's slot is back within 5 s, the errors are typed, the server goes on serving an
//! honest client correctly, and no session panics.

mod hostile;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use circa_nn::net::{ServerConfig, hello};
use hostile::{Fault, Server, circa, server_config, start, tapped_session, test_images};

fn config() -> ServerConfig {
    server_config(4, Duration::from_secs(5))
}

fn digits_server(config: ServerConfig) -> Server {
    start(hostile::model("digits_cnn.onnx"), circa(), config)
}

/// The client's flights in an honest session (bytes each), checked against the plaintext.
fn honest_flights(server: &Server, image: &[f64]) -> Vec<usize> {
    let (tap, result) = tapped_session(server.addr, Fault::None, false, image);
    let logits = result.expect("honest tapped session");
    let plain = circa_nn::infer(&server.network, image).unwrap();
    assert_eq!(circa_nn::argmax(&logits), circa_nn::argmax(&plain));
    tap.flights
}

/// Waits for the server to return every place; panics after 5 s.
fn assert_freed(server: &Server, case: &str) -> Duration {
    server
        .wait_idle(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("{case}: the slot was not released within 5 s"))
}

#[test]
fn disconnect_at_every_flight_frees_the_slot_at_once() {
    let server = digits_server(config());
    let images = test_images(2);
    let flights = honest_flights(&server, &images[0]);
    assert!(flights.len() >= 6, "{flights:?}");
    let mut slowest = Duration::ZERO;
    let mut cases = 0;
    for (k, &len) in flights.iter().enumerate() {
        let mut offsets = vec![0, len / 2];
        offsets.dedup();
        for offset in offsets {
            let (tap, result) = tapped_session(
                server.addr,
                Fault::Cut { flight: k, offset },
                false,
                &images[0],
            );
            assert!(tap.was_cut(), "flight {k} never reached");
            assert!(result.is_err(), "flight {k}: a cut session succeeded");
            drop(tap);
            slowest = slowest.max(assert_freed(&server, &format!("cut {k}/{offset}")));
            cases += 1;
        }
        if k % 4 == 3 {
            server.honest(&images[1..]);
        }
    }
    server.honest(&images);
    eprintln!(
        "{} client flights ({:?} B); {cases} cuts; slowest slot release {:.1} ms",
        flights.len(),
        flights,
        slowest.as_secs_f64() * 1e3
    );
    let report = server.stop();
    assert_eq!(report.sessions_panicked, 0);
    assert_eq!(report.sessions_failed, cases);
}

#[test]
fn invalid_points_and_non_canonical_elements_are_typed_errors() {
    let server = digits_server(config());
    let images = test_images(1);
    let flights = honest_flights(&server, &images[0]);
    let mut cases = 0;
    for (k, &len) in flights.iter().enumerate() {
        let faults = [
            // A field element >= p (and an invalid point encoding).
            (0, vec![0xff; 8.min(len)]),
            // The identity point (zeros).
            (0, vec![0; 32.min(len)]),
        ];
        for (offset, bytes) in faults {
            let (tap, _) = tapped_session(
                server.addr,
                Fault::Overwrite {
                    flight: k,
                    offset,
                    bytes,
                },
                false,
                &images[0],
            );
            drop(tap);
            assert_freed(&server, &format!("corrupt {k}/{offset}"));
            cases += 1;
        }
    }
    server.honest(&images);
    let errors = server.service.errors();
    let kinds: std::collections::BTreeSet<&str> = errors
        .iter()
        .filter_map(|e| {
            [
                "InvalidPoint",
                "IdentityPoint",
                "NonCanonical",
                "FingerprintMismatch",
                "UnexpectedTag",
            ]
            .into_iter()
            .find(|k| e.contains(k))
        })
        .collect();
    eprintln!(
        "{cases} corrupted sessions, {} server errors, kinds {kinds:?}",
        errors.len()
    );
    for needed in ["InvalidPoint", "IdentityPoint", "NonCanonical"] {
        assert!(kinds.contains(needed), "no {needed} among {errors:#?}");
    }
    let report = server.stop();
    assert_eq!(report.sessions_panicked, 0);
}

#[test]
fn replayed_transcript_and_late_messages_are_harmless() {
    let server = digits_server(config());
    let images = test_images(2);
    let (tap, result) = tapped_session(server.addr, Fault::None, true, &images[0]);
    result.expect("recorded session");
    let transcript = tap.sent.clone();
    drop(tap);
    // The bytes of that session, twice over (the second copy arrives after the session's end),
    // into a new session whose server has fresh randomness.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&hello::client_hello()).unwrap();
    let mut h = [0u8; hello::SERVER_HELLO_LEN];
    s.read_exact(&mut h).unwrap();
    assert_eq!(hello::parse_server_hello(&h).unwrap(), hello::Status::Ready);
    let mut reader = s.try_clone().unwrap();
    let drain = std::thread::spawn(move || {
        let mut total = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    });
    let t = Instant::now();
    let _ = s.write_all(&transcript);
    let _ = s.write_all(&transcript);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let received = drain.join().unwrap();
    drop(s);
    assert_freed(&server, "replay");
    eprintln!(
        "replayed {} B twice: the server sent {received} B and ended the session after {:.2} s \
         with {:?}",
        transcript.len(),
        t.elapsed().as_secs_f64(),
        server.service.errors().last()
    );
    server.honest(&images[1..]);
    let report = server.stop();
    assert_eq!(report.sessions_panicked, 0);
}

#[test]
fn a_trickled_flight_and_a_late_request_end_only_their_session() {
    let config = ServerConfig {
        read_timeout: Duration::from_secs(1),
        flight_timeout: Duration::from_secs(1),
        ..config()
    };
    let server = digits_server(config);
    let images = test_images(1);
    let flights = honest_flights(&server, &images[0]);
    // Trickle the client's largest flight (offline: the linear layers' queries or OT
    // messages), one byte every 50 ms: each byte is well within the read deadline, the flight
    // is not.
    let k = (0..flights.len())
        .max_by_key(|&i| flights[i])
        .expect("flights");
    assert!(flights[k] > 100, "{flights:?}");
    let t = Instant::now();
    let (tap, result) = tapped_session(
        server.addr,
        Fault::Trickle {
            flight: k,
            pause: Duration::from_millis(50),
        },
        false,
        &images[0],
    );
    assert!(result.is_err(), "the trickled session succeeded");
    let trickled = tap.flights.get(k).copied().unwrap_or(0);
    drop(tap);
    assert_freed(&server, "trickle");
    let held = t.elapsed();
    eprintln!(
        "trickled flight {k} ({} B honest): cut after {trickled} B, {:.2} s",
        flights[k],
        held.as_secs_f64()
    );
    assert!(trickled < flights[k], "the whole flight got through");
    assert!(held < Duration::from_secs(5), "held {held:?}");
    // A client that waits past the server's deadline before its next request: the server has
    // ended the session; the client gets an error, not a hang.
    let mut client =
        circa_nn::net::Client::connect(server.addr, &hostile::client_config()).unwrap();
    client.infer(&images[0]).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_freed(&server, "late");
    assert!(
        client.infer(&images[0]).is_err(),
        "a late request was served"
    );
    drop(client);
    server.honest(&images);
    let report = server.stop();
    assert_eq!(report.sessions_panicked, 0);
}
