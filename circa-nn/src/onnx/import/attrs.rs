//! Typed access to a node's attributes, after checking that every attribute is known.

use crate::error::{NnError, Result};
use crate::model::Window2d;
use crate::onnx::proto::{AttributeProto, AttributeType, NodeProto, TensorProto};

pub(super) struct Attrs<'n> {
    node: &'n NodeProto,
}

impl<'n> Attrs<'n> {
    /// Every attribute must be in `allowed` and appear once (a second value would otherwise be
    /// ignored silently).
    pub(super) fn check(node: &'n NodeProto, allowed: &[&str]) -> Result<Self> {
        let mut seen = vec![false; allowed.len()];
        for a in &node.attribute {
            let Some(i) = allowed.iter().position(|&n| n == a.name) else {
                return Err(NnError::UnsupportedAttribute {
                    node: node.name.clone(),
                    op_type: node.op_type.clone(),
                    attribute: a.name.clone(),
                });
            };
            if std::mem::replace(&mut seen[i], true) {
                return Err(NnError::InvalidNode {
                    node: node.name.clone(),
                    reason: "attribute given more than once",
                });
            }
        }
        Ok(Self { node })
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.node.attribute.iter().any(|a| a.name == name)
    }

    fn get(&self, name: &str, ty: AttributeType) -> Result<Option<&'n AttributeProto>> {
        match self.node.attribute.iter().find(|a| a.name == name) {
            None => Ok(None),
            Some(a) if a.r#type == ty as i32 => Ok(Some(a)),
            Some(a) => Err(NnError::AttributeTypeMismatch {
                node: self.node.name.clone(),
                attribute: name.to_owned(),
                expected: ty.as_str_name(),
                actual: a.r#type,
            }),
        }
    }

    pub(super) fn unsupported_value(
        &self,
        attribute: &str,
        value: impl std::fmt::Display,
    ) -> NnError {
        NnError::UnsupportedAttributeValue {
            node: self.node.name.clone(),
            op_type: self.node.op_type.clone(),
            attribute: attribute.to_owned(),
            value: value.to_string(),
        }
    }

    pub(super) fn missing(&self, attribute: &'static str) -> NnError {
        NnError::MissingAttribute {
            node: self.node.name.clone(),
            op_type: self.node.op_type.clone(),
            attribute,
        }
    }

    pub(super) fn int(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.get(name, AttributeType::Int)?.map_or(default, |a| a.i))
    }

    /// An INT attribute that must be 0 or 1.
    pub(super) fn flag(&self, name: &str, default: bool) -> Result<bool> {
        match self.int(name, i64::from(default))? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(self.unsupported_value(name, v)),
        }
    }

    pub(super) fn float(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self
            .get(name, AttributeType::Float)?
            .map_or(default, |a| a.f))
    }

    pub(super) fn ints(&self, name: &str) -> Result<Option<&'n [i64]>> {
        Ok(self
            .get(name, AttributeType::Ints)?
            .map(|a| a.ints.as_slice()))
    }

    pub(super) fn floats(&self, name: &str) -> Result<Option<&'n [f32]>> {
        Ok(self
            .get(name, AttributeType::Floats)?
            .map(|a| a.floats.as_slice()))
    }

    pub(super) fn tensor(&self, name: &str) -> Result<Option<&'n TensorProto>> {
        Ok(self
            .get(name, AttributeType::Tensor)?
            .and_then(|a| a.t.as_ref()))
    }

    pub(super) fn no_auto_pad(&self) -> Result<()> {
        if let Some(a) = self.get("auto_pad", AttributeType::String)?
            && a.s != b"NOTSET"
        {
            // Quoted and escaped: the string comes from the file.
            return Err(
                self.unsupported_value("auto_pad", format!("{:?}", String::from_utf8_lossy(&a.s)))
            );
        }
        Ok(())
    }

    pub(super) fn all_ones(&self, name: &str) -> Result<()> {
        if let Some(v) = self.ints(name)?
            && v.iter().any(|&d| d != 1)
        {
            return Err(self.unsupported_value(name, format!("{v:?}")));
        }
        Ok(())
    }

    pub(super) fn usize_at_least(&self, name: &str, default: i64, min: i64) -> Result<usize> {
        let v = self.int(name, default)?;
        if v < min || v > (1 << 24) {
            return Err(self.unsupported_value(name, v));
        }
        Ok(v as usize)
    }

    pub(super) fn strides(&self) -> Result<(usize, usize)> {
        match self.ints("strides")? {
            None => Ok((1, 1)),
            Some(&[h, w]) if (1..=1 << 24).contains(&h) && (1..=1 << 24).contains(&w) => {
                Ok((h as usize, w as usize))
            }
            Some(v) => Err(self.unsupported_value("strides", format!("{v:?}"))),
        }
    }

    /// A `kernel_h x kernel_w` window with the node's `strides` and `pads`.
    pub(super) fn window(&self, kernel_h: usize, kernel_w: usize) -> Result<Window2d> {
        let (stride_h, stride_w) = self.strides()?;
        let [top, left, bottom, right] = self.pads()?;
        Ok(Window2d::from_array([
            kernel_h, kernel_w, stride_h, stride_w, top, left, bottom, right,
        ]))
    }

    /// ONNX pads `[top, left, bottom, right]` (begin of each axis, then end of each axis).
    pub(super) fn pads(&self) -> Result<[usize; 4]> {
        match self.ints("pads")? {
            None => Ok([0; 4]),
            Some(v) if v.len() == 4 && v.iter().all(|&p| (0..=1 << 24).contains(&p)) => {
                Ok([v[0] as usize, v[1] as usize, v[2] as usize, v[3] as usize])
            }
            Some(v) => Err(self.unsupported_value("pads", format!("{v:?}"))),
        }
    }
}
