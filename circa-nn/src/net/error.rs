//! The error type of the TCP server and client.

use crate::error::NnError;

/// Everything that can end a connection or a server: socket and channel failures, a peer that
/// does not speak the protocol, limits, and errors of the network model or the private
/// inference engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A socket operation (bind, accept, options) failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The client could not connect (or resolve the address) within its connect deadline.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address, as given.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The byte channel failed: the peer closed it, a deadline passed, or a message exceeded
    /// the size limit (nothing was allocated for it).
    #[error("channel: {0}")]
    Channel(#[from] circa_ot::Error),
    /// The model, the architecture or an input was rejected.
    #[error("model: {0}")]
    Model(#[from] NnError),
    /// The peer's greeting does not start with the protocol magic (it is not a `circa` peer).
    #[error("the peer is not speaking the circa protocol (bad magic)")]
    BadMagic,
    /// The peer speaks another version of the protocol.
    #[error("protocol version {actual} is not supported (this side speaks {expected})")]
    UnsupportedVersion {
        /// The version this side speaks.
        expected: u8,
        /// The version the peer announced.
        actual: u8,
    },
    /// The server refused the connection because it already serves its maximum number of
    /// concurrent sessions.
    #[error("the server is busy (too many concurrent sessions); try again later")]
    ServerBusy,
    /// The server is shutting down and refused the connection.
    #[error("the server is shutting down")]
    ServerShuttingDown,
    /// The server's handshake deadline passed before this client's greeting arrived.
    #[error("the server's handshake deadline passed before the greeting arrived")]
    HandshakeTimedOut,
    /// The server's greeting carried a status byte this client does not know.
    #[error("unknown server status {status}")]
    UnknownStatus {
        /// The status byte.
        status: u8,
    },
    /// The private inference session failed (the peer broke the protocol, a count disagreed
    /// with the architecture, the channel failed inside the session, ...).
    #[error("private inference: {0}")]
    Private(#[from] crate::private::PrivateError),
    /// The operating system's random number source failed.
    #[error("the operating system's random source failed")]
    Entropy,
    /// A configuration value is out of range (e.g. zero sessions, a timeout over a week).
    #[error("invalid configuration: {what}")]
    InvalidConfig {
        /// What is wrong.
        what: &'static str,
    },
}

/// Result alias for the `net` module.
pub type NetResult<T> = std::result::Result<T, NetError>;
