//! The error type of `circa-ot`.

/// Everything that can go wrong in `circa-ot`: channel failures, malformed or
/// inconsistent peer messages, and misuse of protocol state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error other than a closed connection or a timeout.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection (or dropped its end of an in-memory channel).
    #[error("the peer closed the channel")]
    Closed,
    /// A read or write deadline passed.
    #[error("the channel timed out")]
    Timeout,
    /// A length prefix from the peer exceeds the caller's limit; nothing was allocated.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    MessageTooLarge {
        /// The length the peer announced.
        len: u64,
        /// The limit in force.
        max: u64,
    },
    /// A length differs from the one agreed or required.
    #[error("length mismatch: expected {expected}, got {actual}")]
    LengthMismatch {
        /// The required length.
        expected: usize,
        /// The length found.
        actual: usize,
    },
    /// The peer sent bytes that are not the canonical encoding of a Ristretto point.
    #[error("invalid point encoding at index {index}")]
    InvalidPoint {
        /// Which point (OT index) was malformed.
        index: usize,
    },
    /// The peer sent the identity point.
    #[error("identity point at index {index}")]
    IdentityPoint {
        /// Which point (OT index) was the identity.
        index: usize,
    },
    /// The peer announced a different number of OTs than this party asked for.
    #[error("OT count mismatch: expected {expected}, peer announced {actual}")]
    CountMismatch {
        /// The count this party expected.
        expected: u64,
        /// The count the peer announced.
        actual: u64,
    },
    /// More OTs were requested than the extension may produce in one session.
    #[error("{requested} OTs requested, more than the session limit of {max}")]
    TooManyOts {
        /// OTs requested (cumulative).
        requested: u64,
        /// The limit.
        max: u64,
    },
    /// A protocol state was used after it was consumed or after a previous failure.
    #[error("protocol state already consumed or poisoned by an earlier error")]
    StateConsumed,
}

impl Error {
    /// Maps an I/O error to the variant that says what happened to the connection.
    pub(crate) fn from_io(e: std::io::Error) -> Error {
        use std::io::ErrorKind::*;
        match e.kind() {
            UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected => {
                Error::Closed
            }
            WouldBlock | TimedOut => Error::Timeout,
            _ => Error::Io(e),
        }
    }
}
