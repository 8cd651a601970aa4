//! Shared pieces of the hostile-client suite (`tests/hostile_*.rs`): a real private-inference
//! server on a bundled model whose service records every session error, sockets bound to
//! distinct loopback addresses (Linux routes all of 127/8 to `lo`), a client-side channel tap
//! that counts, records, cuts or corrupts the client's flights, and the process's resident
//! memory.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use circa_nn::net::{
    ClientConfig, Monitor, NetResult, PrivateInference, ServeReport, ServerConfig, Service,
    SessionChannel, Shutdown, serve_with,
};
use circa_nn::private::{Prime, PrivateParams, ServerSession};
use circa_nn::{Network, argmax, dataset, import_onnx};
use circa_ot::{Channel, ChannelStats, Error, Prg};

pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

pub fn model(name: &str) -> Arc<Network> {
    let bytes = std::fs::read(models_dir().join(name)).expect("bundled model");
    Arc::new(import_onnx(&bytes).expect("bundled model imports"))
}

pub fn test_images(n: usize) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(models_dir().join("data/digits_test.csv")).unwrap();
    let mut all = dataset::parse_labelled(&text, 64, 10).unwrap();
    all.truncate(n);
    all.into_iter().map(|(_, x)| x).collect()
}

/// The parameters served: Circa ReLU (k = 12, PosZero), p41, f = 10.
pub fn circa() -> PrivateParams {
    PrivateParams::circa(Prime::P41, 10, 12, circa_relu::TieMode::PosZero)
}

/// Test server settings: `max_sessions` slots, `handshake` for the greeting and setup, 5 s for
/// every other deadline, no log.
pub fn server_config(max_sessions: usize, handshake: Duration) -> ServerConfig {
    ServerConfig {
        max_sessions,
        handshake_timeout: handshake,
        read_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(5),
        flight_timeout: Duration::from_secs(5),
        log: false,
        ..ServerConfig::default()
    }
}

/// Waits until `monitor` shows no session and no connection in admission; the time it took,
/// or `None` after `within`.
pub fn wait_idle(monitor: &Monitor, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if monitor.sessions() == 0 && monitor.pending() == 0 {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// Resident set size of this process, in bytes (`None` where /proc is not available).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A TCP connection to `to` from the loopback address `127.0.0.<last>` (a distinct client).
pub fn connect_from(last: u8, to: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, last], 0))))?;
    socket.connect_timeout(&SockAddr::from(to), Duration::from_secs(5))?;
    Ok(socket.into())
}

/// The private-inference service, recording the `Debug` form of every session error.
pub struct Recorded {
    inner: PrivateInference,
    pub errors: Mutex<Vec<String>>,
}

impl Recorded {
    fn record<T>(&self, r: NetResult<T>) -> NetResult<T> {
        if let Err(e) = &r {
            self.errors.lock().unwrap().push(format!("{e:?}"));
        }
        r
    }

    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

impl Service for Recorded {
    type Session = ServerSession;

    fn handshake(&self, ch: &mut SessionChannel, rng: Prg) -> NetResult<ServerSession> {
        self.record(self.inner.handshake(ch, rng))
    }

    fn serve(&self, session: ServerSession, ch: &mut SessionChannel) -> NetResult<u64> {
        self.record(self.inner.serve(session, ch))
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub monitor: Monitor,
    pub service: Arc<Recorded>,
    pub network: Arc<Network>,
    pub params: PrivateParams,
    shutdown: Shutdown,
    handle: JoinHandle<NetResult<ServeReport>>,
}

/// Starts a server for `network` under `params` with `config` (its shutdown flag and monitor
/// are replaced by the server's own).
pub fn start(network: Arc<Network>, params: PrivateParams, config: ServerConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let monitor = Monitor::new();
    let config = ServerConfig {
        shutdown: shutdown.clone(),
        monitor: monitor.clone(),
        ..config
    };
    let service = Arc::new(Recorded {
        inner: PrivateInference::new(&network, params).expect("servable model"),
        errors: Mutex::new(Vec::new()),
    });
    let handle = {
        let service = Arc::clone(&service);
        std::thread::spawn(move || serve_with(listener, service, config))
    };
    Server {
        addr,
        monitor,
        service,
        network,
        params,
        shutdown,
        handle,
    }
}

impl Server {
    /// [`wait_idle`] on this server.
    pub fn wait_idle(&self, within: Duration) -> Option<Duration> {
        wait_idle(&self.monitor, within)
    }

    /// One honest session: `images` inferences, each prediction against the plaintext
    /// reference. Panics on any failure.
    pub fn honest(&self, images: &[Vec<f64>]) {
        let mut client =
            circa_nn::net::Client::connect(self.addr, &client_config()).expect("honest connect");
        for image in images {
            let (logits, _) = client.infer(image).expect("honest inference");
            let plain = circa_nn::infer(&self.network, image).unwrap();
            assert_eq!(argmax(&logits), argmax(&plain), "honest prediction");
        }
        client.close().expect("honest close");
    }

    pub fn stop(self) -> ServeReport {
        self.shutdown.trigger();
        self.handle.join().expect("server thread").expect("server")
    }
}

pub fn client_config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        write_timeout: Duration::from_secs(10),
        flight_timeout: Duration::from_secs(20),
        ..ClientConfig::default()
    }
}

/// What the tap does to the client's outbound flights (counted from 0, after the greeting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Nothing (records the flights).
    None,
    /// Sends the first `offset` bytes of flight `flight`, then shuts the socket down.
    Cut { flight: usize, offset: usize },
    /// Overwrites the bytes of flight `flight` from `offset` with `bytes`.
    Overwrite {
        flight: usize,
        offset: usize,
        bytes: Vec<u8>,
    },
    /// Sends flight `flight` one byte at a time, `pause` apart.
    Trickle { flight: usize, pause: Duration },
}

/// A client-side channel that counts its outbound flights (consecutive sends with no receive
/// in between), records what it sends, and applies one [`Fault`].
pub struct Tap {
    pub ch: SessionChannel,
    fault: Fault,
    sending: bool,
    /// Bytes of each outbound flight so far.
    pub flights: Vec<usize>,
    /// Everything sent (when recording).
    pub sent: Vec<u8>,
    record: bool,
    cut: bool,
}

impl Tap {
    pub fn new(ch: SessionChannel, fault: Fault, record: bool) -> Self {
        Self {
            ch,
            fault,
            sending: false,
            flights: Vec::new(),
            sent: Vec::new(),
            record,
            cut: false,
        }
    }

    pub fn was_cut(&self) -> bool {
        self.cut
    }
}

impl Channel for Tap {
    fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.cut {
            return Err(Error::Closed);
        }
        if data.is_empty() {
            return Ok(());
        }
        if !self.sending {
            self.sending = true;
            self.flights.push(0);
        }
        let flight = self.flights.len() - 1;
        let start = self.flights[flight];
        let mut data = data.to_vec();
        match &self.fault {
            Fault::Cut { flight: f, offset } if *f == flight && start + data.len() > *offset => {
                let keep = offset - start;
                self.ch.send(&data[..keep])?;
                self.ch.flush()?;
                let _ = self.ch.tcp().stream().shutdown(std::net::Shutdown::Both);
                self.cut = true;
                return Err(Error::Closed);
            }
            Fault::Overwrite {
                flight: f,
                offset,
                bytes,
            } if *f == flight => {
                for (i, b) in data.iter_mut().enumerate() {
                    let at = start + i;
                    if at >= *offset && at < offset + bytes.len() {
                        *b = bytes[at - offset];
                    }
                }
            }
            Fault::Trickle { flight: f, pause } if *f == flight => {
                let pause = *pause;
                for b in &data {
                    self.ch.send(&[*b])?;
                    self.ch.flush()?;
                    self.flights[flight] += 1;
                    std::thread::sleep(pause);
                }
                return Ok(());
            }
            _ => {}
        }
        self.ch.send(&data)?;
        self.flights[flight] += data.len();
        if self.record {
            self.sent.extend_from_slice(&data);
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        if self.cut {
            return Err(Error::Closed);
        }
        self.sending = false;
        self.ch.recv(buf)
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.cut {
            return Err(Error::Closed);
        }
        self.ch.flush()
    }

    fn stats(&self) -> ChannelStats {
        self.ch.stats()
    }
}

/// A whole private session through a [`Tap`] with `fault`: handshake, one inference on
/// `image`, close. Returns the tap and the session's result.
pub fn tapped_session(
    addr: SocketAddr,
    fault: Fault,
    record: bool,
    image: &[f64],
) -> (Tap, Result<Vec<f64>, String>) {
    let ch = circa_nn::net::connect_channel(addr, &client_config()).expect("connect");
    let mut tap = Tap::new(ch, fault, record);
    let mut rng = circa_nn::net::session_rng().unwrap();
    let result = (|| -> Result<Vec<f64>, circa_nn::private::PrivateError> {
        let mut session = circa_nn::private::ClientSession::handshake(&mut tap, &mut rng)?;
        let pre = session.offline(&mut tap)?;
        let logits = session.online(&mut tap, pre, image)?;
        session.close(&mut tap)?;
        Ok(logits)
    })();
    (tap, result.map_err(|e| format!("{e:?}")))
}
