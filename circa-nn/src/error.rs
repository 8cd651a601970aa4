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
    /// A field key used a wire type this decoder does not accept (groups).
    #[error("protobuf: unsupported wire type {wire_type} at byte {offset}")]
    InvalidWireType {
        /// The wire type found.
        wire_type: u8,
        /// Byte offset of the field key.
        offset: usize,
    },
    /// `prost` rejected the bytes (a malformed key or varint, a wire type that contradicts
    /// the schema, a string that is not UTF-8...).
    #[error("protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
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
    /// A tensor stores its data outside the model file, and the model was given as bytes (no
    /// folder to read it from).
    #[error(
        "tensor {tensor:?}: its data is in an external file; import the model from its path (import_onnx_file)"
    )]
    ExternalData {
        /// Tensor name.
        tensor: String,
    },
    /// A tensor's external data location is not a relative path inside the model's folder.
    #[error("tensor {tensor:?}: external data location {location:?} refused: {reason}")]
    ExternalDataPath {
        /// Tensor name.
        tensor: String,
        /// The `location` entry, as written in the model.
        location: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A tensor's `external_data` entries are missing, unknown, repeated or not numbers.
    #[error("tensor {tensor:?}: external data entry {key:?} is {problem}")]
    ExternalDataEntry {
        /// Tensor name.
        tensor: String,
        /// The entry's key.
        key: String,
        /// `"missing"`, `"unknown"`, `"repeated"` or `"not a byte count"`.
        problem: &'static str,
    },
    /// A tensor's external data range lies outside its file or has the wrong length.
    #[error(
        "tensor {tensor:?}: external data at offset {offset}, {length} bytes, does not fit its file of {file_len} bytes or the {expected} bytes its dims need"
    )]
    ExternalDataRange {
        /// Tensor name.
        tensor: String,
        /// `offset` (0 if absent).
        offset: u64,
        /// `length` (or the bytes from the offset to the end of the file).
        length: u64,
        /// Length of the external file.
        file_len: u64,
        /// Bytes the tensor's dims and data type need.
        expected: u64,
    },
    /// A file is larger than its limit (refused before reading, or after reading the limit).
    #[error("{path}: larger than the limit of {limit} bytes for the {what} ({size})")]
    FileTooLarge {
        /// The file.
        path: String,
        /// Which limit.
        what: &'static str,
        /// Its size as far as known.
        size: String,
        /// The limit.
        limit: u64,
    },
    /// The path is a directory or a device, not a file to read.
    #[error("{path}: not a regular file (a {kind})")]
    NotAFile {
        /// The file.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// A file could not be opened or read.
    #[error("{path}: {kind}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        kind: std::io::ErrorKind,
    },
    /// Operators the importer does not implement: every such node of the graph, with hints.
    #[error("{}", unsupported_list(nodes, hints))]
    UnsupportedOperators {
        /// Every unsupported node, in graph order.
        nodes: Vec<UnsupportedNode>,
        /// What to do about them (one sentence each).
        hints: Vec<&'static str>,
    },
    /// A node whose operator is supported in some forms, used in a form that is not (a slice
    /// of an activation that is not a channel range, a non-constant mask...).
    #[error("node {node:?} ({op_type}): {reason}; {hint}")]
    UnsupportedPattern {
        /// Node name.
        node: String,
        /// Operator.
        op_type: String,
        /// What is not supported.
        reason: &'static str,
        /// What to write instead.
        hint: &'static str,
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
    /// A linear-algebra kernel refused its geometry or its operands (a backend's parameters
    /// or an input that disagree with the architecture).
    #[error("layer {layer}: the kernel refused its operands: {reason}")]
    KernelRefused {
        /// Layer index.
        layer: usize,
        /// What circa-share's kernel said.
        reason: &'static str,
    },
    /// An input value outside the range the server's calibration covers.
    #[error(
        "input element {index} is {value}, outside the server's calibrated range [-{bound}, {bound}]"
    )]
    InputOutOfRange {
        /// Element index.
        index: usize,
        /// The value.
        value: f64,
        /// The bound.
        bound: f64,
    },
    /// A calibrated range that does not fit the field at its scale.
    #[error(
        "tensor {tensor}: calibrated range {bound} at scale 2^{scale_bits} (with headroom) overflows the field: use a smaller f or a larger prime"
    )]
    RangeOverflow {
        /// Tensor id (0 = the input, `i + 1` = layer `i`'s output).
        tensor: usize,
        /// The calibrated largest `|value|`.
        bound: f64,
        /// The tensor's scale.
        scale_bits: u32,
    },
    /// A calibration entry of a model file that cannot be read.
    #[error("calibration line {line}: {reason}")]
    InvalidCalibration {
        /// Line number (0: the calibration as a whole).
        line: usize,
        /// Why.
        reason: &'static str,
    },
    /// A per-layer sign-test choice that does not fit the network or the parameters.
    #[error("layer {layer}: invalid sign-test choice: {reason}")]
    InvalidSite {
        /// Layer index.
        layer: usize,
        /// Why.
        reason: &'static str,
    },
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
    /// A data row whose number of values differs from the first row's.
    #[error("data line {line}: {actual} values, the first row has {expected}")]
    RaggedData {
        /// 1-based line number.
        line: usize,
        /// Values in the first row.
        expected: usize,
        /// Values in this row.
        actual: usize,
    },
    /// A `.npy` file that is not a supported NumPy array (magic, header, dtype, order, shape,
    /// data length, or a value that is not finite).
    #[error(".npy file: {reason}")]
    InvalidNpy {
        /// What is wrong.
        reason: &'static str,
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
    /// A weight, bias or polynomial coefficient of a named layer that overflows the field at
    /// its fixed-point scale.
    #[error("layer {layer} ({name:?}): {what} {value} overflows the field at scale 2^{scale_bits}")]
    ParameterOverflow {
        /// Layer index.
        layer: usize,
        /// The layer's name.
        name: String,
        /// `"weight"`, `"bias"` or `"coefficient c0"` (`c1`, `c2`).
        what: &'static str,
        /// The value.
        value: f64,
        /// The scale it was encoded at.
        scale_bits: u32,
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

/// One node the importer cannot translate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedNode {
    /// Node name.
    pub name: String,
    /// `op_type`.
    pub op_type: String,
    /// Node domain (`""` is the default ONNX domain).
    pub domain: String,
}

fn unsupported_list(nodes: &[UnsupportedNode], hints: &[&str]) -> String {
    let listed: Vec<String> = nodes
        .iter()
        .map(|n| {
            let domain = if n.domain.is_empty() {
                String::new()
            } else {
                format!(" in domain {:?}", n.domain)
            };
            format!("{:?} ({:?}{domain})", n.name, n.op_type)
        })
        .collect();
    let mut out = format!(
        "{} unsupported node{}: {}",
        nodes.len(),
        if nodes.len() == 1 { "" } else { "s" },
        listed.join(", ")
    );
    for h in hints {
        out.push_str("; ");
        out.push_str(h);
    }
    out
}

impl NnError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: &std::path::Path, e: &std::io::Error) -> Self {
        NnError::Io {
            path: path.display().to_string(),
            kind: e.kind(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, NnError>;
