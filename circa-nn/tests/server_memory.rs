//! The server encodes its model once: connections that send only their greeting cost no copy
//! of the weights. 16 such connections on a 4.2 M-weight model must stay below 64 MiB above the
//! idle server (read from /proc; Linux only), and an honest client is served meanwhile. When
//! they close, their slots are back within 5 s (before the model was encoded once, each session
//! encoded it again and slots lingered ~27 s); so is the slot of a client that disconnects in
//! the middle of the model's largest offline flight.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use circa_nn::net::{ClientConfig, Monitor, ServerConfig, Shutdown, hello, serve};
use circa_nn::private::{Prime, PrivateParams};
use circa_nn::{Activation, Architecture, LinearWeights, Network, Op, Shape};

mod hostile;
use hostile::{rss_bytes, wait_idle};

/// Dense 2048 -> 2048 -> ReLU -> dense 2048 -> 10: 4.21 M weights, deterministic values.
fn big_network() -> Network {
    let n = 2048;
    let arch = Architecture::new(
        Shape::flat(n),
        vec![
            (
                "fc1".into(),
                Op::Dense {
                    in_features: n,
                    out_features: n,
                },
                vec![0],
            ),
            ("relu".into(), Op::Activation(Activation::Relu), vec![1]),
            (
                "fc2".into(),
                Op::Dense {
                    in_features: n,
                    out_features: 10,
                },
                vec![2],
            ),
        ],
        3,
    )
    .expect("architecture");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut weights = |len: usize| -> Vec<f64> {
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.04
            })
            .collect()
    };
    let w1 = LinearWeights::new(weights(n * n), vec![0.0; n]);
    let w2 = LinearWeights::new(weights(10 * n), vec![0.0; 10]);
    Network::new(arch, vec![Some(w1), None, Some(w2)]).expect("network")
}

#[test]
fn greeting_only_connections_cost_no_weight_copies() {
    let network = Arc::new(big_network());
    let input: Vec<f64> = (0..2048).map(|i| (i % 17) as f64 / 17.0).collect();
    let expected = circa_nn::argmax(&circa_nn::infer(&network, &input).expect("f64"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = Shutdown::new();
    let monitor = Monitor::new();
    let config = ServerConfig {
        monitor: monitor.clone(),
        max_sessions: 32,
        max_per_address: 32,
        read_timeout: Duration::from_secs(20),
        write_timeout: Duration::from_secs(20),
        log: false,
        shutdown: shutdown.clone(),
        ..ServerConfig::default()
    };
    let params = PrivateParams::circa(Prime::P41, 10, 16, circa_relu::TieMode::NegPass);
    let server = {
        let network = Arc::clone(&network);
        std::thread::spawn(move || serve(listener, network, params, config))
    };
    // Let the server encode the model and settle.
    std::thread::sleep(Duration::from_millis(500));
    let idle = rss_bytes();
    let mut silent = Vec::new();
    for _ in 0..16 {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        s.write_all(&hello::client_hello())
            .expect("client greeting");
        let mut greeting = [0u8; hello::SERVER_HELLO_LEN];
        s.read_exact(&mut greeting).expect("server greeting");
        // The session's first bytes (parameters, architecture, weight width) arrive: the
        // server has started the session for this connection.
        let mut params = [0u8; 12];
        s.read_exact(&mut params).expect("parameters");
        silent.push(s);
    }
    std::thread::sleep(Duration::from_millis(300));
    let busy = rss_bytes();
    // An honest client is served while the silent ones hold their slots.
    let (logits, _) =
        circa_nn::net::infer(addr, &input, &ClientConfig::default()).expect("honest inference");
    assert_eq!(circa_nn::argmax(&logits), expected);
    if let (Some(idle), Some(busy)) = (idle, busy) {
        let grown = busy.saturating_sub(idle);
        eprintln!(
            "server RSS: idle {} MiB, with 16 greeting-only connections {} MiB (+{} MiB)",
            idle >> 20,
            busy >> 20,
            grown >> 20
        );
        assert!(
            grown < 64 << 20,
            "16 greeting-only connections grew the process by {} MiB",
            grown >> 20
        );
    }
    let closed = std::time::Instant::now();
    drop(silent);
    assert!(
        wait_idle(&monitor, Duration::from_secs(5)).is_some(),
        "greeting-only slots not released within 5 s"
    );
    eprintln!(
        "16 greeting-only slots released {:.0} ms after their connections closed",
        closed.elapsed().as_secs_f64() * 1e3
    );
    // A client that vanishes in the middle of its largest offline message.
    let cut = cut_mid_offline(addr, &input);
    assert!(
        wait_idle(&monitor, Duration::from_secs(5)).is_some(),
        "the slot of a client cut mid-offline was not released within 5 s"
    );
    eprintln!(
        "slot released {:.0} ms after a cut {} B into the client's offline phase",
        cut.1.elapsed().as_secs_f64() * 1e3,
        cut.0
    );
    assert_eq!(monitor.report().sessions_panicked, 0);
    shutdown.trigger();
    server.join().expect("server thread").expect("server");
}

/// Runs a session whose client shuts its socket down once it has sent 1 MiB of its offline
/// phase (in the middle of the large dense layer's correlation); returns the bytes sent and the
/// moment of the cut.
fn cut_mid_offline(addr: std::net::SocketAddr, input: &[f64]) -> (u64, std::time::Instant) {
    use circa_ot::Channel;
    struct Cutter {
        ch: circa_nn::net::SessionChannel,
        /// Bytes sent when the offline phase started.
        offline_from: Option<u64>,
        cut: Option<(u64, std::time::Instant)>,
    }
    impl Channel for Cutter {
        fn send(&mut self, data: &[u8]) -> Result<(), circa_ot::Error> {
            if self.cut.is_some() {
                return Err(circa_ot::Error::Closed);
            }
            let sent = self.ch.stats().bytes_sent;
            if let Some(from) = self.offline_from
                && sent - from >= 1 << 20
            {
                self.ch.flush()?;
                let _ = self.ch.tcp().stream().shutdown(std::net::Shutdown::Both);
                self.cut = Some((sent - from, std::time::Instant::now()));
                return Err(circa_ot::Error::Closed);
            }
            self.ch.send(data)
        }
        fn recv(&mut self, buf: &mut [u8]) -> Result<(), circa_ot::Error> {
            self.ch.recv(buf)
        }
        fn flush(&mut self) -> Result<(), circa_ot::Error> {
            self.ch.flush()
        }
        fn stats(&self) -> circa_ot::ChannelStats {
            self.ch.stats()
        }
    }
    let ch = circa_nn::net::connect_channel(addr, &ClientConfig::default()).expect("connect");
    let mut cutter = Cutter {
        ch,
        offline_from: None,
        cut: None,
    };
    let mut rng = circa_nn::net::session_rng().unwrap();
    let mut session =
        circa_nn::private::ClientSession::handshake(&mut cutter, &mut rng).expect("handshake");
    cutter.offline_from = Some(cutter.ch.stats().bytes_sent);
    let result = session
        .offline(&mut cutter)
        .and_then(|pre| session.online(&mut cutter, pre, input));
    assert!(result.is_err(), "the cut session succeeded");
    cutter.cut.expect("the offline phase sent less than 1 MiB")
}
