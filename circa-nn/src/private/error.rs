//! The error type of private inference.

use thiserror::Error;

/// Everything that can go wrong in a private-inference session. Every variant caused by the
/// peer (a wrong tag, a count that disagrees with the architecture, a malformed field element,
/// a closed or stalled channel) ends the session with an error, never a panic.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PrivateError {
    /// The network, the architecture or the fixed-point encoding was rejected.
    #[error(transparent)]
    Network(#[from] crate::NnError),
    /// The channel or the OT extension failed (peer closed, timeout, short message, ...).
    #[error("channel or OT error: {0}")]
    Channel(#[from] circa_ot::Error),
    /// The ReLU protocol failed.
    #[error("ReLU protocol: {0}")]
    Relu(#[from] circa_relu::Error),
    /// Field arithmetic or share handling failed (e.g. a non-canonical field element).
    #[error("share arithmetic: {0}")]
    Share(#[from] circa_share::Error),
    /// The peer sent a message with an unexpected tag.
    #[error("unexpected message tag {actual} (expected {expected})")]
    UnexpectedTag {
        /// The tag this party expected.
        expected: u8,
        /// The tag received.
        actual: u8,
    },
    /// The peer's parameters (or their encoding) are invalid.
    #[error("invalid parameters: {reason}")]
    InvalidParams {
        /// What is wrong.
        reason: &'static str,
    },
    /// The weights are too wide for the OT correlation in this field at this fixed-point scale
    /// (they encode, but `bits` exceeds `max_bits`): names the layer of the widest weight.
    #[error(
        "layer {layer} ({name:?}): weight {value} needs {bits} bits at this fixed-point scale, \
         more than the {max_bits} the field allows"
    )]
    WeightsTooWide {
        /// Layer index of the widest weight.
        layer: usize,
        /// Its name.
        name: String,
        /// The weight.
        value: f64,
        /// The signed bit width of the encoded weights.
        bits: u32,
        /// The largest width allowed.
        max_bits: u32,
    },
    /// Two lengths that must agree do not (e.g. the client's input against the architecture).
    #[error("{what}: expected {expected}, got {actual}")]
    LengthMismatch {
        /// What was measured.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// The network cannot be evaluated privately (e.g. a ReLU or max pool whose input the
    /// protocol cannot represent).
    #[error("layer {layer}: {reason}")]
    Unsupported {
        /// Layer index.
        layer: usize,
        /// Why.
        reason: &'static str,
    },
    /// Preprocessed material does not match the session (wrong prime, or exhausted).
    #[error("preprocessed material does not match this session: {what}")]
    Preprocessing {
        /// What is wrong.
        what: &'static str,
    },
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, PrivateError>;
