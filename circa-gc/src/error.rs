//! The crate's error type.

use thiserror::Error;

/// What went wrong while reading a Bristol Fashion file (wrapped in [`Error::Bristol`] with the line).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BristolError {
    /// The file ended before the header or all declared gates were read.
    #[error("unexpected end of file")]
    UnexpectedEof,
    /// A token is not a non-negative decimal number that fits in 64 bits.
    #[error("token {index} is not a valid number")]
    InvalidNumber {
        /// Zero-based position of the token on its line.
        index: usize,
    },
    /// A line has the wrong number of tokens.
    #[error("expected {expected} tokens, found {actual}")]
    WrongTokenCount {
        /// Tokens expected on this line.
        expected: usize,
        /// Tokens found.
        actual: usize,
    },
    /// The gate name is not one of XOR, AND, INV, NOT, EQ, EQW, MAND.
    #[error("unknown gate type")]
    UnknownGate,
    /// The gate name is known but its input/output arity is not the one it requires.
    #[error("gate has {inputs} inputs and {outputs} outputs, which its type does not allow")]
    BadArity {
        /// Declared number of input wires.
        inputs: u64,
        /// Declared number of output wires.
        outputs: u64,
    },
    /// A header value exceeds the reader's limit (checked before allocating).
    #[error("{field} = {value} exceeds the limit {max}")]
    HeaderTooLarge {
        /// Which header field.
        field: &'static str,
        /// The declared value.
        value: u64,
        /// The limit in force.
        max: u64,
    },
    /// Only one (garbler) or two (garbler, evaluator) input groups are supported.
    #[error("{count} input groups declared; 1 or 2 are supported")]
    UnsupportedInputGroups {
        /// The declared number of input groups.
        count: u64,
    },
    /// A wire id is at or above the declared wire count.
    #[error("wire {wire} out of range (header declares {num_wires} wires)")]
    WireOutOfRange {
        /// The offending wire.
        wire: u64,
        /// The declared wire count.
        num_wires: u64,
    },
    /// A gate reads (or an output names) a wire that no input or earlier gate defines.
    #[error("wire {wire} used before it is defined")]
    WireUndefined {
        /// The offending wire.
        wire: u64,
    },
    /// A gate writes a wire that is already defined.
    #[error("wire {wire} written twice")]
    WireWrittenTwice {
        /// The offending wire.
        wire: u64,
    },
    /// The header declares more input or output bits than wires.
    #[error("header declares {bits} {what} bits but only {num_wires} wires")]
    TooManyBits {
        /// "input" or "output".
        what: &'static str,
        /// Declared bits.
        bits: u64,
        /// Declared wires.
        num_wires: u64,
    },
    /// Non-blank content follows the last declared gate.
    #[error("content after the last declared gate")]
    TrailingContent,
    /// A line is longer than [`crate::bristol::MAX_LINE_BYTES`].
    #[error("line longer than {max} bytes")]
    LineTooLong {
        /// The limit.
        max: usize,
    },
    /// A line is not valid UTF-8 text.
    #[error("line is not UTF-8 text")]
    NotUtf8,
    /// `EQ` (assign a constant) is only supported when the circuit has at least one input wire.
    #[error("EQ gate in a circuit without inputs")]
    ConstantWithoutInputs,
}

/// Errors of the circa-gc crate.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A gate references a wire id at or above the circuit's wire count.
    #[error("gate {gate}: wire {wire} out of range (circuit has {num_wires} wires)")]
    WireOutOfRange {
        /// Gate index.
        gate: usize,
        /// The offending wire.
        wire: u32,
        /// Number of wires in the circuit.
        num_wires: usize,
    },
    /// A gate reads a wire that has not been defined by an input or an earlier gate.
    #[error("gate {gate}: wire {wire} read before it is defined")]
    WireUndefined {
        /// Gate index.
        gate: usize,
        /// The offending wire.
        wire: u32,
    },
    /// A gate writes a wire that is already defined.
    #[error("gate {gate}: wire {wire} written twice")]
    WireWrittenTwice {
        /// Gate index.
        gate: usize,
        /// The offending wire.
        wire: u32,
    },
    /// An output references a wire out of range or never defined.
    #[error("output {index}: wire {wire} is not a defined wire")]
    OutputUndefined {
        /// Output position.
        index: usize,
        /// The offending wire.
        wire: u32,
    },
    /// A circuit would need more wires than the `u32` id space allows.
    #[error("circuit needs {count} wires; at most {max} are supported")]
    TooManyWires {
        /// Requested wire count.
        count: u64,
        /// Maximum.
        max: u64,
    },
    /// A length does not match what the circuit or protocol requires.
    #[error("{what}: expected length {expected}, got {actual}")]
    LengthMismatch {
        /// What was being checked.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// Two words given to a gadget have different widths.
    #[error("word widths differ: {left} and {right}")]
    WidthMismatch {
        /// Width of the first word.
        left: usize,
        /// Width of the second word.
        right: usize,
    },
    /// A builder wire handle did not come from this builder (id beyond its wires).
    #[error("wire {wire} does not belong to this builder")]
    ForeignWire {
        /// The offending wire id.
        wire: u32,
    },
    /// A circuit with no input wires cannot output a constant (no wire to derive it from).
    #[error("constant output in a circuit without inputs")]
    ConstantWithoutInputs,
    /// A Bristol Fashion file is malformed.
    #[error("Bristol line {line}: {reason}")]
    Bristol {
        /// One-based line number.
        line: usize,
        /// What is wrong with it.
        reason: BristolError,
    },
    /// A hex string is malformed or has the wrong length.
    #[error("hex input: expected {expected_digits} hex digits, got {actual_digits}")]
    HexLength {
        /// Digits required.
        expected_digits: usize,
        /// Digits given.
        actual_digits: usize,
    },
    /// A hex string has a character that is not a hex digit.
    #[error("hex input: character {position} is not a hex digit")]
    InvalidHex {
        /// Zero-based position.
        position: usize,
    },
    /// A hex string encodes a value with bits set beyond the declared width.
    #[error("hex input: value does not fit in {bits} bits")]
    HexTooWide {
        /// The width.
        bits: usize,
    },
    /// A [`crate::Delta`] must have least significant bit 1.
    #[error("a Delta must have lsb 1")]
    DeltaLsbZero,
    /// The session's tweak space (2^64) is exhausted.
    #[error("tweak space exhausted")]
    TweaksExhausted,
    /// The garbled stream ended before all tables of the circuit arrived.
    #[error("garbled stream truncated: expected {expected} AND tables, got {actual}")]
    TruncatedStream {
        /// Tables expected.
        expected: u64,
        /// Tables received.
        actual: u64,
    },
    /// More garbled tables were supplied than the circuit has AND gates.
    #[error("garbled stream too long: circuit has {expected} AND tables")]
    TooManyTables {
        /// Tables expected.
        expected: u64,
    },
    /// A garbled table chunk is not a whole number of tables (2 blocks each).
    #[error("garbled chunk of {blocks} blocks is not a whole number of tables")]
    PartialTable {
        /// Number of blocks supplied.
        blocks: usize,
    },
    /// The garbler was asked to finish before producing all tables.
    #[error("garbling not finished")]
    NotFinished,
    /// An output label returned by the evaluator is neither valid label of its wire.
    #[error("output {index}: label is invalid")]
    InvalidOutputLabel {
        /// Output position.
        index: usize,
    },
    /// The peer runs a different circuit.
    #[error("peer's circuit differs: {field} is {peer}, ours is {ours}")]
    CircuitMismatch {
        /// Which property differs.
        field: &'static str,
        /// Our value.
        ours: u64,
        /// The peer's value.
        peer: u64,
    },
    /// The peer sent a malformed protocol message.
    #[error("malformed message from peer: {what}")]
    Malformed {
        /// What was malformed.
        what: &'static str,
    },
    /// File I/O failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// OT or channel failure.
    #[error("OT/channel: {0}")]
    Ot(#[from] circa_ot::Error),
}
