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
}
