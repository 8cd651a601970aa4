//! The subset of the ONNX protobuf schema (`onnx/onnx.proto`, IR version 10 and later) that the
//! importer reads. Unknown fields are skipped; fields whose wire type contradicts the schema are
//! errors. Field numbers are taken from `onnx.proto`.

use core::cell::Cell;

use super::wire::{Ctx, DecodeLimits, Reader};
use crate::error::{NnError, Result};

/// `TensorProto.DataType.FLOAT`.
pub const DATA_TYPE_FLOAT: i32 = 1;
/// `TensorProto.DataType.INT64`.
pub const DATA_TYPE_INT64: i32 = 7;

/// `AttributeProto.AttributeType` codes.
pub mod attr_type {
    /// One float (`f`).
    pub const FLOAT: i32 = 1;
    /// One integer (`i`).
    pub const INT: i32 = 2;
    /// One string (`s`).
    pub const STRING: i32 = 3;
    /// One tensor (`t`).
    pub const TENSOR: i32 = 4;
    /// Floats (`floats`).
    pub const FLOATS: i32 = 6;
    /// Integers (`ints`).
    pub const INTS: i32 = 7;
}

/// The ONNX name of a `TensorProto.DataType` code (for error messages).
pub fn data_type_name(code: i32) -> &'static str {
    match code {
        0 => "UNDEFINED",
        1 => "FLOAT",
        2 => "UINT8",
        3 => "INT8",
        4 => "UINT16",
        5 => "INT16",
        6 => "INT32",
        7 => "INT64",
        8 => "STRING",
        9 => "BOOL",
        10 => "FLOAT16",
        11 => "DOUBLE",
        12 => "UINT32",
        13 => "UINT64",
        14 => "COMPLEX64",
        15 => "COMPLEX128",
        16 => "BFLOAT16",
        17..=20 => "FLOAT8",
        21 => "UINT4",
        22 => "INT4",
        23 => "FLOAT4E2M1",
        24 => "FLOAT8E8M0",
        25 => "UINT2",
        26 => "INT2",
        27 | 28 => "FLOAT6",
        _ => "unknown",
    }
}

/// `ModelProto`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelProto {
    /// Field 1.
    pub ir_version: i64,
    /// Field 8.
    pub opset_import: Vec<OperatorSetIdProto>,
    /// Field 7.
    pub graph: Option<GraphProto>,
    /// Field 14 (key, value).
    pub metadata_props: Vec<(String, String)>,
}

/// `OperatorSetIdProto`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorSetIdProto {
    /// Field 1 (`""` = the default ONNX domain).
    pub domain: String,
    /// Field 2.
    pub version: i64,
}

/// `GraphProto`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphProto {
    /// Field 1.
    pub node: Vec<NodeProto>,
    /// Field 2.
    pub name: String,
    /// Field 5.
    pub initializer: Vec<TensorProto>,
    /// Field 11.
    pub input: Vec<ValueInfoProto>,
    /// Field 12.
    pub output: Vec<ValueInfoProto>,
    /// Field 13.
    pub value_info: Vec<ValueInfoProto>,
}

/// `NodeProto`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeProto {
    /// Field 1.
    pub input: Vec<String>,
    /// Field 2.
    pub output: Vec<String>,
    /// Field 3.
    pub name: String,
    /// Field 4.
    pub op_type: String,
    /// Field 7.
    pub domain: String,
    /// Field 5.
    pub attribute: Vec<AttributeProto>,
}

/// `AttributeProto` (graph-valued and sparse attributes are skipped).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttributeProto {
    /// Field 1.
    pub name: String,
    /// Field 20 (`AttributeType`).
    pub attr_type: i32,
    /// Field 2.
    pub f: f32,
    /// Field 3.
    pub i: i64,
    /// Field 4.
    pub s: Vec<u8>,
    /// Field 5.
    pub t: Option<TensorProto>,
    /// Field 7.
    pub floats: Vec<f32>,
    /// Field 8.
    pub ints: Vec<i64>,
}

/// `TensorProto` (only the fields needed for FLOAT and INT64 tensors are kept).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorProto {
    /// Field 1.
    pub dims: Vec<i64>,
    /// Field 2.
    pub data_type: i32,
    /// Field 4.
    pub float_data: Vec<f32>,
    /// Field 7.
    pub int64_data: Vec<i64>,
    /// Field 8.
    pub name: String,
    /// Field 9.
    pub raw_data: Vec<u8>,
    /// Field 14 (1 = EXTERNAL), or field 13 present.
    pub external: bool,
}

/// One dimension of a `TensorShapeProto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// `dim_value`.
    Value(i64),
    /// `dim_param` (symbolic).
    Param(String),
    /// Neither set.
    Unknown,
}

/// `ValueInfoProto` with its `TypeProto.Tensor` flattened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValueInfoProto {
    /// Field 1.
    pub name: String,
    /// `type.tensor_type.elem_type`, if the type is a tensor type.
    pub elem_type: Option<i32>,
    /// `type.tensor_type.shape.dim`, if present.
    pub shape: Option<Vec<Dim>>,
}

impl ModelProto {
    /// Decodes a serialised ONNX model with the default [`DecodeLimits`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::decode_with_limits(bytes, &DecodeLimits::default())
    }

    /// Decodes a serialised ONNX model, enforcing `limits`.
    pub fn decode_with_limits(bytes: &[u8], limits: &DecodeLimits) -> Result<Self> {
        if bytes.len() > limits.max_total_bytes {
            return Err(NnError::LimitExceeded {
                what: "model size in bytes",
                value: bytes.len() as u64,
                limit: limits.max_total_bytes as u64,
            });
        }
        let decoded = Cell::new(0);
        let ctx = Ctx {
            message: "ModelProto",
            depth: 0,
            limits,
            decoded: &decoded,
        };
        let mut m = ModelProto::default();
        let mut r = Reader::new(bytes);
        while let Some((field, v)) = r.field()? {
            match field {
                1 => m.ir_version = ctx.int64(field, v)?,
                7 => {
                    let c = ctx.nested("GraphProto")?;
                    m.graph = Some(GraphProto::decode(ctx.bytes(field, v)?, c)?);
                }
                8 => {
                    let c = ctx.nested("OperatorSetIdProto")?;
                    let o = OperatorSetIdProto::decode(ctx.bytes(field, v)?, c)?;
                    ctx.push_message("opset_import entries", &mut m.opset_import, o)?;
                }
                14 => {
                    let c = ctx.nested("StringStringEntryProto")?;
                    let kv = decode_string_pair(ctx.bytes(field, v)?, c)?;
                    ctx.push_message("metadata_props entries", &mut m.metadata_props, kv)?;
                }
                _ => {}
            }
        }
        Ok(m)
    }
}

fn decode_string_pair(bytes: &[u8], ctx: Ctx<'_>) -> Result<(String, String)> {
    let mut kv = (String::new(), String::new());
    let mut r = Reader::new(bytes);
    while let Some((field, v)) = r.field()? {
        match field {
            1 => kv.0 = ctx.string(field, v)?,
            2 => kv.1 = ctx.string(field, v)?,
            _ => {}
        }
    }
    Ok(kv)
}

impl OperatorSetIdProto {
    fn decode(bytes: &[u8], ctx: Ctx<'_>) -> Result<Self> {
        let mut o = Self::default();
        let mut r = Reader::new(bytes);
        while let Some((field, v)) = r.field()? {
            match field {
                1 => o.domain = ctx.string(field, v)?,
                2 => o.version = ctx.int64(field, v)?,
                _ => {}
            }
        }
        Ok(o)
    }
}

impl GraphProto {
    fn decode(bytes: &[u8], ctx: Ctx<'_>) -> Result<Self> {
        let mut g = Self::default();
        let mut r = Reader::new(bytes);
        while let Some((field, v)) = r.field()? {
            match field {
                1 => {
                    let n = NodeProto::decode(ctx.bytes(field, v)?, ctx.nested("NodeProto")?)?;
                    ctx.push_message("graph nodes", &mut g.node, n)?;
                }
                2 => g.name = ctx.string(field, v)?,
                5 => {
                    let t = TensorProto::decode(ctx.bytes(field, v)?, ctx.nested("TensorProto")?)?;
                    ctx.push_message("graph initializers", &mut g.initializer, t)?;
                }
                11..=13 => {
                    let vi = ValueInfoProto::decode(
                        ctx.bytes(field, v)?,
                        ctx.nested("ValueInfoProto")?,
                    )?;
                    let (what, list) = match field {
                        11 => ("graph inputs", &mut g.input),
                        12 => ("graph outputs", &mut g.output),
                        _ => ("graph value_info entries", &mut g.value_info),
                    };
                    ctx.push_message(what, list, vi)?;
                }
                _ => {}
            }
        }
        Ok(g)
    }
}

impl NodeProto {
    fn decode(bytes: &[u8], ctx: Ctx<'_>) -> Result<Self> {
        let mut n = Self::default();
        let mut r = Reader::new(bytes);
        while let Some((field, v)) = r.field()? {
            match field {
                1 => {
                    let s = ctx.string(field, v)?;
                    ctx.push_message("node inputs", &mut n.input, s)?;
                }
                2 => {
                    let s = ctx.string(field, v)?;
                    ctx.push_message("node outputs", &mut n.output, s)?;
                }
                3 => n.name = ctx.string(field, v)?,
                4 => n.op_type = ctx.string(field, v)?,
                7 => n.domain = ctx.string(field, v)?,
                5 => {
                    let a = AttributeProto::decode(
                        ctx.bytes(field, v)?,
                        ctx.nested("AttributeProto")?,
                    )?;
                    ctx.push_message("node attributes", &mut n.attribute, a)?;
                }
                _ => {}
            }
        }
        Ok(n)
    }
}

impl AttributeProto {
    fn decode(bytes: &[u8], ctx: Ctx<'_>) -> Result<Self> {
        let mut a = Self::default();
        let mut r = Reader::new(bytes);
        while let Some((field, v)) = r.field()? {
            match field {
                1 => a.name = ctx.string(field, v)?,
                20 => a.attr_type = ctx.int32(field, v)?,
                2 => a.f = ctx.float(field, v)?,
                3 => a.i = ctx.int64(field, v)?,
                4 => {
                    let b = ctx.bytes(field, v)?;
                    ctx.charge(b.len())?;
                    a.s = b.to_vec();
                }
                5 => {
                    a.t = Some(TensorProto::decode(
                        ctx.bytes(field, v)?,
                        ctx.nested("TensorProto")?,
                    )?)
                }
                7 => ctx.repeated_float("attribute floats", field, v, &mut a.floats)?,
                8 => ctx.repeated_int64("attribute ints", field, v, &mut a.ints)?,
                _ => {}
            }
        }
        Ok(a)
    }
}

impl TensorProto {
    fn decode(bytes: &[u8], ctx: Ctx<'_>) -> Result<Self> {
        let mut t = Self::default();
        let mut r = Reader::new(bytes);
        while let Some((field, v)) = r.field()? {
            match field {
                1 => ctx.repeated_int64("tensor dims", field, v, &mut t.dims)?,
                2 => t.data_type = ctx.int32(field, v)?,
                4 => ctx.repeated_float("tensor float_data", field, v, &mut t.float_data)?,
                7 => ctx.repeated_int64("tensor int64_data", field, v, &mut t.int64_data)?,
                8 => t.name = ctx.string(field, v)?,
                9 => {
                    let b = ctx.bytes(field, v)?;
                    ctx.check_count(
                        "tensor raw_data bytes",
                        b.len(),
                        ctx.limits.max_elements.saturating_mul(8),
                    )?;
                    ctx.charge(b.len())?;
                    t.raw_data = b.to_vec();
                }
                13 => {
                    ctx.bytes(field, v)?;
                    t.external = true;
                }
                14 => t.external |= ctx.int64(field, v)? == 1,
                _ => {}
            }
        }
        Ok(t)
    }

    /// Number of elements implied by `dims` (checked: negative dims and overflow are errors).
    pub fn element_count(&self, limit: usize) -> Result<usize> {
        let mut n: u64 = 1;
        for &d in &self.dims {
            let d = u64::try_from(d).map_err(|_| NnError::ShapeMismatch {
                context: format!("tensor {:?} dims", self.name),
                expected: vec![],
                actual: self.dims.clone(),
            })?;
            n = n.saturating_mul(d);
        }
        if n > limit as u64 {
            return Err(NnError::LimitExceeded {
                what: "tensor elements",
                value: n,
                limit: limit as u64,
            });
        }
        Ok(n as usize)
    }

    fn check_storage(&self) -> Result<()> {
        if self.external {
            return Err(NnError::ExternalData {
                tensor: self.name.clone(),
            });
        }
        Ok(())
    }

    /// Values may be in `raw_data` or in the typed field, not in both.
    fn check_single_source(&self, typed_empty: bool) -> Result<()> {
        if !self.raw_data.is_empty() && !typed_empty {
            return Err(NnError::AmbiguousTensorData {
                tensor: self.name.clone(),
            });
        }
        Ok(())
    }

    fn mismatch(&self, expected: usize, actual: usize) -> NnError {
        NnError::TensorDataMismatch {
            tensor: self.name.clone(),
            expected: expected as u64,
            actual: actual as u64,
        }
    }

    fn unsupported_type(&self) -> NnError {
        NnError::UnsupportedDataType {
            tensor: self.name.clone(),
            data_type: self.data_type,
            type_name: data_type_name(self.data_type),
        }
    }

    /// The values of a FLOAT tensor as `f64` (row-major). Any other data type is an error.
    pub fn float_values(&self, limit: usize) -> Result<Vec<f64>> {
        self.check_storage()?;
        if self.data_type != DATA_TYPE_FLOAT {
            return Err(self.unsupported_type());
        }
        let n = self.element_count(limit)?;
        self.check_single_source(self.float_data.is_empty())?;
        if !self.raw_data.is_empty() {
            if self.raw_data.len() != n.saturating_mul(4) {
                return Err(self.mismatch(n, self.raw_data.len() / 4));
            }
            return Ok(self
                .raw_data
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect());
        }
        if self.float_data.len() != n {
            return Err(self.mismatch(n, self.float_data.len()));
        }
        Ok(self.float_data.iter().map(|&x| f64::from(x)).collect())
    }

    /// The values of an INT64 tensor (row-major). Any other data type is an error.
    pub fn int64_values(&self, limit: usize) -> Result<Vec<i64>> {
        self.check_storage()?;
        if self.data_type != DATA_TYPE_INT64 {
            return Err(self.unsupported_type());
        }
        let n = self.element_count(limit)?;
        self.check_single_source(self.int64_data.is_empty())?;
        if !self.raw_data.is_empty() {
            if self.raw_data.len() != n.saturating_mul(8) {
                return Err(self.mismatch(n, self.raw_data.len() / 8));
            }
            return Ok(self
                .raw_data
                .chunks_exact(8)
                .map(|c| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    i64::from_le_bytes(a)
                })
                .collect());
        }
        if self.int64_data.len() != n {
            return Err(self.mismatch(n, self.int64_data.len()));
        }
        Ok(self.int64_data.clone())
    }
}

impl ValueInfoProto {
    fn decode(bytes: &[u8], ctx: Ctx<'_>) -> Result<Self> {
        let mut vi = Self::default();
        let mut r = Reader::new(bytes);
        while let Some((field, v)) = r.field()? {
            match field {
                1 => vi.name = ctx.string(field, v)?,
                2 => {
                    // TypeProto: only tensor_type (field 1) is read.
                    let tctx = ctx.nested("TypeProto")?;
                    let mut tr = Reader::new(ctx.bytes(field, v)?);
                    while let Some((tf, tv)) = tr.field()? {
                        if tf == 1 {
                            let (elem, shape) =
                                decode_tensor_type(tctx.bytes(tf, tv)?, tctx.nested("Tensor")?)?;
                            vi.elem_type = Some(elem);
                            vi.shape = shape;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(vi)
    }
}

fn decode_tensor_type(bytes: &[u8], ctx: Ctx<'_>) -> Result<(i32, Option<Vec<Dim>>)> {
    let mut elem = 0;
    let mut shape = None;
    let mut r = Reader::new(bytes);
    while let Some((field, v)) = r.field()? {
        match field {
            1 => elem = ctx.int32(field, v)?,
            2 => {
                let sctx = ctx.nested("TensorShapeProto")?;
                let mut dims = Vec::new();
                let mut sr = Reader::new(ctx.bytes(field, v)?);
                while let Some((sf, sv)) = sr.field()? {
                    if sf == 1 {
                        let dctx = sctx.nested("Dimension")?;
                        let mut d = Dim::Unknown;
                        let mut dr = Reader::new(sctx.bytes(sf, sv)?);
                        while let Some((df, dv)) = dr.field()? {
                            match df {
                                1 => d = Dim::Value(dctx.int64(df, dv)?),
                                2 => d = Dim::Param(dctx.string(df, dv)?),
                                _ => {}
                            }
                        }
                        sctx.push_message("shape dims", &mut dims, d)?;
                    }
                }
                shape = Some(dims);
            }
            _ => {}
        }
    }
    Ok((elem, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_bytes(field: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![(field << 3) | 2, payload.len() as u8];
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn wire_type_mismatch_is_an_error() {
        // ModelProto.ir_version (field 1) sent as bytes.
        assert_eq!(
            ModelProto::decode(&field_bytes(1, b"x")),
            Err(NnError::WireTypeMismatch {
                message: "ModelProto",
                field: 1,
                expected: 0,
                actual: 2
            })
        );
    }

    #[test]
    fn invalid_utf8_and_unknown_fields() {
        // GraphProto { node { op_type: 0xff } } -> invalid UTF-8
        let node = field_bytes(4, &[0xff]);
        let graph = field_bytes(1, &node);
        let model = field_bytes(7, &graph);
        assert!(matches!(
            ModelProto::decode(&model),
            Err(NnError::InvalidUtf8 {
                message: "NodeProto",
                field: 4
            })
        ));
        // Unknown fields of every wire type are skipped.
        let mut m = vec![0x08, 0x07]; // ir_version = 7
        m.extend([0xf8, 0x01, 0x05]); // field 31 varint
        m.extend([0xf9, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]); // field 31 fixed64
        m.extend([0xfd, 0x01, 0, 0, 0, 0]); // field 31 fixed32
        m.extend([0xfa, 0x01, 0x01, 0x00]); // field 31 bytes
        let decoded = ModelProto::decode(&m).expect("decodes");
        assert_eq!(decoded.ir_version, 7);
        assert!(decoded.graph.is_none());
    }

    #[test]
    fn tensor_values_packed_unpacked_and_raw() {
        // dims [2] unpacked, data_type FLOAT, float_data packed [1.5, -2]
        let mut t = vec![0x08, 0x02, 0x10, 0x01];
        let mut packed = 1.5f32.to_le_bytes().to_vec();
        packed.extend((-2.0f32).to_le_bytes());
        t.extend(field_bytes(4, &packed));
        let limits = DecodeLimits::default();
        let decoded = Cell::new(0);
        let ctx = Ctx {
            message: "TensorProto",
            depth: 0,
            limits: &limits,
            decoded: &decoded,
        };
        let tensor = TensorProto::decode(&t, ctx).expect("decodes");
        assert_eq!(tensor.float_values(100), Ok(vec![1.5, -2.0]));
        assert!(matches!(
            tensor.int64_values(100),
            Err(NnError::UnsupportedDataType {
                type_name: "FLOAT",
                ..
            })
        ));
        // raw_data of the wrong length
        let mut bad = vec![0x08, 0x03, 0x10, 0x01];
        bad.extend(field_bytes(9, &packed));
        let tensor = TensorProto::decode(&bad, ctx).expect("decodes");
        assert!(matches!(
            tensor.float_values(100),
            Err(NnError::TensorDataMismatch {
                expected: 3,
                actual: 2,
                ..
            })
        ));
        // element count over the limit is refused before converting
        assert!(matches!(
            tensor.float_values(2),
            Err(NnError::LimitExceeded { .. })
        ));
        // values both packed in float_data and in raw_data: ambiguous, refused
        let mut both = vec![0x08, 0x02, 0x10, 0x01];
        both.extend(field_bytes(4, &packed));
        both.extend(field_bytes(9, &packed));
        let tensor = TensorProto::decode(&both, ctx).expect("decodes");
        assert!(matches!(
            tensor.float_values(100),
            Err(NnError::AmbiguousTensorData { .. })
        ));
        let int64 = TensorProto {
            data_type: DATA_TYPE_INT64,
            dims: vec![1],
            int64_data: vec![5],
            raw_data: 5i64.to_le_bytes().to_vec(),
            ..TensorProto::default()
        };
        assert!(matches!(
            int64.int64_values(100),
            Err(NnError::AmbiguousTensorData { .. })
        ));
    }
}
