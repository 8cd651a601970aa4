//! The client's side of the connection: connect, deadlines, limits, greetings.

use std::net::{TcpStream, ToSocketAddrs};

use circa_ot::{Channel, TcpChannel};

use super::config::ClientConfig;
use super::error::{NetError, NetResult};
use super::hello::{SERVER_HELLO_LEN, Status, client_hello, parse_server_hello};
use super::limited::LimitedChannel;
use super::server::SessionChannel;

/// Connects to a `circa` server, applies the deadlines and the message limit of `config`,
/// and exchanges the greetings. Returns [`NetError::ServerBusy`] (or
/// [`NetError::ServerShuttingDown`]) when the server refuses the session.
pub fn connect_channel<A: ToSocketAddrs>(
    addr: A,
    config: &ClientConfig,
) -> NetResult<SessionChannel> {
    if config.read_timeout.is_zero() || config.write_timeout.is_zero() {
        return Err(NetError::InvalidConfig {
            what: "read and write timeouts must be positive",
        });
    }
    let stream = TcpStream::connect(addr)?;
    let ch = TcpChannel::with_timeouts(
        stream,
        Some(config.read_timeout),
        Some(config.write_timeout),
    )?;
    let mut ch = LimitedChannel::new(ch, config.max_message);
    let mut hello = [0u8; SERVER_HELLO_LEN];
    ch.recv(&mut hello)?;
    match parse_server_hello(&hello)? {
        Status::Ready => {}
        Status::Busy => return Err(NetError::ServerBusy),
        Status::ShuttingDown => return Err(NetError::ServerShuttingDown),
    }
    ch.send(&client_hello())?;
    ch.flush()?;
    Ok(ch)
}
