//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong in `circa-nn`: decoding ONNX bytes, importing an ONNX graph,
/// decoding an [`Architecture`](crate::Architecture) received from a peer, validating a network,
/// and running inference.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum NnError {
    // ----- protobuf wire format -----
    /// The input ended in the middle of a field.
    #[error("protobuf: truncated input at byte {offset}")]
    Truncated {
        /// Byte offset (within the enclosing message) where more bytes were needed.
        offset: usize,
    },
    /// A varint was longer than 10 bytes or overflowed 64 bits.
    #[error("protobuf: malformed varint at byte {offset}")]
    MalformedVarint {
        /// Byte offset of the varint.
        offset: usize,
    },
    /// A field key used a wire type this decoder does not accept (groups, or values 6 and 7).
    #[error("protobuf: unsupported wire type {wire_type} at byte {offset}")]
    InvalidWireType {
        /// The wire type found.
        wire_type: u8,
        /// Byte offset of the field key.
        offset: usize,
    },
    /// A field key had field number 0 or above 2^29 - 1.
    #[error("protobuf: invalid field number {field} at byte {offset}")]
    InvalidFieldNumber {
        /// The field number found.
        field: u64,
        /// Byte offset of the field key.
        offset: usize,
    },
    /// A known field arrived with a wire type that does not match the schema.
    #[error("protobuf: field {field} of {message} has wire type {actual}, expected {expected}")]
    WireTypeMismatch {
        /// Message name, e.g. `"NodeProto"`.
        message: &'static str,
        /// Field number.
        field: u32,
        /// Expected wire type.
        expected: u8,
        /// Wire type found.
        actual: u8,
    },
    /// A string field was not valid UTF-8.
    #[error("protobuf: field {field} of {message} is not valid UTF-8")]
    InvalidUtf8 {
        /// Message name.
        message: &'static str,
        /// Field number.
        field: u32,
    },
    /// Messages were nested deeper than the limit.
    #[error("protobuf: messages nested deeper than {limit}")]
    NestingTooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// An input, a count or a size exceeded a configured limit.
    #[error("{what}: {value} exceeds the limit {limit}")]
    LimitExceeded {
        /// What was counted.
        what: &'static str,
        /// The value found (saturated at `u64::MAX`).
        value: u64,
        /// The limit.
        limit: u64,
    },

    // ----- ONNX semantics -----
    /// An ONNX tensor has a data type the importer does not support.
    #[error("tensor {tensor:?}: unsupported ONNX data type {data_type} ({type_name})")]
    UnsupportedDataType {
        /// Tensor name.
        tensor: String,
        /// The ONNX `TensorProto.DataType` code.
        data_type: i32,
        /// Its ONNX name (e.g. `"DOUBLE"`).
        type_name: &'static str,
    },
    /// An ONNX tensor's data does not match its dims (wrong element count or raw byte length).
    #[error("tensor {tensor:?}: data holds {actual} elements, dims say {expected}")]
    TensorDataMismatch {
        /// Tensor name.
        tensor: String,
        /// Element count implied by `dims`.
        expected: u64,
        /// Element count present.
        actual: u64,
    },
    /// An ONNX tensor stores its data outside the model file.
    #[error("tensor {tensor:?}: external data is not supported")]
    ExternalData {
        /// Tensor name.
        tensor: String,
    },
    /// An operator the importer does not implement.
    #[error("node {node:?}: unsupported operator {op_type:?} in domain {domain:?}")]
    UnsupportedOperator {
        /// Node name.
        node: String,
        /// `op_type`.
        op_type: String,
        /// Node domain (`""` is the default ONNX domain).
        domain: String,
    },
    /// An attribute the importer does not know for this operator.
    #[error("node {node:?} ({op_type}): unsupported attribute {attribute:?}")]
    UnsupportedAttribute {
        /// Node name.
        node: String,
        /// Operator.
        op_type: String,
        /// Attribute name.
        attribute: String,
    },
    /// A known attribute with a value the importer does not implement (e.g. `dilations != 1`).
    #[error("node {node:?} ({op_type}): unsupported value {value} for attribute {attribute:?}")]
    UnsupportedAttributeValue {
        /// Node name.
        node: String,
        /// Operator.
        op_type: String,
        /// Attribute name.
        attribute: String,
        /// The value, rendered for the message.
        value: String,
    },
    /// An attribute has the wrong ONNX attribute type (e.g. INT where INTS is required).
    #[error("node {node:?}: attribute {attribute:?} has type {actual}, expected {expected}")]
    AttributeTypeMismatch {
        /// Node name.
        node: String,
        /// Attribute name.
        attribute: String,
        /// Expected `AttributeProto.AttributeType` name.
        expected: &'static str,
        /// Type code found.
        actual: i32,
    },
    /// A required attribute is absent.
    #[error("node {node:?} ({op_type}): missing attribute {attribute:?}")]
    MissingAttribute {
        /// Node name.
        node: String,
        /// Operator.
        op_type: String,
        /// Attribute name.
        attribute: &'static str,
    },
    /// A node has the wrong number of inputs or outputs.
    #[error("node {node:?} ({op_type}): {what} count {actual} not supported (expected {expected})")]
    ArityMismatch {
        /// Node name.
        node: String,
        /// Operator.
        op_type: String,
        /// `"input"` or `"output"`.
        what: &'static str,
        /// Expected count (description).
        expected: &'static str,
        /// Count found.
        actual: usize,
    },
    /// A node input names a tensor that is neither a graph input, an initializer nor an
    /// earlier node's output (the graph is not in topological order, or the name is unknown).
    #[error("node {node:?}: unknown input tensor {tensor:?}")]
    UnknownTensor {
        /// Node name.
        node: String,
        /// Tensor name.
        tensor: String,
    },
    /// An input that must be a constant (weights, Reshape's shape) is an activation, or vice versa.
    #[error("node {node:?}: input {tensor:?} must be {expected}")]
    WrongInputKind {
        /// Node name.
        node: String,
        /// Tensor name.
        tensor: String,
        /// `"a constant"` or `"an activation"`.
        expected: &'static str,
    },
    /// Shapes do not agree (inferred vs declared, weight vs input, operands of an addition...).
    #[error("{context}: shape {actual:?} does not match {expected:?}")]
    ShapeMismatch {
        /// Where the mismatch was found.
        context: String,
        /// Expected shape.
        expected: Vec<i64>,
        /// Shape found.
        actual: Vec<i64>,
    },
    /// A BatchNormalization node whose input is not the sole output of a Conv, Gemm or MatMul.
    #[error(
        "node {node:?}: BatchNormalization must directly follow a Conv, Gemm or MatMul whose output it alone consumes"
    )]
    BatchNormNotFoldable {
        /// Node name.
        node: String,
    },
    /// A constant added to an activation that cannot be folded into a preceding linear layer's bias.
    #[error("node {node:?}: Add of a constant must directly follow a Gemm or MatMul (as its bias)")]
    ConstantAddNotFoldable {
        /// Node name.
        node: String,
    },
    /// A node's operands or parameters do not fit together (shape inference failed).
    #[error("node {node:?}: {reason}")]
    InvalidNode {
        /// Node name.
        node: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The graph's inputs or outputs are not what the importer handles (exactly one of each).
    #[error("graph: {what} count {actual}, expected exactly one")]
    GraphInterface {
        /// `"input"` or `"output"`.
        what: &'static str,
        /// Count found.
        actual: usize,
    },
    /// A graph input or output has a shape the importer cannot use (non-tensor, symbolic or
    /// batch size other than 1, wrong rank).
    #[error("graph {what} {name:?}: unsupported shape or type")]
    UnsupportedGraphShape {
        /// `"input"` or `"output"`.
        what: &'static str,
        /// Tensor name.
        name: String,
    },
    /// The model has no graph.
    #[error("model has no graph")]
    MissingGraph,
    /// A tensor's rank is not what the operator needs (e.g. Gemm on a 4-D tensor).
    #[error("node {node:?} ({op_type}): input rank {actual} not supported (expected {expected})")]
    UnsupportedRank {
        /// Node name.
        node: String,
        /// Operator.
        op_type: String,
        /// Expected rank (description).
        expected: &'static str,
        /// Rank found.
        actual: usize,
    },

    // ----- network IR and architecture codec -----
    /// A layer refers to a tensor id that does not precede it.
    #[error("layer {layer}: input tensor id {tensor} is not an earlier tensor")]
    InvalidTensorId {
        /// Layer index.
        layer: usize,
        /// Offending tensor id.
        tensor: usize,
    },
    /// A layer's parameters are inconsistent (zero stride, kernel larger than padded input, ...).
    #[error("layer {layer}: invalid parameters: {reason}")]
    InvalidLayer {
        /// Layer index.
        layer: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A layer's weights have the wrong length.
    #[error("layer {layer}: {what} has {actual} values, expected {expected}")]
    WeightLengthMismatch {
        /// Layer index.
        layer: usize,
        /// `"weight"` or `"bias"`.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Length found.
        actual: usize,
    },
    /// The weights given do not belong to the layer kind (or are missing).
    #[error("layer {layer}: weights do not match the layer kind")]
    WeightKindMismatch {
        /// Layer index.
        layer: usize,
    },
    /// A weight or coefficient is NaN or infinite.
    #[error("layer {layer}: non-finite parameter")]
    NonFiniteParameter {
        /// Layer index.
        layer: usize,
    },
    /// The serialised architecture does not start with the expected magic and version.
    #[error("architecture bytes: bad magic or version")]
    BadMagic,
    /// An unknown tag in a serialised architecture.
    #[error("architecture bytes: unknown {what} tag {tag} at byte {offset}")]
    InvalidTag {
        /// What the tag selects.
        what: &'static str,
        /// Tag value.
        tag: u8,
        /// Byte offset.
        offset: usize,
    },
    /// Bytes left over after a complete serialised architecture.
    #[error("architecture bytes: {extra} trailing bytes")]
    TrailingBytes {
        /// Number of extra bytes.
        extra: usize,
    },
    /// A data file (CSV of inputs) has a field that is not a finite number or a valid label.
    #[error("data line {line}, field {field}: not a valid value")]
    InvalidDataField {
        /// 1-based line number.
        line: usize,
        /// 0-based field index.
        field: usize,
    },
    /// An inference input of the wrong length.
    #[error("input has {actual} values, the network expects {expected}")]
    InputLengthMismatch {
        /// Expected element count.
        expected: usize,
        /// Element count given.
        actual: usize,
    },

    // ----- fixed point (added with `fixed` / `simulate`) -----
    /// Fixed-point parameters that the field cannot hold (`2f + 2 > bits(p)`).
    #[error("fixed point: {frac_bits} fractional bits do not fit a {field_bits}-bit prime")]
    FracBitsTooLarge {
        /// Fractional bits requested.
        frac_bits: u32,
        /// Bits of the prime.
        field_bits: u32,
    },
    /// A value (input, weight, bias or coefficient) outside the centred range of the field at
    /// its fixed-point scale.
    #[error("{what}: {value} overflows the field at scale 2^{scale_bits}")]
    FixedPointOverflow {
        /// What was encoded (`"input"`, `"weight"`, `"bias"`, `"coefficient"`).
        what: &'static str,
        /// The value.
        value: f64,
        /// The scale exponent it was encoded at.
        scale_bits: u32,
    },
    /// ReLU parameters rejected by `circa-relu` (e.g. a truncation `k >= bits(p)`).
    #[error("ReLU parameters: {reason}")]
    InvalidReluParams {
        /// Why.
        reason: &'static str,
    },
    /// An average pooling whose fixed-point reciprocal `round(2^f / divisor)` is off from
    /// `1 / divisor` by more than 1/8 relatively (0 once `divisor > 2^(f+1)`): too few
    /// fractional bits for the window.
    #[error(
        "layer {layer}: 1/{divisor} at {frac_bits} fractional bits is off by more than 1/8 (use more fractional bits)"
    )]
    ReciprocalImprecise {
        /// The pooling layer.
        layer: usize,
        /// The window area (or spatial size, for global average pooling).
        divisor: usize,
        /// Fractional bits `f`.
        frac_bits: u32,
    },
    /// An ONNX tensor holding its values twice, in `raw_data` and in a typed field: which one
    /// a runtime reads is not specified, so neither is chosen silently.
    #[error("tensor {tensor:?}: values in both raw_data and a typed data field")]
    AmbiguousTensorData {
        /// The tensor's name.
        tensor: String,
    },

    // ----- IDX data files (`dataset::read_idx`) -----
    /// An IDX file does not start with two zero bytes and the unsigned-byte type code 0x08.
    #[error("IDX {what}: bad magic {magic:02x?} (expected [00, 00, 08, dims])")]
    IdxMagic {
        /// `"images"` or `"labels"`.
        what: &'static str,
        /// The first four bytes (zero-padded if the file is shorter).
        magic: [u8; 4],
    },
    /// An IDX file with the wrong number of dimensions (3 for images, 1 for labels).
    #[error("IDX {what}: {actual} dimensions, expected {expected}")]
    IdxDimensions {
        /// `"images"` or `"labels"`.
        what: &'static str,
        /// Dimensions required.
        expected: u8,
        /// Dimensions in the header.
        actual: u8,
    },
    /// An IDX file whose length does not match the sizes in its header (or shorter than the
    /// header itself).
    #[error("IDX {what}: {actual} bytes, the header says {expected}")]
    IdxLength {
        /// `"images"` or `"labels"`.
        what: &'static str,
        /// Length implied by the header (saturated at `u64::MAX`).
        expected: u64,
        /// Length found.
        actual: u64,
    },
    /// IDX images with zero rows or columns.
    #[error("IDX images: image size {rows}x{cols}")]
    IdxImageSize {
        /// Rows in the header.
        rows: usize,
        /// Columns in the header.
        cols: usize,
    },
    /// IDX image and label files with different item counts.
    #[error("IDX: {images} images but {labels} labels")]
    IdxCountMismatch {
        /// Images in the image file.
        images: usize,
        /// Labels in the label file.
        labels: usize,
    },
    /// An IDX label not below the number of classes.
    #[error("IDX labels: item {index} has label {label}, not below {classes}")]
    IdxLabel {
        /// 0-based item index.
        index: usize,
        /// The label.
        label: u8,
        /// Number of classes.
        classes: usize,
    },
    /// A data file could not be opened or read.
    #[error("{path}: {kind}")]
    DataFileIo {
        /// The file.
        path: String,
        /// What the operating system reported.
        kind: std::io::ErrorKind,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, NnError>;
