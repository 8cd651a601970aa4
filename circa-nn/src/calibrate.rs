//! `circa calibrate`: choose `k` per ReLU site from data, and record the network's ranges.
//!
//! # Method
//!
//! 1. **Exact pass.** The fixed-point reference with the exact sign runs every calibration
//!    input. It gives the reference predictions, the largest `|value|` of every tensor (the
//!    ranges written to the model), the expected number of local-truncation wraps per inference
//!    (`sum |x| / p` over every rescaled element), and, for the first inputs, every value each
//!    sign test sees.
//! 2. **Analytic pruning.** For each site and each candidate `k` (from the default up to a
//!    fault band of `2^MAX_BAND_BITS` real units), `circa_relu::fault_model` gives the exact
//!    probability that each recorded value's ReLU output is wrong; their sum is the predicted
//!    number of faults per inference. Candidates predicted to fault on more than 10 % of the
//!    site's ReLUs are never simulated.
//! 3. **Greedy search by simulation.** Sites are taken in decreasing order of ReLU count (the
//!    largest savings first). For each, a binary search finds the largest `k` for which the
//!    Circa fault simulation (the protocol's sign faults given the same shares:
//!    `crate::simulate`, rescales exact, so that what is measured is what `k` changes; the
//!    local-truncation wraps do not depend on `k` and are measured in step 4) of the whole
//!    network, with every site at its current choice, keeps the predictions
//!    within the tolerance: at most `tolerance * N` of the `N` inputs may change their
//!    prediction against the exact reference, and (with labels) at most `tolerance * N` fewer
//!    may be right. Every simulation uses the same seed (common random numbers: the client
//!    shares drawn for each sign test are the same across configurations, so configurations
//!    are compared on the same randomness). If the defaults themselves miss the tolerance,
//!    every site is first lowered by the same amount until they meet it.
//! 4. **Report.** Per site: the chosen `k`, comparator bits, AND gates saved against the
//!    default, the fault band in real units, predicted (analytic) and measured (simulated)
//!    faults per inference; overall: agreement and accuracy of the defaults and of the choice;
//!    then the choice simulated as the protocol runs it, every rescale a local truncation of a
//!    fresh sharing: expected (`sum |x| / p`) and simulated wraps, the inferences with a wrap,
//!    and agreement and accuracy with them.

use circa_relu::fault_model::value_fault_probability;
use circa_relu::reference::true_sign;
use circa_relu::{ProductPath, ReluParams, TieMode, Variant};
use circa_share::fixed_point::truncate_plain;
use circa_share::{Fp, Modulus};
use core::cell::RefCell;
use std::sync::Arc;

use crate::calibration::Calibration;
use crate::engine::{EncodedNetwork, Kind, MAX_BAND_BITS, Plan, Scale, SignSite, SiteChoice};
use crate::error::{NnError, Result};
use crate::fixed::{Fixed, SignOracle, argmax_fixed};
use crate::model::Network;
use crate::private::{PrivateParams, by_prime, by_prime_new};
use crate::simulate::simulated_with_sites;

/// Candidates predicted to fault on more than this fraction of a site's ReLUs are not simulated.
const PRUNE: f64 = 0.1;

/// How to calibrate.
#[derive(Clone, Debug)]
pub struct Options {
    /// The session parameters (field, `f`, sign scale, the default truncated variant).
    pub params: PrivateParams,
    /// Fraction of the inputs whose prediction may change against the exact reference (and,
    /// with labels, of lost correct predictions).
    pub tolerance: f64,
    /// Seed of the fault simulations.
    pub seed: u64,
    /// Inputs whose sign-test values feed the analytic fault model.
    pub model_inputs: usize,
    /// Threads for the simulations (each with its own seed-derived generator).
    pub threads: usize,
}

impl Options {
    /// Defaults for `params`: tolerance 0 (no prediction may change), seed 1, 16 inputs for the fault model, 2 threads.
    pub fn new(params: PrivateParams) -> Self {
        Self {
            params,
            tolerance: 0.0,
            seed: 1,
            model_inputs: 16,
            threads: 2,
        }
    }
}

/// What calibration chose for one site.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteReport {
    /// The layer.
    pub layer: usize,
    /// Its name.
    pub name: String,
    /// ReLUs of the site per inference.
    pub relus: usize,
    /// Fractional bits of the tested values' scale.
    pub scale_bits: u32,
    /// The default `k` and the chosen one.
    pub default_k: u32,
    /// The chosen `k`.
    pub k: u32,
    /// Tie rule.
    pub mode: TieMode,
    /// Comparator bits at the chosen `k`.
    pub comparator_bits: u32,
    /// AND gates per ReLU at the chosen `k` (the comparator, and one more for a fused
    /// rescale's range check), counted from the circuit.
    pub and_per_relu: u32,
    /// AND gates per inference saved against the default (negative: spent).
    pub and_gates_saved: i64,
    /// The fault band in real units, `2^(k - scale bits)`.
    pub band: f64,
    /// Analytic faults per inference at the chosen `k`.
    pub predicted_faults: f64,
    /// Simulated faults per inference at the chosen `k`.
    pub measured_faults: f64,
}

/// Predictions of one configuration over the calibration inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Inputs whose prediction differs from the exact fixed-point reference.
    pub disagree: usize,
    /// Inputs predicted right (when labels are given).
    pub correct: usize,
}

/// The result of a calibration.
#[derive(Clone, Debug)]
pub struct Report {
    /// What goes into the model.
    pub calibration: Calibration,
    /// Per site.
    pub sites: Vec<SiteReport>,
    /// Calibration inputs.
    pub inputs: usize,
    /// Right predictions of the exact reference (with labels).
    pub exact_correct: Option<usize>,
    /// The defaults, simulated.
    pub default: Outcome,
    /// The choice, simulated.
    pub chosen: Outcome,
    /// The choice, simulated with every rescale a local truncation (as the protocol does it).
    pub chosen_truncated: Outcome,
    /// Expected local-truncation wraps per inference (`sum |x| / p`).
    pub expected_wraps: f64,
    /// Wraps per inference in the simulation with local truncation (a wrap can cause more).
    pub measured_wraps: f64,
    /// Inferences with at least one wrap in that simulation.
    pub wrapped_inferences: usize,
    /// Full-network simulations run.
    pub simulations: usize,
}

/// The exact reference, recording what calibration needs.
struct Recorder<M: Modulus> {
    variant: Variant,
    record: core::cell::Cell<bool>,
    /// Per layer: the values its sign tests saw (first inputs only).
    values: RefCell<std::collections::BTreeMap<usize, Vec<i64>>>,
    wraps: core::cell::Cell<f64>,
    _m: core::marker::PhantomData<M>,
}

impl<M: Modulus> SignOracle<M> for Recorder<M> {
    fn sign(&self, y: Fp<M>) -> bool {
        true_sign(y)
    }

    fn variant(&self) -> Variant {
        self.variant
    }

    fn sign_at(&self, site: &SignSite, y: Fp<M>) -> bool {
        if self.record.get() {
            self.values
                .borrow_mut()
                .entry(site.layer)
                .or_default()
                .push(y.to_i64());
        }
        true_sign(y)
    }

    fn truncate(&self, x: Fp<M>, bits: u32) -> Fp<M> {
        self.wraps
            .set(self.wraps.get() + x.to_i64().unsigned_abs() as f64 / M::P as f64);
        truncate_plain(x, bits)
    }
}

/// A site of the plan: its layer, sign tests and ReLU count.
struct Site {
    layer: usize,
    site: SignSite,
    relus: usize,
}

fn sites(plan: &Plan) -> Vec<Site> {
    plan.steps()
        .iter()
        .enumerate()
        .filter_map(|(layer, s)| {
            let (site, relus) = match &s.kind {
                Kind::Relu(r) => (*r.site(), r.count()),
                Kind::MaxPool(p) => (*p.site(), p.relu_count()),
                _ => return None,
            };
            (relus > 0).then_some(Site { layer, site, relus })
        })
        .collect()
}

/// Calibrates `network` on `inputs` (with `labels`, if given) under `opts`.
pub fn calibrate(
    network: &Network,
    inputs: &[Vec<f64>],
    labels: Option<&[usize]>,
    opts: &Options,
) -> Result<Report> {
    let r = by_prime_new!(opts.params.prime, M => calibrate_in::<M>(network, inputs, labels, opts));
    by_prime!(r, r => r)
}

fn calibrate_in<M: Modulus>(
    network: &Network,
    inputs: &[Vec<f64>],
    labels: Option<&[usize]>,
    opts: &Options,
) -> Result<Report> {
    let params = opts.params;
    params.validate().map_err(|_| NnError::InvalidReluParams {
        reason: "the parameters do not fit the field",
    })?;
    let Variant::TruncatedSign { mode, .. } = params.relu.0 else {
        return Err(NnError::InvalidReluParams {
            reason: "calibration chooses k of the truncated sign: use a Circa variant",
        });
    };
    if inputs.is_empty() {
        return Err(NnError::InvalidReluParams {
            reason: "no calibration inputs",
        });
    }
    if let Some(l) = labels
        && l.len() != inputs.len()
    {
        return Err(NnError::InputLengthMismatch {
            expected: inputs.len(),
            actual: l.len(),
        });
    }
    let plan_params = params.plan();
    let f = params.frac_bits;
    let encoded = Arc::new(EncodedNetwork::<M>::new(network, plan_params)?);
    let plan = Arc::clone(encoded.plan());
    let layers = plan.steps().len();

    // 1. The exact pass.
    let recorder = Fixed::from_encoded(
        Arc::clone(&encoded),
        Recorder::<M> {
            variant: params.relu.0,
            record: core::cell::Cell::new(true),
            values: RefCell::new(Default::default()),
            wraps: core::cell::Cell::new(0.0),
            _m: core::marker::PhantomData,
        },
    );
    let mut bounds = vec![0.0f64; layers + 1];
    let mut exact = Vec::with_capacity(inputs.len());
    for (i, x) in inputs.iter().enumerate() {
        recorder.oracle().record.set(i < opts.model_inputs.max(1));
        let mut tap = |t: usize, v: &[Fp<M>]| {
            let bits = match plan.scale(t) {
                Scale::Single => f,
                Scale::Product => 2 * f,
            };
            let scale = f64::from(bits).exp2();
            let m = v
                .iter()
                .map(|e| e.to_i64().unsigned_abs())
                .max()
                .unwrap_or(0);
            bounds[t] = bounds[t].max(m as f64 / scale);
        };
        let out = recorder.run_observed(recorder.encode_input(x)?, Some(&mut tap))?;
        exact.push(argmax_fixed(&out));
    }
    let input_bound = inputs.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    let expected_wraps = recorder.oracle().wraps.get() / inputs.len() as f64;
    let recorded = recorder.oracle().values.borrow().clone();
    let model_inputs = inputs.len().min(opts.model_inputs.max(1)) as f64;
    let exact_correct = labels.map(|l| {
        exact
            .iter()
            .zip(l)
            .filter(|(p, l)| **p == Some(**l))
            .count()
    });

    // 2. Candidates and the analytic model.
    let sites = sites(&plan);
    let relu = ReluParams::<M>::new(params.relu.0, ProductPath::LabelTable, f).map_err(|_| {
        NnError::InvalidReluParams {
            reason: "rejected by circa-relu",
        }
    })?;
    let predicted = |s: &Site, k: u32| -> f64 {
        let Ok(p) = s.site.at_k(k, mode).relu_params(&relu) else {
            return f64::INFINITY;
        };
        recorded.get(&s.layer).map_or(0.0, |ys| {
            ys.iter()
                .map(|&y| value_fault_probability(&p, y))
                .sum::<f64>()
                / model_inputs
        })
    };
    let default_k: Vec<u32> = sites
        .iter()
        .map(|s| s.site.variant.truncation_bits())
        .collect();
    let max_k = |s: &Site| -> u32 {
        let bits = i64::from(s.site.scale_bits(f));
        let cap = (bits + MAX_BAND_BITS).min(i64::from(M::BITS) - 1);
        let mut k = cap.max(0) as u32;
        while k > s.site.variant.truncation_bits() && predicted(s, k) > PRUNE * s.relus as f64 {
            k -= 1;
        }
        k
    };

    // 3. The search.
    let n = inputs.len();
    let allowed = (opts.tolerance.max(0.0) * n as f64).floor() as usize;
    let mut simulations = 0usize;
    let mut evaluate = |ks: &[u32]| -> Result<Outcome> {
        simulations += 1;
        let choices: Vec<SiteChoice> = sites
            .iter()
            .zip(ks)
            .map(|(s, &k)| SiteChoice {
                layer: s.layer,
                k,
                mode,
            })
            .collect();
        simulate::<M>(
            network,
            plan_params,
            &choices,
            inputs,
            labels,
            &exact,
            opts,
            false,
        )
        .map(|r| r.outcome)
    };
    let ok = |o: &Outcome| {
        o.disagree <= allowed
            && match exact_correct {
                Some(e) => o.correct + allowed >= e,
                None => true,
            }
    };
    let mut ks = default_k.clone();
    let default_outcome = evaluate(&ks)?;
    let mut current = default_outcome;
    // Defaults that miss the tolerance: lower every site together until they meet it.
    let mut lowered = 0;
    while !ok(&current) && ks.iter().any(|&k| k > 0) && lowered < 16 {
        ks.iter_mut().for_each(|k| *k = k.saturating_sub(1));
        lowered += 1;
        current = evaluate(&ks)?;
    }
    let mut order: Vec<usize> = (0..sites.len()).collect();
    order.sort_by_key(|&i| core::cmp::Reverse(sites[i].relus));
    for &i in &order {
        let (mut lo, mut hi) = (ks[i], max_k(&sites[i]));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            let mut trial = ks.clone();
            trial[i] = mid;
            if ok(&evaluate(&trial)?) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        ks[i] = lo;
    }
    let choices: Vec<SiteChoice> = sites
        .iter()
        .zip(&ks)
        .map(|(s, &k)| SiteChoice {
            layer: s.layer,
            k,
            mode,
        })
        .collect();
    // The final configuration, with its per-site fault counts; then as the protocol runs it,
    // with local truncation and its wraps.
    let chosen = simulate::<M>(
        network,
        plan_params,
        &choices,
        inputs,
        labels,
        &exact,
        opts,
        false,
    )?;
    let truncated = simulate::<M>(
        network,
        plan_params,
        &choices,
        inputs,
        labels,
        &exact,
        opts,
        true,
    )?;
    simulations += 2;
    let counts = chosen.counts;

    // 4. The report.
    let names = network.architecture().layers();
    let site_reports = sites
        .iter()
        .zip(&ks)
        .zip(&default_k)
        .zip(&counts)
        .map(|(((s, &k), &dk), &(_, faults))| {
            let bits = s.site.scale_bits(f);
            SiteReport {
                layer: s.layer,
                name: names[s.layer].name.clone(),
                relus: s.relus,
                scale_bits: bits,
                default_k: dk,
                k,
                mode,
                comparator_bits: M::BITS - k,
                and_per_relu: s
                    .site
                    .at_k(k, mode)
                    .relu_params(&relu)
                    .map_or(M::BITS - k, |p| {
                        circa_relu::circuits::and_gates_per_relu(&p) as u32
                    }),
                and_gates_saved: (i64::from(k) - i64::from(dk)) * s.relus as i64,
                band: (f64::from(k) - f64::from(bits)).exp2(),
                predicted_faults: predicted(s, k),
                measured_faults: faults as f64 / n as f64,
            }
        })
        .collect();
    Ok(Report {
        calibration: Calibration {
            prime: params.prime,
            frac_bits: f,
            sign_scale: params.sign_scale,
            sites: choices,
            input_bound,
            tensor_bounds: bounds.into_iter().enumerate().collect(),
        },
        sites: site_reports,
        inputs: n,
        exact_correct,
        default: default_outcome,
        chosen: chosen.outcome,
        chosen_truncated: truncated.outcome,
        expected_wraps,
        measured_wraps: truncated.wraps_per_inference,
        wrapped_inferences: truncated.wrapped_inferences,
        simulations,
    })
}

/// What one simulation of a configuration over the calibration inputs gave.
struct Simulated {
    outcome: Outcome,
    /// Per site, in the order of the choices: `(tests, faults)`.
    counts: Vec<(u64, u64)>,
    wraps_per_inference: f64,
    wrapped_inferences: usize,
}

/// The fault simulation of `choices` over `inputs` (with `local_truncation`, every rescale a
/// local truncation of a fresh sharing as in the protocol; otherwise exact), split over
/// `opts.threads` threads (each with a generator from the seed and its thread index: the same
/// shares for every configuration).
#[allow(clippy::too_many_arguments)]
fn simulate<M: Modulus>(
    network: &Network,
    plan_params: crate::engine::PlanParams,
    choices: &[SiteChoice],
    inputs: &[Vec<f64>],
    labels: Option<&[usize]>,
    exact: &[Option<usize>],
    opts: &Options,
    local_truncation: bool,
) -> Result<Simulated> {
    let threads = opts.threads.clamp(1, 16);
    let chunk = inputs.len().div_ceil(threads).max(1);
    let parts = std::thread::scope(|scope| {
        let handles: Vec<_> = inputs
            .chunks(chunk)
            .enumerate()
            .map(|(t, xs)| {
                let start = t * chunk;
                scope.spawn(move || -> Result<Simulated> {
                    let rng = circa_ot::Prg::from_seed_block(circa_ot::Block::from_u128(
                        u128::from(opts.seed) ^ ((t as u128) << 64),
                    ));
                    let (net, oracle) =
                        simulated_with_sites::<M, _>(network, plan_params, choices, rng)?
                            .into_parts();
                    let sim =
                        Fixed::from_encoded(net, oracle.with_local_truncation(local_truncation));
                    let mut o = Outcome::default();
                    let mut wrapped = 0;
                    for (j, x) in xs.iter().enumerate() {
                        let before = sim.oracle().truncation_failures();
                        let p = argmax_fixed(&sim.run(x)?);
                        wrapped += usize::from(sim.oracle().truncation_failures() > before);
                        o.disagree += usize::from(p != exact[start + j]);
                        if let Some(l) = labels {
                            o.correct += usize::from(p == Some(l[start + j]));
                        }
                    }
                    let per = sim.oracle().site_counts();
                    let counts = choices
                        .iter()
                        .map(|c| per.get(&c.layer).copied().unwrap_or((0, 0)))
                        .collect();
                    Ok(Simulated {
                        outcome: o,
                        counts,
                        wraps_per_inference: sim.oracle().truncation_failures() as f64,
                        wrapped_inferences: wrapped,
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or(Err(NnError::InvalidReluParams {
                    reason: "a simulation thread panicked",
                }))
            })
            .collect::<Vec<_>>()
    });
    let mut out = Simulated {
        outcome: Outcome::default(),
        counts: vec![(0u64, 0u64); choices.len()],
        wraps_per_inference: 0.0,
        wrapped_inferences: 0,
    };
    for part in parts {
        let part = part?;
        out.outcome.disagree += part.outcome.disagree;
        out.outcome.correct += part.outcome.correct;
        for (a, b) in out.counts.iter_mut().zip(part.counts) {
            a.0 += b.0;
            a.1 += b.1;
        }
        out.wraps_per_inference += part.wraps_per_inference;
        out.wrapped_inferences += part.wrapped_inferences;
    }
    out.wraps_per_inference /= inputs.len().max(1) as f64;
    Ok(out)
}
