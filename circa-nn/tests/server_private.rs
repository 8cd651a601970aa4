//! The TCP server and client running real private inference on the bundled digits CNN:
//! predictions against the plaintext reference, concurrent sessions, and a server that keeps
//! serving while a client stalls or disconnects mid-session. Sockets bind 127.0.0.1:0.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use circa_nn::net::{
    Client, ClientConfig, NetError, NetResult, ServeReport, ServerConfig, Shutdown, hello, infer,
    serve,
};
use circa_nn::private::{Prime, PrivateParams};
use circa_nn::{Network, NnError, argmax, dataset, import_onnx};

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn digits() -> Arc<Network> {
    let bytes = std::fs::read(models_dir().join("digits_cnn.onnx")).unwrap();
    Arc::new(import_onnx(&bytes).unwrap())
}

fn test_images(n: usize) -> Vec<(usize, Vec<f64>)> {
    let text = std::fs::read_to_string(models_dir().join("data/digits_test.csv")).unwrap();
    let mut all = dataset::parse_labelled(&text, 64, 10).unwrap();
    all.truncate(n);
    all
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

fn start(network: Arc<Network>, params: PrivateParams) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let config = ServerConfig {
        max_sessions: 4,
        read_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(2),
        shutdown: shutdown.clone(),
        ..ServerConfig::default()
    };
    let handle = std::thread::spawn(move || serve(listener, network, params, config));
    Running {
        addr,
        shutdown,
        handle,
    }
}

fn client_config() -> ClientConfig {
    ClientConfig {
        read_timeout: Duration::from_secs(20),
        write_timeout: Duration::from_secs(20),
        ..ClientConfig::default()
    }
}

fn exact() -> PrivateParams {
    PrivateParams::exact(Prime::P41, 12)
}

#[test]
fn private_predictions_match_plaintext() {
    let network = digits();
    let server = start(Arc::clone(&network), exact());
    let mut client = Client::connect(server.addr, &client_config()).unwrap();
    assert_eq!(client.architecture(), network.architecture());
    assert_eq!(*client.params(), exact());
    for (_, image) in test_images(4) {
        let plain = circa_nn::infer(&network, &image).unwrap();
        let (logits, stats) = client.infer(&image).unwrap();
        assert_eq!(argmax(&logits), argmax(&plain));
        for (a, b) in logits.iter().zip(&plain) {
            assert!((a - b).abs() < 0.05, "private {a} vs plaintext {b}");
        }
        assert!(stats.online_bytes_c2s > 0 && stats.online_bytes_s2c > 0);
        assert!(stats.client_storage_bytes > 0);
    }
    client.close().unwrap();
    let report = server.stop();
    assert_eq!(report.sessions_completed, 1);
    assert_eq!(report.inferences, 4);
}

#[test]
fn wrong_input_shape_is_rejected_and_the_session_continues() {
    let network = digits();
    let server = start(Arc::clone(&network), exact());
    let mut client = Client::connect(server.addr, &client_config()).unwrap();
    match client.infer(&[0.5; 63]) {
        Err(NetError::Model(NnError::InputLengthMismatch {
            expected: 64,
            actual: 63,
        })) => {}
        other => panic!("expected an input length error, got {other:?}"),
    }
    let (_, image) = test_images(1).remove(0);
    let (logits, _) = client.infer(&image).unwrap();
    assert_eq!(
        argmax(&logits),
        argmax(&circa_nn::infer(&network, &image).unwrap())
    );
    client.close().unwrap();
    assert_eq!(server.stop().sessions_completed, 1);
}

#[test]
fn concurrent_clients_are_served_independently() {
    let network = digits();
    let server = start(Arc::clone(&network), exact());
    let images = test_images(3);
    let clients: Vec<_> = images
        .clone()
        .into_iter()
        .map(|(_, image)| {
            let addr = server.addr;
            std::thread::spawn(move || infer(addr, &image, &client_config()).map(|(l, _)| l))
        })
        .collect();
    for (client, (_, image)) in clients.into_iter().zip(&images) {
        let logits = client.join().unwrap().unwrap();
        assert_eq!(
            argmax(&logits),
            argmax(&circa_nn::infer(&network, image).unwrap())
        );
    }
    let report = server.stop();
    assert_eq!(report.sessions_completed, 3);
    assert_eq!(report.inferences, 3);
}

/// Connects past the greeting and returns the raw socket (the server's session has started).
fn raw_session(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&hello::client_hello()).unwrap();
    let mut greeting = [0u8; hello::SERVER_HELLO_LEN];
    s.read_exact(&mut greeting).unwrap();
    s
}

#[test]
fn server_keeps_serving_while_clients_stall_or_vanish() {
    let network = digits();
    let server = start(Arc::clone(&network), exact());
    // Stalls: takes the greeting and the server's hello, then says nothing.
    let stalled = raw_session(server.addr);
    // Vanishes mid-session: starts the handshake, sends garbage, disconnects.
    let mut gone = raw_session(server.addr);
    gone.write_all(&[0xff; 7]).unwrap();
    drop(gone);
    // A client that disconnects after the offline phase of an inference.
    let addr = server.addr;
    let quitter = std::thread::spawn(move || {
        let mut c = Client::connect(addr, &client_config()).unwrap();
        // One full inference, then drop the connection without closing the session.
        let (_, image) = test_images(1).remove(0);
        c.infer(&image).unwrap();
        drop(c);
    });
    // Meanwhile a well-behaved client is served.
    let (_, image) = test_images(2).remove(1);
    let (logits, _) = infer(server.addr, &image, &client_config()).unwrap();
    assert_eq!(
        argmax(&logits),
        argmax(&circa_nn::infer(&network, &image).unwrap())
    );
    quitter.join().unwrap();
    drop(stalled);
    let report = server.stop();
    assert_eq!(report.sessions_completed, 1);
    assert_eq!(report.sessions_failed, 3);
}

#[test]
fn huge_architecture_claim_is_refused_by_the_client() {
    // A fake server that sends a valid greeting and hello header, then announces a
    // 2^60-byte architecture: the client refuses before allocating.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut greeting = [0u8; hello::CLIENT_HELLO_LEN];
        s.read_exact(&mut greeting).unwrap();
        s.write_all(&hello::server_hello(hello::Status::Ready))
            .unwrap();
        s.write_all(&exact().to_bytes()).unwrap();
        s.write_all(&(1u64 << 60).to_le_bytes()).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    });
    match Client::connect(addr, &client_config()) {
        Err(NetError::Private(e)) => {
            let msg = e.to_string();
            assert!(msg.contains("exceeds the limit"), "{msg}");
        }
        other => panic!("expected a size-limit error, got {other:?}"),
    }
    fake.join().unwrap();
}
