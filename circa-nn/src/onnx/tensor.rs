//! The values of a `TensorProto`: from `raw_data`, a typed field or external data, after
//! checking the dims (non-negative, product without overflow and within the limit) and that
//! exactly one place holds exactly the values the dims call for.

use std::borrow::Cow;

use super::external::ExternalDir;
use super::proto::{TensorProto, data_type, data_type_name};
use crate::error::{NnError, Result};

/// Reads tensors of one model: where its external data lives (if anywhere) and the largest
/// element count accepted per tensor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TensorReader<'a> {
    pub(crate) external: Option<&'a ExternalDir>,
    pub(crate) max_elements: usize,
}

impl TensorReader<'_> {
    /// The dims as sizes (checked: no negative dim, a product within `max_elements`).
    pub(crate) fn dims(&self, t: &TensorProto) -> Result<Vec<usize>> {
        let bad = || NnError::ShapeMismatch {
            context: format!("tensor {:?} dims", t.name),
            expected: vec![],
            actual: t.dims.clone(),
        };
        let dims: Vec<usize> = t
            .dims
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| bad()))
            .collect::<Result<_>>()?;
        checked_len(&dims, self.max_elements)?;
        Ok(dims)
    }

    /// Number of elements the dims call for.
    pub(crate) fn element_count(&self, t: &TensorProto) -> Result<usize> {
        checked_len(&self.dims(t)?, self.max_elements)
    }

    /// The bytes of `n` elements of `size` bytes, when they are in `raw_data` or external;
    /// `None` when the typed field holds them (`typed_len` values).
    fn raw<'t>(
        &self,
        t: &'t TensorProto,
        n: usize,
        size: usize,
        typed_len: usize,
    ) -> Result<Option<Cow<'t, [u8]>>> {
        let ambiguous = || NnError::AmbiguousTensorData {
            tensor: t.name.clone(),
        };
        let bytes = n.checked_mul(size).ok_or(NnError::LimitExceeded {
            what: "tensor bytes",
            value: u64::MAX,
            limit: self.max_elements as u64,
        })?;
        if t.is_external() {
            if !t.raw_data.is_empty() || typed_len != 0 {
                return Err(ambiguous());
            }
            let ext = self.external.ok_or_else(|| NnError::ExternalData {
                tensor: t.name.clone(),
            })?;
            let mut data = ext.read(t, bytes)?;
            return Ok(Some(Cow::Owned(std::mem::take(&mut *data))));
        }
        if t.raw_data.is_empty() {
            if typed_len != n {
                return Err(mismatch(t, n, typed_len));
            }
            return Ok(None);
        }
        if typed_len != 0 {
            return Err(ambiguous());
        }
        if t.raw_data.len() != bytes {
            return Err(mismatch(t, n, t.raw_data.len() / size));
        }
        Ok(Some(Cow::Borrowed(&t.raw_data)))
    }

    /// The values of a FLOAT tensor as `f64` (row-major). Any other type is an error.
    pub(crate) fn floats(&self, t: &TensorProto) -> Result<Vec<f64>> {
        expect_type(t, &[data_type::FLOAT])?;
        let n = self.element_count(t)?;
        Ok(match self.raw(t, n, 4, t.float_data.len())? {
            Some(b) => {
                let v = b
                    .chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect();
                wipe(b);
                v
            }
            None => t.float_data.iter().map(|&x| f64::from(x)).collect(),
        })
    }

    /// The values of an INT64 or INT32 tensor (row-major). Any other type is an error.
    pub(crate) fn ints(&self, t: &TensorProto) -> Result<Vec<i64>> {
        expect_type(t, &[data_type::INT64, data_type::INT32])?;
        let n = self.element_count(t)?;
        if t.data_type == data_type::INT32 {
            return Ok(match self.raw(t, n, 4, t.int32_data.len())? {
                Some(b) => b
                    .chunks_exact(4)
                    .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
                None => t.int32_data.iter().map(|&x| i64::from(x)).collect(),
            });
        }
        Ok(match self.raw(t, n, 8, t.int64_data.len())? {
            Some(b) => b
                .chunks_exact(8)
                .map(|c| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    i64::from_le_bytes(a)
                })
                .collect(),
            None => t.int64_data.clone(),
        })
    }

    /// The values of a BOOL tensor (row-major; one byte each in `raw_data`, or `int32_data`).
    pub(crate) fn bools(&self, t: &TensorProto) -> Result<Vec<bool>> {
        expect_type(t, &[data_type::BOOL])?;
        let n = self.element_count(t)?;
        let values: Vec<i64> = match self.raw(t, n, 1, t.int32_data.len())? {
            Some(b) => b.iter().map(|&x| i64::from(x)).collect(),
            None => t.int32_data.iter().map(|&x| i64::from(x)).collect(),
        };
        values
            .into_iter()
            .map(|v| match v {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(NnError::TensorDataMismatch {
                    tensor: t.name.clone(),
                    expected: n as u64,
                    actual: 0,
                }),
            })
            .collect()
    }
}

/// Overwrites a copy of weights read from a side file.
fn wipe(b: Cow<'_, [u8]>) {
    if let Cow::Owned(mut v) = b {
        zeroize::Zeroize::zeroize(&mut v);
    }
}

/// The product of `dims`, checked for overflow and against `limit`.
pub(crate) fn checked_len(dims: &[usize], limit: usize) -> Result<usize> {
    let n = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or(NnError::LimitExceeded {
            what: "tensor elements",
            value: u64::MAX,
            limit: limit as u64,
        })?;
    if n > limit {
        return Err(NnError::LimitExceeded {
            what: "tensor elements",
            value: n as u64,
            limit: limit as u64,
        });
    }
    Ok(n)
}

fn expect_type(t: &TensorProto, allowed: &[i32]) -> Result<()> {
    if allowed.contains(&t.data_type) {
        return Ok(());
    }
    Err(NnError::UnsupportedDataType {
        tensor: t.name.clone(),
        data_type: t.data_type,
        type_name: data_type_name(t.data_type),
    })
}

fn mismatch(t: &TensorProto, expected: usize, actual: usize) -> NnError {
    NnError::TensorDataMismatch {
        tensor: t.name.clone(),
        expected: expected as u64,
        actual: actual as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(max_elements: usize) -> TensorReader<'static> {
        TensorReader {
            external: None,
            max_elements,
        }
    }

    #[test]
    fn values_from_each_place() {
        let packed: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let typed = TensorProto {
            dims: vec![2],
            data_type: data_type::FLOAT,
            float_data: vec![1.5, -2.0],
            ..Default::default()
        };
        assert_eq!(reader(100).floats(&typed), Ok(vec![1.5, -2.0]));
        assert!(matches!(
            reader(100).ints(&typed),
            Err(NnError::UnsupportedDataType {
                type_name: "FLOAT",
                ..
            })
        ));
        let raw = TensorProto {
            float_data: vec![],
            raw_data: packed.clone(),
            ..typed.clone()
        };
        assert_eq!(reader(100).floats(&raw), Ok(vec![1.5, -2.0]));
        let wrong = TensorProto {
            dims: vec![3],
            ..raw.clone()
        };
        assert!(matches!(
            reader(100).floats(&wrong),
            Err(NnError::TensorDataMismatch {
                expected: 3,
                actual: 2,
                ..
            })
        ));
        assert!(matches!(
            reader(2).floats(&wrong),
            Err(NnError::LimitExceeded { .. })
        ));
        let both = TensorProto {
            raw_data: packed,
            ..typed.clone()
        };
        assert!(matches!(
            reader(100).floats(&both),
            Err(NnError::AmbiguousTensorData { .. })
        ));
        let external = TensorProto {
            data_location: 1,
            float_data: vec![],
            ..typed
        };
        assert!(matches!(
            reader(100).floats(&external),
            Err(NnError::ExternalData { .. })
        ));
        let ints = TensorProto {
            dims: vec![2],
            data_type: data_type::INT32,
            int32_data: vec![-3, 4],
            ..Default::default()
        };
        assert_eq!(reader(100).ints(&ints), Ok(vec![-3, 4]));
        let bools = TensorProto {
            dims: vec![3],
            data_type: data_type::BOOL,
            raw_data: vec![1, 0, 1],
            ..Default::default()
        };
        assert_eq!(reader(100).bools(&bools), Ok(vec![true, false, true]));
        let bad_bool = TensorProto {
            raw_data: vec![1, 2, 1],
            ..bools
        };
        assert!(reader(100).bools(&bad_bool).is_err());
    }

    #[test]
    fn dims_are_checked() {
        let t = |dims: Vec<i64>| TensorProto {
            dims,
            data_type: data_type::FLOAT,
            ..Default::default()
        };
        assert!(matches!(
            reader(100).dims(&t(vec![2, -1])),
            Err(NnError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            reader(usize::MAX).dims(&t(vec![1 << 40, 1 << 40])),
            Err(NnError::LimitExceeded { .. })
        ));
        assert_eq!(reader(100).dims(&t(vec![])), Ok(vec![]));
        assert_eq!(reader(100).element_count(&t(vec![2, 0, 5])), Ok(0));
    }
}
