//! Byte encoding of an [`Architecture`] (sent from server to client).
//!
//! Format (all integers little-endian):
//! input shape (3 x `u32`), layer count `u32`, then per layer:
//! name (`u16` length + UTF-8), op tag `u8` and its parameters, input count `u8` and the input
//! ids (`u32` each); finally the output tensor id `u32`. Decoding checks every count against a
//! limit before allocating and re-validates the result with [`Architecture::new`]. The format
//! has no magic or version of its own: it is part of the session protocol, whose one greeting
//! and version are the connection's (`crate::net::hello`).

use super::{Activation, Architecture, Conv2d, MAX_DIM, MAX_LAYERS, Op, Shape, TensorId, Window2d};
use crate::error::{NnError, Result};

/// Longest layer name accepted.
const MAX_NAME_BYTES: usize = 1024;

const OP_CONV: u8 = 1;
const OP_DENSE: u8 = 2;
const OP_AVG_POOL: u8 = 3;
const OP_GLOBAL_AVG_POOL: u8 = 4;
const OP_MAX_POOL: u8 = 5;
const OP_ADD: u8 = 6;
const OP_RESHAPE: u8 = 7;
const OP_ACTIVATION: u8 = 8;

const ACT_RELU: u8 = 0;
const ACT_CHANNEL_RELU: u8 = 1;
const ACT_POLYNOMIAL: u8 = 2;
const ACT_IDENTITY: u8 = 3;

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: usize) {
        // Architectures are validated: every parameter is at most MAX_DIM, every id at most
        // MAX_LAYERS.
        self.0
            .extend(u32::try_from(v).unwrap_or(u32::MAX).to_le_bytes());
    }
    fn shape(&mut self, s: Shape) {
        self.u32(s.channels);
        self.u32(s.height);
        self.u32(s.width);
    }
    fn dims(&mut self, values: &[usize]) {
        for &v in values {
            self.u32(v);
        }
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
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
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32_raw(&mut self) -> Result<u64> {
        let b = self.take(4)?;
        Ok(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    }
    /// A dimension or id, bounded by `MAX_DIM`.
    fn dim(&mut self, what: &'static str) -> Result<usize> {
        let v = self.u32_raw()?;
        if v > MAX_DIM as u64 {
            return Err(NnError::LimitExceeded {
                what,
                value: v,
                limit: MAX_DIM as u64,
            });
        }
        Ok(v as usize)
    }
    fn f64(&mut self) -> Result<f64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }
    fn shape(&mut self) -> Result<Shape> {
        Ok(Shape::new(
            self.dim("shape dimension")?,
            self.dim("shape dimension")?,
            self.dim("shape dimension")?,
        ))
    }
    fn dims<const N: usize>(&mut self, what: &'static str) -> Result<[usize; N]> {
        let mut v = [0usize; N];
        for x in &mut v {
            *x = self.dim(what)?;
        }
        Ok(v)
    }
}

impl Architecture {
    /// Serialises the architecture (no weights) for the client.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.shape(self.input_shape());
        w.u32(self.layers().len());
        for layer in self.layers() {
            let name = truncate_utf8(&layer.name, MAX_NAME_BYTES);
            w.0.extend((name.len() as u16).to_le_bytes());
            w.0.extend_from_slice(name.as_bytes());
            match &layer.op {
                Op::Conv2d(c) => {
                    w.u8(OP_CONV);
                    w.dims(&c.to_array());
                }
                Op::Dense {
                    in_features,
                    out_features,
                } => {
                    w.u8(OP_DENSE);
                    w.u32(*in_features);
                    w.u32(*out_features);
                }
                Op::AvgPool(p) => {
                    w.u8(OP_AVG_POOL);
                    w.dims(&p.to_array());
                }
                Op::GlobalAvgPool => w.u8(OP_GLOBAL_AVG_POOL),
                Op::MaxPool(p) => {
                    w.u8(OP_MAX_POOL);
                    w.dims(&p.to_array());
                }
                Op::Add => w.u8(OP_ADD),
                Op::Reshape { shape } => {
                    w.u8(OP_RESHAPE);
                    w.shape(*shape);
                }
                Op::Activation(a) => {
                    w.u8(OP_ACTIVATION);
                    match a {
                        Activation::Relu => w.u8(ACT_RELU),
                        Activation::ChannelRelu { mask } => {
                            w.u8(ACT_CHANNEL_RELU);
                            w.u32(mask.len());
                            w.0.extend(mask.iter().map(|&m| u8::from(m)));
                        }
                        Activation::Polynomial { coefficients } => {
                            w.u8(ACT_POLYNOMIAL);
                            for c in coefficients {
                                w.0.extend(c.to_le_bytes());
                            }
                        }
                        Activation::Identity => w.u8(ACT_IDENTITY),
                    }
                }
            }
            w.u8(layer.inputs.len() as u8);
            for &t in &layer.inputs {
                w.u32(t);
            }
        }
        w.u32(self.output());
        w.0
    }

    /// Decodes bytes produced by [`Architecture::to_bytes`] (e.g. received from the server).
    /// Every length is checked before allocating; the result is validated as by
    /// [`Architecture::new`]. Trailing bytes are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut c = Cursor { buf: bytes, pos: 0 };
        let input_shape = c.shape()?;
        let n = c.u32_raw()?;
        if n > MAX_LAYERS as u64 {
            return Err(NnError::LimitExceeded {
                what: "layers",
                value: n,
                limit: MAX_LAYERS as u64,
            });
        }
        // Each layer takes at least 4 bytes, so a count larger than that is truncated input.
        let n = n as usize;
        if n.saturating_mul(4) > bytes.len() {
            return Err(NnError::Truncated {
                offset: bytes.len(),
            });
        }
        let mut layers = Vec::with_capacity(n);
        for _ in 0..n {
            let name_len = usize::from(c.u16()?);
            if name_len > MAX_NAME_BYTES {
                return Err(NnError::LimitExceeded {
                    what: "layer name bytes",
                    value: name_len as u64,
                    limit: MAX_NAME_BYTES as u64,
                });
            }
            let name = std::str::from_utf8(c.take(name_len)?)
                .map_err(|_| NnError::InvalidUtf8 {
                    message: "Architecture layer name",
                    field: 0,
                })?
                .to_owned();
            let tag_offset = c.pos;
            let op = match c.u8()? {
                OP_CONV => Op::Conv2d(Conv2d::from_array(c.dims("convolution parameter")?)),
                OP_DENSE => Op::Dense {
                    in_features: c.dim("dense in_features")?,
                    out_features: c.dim("dense out_features")?,
                },
                OP_AVG_POOL => Op::AvgPool(Window2d::from_array(c.dims("pooling parameter")?)),
                OP_GLOBAL_AVG_POOL => Op::GlobalAvgPool,
                OP_MAX_POOL => Op::MaxPool(Window2d::from_array(c.dims("pooling parameter")?)),
                OP_ADD => Op::Add,
                OP_RESHAPE => Op::Reshape { shape: c.shape()? },
                OP_ACTIVATION => {
                    let act_offset = c.pos;
                    Op::Activation(match c.u8()? {
                        ACT_RELU => Activation::Relu,
                        ACT_CHANNEL_RELU => {
                            let len = c.dim("ChannelRelu mask length")?;
                            let raw = c.take(len)?;
                            let mut mask = Vec::with_capacity(len);
                            for (i, &b) in raw.iter().enumerate() {
                                mask.push(match b {
                                    0 => false,
                                    1 => true,
                                    tag => {
                                        return Err(NnError::InvalidTag {
                                            what: "mask entry",
                                            tag,
                                            offset: c.pos - len + i,
                                        });
                                    }
                                });
                            }
                            Activation::ChannelRelu { mask }
                        }
                        ACT_POLYNOMIAL => Activation::Polynomial {
                            coefficients: [c.f64()?, c.f64()?, c.f64()?],
                        },
                        ACT_IDENTITY => Activation::Identity,
                        tag => {
                            return Err(NnError::InvalidTag {
                                what: "activation",
                                tag,
                                offset: act_offset,
                            });
                        }
                    })
                }
                tag => {
                    return Err(NnError::InvalidTag {
                        what: "layer",
                        tag,
                        offset: tag_offset,
                    });
                }
            };
            let n_inputs = usize::from(c.u8()?);
            if n_inputs > 2 {
                return Err(NnError::LimitExceeded {
                    what: "layer inputs",
                    value: n_inputs as u64,
                    limit: 2,
                });
            }
            let mut inputs: Vec<TensorId> = Vec::with_capacity(n_inputs);
            for _ in 0..n_inputs {
                inputs.push(c.dim("tensor id")?);
            }
            layers.push((name, op, inputs));
        }
        let output = c.dim("output tensor id")?;
        if c.pos != bytes.len() {
            return Err(NnError::TrailingBytes {
                extra: bytes.len() - c.pos,
            });
        }
        Architecture::new(input_shape, layers, output)
    }
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
