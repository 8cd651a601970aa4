//! The client's side of the connection: connect (with a deadline), greetings, limits.

use std::fmt::Display;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use circa_ot::{Channel, TcpChannel};

use super::channel::SessionChannel;
use super::config::ClientConfig;
use super::error::{NetError, NetResult};
use super::hello::{SERVER_HELLO_LEN, Status, client_hello, parse_server_hello};

/// Connects to `addr` within `timeout` per resolved address; errors name `addr`.
fn connect_stream<A: ToSocketAddrs + Display>(addr: &A, timeout: Duration) -> NetResult<TcpStream> {
    let named = |source| NetError::Connect {
        addr: addr.to_string(),
        source,
    };
    let mut last = None;
    for resolved in addr.to_socket_addrs().map_err(named)? {
        match TcpStream::connect_timeout(&resolved, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(named(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    })))
}

/// Connects to a `circa` server (within `config.connect_timeout`), applies the deadlines and
/// the message limit of `config`, and exchanges the greetings (the client speaks first).
/// Returns [`NetError::ServerBusy`] (or [`NetError::ServerShuttingDown`],
/// [`NetError::HandshakeTimedOut`]) when the server refuses the session.
pub fn connect_channel<A: ToSocketAddrs + Display>(
    addr: A,
    config: &ClientConfig,
) -> NetResult<SessionChannel> {
    config.validate()?;
    let stream = connect_stream(&addr, config.connect_timeout)?;
    let tcp = TcpChannel::with_timeouts(
        stream,
        Some(config.read_timeout),
        Some(config.write_timeout),
    )?;
    let mut ch = SessionChannel::new(tcp, config.deadlines(), config.max_message);
    ch.send(&client_hello())?;
    ch.flush()?;
    let mut hello = [0u8; SERVER_HELLO_LEN];
    ch.recv(&mut hello)?;
    match parse_server_hello(&hello)? {
        Status::Ready => Ok(ch),
        Status::Busy => Err(NetError::ServerBusy),
        Status::ShuttingDown => Err(NetError::ServerShuttingDown),
        Status::TimedOut => Err(NetError::HandshakeTimedOut),
        // Only sent with another version, which `parse_server_hello` reports; a server of
        // this version saying so contradicts itself.
        Status::UnsupportedVersion => Err(NetError::UnknownStatus {
            status: hello[SERVER_HELLO_LEN - 1],
        }),
    }
}
