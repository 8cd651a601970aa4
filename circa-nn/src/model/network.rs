//! The server's [`Network`]: an architecture plus weights.

use super::arch::{Architecture, Op};
use crate::calibration::Calibration;
use crate::error::{NnError, Result};
use zeroize::Zeroize;

/// Weights and bias of one linear layer (the server's secret). Zeroized on drop; `Debug` shows
/// only the lengths.
#[derive(Clone, PartialEq)]
pub struct LinearWeights {
    weight: Vec<f64>,
    bias: Vec<f64>,
}

impl LinearWeights {
    /// Weights (convolution: `[out][in/groups][kh][kw]`; dense: `[out][in]`) and bias (`[out]`).
    pub fn new(weight: Vec<f64>, bias: Vec<f64>) -> Self {
        Self { weight, bias }
    }

    /// The weights.
    pub fn weight(&self) -> &[f64] {
        &self.weight
    }

    /// The bias, one per output channel / feature.
    pub fn bias(&self) -> &[f64] {
        &self.bias
    }

    /// Mutable weights and bias (used to fold batch normalisation).
    pub(crate) fn parts_mut(&mut self) -> (&mut [f64], &mut [f64]) {
        (&mut self.weight, &mut self.bias)
    }
}

impl Drop for LinearWeights {
    fn drop(&mut self) {
        self.weight.zeroize();
        self.bias.zeroize();
    }
}

impl std::fmt::Debug for LinearWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LinearWeights {{ weight: [{} values redacted], bias: [{} values redacted] }}",
            self.weight.len(),
            self.bias.len()
        )
    }
}

/// The server's network: the public [`Architecture`] and the weights of every linear layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    architecture: Architecture,
    weights: Vec<Option<LinearWeights>>,
    calibration: Option<Calibration>,
}

impl Network {
    /// Pairs an architecture with one entry per layer: `Some` for [`Op::Conv2d`] and
    /// [`Op::Dense`] (lengths checked), `None` for every other layer. Weights must be finite.
    pub fn new(architecture: Architecture, weights: Vec<Option<LinearWeights>>) -> Result<Self> {
        let layers = architecture.layers();
        if weights.len() != layers.len() {
            return Err(NnError::WeightLengthMismatch {
                layer: layers.len(),
                what: "per-layer weight list",
                expected: layers.len(),
                actual: weights.len(),
            });
        }
        for (i, (layer, w)) in layers.iter().zip(&weights).enumerate() {
            let expected = match &layer.op {
                Op::Conv2d(c) => Some((c.weight_len(), c.out_channels)),
                Op::Dense {
                    in_features,
                    out_features,
                } => Some((in_features * out_features, *out_features)),
                _ => None,
            };
            match (expected, w) {
                (None, None) => {}
                (Some((wl, bl)), Some(w)) => {
                    if w.weight.len() != wl {
                        return Err(NnError::WeightLengthMismatch {
                            layer: i,
                            what: "weight",
                            expected: wl,
                            actual: w.weight.len(),
                        });
                    }
                    if w.bias.len() != bl {
                        return Err(NnError::WeightLengthMismatch {
                            layer: i,
                            what: "bias",
                            expected: bl,
                            actual: w.bias.len(),
                        });
                    }
                    if w.weight.iter().chain(&w.bias).any(|v| !v.is_finite()) {
                        return Err(NnError::NonFiniteParameter { layer: i });
                    }
                }
                _ => return Err(NnError::WeightKindMismatch { layer: i }),
            }
        }
        Ok(Self {
            architecture,
            weights,
            calibration: None,
        })
    }

    /// The network with `calibration` attached (as read from, or written to, the model file).
    pub fn with_calibration(mut self, calibration: Option<Calibration>) -> Self {
        self.calibration = calibration;
        self
    }

    /// The calibration the model file carried (`circa calibrate`), if any.
    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    /// The public architecture (what the client receives).
    pub fn architecture(&self) -> &Architecture {
        &self.architecture
    }

    /// Weights of layer `i` (`None` for layers without weights or out of range).
    pub fn layer_weights(&self, i: usize) -> Option<&LinearWeights> {
        self.weights.get(i).and_then(Option::as_ref)
    }

    /// All per-layer weights, aligned with [`Architecture::layers`].
    pub fn weights(&self) -> &[Option<LinearWeights>] {
        &self.weights
    }
}
