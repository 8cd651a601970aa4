//! The greeting exchanged before a session: pure encoding and checking, no I/O.
//!
//! On a new connection the server speaks first with [`ServerHello`]: the 8-byte magic
//! `CIRCA-NN`, the protocol version and a status byte. A busy or stopping server sends its
//! status and closes; the client then sends nothing. When the status is [`Status::Ready`] the
//! client answers with [`CLIENT_HELLO_LEN`] bytes (magic and version) and the private inference
//! session (architecture, parameters, setup, inferences) follows. A peer that is not a
//! `circa` peer is detected from its first nine bytes.

use super::error::{NetError, NetResult};

/// The first bytes either side sends.
pub const MAGIC: [u8; 8] = *b"CIRCA-NN";
/// The version of the framing and session protocol spoken here.
pub const PROTOCOL_VERSION: u8 = 2;
/// Length of the server's greeting: magic, version, status.
pub const SERVER_HELLO_LEN: usize = MAGIC.len() + 2;
/// Length of the client's greeting: magic, version.
pub const CLIENT_HELLO_LEN: usize = MAGIC.len() + 1;

/// What the server says about the connection it has just accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A session slot is reserved for this client; the session follows.
    Ready,
    /// All session slots are taken; the server closes the connection.
    Busy,
    /// The server is stopping; it closes the connection.
    ShuttingDown,
}

impl Status {
    fn code(self) -> u8 {
        match self {
            Status::Ready => 0,
            Status::Busy => 1,
            Status::ShuttingDown => 2,
        }
    }

    fn from_code(code: u8) -> NetResult<Self> {
        match code {
            0 => Ok(Status::Ready),
            1 => Ok(Status::Busy),
            2 => Ok(Status::ShuttingDown),
            status => Err(NetError::UnknownStatus { status }),
        }
    }
}

fn check_prefix(bytes: &[u8]) -> NetResult<()> {
    if bytes[..MAGIC.len()] != MAGIC {
        return Err(NetError::BadMagic);
    }
    let version = bytes[MAGIC.len()];
    if version != PROTOCOL_VERSION {
        return Err(NetError::UnsupportedVersion {
            expected: PROTOCOL_VERSION,
            actual: version,
        });
    }
    Ok(())
}

/// The server's greeting with status `status`.
pub fn server_hello(status: Status) -> [u8; SERVER_HELLO_LEN] {
    let mut out = [0u8; SERVER_HELLO_LEN];
    out[..MAGIC.len()].copy_from_slice(&MAGIC);
    out[MAGIC.len()] = PROTOCOL_VERSION;
    out[MAGIC.len() + 1] = status.code();
    out
}

/// Checks a server greeting and returns its status.
pub fn parse_server_hello(bytes: &[u8; SERVER_HELLO_LEN]) -> NetResult<Status> {
    check_prefix(bytes)?;
    Status::from_code(bytes[MAGIC.len() + 1])
}

/// The client's greeting.
pub fn client_hello() -> [u8; CLIENT_HELLO_LEN] {
    let mut out = [0u8; CLIENT_HELLO_LEN];
    out[..MAGIC.len()].copy_from_slice(&MAGIC);
    out[MAGIC.len()] = PROTOCOL_VERSION;
    out
}

/// Checks a client greeting.
pub fn parse_client_hello(bytes: &[u8; CLIENT_HELLO_LEN]) -> NetResult<()> {
    check_prefix(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        for s in [Status::Ready, Status::Busy, Status::ShuttingDown] {
            assert_eq!(parse_server_hello(&server_hello(s)).ok(), Some(s));
        }
        assert!(parse_client_hello(&client_hello()).is_ok());

        let mut bad = client_hello();
        bad[0] ^= 1;
        assert!(matches!(parse_client_hello(&bad), Err(NetError::BadMagic)));
        let mut old = client_hello();
        old[MAGIC.len()] = 0;
        assert!(matches!(
            parse_client_hello(&old),
            Err(NetError::UnsupportedVersion {
                expected: PROTOCOL_VERSION,
                actual: 0
            })
        ));
        let mut unknown = server_hello(Status::Ready);
        unknown[SERVER_HELLO_LEN - 1] = 9;
        assert!(matches!(
            parse_server_hello(&unknown),
            Err(NetError::UnknownStatus { status: 9 })
        ));
    }
}
