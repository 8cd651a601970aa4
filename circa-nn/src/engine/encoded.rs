//! The network encoded once: the server's weights and biases in the field, their bit width and
//! the plan ([`EncodedNetwork`]), and the public constants both parties derive from the plan
//! ([`PublicConstants`]). Built when a model is loaded, shared read-only (`Arc`) by every
//! session and by the fixed-point reference: a connection costs no copy of the weights.

use std::sync::Arc;

use circa_share::he::HeLayer;
use circa_share::{Fp, Modulus};
use zeroize::Zeroize;

use super::layers::Kind;
use super::linear_choice::{self, LinearChoice, LinearMethod, LinearMode};
use super::plan::{Plan, PlanParams, SiteChoice};
use super::reciprocal_units;
use super::reference::LinearParams;
use crate::error::{NnError, Result};
use crate::fixed::encode;
use crate::model::{Architecture, Network};

/// Constants of the fixed-point evaluation that follow from the plan alone (public): every
/// polynomial's encoded coefficients and every average pooling's reciprocal, checked once.
#[derive(Clone, Debug)]
pub struct PublicConstants<M: Modulus> {
    /// Per layer: `[c0 at 2^(2f), c1 at 2^f, c2 at 2^f]` of a polynomial activation.
    coefficients: Vec<Option<[Fp<M>; 3]>>,
    /// `2^f`.
    lift: Fp<M>,
}

impl<M: Modulus> PublicConstants<M> {
    /// Encodes the plan's constants (`arch` is the architecture the plan was built from; its
    /// layer names go into the errors). Errors when `2f + 2 > bits(p)`, when a polynomial
    /// coefficient overflows the field at its scale ([`NnError::ParameterOverflow`] naming the
    /// layer and the coefficient), or when an average pooling's reciprocal
    /// `round(2^f / divisor)` is off from `1 / divisor` by more than 1/8 (0 once
    /// `divisor > 2^(f+1)`: the layer would be scaled wrongly).
    pub fn new(plan: &Plan, arch: &Architecture) -> Result<Self> {
        let f = plan.frac_bits();
        if 2 * f + 2 > M::BITS {
            return Err(NnError::FracBitsTooLarge {
                frac_bits: f,
                field_bits: M::BITS,
            });
        }
        let mut coefficients = Vec::with_capacity(plan.steps().len());
        for (layer, step) in plan.steps().iter().enumerate() {
            coefficients.push(match &step.kind {
                Kind::Polynomial(p) => {
                    let name = arch.layers().get(layer).map_or("", |l| l.name.as_str());
                    let [c0, c1, c2] = p.coefficients();
                    let coefficient = |v, bits, what| {
                        encode::<M>(v, bits, "coefficient")
                            .map_err(|e| named_overflow(e, layer, name, what))
                    };
                    Some([
                        coefficient(c0, 2 * f, "coefficient c0")?,
                        coefficient(c1, f, "coefficient c1")?,
                        coefficient(c2, f, "coefficient c2")?,
                    ])
                }
                Kind::AvgPool(p) => {
                    let divisor = p.divisor();
                    let unit = (f as f64).exp2();
                    let r = reciprocal_units(f, divisor) as f64;
                    if ((r * divisor as f64 - unit) / unit).abs() > 0.125 {
                        return Err(NnError::ReciprocalImprecise {
                            layer,
                            divisor,
                            frac_bits: f,
                        });
                    }
                    None
                }
                _ => None,
            });
        }
        Ok(Self {
            coefficients,
            lift: Fp::from_u64_reduced(1u64 << f),
        })
    }

    /// The encoded coefficients of polynomial layer `layer`.
    pub fn coefficients(&self, layer: usize) -> Option<[Fp<M>; 3]> {
        self.coefficients.get(layer).copied().flatten()
    }

    /// `2^f`, the lift of a max-pool difference to the product scale.
    pub fn lift(&self) -> Fp<M> {
        self.lift
    }
}

/// Weights (at `2^f`) and bias (at `2^(2f)`) of one linear layer. Zeroized on drop.
struct EncodedLinear<M: Modulus> {
    weight: Vec<Fp<M>>,
    bias: Vec<Fp<M>>,
}

impl<M: Modulus> Drop for EncodedLinear<M> {
    fn drop(&mut self) {
        self.weight.zeroize();
        self.bias.zeroize();
    }
}

/// The server's network encoded once for one field and one plan. `Debug` shows no weights.
pub struct EncodedNetwork<M: Modulus> {
    architecture: Architecture,
    plan: Arc<Plan>,
    constants: PublicConstants<M>,
    linear: Vec<Option<EncodedLinear<M>>>,
    weight_bits: u32,
    /// The layer and value of the weight of largest magnitude (the one that sets `weight_bits`).
    widest: Option<(usize, f64)>,
    /// Every linear layer's correlation (empty, i.e. all OT, until
    /// [`EncodedNetwork::set_linear`]).
    linear_choices: Vec<LinearChoice>,
    /// Per layer: the weights as HE kernel polynomials, for the layers served by HE.
    he: Vec<Option<HeLayer<M>>>,
}

impl<M: Modulus> core::fmt::Debug for EncodedNetwork<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "EncodedNetwork({} layers, {}-bit weights, redacted)",
            self.linear.len(),
            self.weight_bits
        )
    }
}

/// `e` (a fixed-point overflow) naming the layer and the parameter.
fn named_overflow(e: NnError, layer: usize, name: &str, what: &'static str) -> NnError {
    match e {
        NnError::FixedPointOverflow {
            value, scale_bits, ..
        } => NnError::ParameterOverflow {
            layer,
            name: name.to_owned(),
            what,
            value,
            scale_bits,
        },
        e => e,
    }
}

/// Smallest signed bit width holding every value `v` with `|v| <= max` (at least 2).
pub(crate) fn signed_bits(max: u64) -> u32 {
    (65 - max.leading_zeros()).max(2)
}

impl<M: Modulus> EncodedNetwork<M> {
    /// Encodes `network` under `params`: the plan, the public constants, every weight at
    /// `2^f` and bias at `2^(2f)` (an error names the layer of a value that overflows the
    /// field), and the weights' signed bit width (without a second copy of the weights).
    pub fn new(network: &Network, params: PlanParams) -> Result<Self> {
        Self::with_sites(network, params, &[])
    }

    /// As [`EncodedNetwork::new`], with the sign tests of `choices` at their own `k` and tie
    /// rule ([`Plan::with_sites`]).
    pub fn with_sites(
        network: &Network,
        params: PlanParams,
        choices: &[SiteChoice],
    ) -> Result<Self> {
        let architecture = network.architecture().clone();
        let plan = Plan::with_sites(&architecture, params, choices)?;
        let constants = PublicConstants::new(&plan, &architecture)?;
        let f = params.frac_bits;
        let mut max_weight = 0u64;
        let mut widest = None;
        let mut linear = Vec::with_capacity(network.weights().len());
        for (layer, w) in network.weights().iter().enumerate() {
            linear.push(match w {
                None => None,
                Some(w) => {
                    let name = &architecture.layers()[layer].name;
                    let overflow = |what| move |e| named_overflow(e, layer, name, what);
                    let mut weight = Vec::with_capacity(w.weight().len());
                    for &v in w.weight() {
                        let e = encode::<M>(v, f, "weight").map_err(overflow("weight"))?;
                        let magnitude = e.to_i64().unsigned_abs();
                        if magnitude > max_weight || widest.is_none() {
                            max_weight = max_weight.max(magnitude);
                            widest = Some((layer, v));
                        }
                        weight.push(e);
                    }
                    let bias = w
                        .bias()
                        .iter()
                        .map(|&v| encode::<M>(v, 2 * f, "bias").map_err(overflow("bias")))
                        .collect::<Result<Vec<_>>>()?;
                    Some(EncodedLinear { weight, bias })
                }
            });
        }
        Ok(Self {
            architecture,
            plan: Arc::new(plan),
            constants,
            linear,
            weight_bits: signed_bits(max_weight),
            widest,
            linear_choices: Vec::new(),
            he: Vec::new(),
        })
    }

    /// Chooses every linear layer's correlation under `mode` and encodes the weights of the
    /// HE layers as kernel polynomials (with their NTT forms precomputed when `ntt_cache`:
    /// faster answers for `HeLayer::cache_bytes` of memory, once per model).
    pub(crate) fn set_linear(
        &mut self,
        mode: LinearMode,
        ntt_cache: bool,
    ) -> crate::private::Result<()> {
        let choices = linear_choice::choose::<M>(&self.plan, self.weight_bits, mode)?;
        let sets = linear_choice::param_sets::<M>();
        let mut he: Vec<Option<HeLayer<M>>> = (0..self.linear.len()).map(|_| None).collect();
        for c in &choices {
            let LinearMethod::He(set) = c.method else {
                continue;
            };
            let (Some(Kind::Linear(l)), Some(Some(enc)), Some(params)) = (
                self.plan.steps().get(c.layer).map(|s| &s.kind),
                self.linear.get(c.layer),
                sets.iter().find(|p| p.set() == set),
            ) else {
                return Err(NnError::WeightKindMismatch { layer: c.layer }.into());
            };
            let plan =
                circa_share::he::HePlan::conv(params, &linear_choice::shape(l), self.weight_bits)?;
            let layer = HeLayer::encode_plan(plan, &enc.weight)?;
            he[c.layer] = Some(if ntt_cache {
                layer.with_ntt_cache()
            } else {
                layer
            });
        }
        self.linear_choices = choices;
        self.he = he;
        Ok(())
    }

    /// Every linear layer's correlation and both methods' estimated costs (empty until the
    /// server model chooses a linear mode: every layer by OT).
    pub fn linear_choices(&self) -> &[LinearChoice] {
        &self.linear_choices
    }

    /// The HE encoding of linear layer `layer`'s weights, when HE serves it.
    pub(crate) fn he_layer(&self, layer: usize) -> Option<&HeLayer<M>> {
        self.he.get(layer)?.as_ref()
    }

    /// The plans of the HE layers, in layer order.
    pub(crate) fn he_plans(&self) -> impl Iterator<Item = &circa_share::he::HePlan<M>> {
        self.he.iter().flatten().map(HeLayer::plan)
    }

    /// Bytes of the HE layers' NTT caches.
    pub fn he_cache_bytes(&self) -> usize {
        self.he.iter().flatten().map(HeLayer::cache_bytes).sum()
    }

    /// The public architecture.
    pub fn architecture(&self) -> &Architecture {
        &self.architecture
    }

    /// The plan.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// The public constants.
    pub fn constants(&self) -> &PublicConstants<M> {
        &self.constants
    }

    /// Encoded weights and bias of linear layer `layer`.
    pub fn linear(&self, layer: usize) -> Option<LinearParams<'_, Fp<M>>> {
        self.linear
            .get(layer)?
            .as_ref()
            .map(|l| (l.weight.as_slice(), l.bias.as_slice()))
    }

    /// The smallest signed bit width holding every encoded weight: `2^(w-2) <= max |W| <
    /// 2^(w-1)` (a public session parameter: the OT correlation's cost is proportional to it).
    pub fn weight_bits(&self) -> u32 {
        self.weight_bits
    }

    /// The layer index and the value of the weight of largest magnitude (`None` without linear
    /// layers): the weight to name when [`EncodedNetwork::weight_bits`] is too wide.
    pub fn widest_weight(&self) -> Option<(usize, f64)> {
        self.widest
    }
}
