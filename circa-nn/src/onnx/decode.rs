//! Bounded decoding of ONNX model bytes.
//!
//! `prost` decodes into owned vectors without any limit of its own: an empty attribute is 2
//! bytes on the wire and a few hundred in memory, a packed `int64` of one-byte varints grows
//! eightfold. So before `prost` runs, one pass over the wire bytes walks the messages this
//! importer reads (the same field numbers as `proto/onnx_subset.proto`), without decoding
//! any value, and checks the nesting depth, the number of entries of every repeated field and
//! an upper bound of the bytes the decoded model will occupy (every message, string and
//! number, with vector growth counted at its worst). The bound must stay within a budget
//! proportional to the input's length (and an absolute cap), so a small file cannot decode
//! to a large model. Only then is the model decoded.

use std::path::Path;

use prost::Message as _;
use prost::bytes::Buf as _;
use prost::encoding::{WireType, decode_key, decode_varint};
use zeroize::Zeroizing;

use super::proto::{self, ModelProto};
use crate::error::{NnError, Result};

/// Limits applied while reading and decoding an ONNX model (and its external data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted model file in bytes (checked before reading it).
    pub max_total_bytes: usize,
    /// Deepest accepted nesting of messages (the model itself is depth 0). The schema read
    /// here has no recursive message, so no ONNX file nests deeper than 6.
    pub max_depth: usize,
    /// Most elements accepted in one repeated field or one tensor.
    pub max_elements: usize,
    /// Most entries accepted in one repeated message or string field (nodes, initializers,
    /// attributes, node inputs...).
    pub max_messages: usize,
    /// Most bytes the decoded model may occupy in memory (an absolute cap over the whole
    /// model; the budget is also bounded by `decoded_bytes_per_input_byte`).
    pub max_decoded_bytes: usize,
    /// The decoded model may occupy at most this many bytes per byte of input, plus
    /// [`DECODED_SLACK_BYTES`].
    pub decoded_bytes_per_input_byte: usize,
}

/// Bytes of decoded model always allowed on top of the proportional budget (small models
/// are mostly message overhead).
pub const DECODED_SLACK_BYTES: usize = 1 << 20;

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_total_bytes: 256 << 20,
            max_depth: 16,
            max_elements: 1 << 26,
            max_messages: 1 << 20,
            max_decoded_bytes: 512 << 20,
            decoded_bytes_per_input_byte: 16,
        }
    }
}

impl DecodeLimits {
    /// The decoded-size budget for an input of `input_len` bytes.
    pub fn decoded_budget(&self, input_len: usize) -> usize {
        self.decoded_bytes_per_input_byte
            .saturating_mul(input_len)
            .saturating_add(DECODED_SLACK_BYTES)
            .min(self.max_decoded_bytes)
    }

    fn check_total(&self, len: u64) -> Result<()> {
        if len > self.max_total_bytes as u64 {
            return Err(NnError::LimitExceeded {
                what: "model size in bytes",
                value: len,
                limit: self.max_total_bytes as u64,
            });
        }
        Ok(())
    }
}

/// Decodes ONNX model bytes after checking them against `limits` (see the module docs).
pub fn decode_model(bytes: &[u8], limits: &DecodeLimits) -> Result<ModelProto> {
    limits.check_total(bytes.len() as u64)?;
    let mut scan = Scan {
        limits,
        budget: limits.decoded_budget(bytes.len()),
        charged: 0,
    };
    scan.message(bytes, Msg::Model, 0)?;
    Ok(ModelProto::decode(bytes)?)
}

/// Reads a model file, refusing one larger than `limits.max_total_bytes` (before reading a
/// regular file; by a bounded read otherwise: see [`crate::files::read_bounded`]).
pub fn read_model_file(path: &Path, limits: &DecodeLimits) -> Result<Zeroizing<Vec<u8>>> {
    crate::files::read_bounded(path, limits.max_total_bytes, "model size in bytes")
}

/// The message types of `proto/onnx_subset.proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Msg {
    Model,
    OperatorSetId,
    StringString,
    Graph,
    Node,
    Attribute,
    Tensor,
    ValueInfo,
    Type,
    TensorType,
    Shape,
    Dimension,
}

impl Msg {
    /// Bytes one decoded instance occupies inline (in its parent or in a vector).
    fn size(self) -> usize {
        use core::mem::size_of;
        match self {
            Msg::Model => size_of::<ModelProto>(),
            Msg::OperatorSetId => size_of::<proto::OperatorSetIdProto>(),
            Msg::StringString => size_of::<proto::StringStringEntryProto>(),
            Msg::Graph => size_of::<proto::GraphProto>(),
            Msg::Node => size_of::<proto::NodeProto>(),
            Msg::Attribute => size_of::<proto::AttributeProto>(),
            Msg::Tensor => size_of::<proto::TensorProto>(),
            Msg::ValueInfo => size_of::<proto::ValueInfoProto>(),
            Msg::Type => size_of::<proto::TypeProto>(),
            Msg::TensorType => size_of::<proto::TensorTypeProto>(),
            Msg::Shape => size_of::<proto::TensorShapeProto>(),
            Msg::Dimension => size_of::<proto::Dimension>(),
        }
    }

    /// How field `field` of this message is stored, or `None` if it is not read (skipped).
    fn field(self, field: u32) -> Option<Field> {
        use Field::{Message, Numbers, Text};
        Some(match (self, field) {
            (Msg::Model, 2 | 3) => Text { repeated: false },
            (Msg::Model, 7) => Message(Msg::Graph, false),
            (Msg::Model, 8) => Message(Msg::OperatorSetId, true),
            (Msg::Model, 14) => Message(Msg::StringString, true),
            (Msg::OperatorSetId, 1) | (Msg::StringString, 1 | 2) => Text { repeated: false },
            (Msg::Graph, 1) => Message(Msg::Node, true),
            (Msg::Graph, 2) => Text { repeated: false },
            (Msg::Graph, 5) => Message(Msg::Tensor, true),
            (Msg::Graph, 11..=13) => Message(Msg::ValueInfo, true),
            (Msg::Node, 1 | 2) => Text { repeated: true },
            (Msg::Node, 3 | 4 | 7) => Text { repeated: false },
            (Msg::Node, 5) => Message(Msg::Attribute, true),
            (Msg::Attribute, 1 | 4) => Text { repeated: false },
            (Msg::Attribute, 5) => Message(Msg::Tensor, false),
            (Msg::Attribute, 7) => Numbers(Number::F32),
            (Msg::Attribute, 8) => Numbers(Number::I64),
            (Msg::Tensor, 1 | 7) => Numbers(Number::I64),
            (Msg::Tensor, 4) => Numbers(Number::F32),
            (Msg::Tensor, 5) => Numbers(Number::I32),
            (Msg::Tensor, 8 | 9) => Text { repeated: false },
            (Msg::Tensor, 13) => Message(Msg::StringString, true),
            (Msg::ValueInfo, 1) => Text { repeated: false },
            (Msg::ValueInfo, 2) => Message(Msg::Type, false),
            (Msg::Type, 1) => Message(Msg::TensorType, false),
            (Msg::TensorType, 2) => Message(Msg::Shape, false),
            (Msg::Shape, 1) => Message(Msg::Dimension, true),
            (Msg::Dimension, 2) => Text { repeated: false },
            _ => return None,
        })
    }
}

/// A repeated number field's element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Number {
    F32,
    I32,
    I64,
}

impl Number {
    /// Bytes per element in memory.
    fn size(self) -> usize {
        match self {
            Number::F32 | Number::I32 => 4,
            Number::I64 => 8,
        }
    }

    /// Most elements a packed field of `len` bytes holds.
    fn max_packed(self, len: usize) -> usize {
        match self {
            Number::F32 => len / 4,
            // One byte per varint at least.
            Number::I32 | Number::I64 => len,
        }
    }
}

/// How a field the importer reads is stored once decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// A nested message, repeated (in a vector) or not (inline).
    Message(Msg, bool),
    /// A string or bytes value (one heap buffer), repeated (in a vector) or not.
    Text { repeated: bool },
    /// A repeated number field, packed or not.
    Numbers(Number),
}

/// A vector that received `n >= 1` elements one push at a time holds at most
/// `max(4, 2 n) <= 4 n` of them (the smallest non-empty capacity is 4 for elements of 2 to
/// 1024 bytes): each element is charged four times its size.
const VEC_GROWTH: usize = 4;
/// A byte buffer of length `n` read by `prost` is reserved for exactly `n` bytes, at least 8.
const MIN_BUFFER: usize = 8;
/// Fields per message whose entries are counted (every field number read is below this).
const COUNTED_FIELDS: usize = 32;

struct Scan<'l> {
    limits: &'l DecodeLimits,
    budget: usize,
    charged: usize,
}

impl Scan<'_> {
    fn charge(&mut self, bytes: usize) -> Result<()> {
        self.charged = self.charged.saturating_add(bytes);
        if self.charged > self.budget {
            return Err(NnError::LimitExceeded {
                what: "decoded model bytes",
                value: self.charged as u64,
                limit: self.budget as u64,
            });
        }
        Ok(())
    }

    fn count(
        counts: &mut [usize; COUNTED_FIELDS],
        field: u32,
        n: usize,
        what: &'static str,
        limit: usize,
    ) -> Result<()> {
        let c = &mut counts[field as usize];
        *c = c.saturating_add(n);
        if *c > limit {
            return Err(NnError::LimitExceeded {
                what,
                value: *c as u64,
                limit: limit as u64,
            });
        }
        Ok(())
    }

    /// Walks one message's bytes (of type `msg`, at nesting `depth`).
    fn message(&mut self, mut buf: &[u8], msg: Msg, depth: usize) -> Result<()> {
        if depth > self.limits.max_depth {
            return Err(NnError::NestingTooDeep {
                limit: self.limits.max_depth,
            });
        }
        let total = buf.len();
        let mut counts = [0usize; COUNTED_FIELDS];
        while !buf.is_empty() {
            let offset = total - buf.len();
            let (tag, wire_type) = decode_key(&mut buf)?;
            let field = msg.field(tag);
            match wire_type {
                WireType::Varint => {
                    decode_varint(&mut buf)?;
                    if let Some(Field::Numbers(n)) = field {
                        self.numbers(&mut counts, tag, n, 1)?;
                    }
                }
                WireType::ThirtyTwoBit | WireType::SixtyFourBit => {
                    let width = if wire_type == WireType::ThirtyTwoBit {
                        4
                    } else {
                        8
                    };
                    if buf.len() < width {
                        return Err(NnError::Truncated { offset });
                    }
                    buf.advance(width);
                    if let Some(Field::Numbers(n)) = field {
                        self.numbers(&mut counts, tag, n, 1)?;
                    }
                }
                WireType::LengthDelimited => {
                    let len = usize::try_from(decode_varint(&mut buf)?)
                        .ok()
                        .filter(|&l| l <= buf.len())
                        .ok_or(NnError::Truncated { offset })?;
                    let (body, rest) = buf.split_at(len);
                    buf = rest;
                    match field {
                        None => {}
                        Some(Field::Message(inner, repeated)) => {
                            if repeated {
                                Self::count(
                                    &mut counts,
                                    tag,
                                    1,
                                    "entries of a repeated message field",
                                    self.limits.max_messages,
                                )?;
                                self.charge(VEC_GROWTH.saturating_mul(inner.size()))?;
                            }
                            self.message(body, inner, depth + 1)?;
                        }
                        Some(Field::Text { repeated }) => {
                            if repeated {
                                Self::count(
                                    &mut counts,
                                    tag,
                                    1,
                                    "entries of a repeated string field",
                                    self.limits.max_messages,
                                )?;
                                self.charge(VEC_GROWTH * core::mem::size_of::<String>())?;
                            }
                            self.charge(len.max(MIN_BUFFER))?;
                        }
                        Some(Field::Numbers(n)) => {
                            self.numbers(&mut counts, tag, n, n.max_packed(len))?;
                        }
                    }
                }
                WireType::StartGroup | WireType::EndGroup => {
                    // ONNX has no groups (a proto2 feature deprecated long ago).
                    return Err(NnError::InvalidWireType {
                        wire_type: wire_type as u8,
                        offset,
                    });
                }
            }
        }
        Ok(())
    }

    fn numbers(
        &mut self,
        counts: &mut [usize; COUNTED_FIELDS],
        tag: u32,
        n: Number,
        elements: usize,
    ) -> Result<()> {
        Self::count(
            counts,
            tag,
            elements,
            "elements of a repeated number field",
            self.limits.max_elements,
        )?;
        // Elements of one field land in one vector that grows by doubling: twice their size,
        // plus the smallest capacity once per occurrence.
        self.charge(
            elements
                .saturating_mul(2 * n.size())
                .saturating_add(VEC_GROWTH * n.size()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::{AttributeProto, GraphProto, NodeProto, TensorProto};

    fn model_with(nodes: Vec<NodeProto>, initializer: Vec<TensorProto>) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            graph: Some(GraphProto {
                node: nodes,
                initializer,
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn every_field_number_is_below_the_counted_range() {
        for msg in [
            Msg::Model,
            Msg::OperatorSetId,
            Msg::StringString,
            Msg::Graph,
            Msg::Node,
            Msg::Attribute,
            Msg::Tensor,
            Msg::ValueInfo,
            Msg::Type,
            Msg::TensorType,
            Msg::Shape,
            Msg::Dimension,
        ] {
            for f in COUNTED_FIELDS as u32..4096 {
                assert_eq!(msg.field(f), None, "{msg:?} field {f}");
            }
        }
    }

    #[test]
    fn decodes_what_prost_encodes() {
        let node = NodeProto {
            input: vec!["x".into(), "w".into()],
            output: vec!["y".into()],
            op_type: "Conv".into(),
            attribute: vec![AttributeProto {
                name: "pads".into(),
                ints: vec![1, 1, 1, 1],
                r#type: 7,
                ..Default::default()
            }],
            ..Default::default()
        };
        let w = TensorProto {
            name: "w".into(),
            dims: vec![2, 2],
            data_type: 1,
            float_data: vec![1.0, 2.0, 3.0, 4.0],
            ..Default::default()
        };
        let bytes = model_with(vec![node.clone()], vec![w.clone()]);
        let m = decode_model(&bytes, &DecodeLimits::default()).expect("decodes");
        let g = m.graph.expect("graph");
        assert_eq!(g.node, vec![node]);
        assert_eq!(g.initializer, vec![w]);
    }

    #[test]
    fn counts_and_depth_are_limited() {
        let nodes = vec![NodeProto::default(); 10];
        let bytes = model_with(nodes, vec![]);
        let limits = DecodeLimits {
            max_messages: 9,
            ..Default::default()
        };
        assert!(matches!(
            decode_model(&bytes, &limits),
            Err(NnError::LimitExceeded {
                what: "entries of a repeated message field",
                value: 10,
                ..
            })
        ));
        let limits = DecodeLimits {
            max_depth: 1,
            ..Default::default()
        };
        let node = NodeProto {
            op_type: "Relu".into(),
            ..Default::default()
        };
        assert_eq!(
            decode_model(&model_with(vec![node], vec![]), &limits),
            Err(NnError::NestingTooDeep { limit: 1 })
        );
        let t = TensorProto {
            dims: vec![1; 11],
            ..Default::default()
        };
        let limits = DecodeLimits {
            max_elements: 10,
            ..Default::default()
        };
        assert!(matches!(
            decode_model(&model_with(vec![], vec![t]), &limits),
            Err(NnError::LimitExceeded {
                what: "elements of a repeated number field",
                ..
            })
        ));
    }

    #[test]
    fn the_bound_covers_what_prost_allocates() {
        // 1000 nodes with 2 inputs each: the charge is at least the inline sizes.
        let node = NodeProto {
            input: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        let bytes = model_with(vec![node; 1000], vec![]);
        let mut scan = Scan {
            limits: &DecodeLimits::default(),
            budget: usize::MAX,
            charged: 0,
        };
        scan.message(&bytes, Msg::Model, 0).expect("scans");
        let inline = 1000 * (Msg::Node.size() + 2 * (core::mem::size_of::<String>() + 1));
        assert!(scan.charged >= inline, "{} < {inline}", scan.charged);
        // Tight budget: refused before decoding.
        let limits = DecodeLimits {
            max_decoded_bytes: inline,
            ..Default::default()
        };
        assert!(matches!(
            decode_model(&bytes, &limits),
            Err(NnError::LimitExceeded {
                what: "decoded model bytes",
                ..
            })
        ));
    }

    #[test]
    fn malformed_bytes_are_errors() {
        // Field 7 (graph) claims 5 bytes, 1 present.
        assert!(matches!(
            decode_model(&[0x3a, 0x05, 0x01], &DecodeLimits::default()),
            Err(NnError::Truncated { offset: 0 })
        ));
        // A group.
        assert!(matches!(
            decode_model(&[0x0b], &DecodeLimits::default()),
            Err(NnError::InvalidWireType { wire_type: 3, .. })
        ));
        // A varint of 11 bytes.
        let mut long = vec![0x08];
        long.extend([0xff; 11]);
        assert!(matches!(
            decode_model(&long, &DecodeLimits::default()),
            Err(NnError::Protobuf(_))
        ));
        // Field 3 (node name) with invalid UTF-8, inside graph field 1.
        let node = [0x1a, 0x01, 0xff];
        let mut graph = vec![0x0a, node.len() as u8];
        graph.extend(node);
        let mut model = vec![0x3a, graph.len() as u8];
        model.extend(graph);
        assert!(matches!(
            decode_model(&model, &DecodeLimits::default()),
            Err(NnError::Protobuf(_))
        ));
    }
}
