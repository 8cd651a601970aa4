//! The greeting exchanged before a session: pure encoding and checking, no I/O.
//!
//! On a new connection the client speaks first with [`client_hello`]: the 8-byte magic
//! `CIRCA-NN` and the protocol version ([`CLIENT_HELLO_LEN`] bytes). The server answers with
//! [`server_hello`]: magic, version and a [`Status`]. Only a client whose greeting is complete
//! and valid is considered for a session slot, so a connection that says nothing (or trickles)
//! never holds one: it waits in the server's bounded admission stage until its handshake
//! deadline. When the status is [`Status::Ready`] the private inference session (parameters,
//! architecture, setup, inferences) follows; with any other status the server closes the
//! connection. A peer that is not a `circa` peer is detected from its first nine bytes.
//!
//! A server answers a greeting of another version with its own version (and
//! [`Status::UnsupportedVersion`]), so the client can tell which side is out of date. A client
//! of version 2 (where the server spoke first) waits for the server; the server answers it
//! after its handshake deadline, and the client then reports the version mismatch.

use super::error::{NetError, NetResult};

/// The first bytes either side sends.
pub const MAGIC: [u8; 8] = *b"CIRCA-NN";
/// The version of the framing and session protocol spoken here (3: the client greets first;
/// 4: the handshake carries the linear layers' OT/HE methods and the client's HE public keys;
/// 5: the plan lifts residual adds and fuses a ReLU's rescale into its sign test).
pub const PROTOCOL_VERSION: u8 = 5;
/// Length of the server's greeting: magic, version, status.
pub const SERVER_HELLO_LEN: usize = MAGIC.len() + 2;
/// Length of the client's greeting: magic, version.
pub const CLIENT_HELLO_LEN: usize = MAGIC.len() + 1;

/// What the server says about the connection whose greeting it has just read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A session slot is reserved for this client; the session follows.
    Ready,
    /// All session slots (or all admission places, or this address's share) are taken; the
    /// server closes the connection.
    Busy,
    /// The server is stopping; it closes the connection.
    ShuttingDown,
    /// The client's greeting did not arrive within the server's handshake deadline.
    TimedOut,
    /// The client's greeting announced another protocol version (the server's is in the
    /// greeting).
    UnsupportedVersion,
}

impl Status {
    fn code(self) -> u8 {
        match self {
            Status::Ready => 0,
            Status::Busy => 1,
            Status::ShuttingDown => 2,
            Status::TimedOut => 3,
            Status::UnsupportedVersion => 4,
        }
    }

    fn from_code(code: u8) -> NetResult<Self> {
        match code {
            0 => Ok(Status::Ready),
            1 => Ok(Status::Busy),
            2 => Ok(Status::ShuttingDown),
            3 => Ok(Status::TimedOut),
            4 => Ok(Status::UnsupportedVersion),
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

/// Checks a server greeting and returns its status (a server of another version is
/// [`NetError::UnsupportedVersion`], whatever its status).
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
        for s in [
            Status::Ready,
            Status::Busy,
            Status::ShuttingDown,
            Status::TimedOut,
            Status::UnsupportedVersion,
        ] {
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
        // A server of another version is reported as such, whatever its status.
        let mut newer = server_hello(Status::UnsupportedVersion);
        newer[MAGIC.len()] = PROTOCOL_VERSION + 1;
        assert!(matches!(
            parse_server_hello(&newer),
            Err(NetError::UnsupportedVersion { actual, .. }) if actual == PROTOCOL_VERSION + 1
        ));
    }
}
