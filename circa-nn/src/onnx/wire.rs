//! A bounded reader for the protobuf wire format (varints, length-delimited fields, fixed32 and
//! fixed64), written for untrusted input: every read is bounds-checked and returns a typed error.

use core::cell::Cell;

use crate::error::{NnError, Result};

/// Wire type 0: varint.
pub(crate) const VARINT: u8 = 0;
/// Wire type 1: 8 little-endian bytes.
pub(crate) const FIXED64: u8 = 1;
/// Wire type 2: length-delimited.
pub(crate) const LEN: u8 = 2;
/// Wire type 5: 4 little-endian bytes.
pub(crate) const FIXED32: u8 = 5;

/// Limits applied while decoding an ONNX model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted model file in bytes.
    pub max_total_bytes: usize,
    /// Deepest accepted nesting of messages (the model itself is depth 0).
    pub max_depth: usize,
    /// Most elements accepted in one repeated field or one tensor.
    pub max_elements: usize,
    /// Most entries accepted in one repeated message field (nodes, initializers, attributes...).
    pub max_messages: usize,
    /// Most bytes the decoded model may occupy in memory, over the whole model (every decoded
    /// message, string, byte field and number counts). The per-field limits alone would let a
    /// small file decode to a much larger model (an empty attribute is 2 bytes on the wire and
    /// a few hundred in memory).
    pub max_decoded_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_total_bytes: 256 << 20,
            max_depth: 16,
            max_elements: 1 << 26,
            max_messages: 1 << 20,
            max_decoded_bytes: 512 << 20,
        }
    }
}

/// The value of one field as read from the wire.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Varint(u64),
    /// Skipped: no field the importer reads is a fixed64.
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl Value<'_> {
    pub(crate) fn wire_type(&self) -> u8 {
        match self {
            Value::Varint(_) => VARINT,
            Value::Fixed64 => FIXED64,
            Value::Bytes(_) => LEN,
            Value::Fixed32(_) => FIXED32,
        }
    }
}

/// Cursor over one message's bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn varint(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or(NnError::Truncated { offset: self.pos })?;
            self.pos += 1;
            let low = u64::from(byte & 0x7f);
            if i == 9 && byte > 1 {
                return Err(NnError::MalformedVarint { offset: start });
            }
            value |= low << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(NnError::MalformedVarint { offset: start })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(NnError::Truncated { offset: self.pos })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn fixed32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads the next field key and value, or `None` at the end of the message.
    pub(crate) fn field(&mut self) -> Result<Option<(u32, Value<'a>)>> {
        if self.is_empty() {
            return Ok(None);
        }
        let key_offset = self.pos;
        let key = self.varint()?;
        let field = key >> 3;
        let wire_type = (key & 7) as u8;
        if field == 0 || field > (1 << 29) - 1 {
            return Err(NnError::InvalidFieldNumber {
                field,
                offset: key_offset,
            });
        }
        let value = match wire_type {
            VARINT => Value::Varint(self.varint()?),
            FIXED64 => {
                self.take(8)?;
                Value::Fixed64
            }
            LEN => {
                let len = self.varint()?;
                let len =
                    usize::try_from(len).map_err(|_| NnError::Truncated { offset: self.pos })?;
                Value::Bytes(self.take(len)?)
            }
            FIXED32 => Value::Fixed32(self.fixed32()?),
            other => {
                return Err(NnError::InvalidWireType {
                    wire_type: other,
                    offset: key_offset,
                });
            }
        };
        // The check above guarantees the field number fits in 29 bits.
        Ok(Some((field as u32, value)))
    }
}

/// Context for decoding one message type: its name (for errors), depth, limits and the
/// memory budget shared by the whole decode.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'l> {
    pub(crate) message: &'static str,
    pub(crate) depth: usize,
    pub(crate) limits: &'l DecodeLimits,
    /// Bytes of decoded data so far, over the whole model.
    pub(crate) decoded: &'l Cell<usize>,
}

impl<'l> Ctx<'l> {
    /// Context for a nested message, failing when the nesting limit is exceeded.
    pub(crate) fn nested(&self, message: &'static str) -> Result<Ctx<'l>> {
        let depth = self.depth + 1;
        if depth > self.limits.max_depth {
            return Err(NnError::NestingTooDeep {
                limit: self.limits.max_depth,
            });
        }
        Ok(Ctx {
            message,
            depth,
            limits: self.limits,
            decoded: self.decoded,
        })
    }

    /// Charges `bytes` of decoded data against `max_decoded_bytes` (before allocating them).
    pub(crate) fn charge(&self, bytes: usize) -> Result<()> {
        let total = self.decoded.get().saturating_add(bytes);
        if total > self.limits.max_decoded_bytes {
            return Err(NnError::LimitExceeded {
                what: "decoded model bytes",
                value: total as u64,
                limit: self.limits.max_decoded_bytes as u64,
            });
        }
        self.decoded.set(total);
        Ok(())
    }

    fn mismatch(&self, field: u32, expected: u8, actual: &Value<'_>) -> NnError {
        NnError::WireTypeMismatch {
            message: self.message,
            field,
            expected,
            actual: actual.wire_type(),
        }
    }

    pub(crate) fn int64(&self, field: u32, v: Value<'_>) -> Result<i64> {
        match v {
            // Two's complement reinterpretation is how protobuf encodes int64.
            Value::Varint(x) => Ok(x as i64),
            other => Err(self.mismatch(field, VARINT, &other)),
        }
    }

    pub(crate) fn int32(&self, field: u32, v: Value<'_>) -> Result<i32> {
        // protobuf encodes int32 as a sign-extended varint; truncation is the specified decoding.
        Ok(self.int64(field, v)? as i32)
    }

    pub(crate) fn float(&self, field: u32, v: Value<'_>) -> Result<f32> {
        match v {
            Value::Fixed32(x) => Ok(f32::from_bits(x)),
            other => Err(self.mismatch(field, FIXED32, &other)),
        }
    }

    pub(crate) fn bytes<'a>(&self, field: u32, v: Value<'a>) -> Result<&'a [u8]> {
        match v {
            Value::Bytes(b) => Ok(b),
            other => Err(self.mismatch(field, LEN, &other)),
        }
    }

    pub(crate) fn string(&self, field: u32, v: Value<'_>) -> Result<String> {
        let b = self.bytes(field, v)?;
        self.charge(b.len())?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| NnError::InvalidUtf8 {
                message: self.message,
                field,
            })
    }

    /// Checks a count against a limit before it is used to allocate or to grow a vector.
    pub(crate) fn check_count(&self, what: &'static str, count: usize, limit: usize) -> Result<()> {
        if count > limit {
            return Err(NnError::LimitExceeded {
                what,
                value: count as u64,
                limit: limit as u64,
            });
        }
        Ok(())
    }

    /// Appends a repeated message/string entry, enforcing `max_messages`.
    pub(crate) fn push_message<T>(
        &self,
        what: &'static str,
        out: &mut Vec<T>,
        item: T,
    ) -> Result<()> {
        self.check_count(what, out.len() + 1, self.limits.max_messages)?;
        self.charge(core::mem::size_of::<T>())?;
        out.push(item);
        Ok(())
    }

    /// Appends a repeated int64 field, packed or not.
    pub(crate) fn repeated_int64(
        &self,
        what: &'static str,
        field: u32,
        v: Value<'_>,
        out: &mut Vec<i64>,
    ) -> Result<()> {
        match v {
            Value::Bytes(b) => {
                // Each varint takes at least one byte, so the count is at most b.len().
                let mut r = Reader::new(b);
                while !r.is_empty() {
                    self.check_count(what, out.len() + 1, self.limits.max_elements)?;
                    self.charge(8)?;
                    out.push(r.varint()? as i64);
                }
                Ok(())
            }
            Value::Varint(x) => {
                self.check_count(what, out.len() + 1, self.limits.max_elements)?;
                self.charge(8)?;
                out.push(x as i64);
                Ok(())
            }
            other => Err(self.mismatch(field, VARINT, &other)),
        }
    }

    /// Appends a repeated float field, packed or not.
    pub(crate) fn repeated_float(
        &self,
        what: &'static str,
        field: u32,
        v: Value<'_>,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        match v {
            Value::Bytes(b) => {
                if b.len() % 4 != 0 {
                    return Err(NnError::Truncated { offset: b.len() });
                }
                let n = b.len() / 4;
                self.check_count(what, out.len().saturating_add(n), self.limits.max_elements)?;
                self.charge(b.len())?;
                out.reserve(n);
                out.extend(
                    b.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
                Ok(())
            }
            Value::Fixed32(x) => {
                self.check_count(what, out.len() + 1, self.limits.max_elements)?;
                self.charge(4)?;
                out.push(f32::from_bits(x));
                Ok(())
            }
            other => Err(self.mismatch(field, FIXED32, &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip_edges() {
        for (bytes, want) in [
            (vec![0u8], 0u64),
            (vec![0x7f], 127),
            (vec![0x80, 0x01], 128),
            (
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                u64::MAX,
            ),
        ] {
            assert_eq!(Reader::new(&bytes).varint(), Ok(want));
        }
    }

    #[test]
    fn varint_errors() {
        assert_eq!(
            Reader::new(&[0x80]).varint(),
            Err(NnError::Truncated { offset: 1 })
        );
        let eleven = [0xffu8; 11];
        assert_eq!(
            Reader::new(&eleven).varint(),
            Err(NnError::MalformedVarint { offset: 0 })
        );
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            Reader::new(&overflow).varint(),
            Err(NnError::MalformedVarint { offset: 0 })
        );
    }

    #[test]
    fn field_errors() {
        // field 0
        assert!(matches!(
            Reader::new(&[0x00, 0x00]).field(),
            Err(NnError::InvalidFieldNumber { field: 0, .. })
        ));
        // wire type 3 (start group)
        assert!(matches!(
            Reader::new(&[0x0b]).field(),
            Err(NnError::InvalidWireType { wire_type: 3, .. })
        ));
        // length beyond the buffer
        assert!(matches!(
            Reader::new(&[0x0a, 0x05, 0x01]).field(),
            Err(NnError::Truncated { .. })
        ));
        // huge length
        let mut huge = vec![0x0a];
        huge.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(matches!(
            Reader::new(&huge).field(),
            Err(NnError::Truncated { .. })
        ));
    }

    #[test]
    fn fields_read_in_order() {
        // field 1 varint 150, field 2 bytes "hi", field 3 fixed32, field 4 fixed64
        let mut b = vec![0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i', 0x1d];
        b.extend(1.5f32.to_le_bytes());
        b.push(0x21);
        b.extend(7u64.to_le_bytes());
        let mut r = Reader::new(&b);
        assert!(matches!(r.field(), Ok(Some((1, Value::Varint(150))))));
        assert!(matches!(r.field(), Ok(Some((2, Value::Bytes(b"hi"))))));
        assert!(matches!(r.field(), Ok(Some((3, Value::Fixed32(x)))) if f32::from_bits(x) == 1.5));
        assert!(matches!(r.field(), Ok(Some((4, Value::Fixed64)))));
        assert!(matches!(r.field(), Ok(None)));
    }
}
