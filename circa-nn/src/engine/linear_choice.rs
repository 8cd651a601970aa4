//! Which correlation makes each linear layer's offline material: the OT-based vector OLE
//! (`circa_share::ole`, about 50-80 B per multiply-accumulate) or the HE-based one
//! (`circa_share::he`, BFV with coefficient packing, 0.07-1.4 B per multiply-accumulate but
//! compute-heavy on small layers). The choice is public: it follows from the layer shapes, the
//! weights' public bit width and the server's [`LinearMode`], and the server sends it in the
//! handshake (one byte per layer, `encode_methods`); the client checks it against the
//! architecture and builds the same HE plans (`he_plans`), so both parties run the same
//! plan or the session is refused.

use circa_share::Modulus;
use circa_share::he::cost::{self, Cost};
use circa_share::he::{HeParamSet, HeParams, HePlan};
use circa_share::linalg::Conv2dShape;

use super::layers::{Kind, Linear};
use super::plan::Plan;
use crate::private::{PrivateError, Result};

/// How the server picks each linear layer's correlation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinearMode {
    /// Every layer by OT.
    Ot,
    /// Every layer by HE (a layer no HE parameter set fits falls back to OT).
    He,
    /// Per layer, the method with the lower estimated time over a link of
    /// [`DEFAULT_LINK_BYTES_PER_SEC`] (compute plus transfer, `circa_share::he::cost`).
    #[default]
    Auto,
}

impl core::str::FromStr for LinearMode {
    type Err = PrivateError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ot" => Ok(LinearMode::Ot),
            "he" => Ok(LinearMode::He),
            "auto" => Ok(LinearMode::Auto),
            _ => Err(PrivateError::InvalidParams {
                reason: "linear mode must be ot, he or auto",
            }),
        }
    }
}

impl core::fmt::Display for LinearMode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            LinearMode::Ot => "ot",
            LinearMode::He => "he",
            LinearMode::Auto => "auto",
        })
    }
}

/// The link [`LinearMode::Auto`] assumes: 1 Gbit/s (a LAN, Delphi's and Cheetah's setting).
pub const DEFAULT_LINK_BYTES_PER_SEC: f64 = 1.25e8;

/// The correlation serving one linear layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinearMethod {
    /// OT-based vector OLE.
    Ot,
    /// BFV under this parameter set.
    He(HeParamSet),
}

impl LinearMethod {
    /// Wire byte: 0 for OT, `1 + index` in [`HeParamSet::ALL`] for HE.
    fn to_byte(self) -> u8 {
        match self {
            LinearMethod::Ot => 0,
            LinearMethod::He(HeParamSet::N4096) => 1,
            LinearMethod::He(HeParamSet::N8192) => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(LinearMethod::Ot),
            1 => Some(LinearMethod::He(HeParamSet::N4096)),
            2 => Some(LinearMethod::He(HeParamSet::N8192)),
            _ => None,
        }
    }
}

impl core::fmt::Display for LinearMethod {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LinearMethod::Ot => f.write_str("OT"),
            LinearMethod::He(HeParamSet::N4096) => f.write_str("HE N=4096"),
            LinearMethod::He(HeParamSet::N8192) => f.write_str("HE N=8192"),
        }
    }
}

/// One linear layer's choice and both methods' estimated costs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearChoice {
    /// Layer index.
    pub layer: usize,
    /// The method the session runs.
    pub method: LinearMethod,
    /// Multiply-accumulates of the layer (padding included).
    pub macs: u64,
    /// The OT correlation's cost.
    pub ot: Cost,
    /// The cheapest HE plan's cost and its parameter set (`None`: no set fits the layer).
    pub he: Option<(HeParamSet, Cost)>,
}

impl LinearChoice {
    /// The cost of the chosen method.
    pub fn cost(&self) -> Cost {
        match (self.method, self.he) {
            (LinearMethod::He(_), Some((_, c))) => c,
            _ => self.ot,
        }
    }
}

/// The correlation's shape of a linear layer (a dense layer is a `1 x 1` convolution of an
/// `in_len x 1 x 1` input, the layout of `HePlan::dense`).
pub(crate) fn shape(l: &Linear) -> Conv2dShape {
    match l.conv() {
        Some(c) => c.shape(l.input()),
        None => Conv2dShape::new(l.input().len(), 1, 1, l.output().len(), 1),
    }
}

/// Every parameter set, built for the field `M` (a set too narrow for the field is skipped).
pub(crate) fn param_sets<M: Modulus>() -> Vec<HeParams<M>> {
    HeParamSet::ALL
        .iter()
        .filter_map(|&s| HeParams::new(s).ok())
        .collect()
}

/// The linear layers of `plan`, in order.
fn linears(plan: &Plan) -> impl Iterator<Item = (usize, &Linear)> {
    plan.steps()
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.kind {
            Kind::Linear(l) => Some((i, l)),
            _ => None,
        })
}

/// Picks each linear layer's method under `mode` (the server's side; public data only). HE
/// plans are compared by bytes under [`LinearMode::He`], by estimated time over
/// [`DEFAULT_LINK_BYTES_PER_SEC`] otherwise.
pub(crate) fn choose<M: Modulus>(
    plan: &Plan,
    weight_bits: u32,
    mode: LinearMode,
) -> Result<Vec<LinearChoice>> {
    let sets = param_sets::<M>();
    let time = |c: &Cost| c.seconds_over(DEFAULT_LINK_BYTES_PER_SEC);
    let mut out = Vec::new();
    for (layer, l) in linears(plan) {
        let s = shape(l);
        let ot = cost::ot_cost::<M>(&s, weight_bits)?;
        let mut he: Option<(HeParamSet, Cost)> = None;
        for p in &sets {
            let c = match HePlan::conv(p, &s, weight_bits) {
                Ok(plan) => cost::he_cost(&plan),
                // Too large for the set, too wide weights, too many MACs for one call.
                Err(_) => continue,
            };
            let better = he.is_none_or(|(_, b)| match mode {
                LinearMode::He => c.bytes() < b.bytes(),
                _ => time(&c) < time(&b),
            });
            if better {
                he = Some((p.set(), c));
            }
        }
        let method = match (mode, he) {
            (LinearMode::Ot, _) | (_, None) => LinearMethod::Ot,
            (LinearMode::He, Some((set, _))) => LinearMethod::He(set),
            (LinearMode::Auto, Some((set, c))) if time(&c) <= time(&ot) => LinearMethod::He(set),
            (LinearMode::Auto, Some(_)) => LinearMethod::Ot,
        };
        out.push(LinearChoice {
            layer,
            method,
            macs: l.macs(),
            ot,
            he,
        });
    }
    Ok(out)
}

/// The wire form of the methods: one byte per layer of the plan (0 for a layer that is not
/// linear).
pub(crate) fn encode_methods(plan: &Plan, choices: &[LinearChoice]) -> Vec<u8> {
    let mut out = vec![0u8; plan.steps().len()];
    for c in choices {
        out[c.layer] = c.method.to_byte();
    }
    out
}

/// The client's side: decodes the server's methods (one byte per layer), checks that only
/// linear layers use HE and that every HE method has a plan for its layer, and returns the
/// plans, per layer.
pub(crate) fn he_plans<M: Modulus>(
    plan: &Plan,
    bytes: &[u8],
    weight_bits: u32,
) -> Result<Vec<Option<HePlan<M>>>> {
    let bad = |reason| Err(PrivateError::InvalidParams { reason });
    if bytes.len() != plan.steps().len() {
        return bad("linear methods: one byte per layer expected");
    }
    let sets = param_sets::<M>();
    let mut plans = Vec::with_capacity(bytes.len());
    for (step, &b) in plan.steps().iter().zip(bytes) {
        let Some(method) = LinearMethod::from_byte(b) else {
            return bad("linear methods: unknown method");
        };
        plans.push(match (method, &step.kind) {
            (LinearMethod::Ot, _) => None,
            (LinearMethod::He(set), Kind::Linear(l)) => {
                let Some(params) = sets.iter().find(|p| p.set() == set) else {
                    return bad("linear methods: HE parameter set unavailable for this prime");
                };
                Some(HePlan::conv(params, &shape(l), weight_bits)?)
            }
            (LinearMethod::He(_), _) => return bad("linear methods: HE on a non-linear layer"),
        });
    }
    Ok(plans)
}

/// The parameters `plans` use, each set once, in [`HeParamSet::ALL`] order: the order of the
/// client's public keys in the handshake, for both parties (taken from the plans, so no
/// parameter tables are rebuilt per session).
pub(crate) fn params_used<'a, M: Modulus + 'a>(
    plans: impl IntoIterator<Item = &'a HePlan<M>>,
) -> Vec<HeParams<M>> {
    let mut used: Vec<HeParams<M>> = Vec::new();
    for p in plans {
        if !used.iter().any(|u| u.set() == p.params().set()) {
            used.push(p.params().clone());
        }
    }
    used.sort_by_key(|p| p.set());
    used
}

/// The key of parameter set `set` among a session's keys.
pub(crate) fn key_for<T>(keys: &[(HeParamSet, T)], set: HeParamSet) -> Result<&T> {
    keys.iter()
        .find(|(s, _)| *s == set)
        .map(|(_, k)| k)
        .ok_or(PrivateError::Preprocessing {
            what: "HE key for the layer's parameter set",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_bytes_round_trip_and_unknown_bytes_are_refused() {
        for m in [
            LinearMethod::Ot,
            LinearMethod::He(HeParamSet::N4096),
            LinearMethod::He(HeParamSet::N8192),
        ] {
            assert_eq!(LinearMethod::from_byte(m.to_byte()), Some(m));
        }
        assert_eq!(LinearMethod::from_byte(3), None);
        assert_eq!(LinearMethod::from_byte(255), None);
    }

    fn digits_plan() -> Plan {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/digits_cnn.onnx");
        let net = crate::import_onnx(&std::fs::read(path).expect("model")).expect("import");
        let params = crate::private::PrivateParams::exact(crate::private::Prime::P41, 10);
        Plan::new(net.architecture(), params.plan()).expect("plan")
    }

    type P41 = circa_share::P2061584302081;

    #[test]
    fn the_client_refuses_methods_that_do_not_fit_the_architecture() {
        let plan = digits_plan();
        let choices = choose::<P41>(&plan, 12, LinearMode::He).unwrap();
        let good = encode_methods(&plan, &choices);
        let plans = he_plans::<P41>(&plan, &good, 12).unwrap();
        assert_eq!(plans.iter().flatten().count(), choices.len());
        assert!(
            he_plans::<P41>(&plan, &good[1..], 12).is_err(),
            "short table"
        );
        let mut long = good.clone();
        long.push(0);
        assert!(he_plans::<P41>(&plan, &long, 12).is_err(), "long table");
        let not_linear = (0..plan.steps().len())
            .find(|&i| !matches!(plan.steps()[i].kind, Kind::Linear(_)))
            .unwrap();
        for (layer, byte) in [
            (not_linear, 1u8),
            (choices[0].layer, 3),
            (choices[0].layer, 0xff),
        ] {
            let mut bad = good.clone();
            bad[layer] = byte;
            assert!(
                matches!(
                    he_plans::<P41>(&plan, &bad, 12),
                    Err(PrivateError::InvalidParams { .. })
                ),
                "layer {layer} byte {byte}"
            );
        }
        // A weight width no set can hide is a typed error, not a panic.
        assert!(he_plans::<P41>(&plan, &good, 40).is_err());
    }

    #[test]
    fn ot_mode_chooses_ot_and_he_mode_the_fewest_bytes() {
        let plan = digits_plan();
        let ot = choose::<P41>(&plan, 12, LinearMode::Ot).unwrap();
        assert!(ot.iter().all(|c| c.method == LinearMethod::Ot));
        let he = choose::<P41>(&plan, 12, LinearMode::He).unwrap();
        for c in &he {
            let (set, cost) = c.he.unwrap();
            assert_eq!(c.method, LinearMethod::He(set));
            assert!(cost.bytes() < c.ot.bytes());
        }
        let plans = he_plans::<P41>(&plan, &encode_methods(&plan, &he), 12).unwrap();
        assert!(!params_used(plans.iter().flatten()).is_empty());
    }

    #[test]
    fn modes_parse() {
        for m in [LinearMode::Ot, LinearMode::He, LinearMode::Auto] {
            assert_eq!(m.to_string().parse::<LinearMode>().unwrap(), m);
        }
        assert!("fast".parse::<LinearMode>().is_err());
    }
}
