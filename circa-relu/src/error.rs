//! The error type of `circa-relu`.
//!
//! Two helpers write this crate: append new variants at the END of the enum only.

/// Everything that can go wrong in `circa-relu`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A channel or OT failure.
    #[error(transparent)]
    Ot(#[from] circa_ot::Error),
    /// A garbling failure.
    #[error(transparent)]
    Gc(#[from] circa_gc::Error),
    /// A field or share failure.
    #[error(transparent)]
    Share(#[from] circa_share::Error),
    /// The parameters are inconsistent (for example `k` leaves no comparator bits).
    #[error("invalid ReLU parameters: {reason}")]
    InvalidParams {
        /// What is wrong, as a fixed description.
        reason: &'static str,
    },
    /// A batch or message length differs from the agreed one.
    #[error("length mismatch in {what}: expected {expected}, got {actual}")]
    LengthMismatch {
        /// Which length.
        what: &'static str,
        /// The agreed length.
        expected: usize,
        /// The length found.
        actual: usize,
    },
    /// The peer uses different parameters.
    #[error("the peer's ReLU parameters differ from ours")]
    ParamsMismatch,
    /// The Beaver product path needs triples: use `offline_with_triples`.
    #[error("the Beaver product path needs a triple source (use offline_with_triples)")]
    TriplesRequired,
    /// A batch larger than the protocol accepts.
    #[error("batch of {len} ReLUs exceeds the limit of {max}")]
    BatchTooLarge {
        /// The batch size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The session has preprocessed as many ReLUs as its tweak space allows.
    #[error("the ReLU session is exhausted; start a new one")]
    SessionExhausted,
    /// The session object is in an unusable state.
    #[error("ReLU session state error: {what}")]
    SessionState {
        /// What is wrong.
        what: &'static str,
    },
    /// The online phase was run on preprocessed material of a different batch than the peer's.
    #[error("preprocessed batch mismatch: ours starts at ReLU {expected}, the peer's at {actual}")]
    BatchIdMismatch {
        /// Our batch id (index of its first ReLU in the session).
        expected: u64,
        /// The peer's.
        actual: u64,
    },
    /// A message from the peer is malformed.
    #[error("malformed message: {what}")]
    MalformedMessage {
        /// What is wrong.
        what: &'static str,
    },
}

/// `Ok` when a length agrees with the required one, else [`Error::LengthMismatch`].
pub(crate) fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<(), Error> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            what,
            expected,
            actual,
        })
    }
}
