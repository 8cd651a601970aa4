//! The fixed-point plan: what every backend agrees on before any value exists, derived from
//! the public architecture and the public parameters only (so the client computes the same
//! plan as the server, and the references the same as both).
//!
//! For every layer: its compiled [`Kind`] (geometry, where its rescale happens, which elements
//! are ReLUs), and whether its first input must be re-masked first ([`Remask`]). For every
//! tensor: its fixed-point scale ([`Scale`]) and the last layer that reads it (so a walk frees
//! it then).
//!
//! # Where the rescale after a product happens (one rule, here)
//!
//! Inputs and weights are at `2^f`, so a product layer (convolution, dense, average pooling)
//! yields `2^(2f)`. It is brought back to `2^f` right after the layer, except that
//! * with [`SignScale::Product`] a product consumed only by ReLU activations stays at `2^(2f)`:
//!   the sign test runs on it (`ReLU(a y) = a ReLU(y)` for `a > 0`, so a given truncation `k`
//!   cuts off a `2^f` times smaller real magnitude) and the ReLU's output is rescaled;
//! * a product that is the network output and read by no layer stays at `2^(2f)`: the client
//!   reconstructs it and rescales exactly (no local truncation, no wrap);
//! * with [`SignScale::Product`] a residual add whose output is read only by ReLUs (or by such
//!   adds), or is the unread network output, runs at `2^(2f)` (a *lifted* add): an input at
//!   `2^f` is multiplied by the public `2^f` (exact on shares), and a product it reads is kept
//!   at `2^(2f)` as if the add were a ReLU.
//!
//! A ReLU (or a max pool's sign test) on a value at `2^(2f)` rescales its output. With the
//! stochastic or truncated sign that rescale is fused into the sign test ([`SignSite::fused`],
//! `circa_relu::ReluParams::with_rescale`): no local truncation, no wrap. So in a ResNet every
//! rescale of a convolution happens inside a ReLU, and local truncations (each failing with
//! probability `|x| / p`) are left only where a product is read by something else (a linear
//! layer after average pooling, a pruned channel, a polynomial).
//!
//! # Re-masking (private backends)
//!
//! The client's share of each tensor is tracked as [`Share`]: a linear layer needs the client's
//! share of its input to be a fresh random mask chosen offline (the one its correlation used),
//! and a ReLU needs a client share known offline (its garbled-circuit input labels are fetched
//! offline) that is uniform and independent of the value (the stochastic sign's fault model and
//! the simulation assume it; a truncated share lies in `[0, p / 2^f)`). When that does not hold
//! the input is re-masked: the client sends (its share - a fresh mask) and the server adds it,
//! offline if the client's share is known offline, else in the client's next online flight.

use circa_relu::Variant;

use super::layers::Kind;
use crate::error::{NnError, Result};
use crate::model::{Activation, Architecture, Op, Shape, TensorId};

/// Where the ReLU sign test runs relative to the rescale after a linear layer (DESIGN.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignScale {
    /// On the product at scale `2^(2f)`, before rescaling (then the ReLU output is rescaled).
    Product,
    /// On the rescaled value at scale `2^f`.
    Rescaled,
}

impl SignScale {
    /// A short stable name (`"product"`, `"rescaled"`), for reports.
    pub const fn name(self) -> &'static str {
        match self {
            SignScale::Product => "product",
            SignScale::Rescaled => "rescaled",
        }
    }
}

/// The fixed-point scale of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// `2^f`.
    Single,
    /// `2^(2f)`: a product whose rescale is deferred.
    Product,
}

/// When a layer's first input is re-masked (private backends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remask {
    /// Not needed.
    No,
    /// The client's share is known offline: the message goes in the offline phase.
    Offline,
    /// The client's share is known online only: the message joins the client's next flight.
    Online,
}

/// What the client knows of its share of a tensor before the online phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Share {
    /// A fresh uniform mask chosen offline (the server holds `x - mask`).
    Fresh,
    /// Computable offline and uniform, independent of the value: a linear layer's `W r - s`
    /// before any rescale (the correlation's `s` is uniform).
    Uniform,
    /// Computable offline (e.g. `W r - s` after truncation or pooling), not uniform.
    Known,
    /// Known only online (after a ReLU, a polynomial or a max pool).
    Online,
}

/// A set of sign tests run as one batch: the layer it belongs to, its ReLU variant (and so its
/// truncation `k` and tie rule) and the scale of the value tested. `k` means something only
/// with its scale: dropping `k` bits of a value at scale `2^s` is a fault band of `2^(k - s)` in
/// real units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignSite {
    /// The layer (ReLU or max pooling) whose sign tests these are.
    pub layer: usize,
    /// The ReLU variant of the batch.
    pub variant: Variant,
    /// The scale of the tested value.
    pub scale: Scale,
    /// The rescale after the sign test (a value at `2^(2f)`) is fused into it: the ReLU's
    /// output comes back at `2^f` and cannot wrap (stochastic and truncated signs only).
    pub fused: bool,
}

impl SignSite {
    /// Fractional bits of the tested value's scale.
    pub fn scale_bits(&self, frac_bits: u32) -> u32 {
        match self.scale {
            Scale::Single => frac_bits,
            Scale::Product => 2 * frac_bits,
        }
    }

    /// The same site with the truncated sign `k` and tie rule `mode` (a calibration candidate).
    pub fn at_k(&self, k: u32, mode: circa_relu::TieMode) -> SignSite {
        SignSite {
            variant: Variant::TruncatedSign { k, mode },
            ..*self
        }
    }

    /// The circa-relu parameters of this site's batch: the session's product path and fixed
    /// point with the site's variant (its `k` and tie rule) and fused rescale. The one rule the
    /// private parties, the simulation, calibration and the gate counts use.
    pub fn relu_params<M: circa_share::Modulus>(
        &self,
        session: &circa_relu::ReluParams<M>,
    ) -> core::result::Result<circa_relu::ReluParams<M>, circa_relu::Error> {
        session.with_variant(self.variant)?.with_rescale(self.fused)
    }

    /// `log2` of the fault band in real units, `k - scale bits` (`None` for variants without a
    /// truncation band).
    pub fn band_bits(&self, frac_bits: u32) -> Option<i64> {
        match self.variant {
            Variant::TruncatedSign { k, .. } => {
                Some(i64::from(k) - i64::from(self.scale_bits(frac_bits)))
            }
            _ => None,
        }
    }
}

/// A ReLU site's own truncation and tie rule (from calibration), overriding the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SiteChoice {
    /// The layer (a ReLU with ReLU elements, or a max pooling).
    pub layer: usize,
    /// Bits dropped from both comparator inputs.
    pub k: u32,
    /// Tie rule.
    pub mode: circa_relu::TieMode,
}

/// Widest fault band a sign test may have: `2^MAX_BAND_BITS` real units (wider bands turn the
/// sign test into noise: `k = 40` at `f = 10` would zero or pass everything below `2^20`).
pub const MAX_BAND_BITS: i64 = 2;

/// One layer of the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Input tensor ids.
    pub inputs: Vec<TensorId>,
    /// Re-masking of `inputs[0]` before the layer runs.
    pub remask: Remask,
    /// The compiled layer.
    pub kind: Kind,
}

/// The public parameters a plan is built for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanParams {
    /// Fractional bits `f`.
    pub frac_bits: u32,
    /// Where the sign tests run.
    pub sign_scale: SignScale,
    /// The ReLU variant of the sign tests. A truncated variant's `k` is meant at the product
    /// scale `2^(2f)`: it fixes the default fault band `2^(k - 2f)`, and every site gets the `k`
    /// that gives that band at its own scale (`k - f` at `2^f`).
    pub variant: Variant,
    /// `bits(p)` of the field (a site's `k` must leave a comparator bit).
    pub field_bits: u32,
}

impl PlanParams {
    /// The default variant of a sign test at `scale`: the same real fault band everywhere.
    pub fn site_variant(&self, scale: Scale) -> Variant {
        match self.variant {
            Variant::TruncatedSign { k, mode } => {
                let band = i64::from(k) - 2 * i64::from(self.frac_bits);
                let bits = match scale {
                    Scale::Single => i64::from(self.frac_bits),
                    Scale::Product => 2 * i64::from(self.frac_bits),
                };
                let max = i64::from(self.field_bits.saturating_sub(1));
                Variant::TruncatedSign {
                    k: (band + bits).clamp(0, max) as u32,
                    mode,
                }
            }
            v => v,
        }
    }
}

/// The plan of a network.
#[derive(Clone, Debug)]
pub struct Plan {
    params: PlanParams,
    input_len: usize,
    steps: Vec<Step>,
    output: TensorId,
    /// Per tensor: its scale.
    scales: Vec<Scale>,
    /// Per tensor: its number of elements.
    lens: Vec<usize>,
    /// Per tensor: the last layer reading it (`None`: no layer reads it).
    last_use: Vec<Option<usize>>,
}

/// What a layer needs of the client's share of its first input, and what it makes of its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareRule {
    /// Re-masking of the first input.
    pub remask: Remask,
    /// The client's share of the output.
    pub output: Share,
}

impl ShareRule {
    /// The re-masking a layer needs when its first input's share is `share`: `fresh` for a
    /// linear layer (its own fresh mask), otherwise a uniform client share known offline.
    pub fn remask_for(share: Share, fresh: bool) -> Remask {
        match share {
            Share::Fresh => Remask::No,
            Share::Uniform if !fresh => Remask::No,
            Share::Uniform | Share::Known => Remask::Offline,
            Share::Online => Remask::Online,
        }
    }
}

/// What compiling one layer needs to know.
#[derive(Clone, Copy, Debug)]
pub struct Compile<'a> {
    /// The operation.
    pub op: &'a Op,
    /// Shape of the first input.
    pub input: Shape,
    /// Output shape.
    pub output: Shape,
    /// Scale of the first input.
    pub input_scale: Scale,
    /// Scales of all inputs.
    pub input_scales: &'a [Scale],
    /// Scale of the output.
    pub output_scale: Scale,
    /// The layer is a product whose rescale is deferred.
    pub deferred: bool,
    /// The layer's sign tests (ReLU and max-pool layers).
    pub site: SignSite,
    /// The plan's parameters.
    pub params: PlanParams,
}

fn is_product(op: &Op) -> bool {
    matches!(
        op,
        Op::Conv2d(_) | Op::Dense { .. } | Op::AvgPool(_) | Op::GlobalAvgPool
    )
}

fn is_relu(op: &Op) -> bool {
    matches!(
        op,
        Op::Activation(Activation::Relu | Activation::ChannelRelu { .. })
    )
}

/// Where the scale stays at `2^(2f)` (see the module docs): per layer, whether its output is
/// a deferred product, and whether it is a lifted add. One pass from the last layer back (a
/// layer's readers come after it).
fn deferred_layers(arch: &Architecture, sign_scale: SignScale) -> (Vec<bool>, Vec<bool>) {
    let layers = arch.layers();
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); layers.len() + 1];
    for (i, layer) in layers.iter().enumerate() {
        for &t in &layer.inputs {
            readers[t].push(i);
        }
    }
    let mut deferred = vec![false; layers.len()];
    let mut lifted = vec![false; layers.len()];
    for i in (0..layers.len()).rev() {
        let id = i + 1;
        let unread_output = id == arch.output() && readers[id].is_empty();
        let relu_only = sign_scale == SignScale::Product
            && !readers[id].is_empty()
            && readers[id]
                .iter()
                .all(|&r| is_relu(&layers[r].op) || lifted[r]);
        let op = &layers[i].op;
        if is_product(op) {
            deferred[i] = unread_output || relu_only;
        } else if matches!(op, Op::Add) {
            lifted[i] = relu_only || (sign_scale == SignScale::Product && unread_output);
        }
    }
    (deferred, lifted)
}

/// Whether a sign test of `variant` on a value at `2^(2f)` can fuse the rescale after it (see
/// `circa_relu::ReluParams::with_rescale`): the stochastic or truncated sign with at least two
/// comparator bits.
fn fusable(variant: Variant, field_bits: u32) -> bool {
    match variant {
        Variant::StochasticSign => true,
        Variant::TruncatedSign { k, .. } => k + 2 <= field_bits,
        _ => false,
    }
}

impl Plan {
    /// The plan of `arch` under `params`, every sign test at its default variant.
    pub fn new(arch: &Architecture, params: PlanParams) -> Result<Self> {
        Self::with_sites(arch, params, &[])
    }

    /// The plan of `arch` under `params`, with the sites in `choices` at their own `k` and tie
    /// rule. Errors when a choice names a layer without sign tests (or twice), needs a sign
    /// variant the session does not have, or gives a band wider than `2^MAX_BAND_BITS` or no
    /// comparator bit.
    pub fn with_sites(
        arch: &Architecture,
        params: PlanParams,
        choices: &[SiteChoice],
    ) -> Result<Self> {
        let layers = arch.layers();
        let mut chosen: Vec<Option<SiteChoice>> = vec![None; layers.len()];
        for c in choices {
            let bad = |reason| NnError::InvalidSite {
                layer: c.layer,
                reason,
            };
            let slot = chosen.get_mut(c.layer).ok_or(bad("no such layer"))?;
            if slot.is_some() {
                return Err(bad("chosen twice"));
            }
            if !params.variant.is_sign() {
                return Err(bad("the session's ReLU has no sign test to truncate"));
            }
            *slot = Some(*c);
        }
        let (deferred, lifted) = deferred_layers(arch, params.sign_scale);
        let scale_of = |t: TensorId| {
            if t > 0 && (deferred[t - 1] || lifted[t - 1]) {
                Scale::Product
            } else {
                Scale::Single
            }
        };
        let mut shares = vec![Share::Fresh; layers.len() + 1];
        let mut last_use = vec![None; layers.len() + 1];
        let mut steps = Vec::with_capacity(layers.len());
        for (i, layer) in layers.iter().enumerate() {
            for &t in &layer.inputs {
                last_use[t] = Some(i);
            }
            let t = layer.inputs[0];
            let input = arch.tensor_shape(t).ok_or(NnError::InvalidTensorId {
                layer: i,
                tensor: t,
            })?;
            let site_scale = match (&layer.op, params.sign_scale) {
                (Op::MaxPool(_), SignScale::Product) => Scale::Product,
                (Op::MaxPool(_), SignScale::Rescaled) => Scale::Single,
                _ => scale_of(t),
            };
            let mut site = SignSite {
                layer: i,
                variant: params.site_variant(site_scale),
                scale: site_scale,
                fused: false,
            };
            let has_tests = match &layer.op {
                Op::MaxPool(w) => w.area() > 1,
                Op::Activation(Activation::Relu) => true,
                Op::Activation(Activation::ChannelRelu { mask }) => mask.contains(&true),
                _ => false,
            };
            if let Some(c) = chosen[i] {
                let bad = |reason| NnError::InvalidSite { layer: i, reason };
                if !has_tests {
                    return Err(bad("the layer runs no sign test"));
                }
                if c.k >= params.field_bits {
                    return Err(bad("k leaves no comparator bit"));
                }
                site.variant = Variant::TruncatedSign {
                    k: c.k,
                    mode: c.mode,
                };
                if site
                    .band_bits(params.frac_bits)
                    .is_some_and(|b| b > MAX_BAND_BITS)
                {
                    return Err(bad("fault band too wide for the site's scale"));
                }
            }
            site.fused = has_tests
                && site.scale == Scale::Product
                && fusable(site.variant, params.field_bits);
            let input_scales: Vec<Scale> = layer.inputs.iter().map(|&u| scale_of(u)).collect();
            let kind = Kind::compile(&Compile {
                op: &layer.op,
                input,
                output: layer.output_shape(),
                input_scale: scale_of(t),
                input_scales: &input_scales,
                output_scale: scale_of(i + 1),
                deferred: deferred[i],
                site,
                params,
            });
            let input_shares: Vec<Share> = layer.inputs.iter().map(|&u| shares[u]).collect();
            let rule = kind.share_rule(&input_shares, scale_of(t));
            if rule.remask != Remask::No {
                // Both parties replace the client's share by the fresh mask: every later reader
                // of the tensor sees the mask.
                shares[t] = Share::Fresh;
            }
            shares[i + 1] = rule.output;
            steps.push(Step {
                inputs: layer.inputs.clone(),
                remask: rule.remask,
                kind,
            });
        }
        let scales = (0..=layers.len()).map(scale_of).collect();
        let lens = (0..=layers.len())
            .map(|t| arch.tensor_shape(t).map_or(0, |s| s.len()))
            .collect();
        Ok(Self {
            params,
            input_len: arch.input_shape().len(),
            steps,
            output: arch.output(),
            scales,
            lens,
            last_use,
        })
    }

    /// The parameters the plan was built for.
    pub fn params(&self) -> &PlanParams {
        &self.params
    }

    /// Fractional bits `f`.
    pub fn frac_bits(&self) -> u32 {
        self.params.frac_bits
    }

    /// The layers.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Elements of the network input.
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// The output tensor id.
    pub fn output(&self) -> TensorId {
        self.output
    }

    /// The scale of tensor `t` (`Single` for an id out of range).
    pub fn scale(&self, t: TensorId) -> Scale {
        self.scales.get(t).copied().unwrap_or(Scale::Single)
    }

    /// Elements of tensor `t` (0 for an id out of range).
    pub fn tensor_len(&self, t: TensorId) -> usize {
        self.lens.get(t).copied().unwrap_or(0)
    }

    /// The last layer that reads tensor `t`.
    pub fn last_use(&self, t: TensorId) -> Option<usize> {
        self.last_use.get(t).copied().flatten()
    }

    /// ReLUs of the network (activations and max-pool trees).
    pub fn relu_count(&self) -> usize {
        self.steps.iter().map(|s| s.kind.relu_count()).sum()
    }

    /// Multiply-accumulates of the linear layers (padding included).
    pub fn linear_macs(&self) -> u64 {
        self.steps
            .iter()
            .map(|s| match &s.kind {
                Kind::Linear(l) => l.macs(),
                _ => 0,
            })
            .sum()
    }

    /// Polynomial units of the network.
    pub fn polynomial_count(&self) -> usize {
        self.steps
            .iter()
            .map(|s| match &s.kind {
                Kind::Polynomial(p) => p.len(),
                _ => 0,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use circa_relu::TieMode;

    fn params(sign_scale: SignScale) -> PlanParams {
        PlanParams {
            frac_bits: 10,
            sign_scale,
            variant: Variant::TruncatedSign {
                k: 16,
                mode: TieMode::NegPass,
            },
            field_bits: 41,
        }
    }

    fn digits_cnn() -> Architecture {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/digits_cnn.onnx");
        let bytes = std::fs::read(path).expect("model");
        crate::import_onnx(&bytes)
            .expect("import")
            .architecture()
            .clone()
    }

    /// Deferral rule on a DAG: a product stays at `2^(2f)` only when it is consumed, only by
    /// ReLU activations, and is not the network output (which stays at `2^(2f)` when nothing
    /// reads it: the client rescales it exactly).
    #[test]
    fn deferral_follows_every_consumer() {
        let dense = |n| Op::Dense {
            in_features: n,
            out_features: n,
        };
        let relu = Op::Activation(Activation::Relu);
        let l = |op: &Op, inputs: Vec<usize>| ("l".to_owned(), op.clone(), inputs);
        let arch = Architecture::new(
            Shape::flat(2),
            vec![
                l(&dense(2), vec![0]),   // 1: two ReLU consumers -> deferred
                l(&relu, vec![1]),       // 2
                l(&relu, vec![1]),       // 3
                l(&dense(2), vec![2]),   // 4: a ReLU and an Add consume it -> not deferred
                l(&relu, vec![4]),       // 5
                l(&Op::Add, vec![4, 5]), // 6
                l(&dense(2), vec![3]),   // 7: unconsumed -> not deferred
                l(&dense(2), vec![6]),   // 8: the network output, unconsumed -> deferred
            ],
            8,
        )
        .expect("architecture");
        let want = [true, false, false, false, false, false, false, true];
        let none = [false; 8];
        assert_eq!(
            deferred_layers(&arch, SignScale::Product),
            (want.to_vec(), none.to_vec())
        );
        let rescaled = [false, false, false, false, false, false, false, true];
        assert_eq!(
            deferred_layers(&arch, SignScale::Rescaled),
            (rescaled.to_vec(), none.to_vec())
        );
        let plan = Plan::new(&arch, params(SignScale::Product)).expect("plan");
        assert_eq!(plan.scale(1), Scale::Product);
        assert_eq!(plan.scale(4), Scale::Single);
        assert_eq!(plan.last_use(1), Some(2));
        assert_eq!(plan.last_use(4), Some(5));
        assert_eq!(plan.last_use(7), None);
    }

    /// A residual block: conv -> ReLU -> conv -> Add(skip) -> ReLU. The add is lifted (read
    /// only by a ReLU), so the second conv stays at `2^(2f)` and the skip is multiplied by
    /// `2^f`; both ReLUs test at the product scale and fuse their rescale. An add read by a
    /// linear layer is not lifted, and its product input is rescaled.
    #[test]
    fn residual_adds_are_lifted_when_only_relus_read_them() {
        let dense = |n| Op::Dense {
            in_features: 4,
            out_features: n,
        };
        let relu = Op::Activation(Activation::Relu);
        let l = |op: &Op, inputs: Vec<usize>| ("l".to_owned(), op.clone(), inputs);
        let arch = Architecture::new(
            Shape::flat(4),
            vec![
                l(&dense(4), vec![0]),   // 1: read by a ReLU -> deferred
                l(&relu, vec![1]),       // 2
                l(&dense(4), vec![2]),   // 3: read by a lifted add -> deferred
                l(&Op::Add, vec![3, 2]), // 4: read by a ReLU -> lifted
                l(&relu, vec![4]),       // 5
                l(&dense(4), vec![5]),   // 6: read by an add read by a dense layer
                l(&Op::Add, vec![6, 5]), // 7: not lifted
                l(&dense(2), vec![7]),   // 8: the output
            ],
            8,
        )
        .expect("architecture");
        let (deferred, lifted) = deferred_layers(&arch, SignScale::Product);
        assert_eq!(
            deferred,
            [true, false, true, false, false, false, false, true]
        );
        assert_eq!(
            lifted,
            [false, false, false, true, false, false, false, false]
        );
        let plan = Plan::new(&arch, params(SignScale::Product)).expect("plan");
        let sites: Vec<(usize, bool, Scale)> = plan
            .steps()
            .iter()
            .filter_map(|s| match &s.kind {
                Kind::Relu(r) => Some((r.site().layer, r.site().fused, r.site().scale)),
                _ => None,
            })
            .collect();
        assert_eq!(
            sites,
            [(1, true, Scale::Product), (4, true, Scale::Product)]
        );
        match &plan.steps()[3].kind {
            Kind::Add(a) => assert_eq!(a.lifts(), [false, true]),
            other => panic!("{other:?}"),
        }
        // No lifting with the sign tests at the rescaled scale.
        let (_, lifted) = deferred_layers(&arch, SignScale::Rescaled);
        assert!(lifted.iter().all(|&l| !l));
    }

    #[test]
    fn digits_cnn_schedule() {
        use Remask::{No, Offline, Online};
        // conv1, act1, pool1, conv2, act2, pool2, flatten, fc1, act3, fc2
        let arch = digits_cnn();
        let remasks = |scale| -> Vec<Remask> {
            Plan::new(&arch, params(scale))
                .expect("plan")
                .steps()
                .iter()
                .map(|s| s.remask)
                .collect()
        };
        // Product: each ReLU reads W r - s directly (uniform); after a ReLU the next linear
        // layer's input is re-masked online.
        assert_eq!(
            remasks(SignScale::Product),
            [No, No, Online, Online, No, No, No, Online, No, Online]
        );
        // Rescaled: the truncated linear outputs are re-masked offline before each ReLU.
        assert_eq!(
            remasks(SignScale::Rescaled),
            [
                No, Offline, Online, Online, Offline, No, No, Online, Offline, Online
            ]
        );
        let plan = Plan::new(&arch, params(SignScale::Product)).expect("plan");
        let rescaled: Vec<bool> = plan
            .steps()
            .iter()
            .filter_map(|s| match &s.kind {
                Kind::Linear(l) => Some(l.rescale()),
                _ => None,
            })
            .collect();
        // conv1, conv2, fc1 feed ReLUs; fc2 is the output (rescaled by the client).
        assert_eq!(rescaled, [false, false, false, false]);
        assert_eq!(plan.relu_count(), arch.relu_count());
    }
}
