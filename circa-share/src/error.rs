//! The crate's error type.

/// Everything that can go wrong in `circa-share`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field element encoding holds a value `>= P`.
    #[error("non-canonical field element {value} (modulus {modulus})")]
    NonCanonical {
        /// The value read.
        value: u64,
        /// The modulus.
        modulus: u64,
    },
    /// A signed integer lies outside the centred range `[-(P-1)/2, (P-1)/2]`.
    #[error("signed value {value} outside the centred range of modulus {modulus}")]
    SignedOutOfRange {
        /// The value.
        value: i64,
        /// The modulus.
        modulus: u64,
    },
    /// A weight given to the linear-layer correlation does not fit its
    /// declared width (the error names its position, never its secret value).
    #[error("weight at index {index} does not fit in {weight_bits} signed bits")]
    WeightOutOfRange {
        /// Position of the first offending weight.
        index: usize,
        /// The declared width.
        weight_bits: u32,
    },
    /// Two lengths that must agree do not.
    #[error("length mismatch: expected {expected}, got {actual}")]
    LengthMismatch {
        /// The length required.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// A real number is NaN or infinite.
    #[error("fixed-point encoding of a non-finite value")]
    NotFinite,
    /// A real number does not fit the field at the given scale.
    #[error("{value} does not fit in the field with {frac_bits} fractional bits")]
    FixedPointOverflow {
        /// The value.
        value: f64,
        /// Fractional bits.
        frac_bits: u32,
    },
    /// A fixed-point parameter is unusable (fractional bits too large for the field).
    #[error("{frac_bits} fractional bits is too many for a {field_bits}-bit field")]
    FracBitsTooLarge {
        /// Fractional bits requested.
        frac_bits: u32,
        /// Bits of the modulus.
        field_bits: u32,
    },
    /// A layer shape has a zero dimension, zero stride or zero groups.
    #[error("layer shape has a zero {dimension}")]
    ZeroDimension {
        /// Which dimension is zero.
        dimension: &'static str,
    },
    /// Channels are not divisible by the number of groups.
    #[error("{channels} channels are not divisible into {groups} groups")]
    GroupsMismatch {
        /// The channel count.
        channels: usize,
        /// The group count.
        groups: usize,
    },
    /// The (padded) input is smaller than the kernel.
    #[error("kernel {kernel} larger than padded input {padded_input}")]
    KernelTooLarge {
        /// Kernel extent.
        kernel: usize,
        /// Padded input extent.
        padded_input: usize,
    },
    /// A shape's element count overflows `usize`.
    #[error("shape too large")]
    ShapeOverflow,
    /// A request exceeds a configured limit (checked before allocating).
    #[error("{what}: {requested} exceeds the limit {limit}")]
    LimitExceeded {
        /// What was limited.
        what: &'static str,
        /// The amount requested.
        requested: u64,
        /// The limit.
        limit: u64,
    },
    /// No HE packing of a layer keeps decryption correct with the required
    /// statistical slack for the weights (the layer needs a larger
    /// parameter set, or the OT correlation).
    #[error(
        "layer too large for the HE parameters: at most {stat_bits} bits of statistical slack, {required} required"
    )]
    HeLayerTooLarge {
        /// Best slack any packing reaches (bits).
        stat_bits: u32,
        /// Slack required (bits).
        required: u32,
    },
    /// An HE message does not have the exact size the public plan gives.
    #[error("HE {what}: expected {expected} bytes, got {actual}")]
    HeMessageSize {
        /// Which message.
        what: &'static str,
        /// Size from the public parameters.
        expected: usize,
        /// Size received.
        actual: usize,
    },
    /// An HE message header (or a plan) is for other parameters.
    #[error("HE {what}: {field} is {actual}, expected {expected}")]
    HeHeader {
        /// Which message.
        what: &'static str,
        /// Which field.
        field: &'static str,
        /// Value the public parameters give.
        expected: u64,
        /// Value received.
        actual: u64,
    },
    /// A coefficient of an HE message is not reduced, or padding bits are set.
    #[error("HE {what}: value {index} not canonical")]
    HeNonCanonical {
        /// Which message.
        what: &'static str,
        /// Position of the value (the count for padding).
        index: usize,
    },
    /// The channel or the OT extension failed (peer closed, timeout, short message, ...).
    #[error("channel or OT error: {0}")]
    Ot(#[from] circa_ot::Error),
}
