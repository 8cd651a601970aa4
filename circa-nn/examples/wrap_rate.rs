//! Circa on residual networks, measured by fault simulation: argmax agreement with the `f64`
//! model, mean logit error, per-layer fault rates and local-truncation wraps, for the default
//! Circa variant and (when the model carries one) its calibrated choice.
//!
//! ```text
//! cargo run --release -p circa-nn --example wrap_rate -- \
//!     [--images FILE.idx3 --labels FILE.idx1] [--count N] [--threads N] [--seed S] \
//!     [--per-layer] [--calibrated-only] [--frac-bits F] [--seeds N] [--sites L:K,...] \
//!     [MODEL.onnx ...]
//! ```
//!
//! Defaults: the bundled `models/data/fashion_test_1000-*` (all 1,000 images) and
//! `models/fashion/fashion_resnet8.onnx`. Every configuration runs the fixed-point pipeline over
//! the 41-bit prime with the model's parameters (`f` of its calibration, else `--frac-bits`,
//! else 10; sign tests at the product scale; the default Circa band `2^(k - 2f)` = 1/16):
//!
//! * `reference`: the fixed-point reference with the exact sign and exact rescales;
//! * `exact`: a simulated private run of the exact variant (exact sign, every rescale a local
//!   truncation of a fresh random sharing, as below);
//! * `default`: the Circa fault simulation (`circa_nn::simulate`) of the default variant (per
//!   site the `k` of the default real fault band), every rescale a local truncation of a fresh
//!   random sharing as the protocol does it (off by one unit, or a wrap with probability
//!   `|x| / p`: this models wraps exactly);
//! * `calibrated`: the same with the model's calibrated per-site `k` (`circa calibrate`); with
//!   `--calibrated-only`, the only configuration run;
//! * `sites`: with `--sites 1:11,6:5,...`, the same with these per-site `k` (layer index: `k`;
//!   sites not listed keep the default band), to try a choice without writing a model.
//!
//! With `--seeds N` every simulated configuration runs under `N` seeds (`S` to `S + N - 1`)
//! and a closing line per configuration gives the smallest, mean and largest agreement and
//! the mean error over the images without a wrapped output.
//!
//! Printed per configuration: agreement with the `f64` argmax, accuracy, mean and largest
//! `|logit error|` against `f64`, local truncations per inference, truncations that wrapped,
//! inferences with a wrap, the expected number of wraps (`sum |x| / p` over the rescales, on
//! the `reference` row), outputs with a wrapped logit (error above 1,000 real units), and with `--per-layer` each
//! site's fault rate (faults / sign tests).

use std::path::PathBuf;
use std::time::Instant;

use circa_nn::dataset::{MAX_IDX_ITEMS, read_idx};
use circa_nn::engine::{PlanParams, SiteChoice};
use circa_nn::fixed::defaults;
use circa_nn::{
    ExactOracle, Fixed, Network, SignOracle, SignScale, argmax, import_onnx, infer,
    simulated_with_sites,
};
use circa_relu::Variant;
use circa_share::P2061584302081 as P41;
use circa_share::{Fp, Modulus};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn fail(msg: String) -> ! {
    eprintln!("wrap_rate: {msg}");
    std::process::exit(1);
}

/// Logit errors above this many real units can only come from a wrap (a wrap moves a value by
/// about `p / 2^(2f)`, 2e6 at the defaults; rounding and faults move logits by well under 100).
const WRAP_ERROR: f64 = 1e3;

#[derive(Default, Clone)]
struct Tally {
    agree: usize,
    /// Agreeing outputs among those without a wrapped logit.
    agree_clean: usize,
    correct: usize,
    error_sum: f64,
    /// Sum of the mean |logit error| of the outputs without a wrapped logit.
    error_clean: f64,
    worst: f64,
    truncations: u64,
    wrapped_truncations: u64,
    wrapped_outputs: usize,
    wrapped_inferences: usize,
    expected_wraps: f64,
    sites: std::collections::BTreeMap<usize, (u64, u64)>,
}

impl Tally {
    fn merge(mut self, o: Tally) -> Tally {
        self.agree += o.agree;
        self.agree_clean += o.agree_clean;
        self.correct += o.correct;
        self.error_sum += o.error_sum;
        self.error_clean += o.error_clean;
        self.worst = self.worst.max(o.worst);
        self.truncations += o.truncations;
        self.wrapped_truncations += o.wrapped_truncations;
        self.wrapped_outputs += o.wrapped_outputs;
        self.wrapped_inferences += o.wrapped_inferences;
        self.expected_wraps += o.expected_wraps;
        for (l, (t, f)) in o.sites {
            let e = self.sites.entry(l).or_default();
            e.0 += t;
            e.1 += f;
        }
        self
    }

    fn add(&mut self, got: &[f64], want: &[f64], label: usize) {
        let class = argmax(got);
        self.agree += usize::from(class == argmax(want));
        self.correct += usize::from(class == Some(label));
        let errors: Vec<f64> = got.iter().zip(want).map(|(a, b)| (a - b).abs()).collect();
        let mean = errors.iter().sum::<f64>() / errors.len().max(1) as f64;
        self.error_sum += mean;
        let worst = errors.iter().copied().fold(0f64, f64::max);
        self.worst = self.worst.max(worst);
        if worst > WRAP_ERROR {
            self.wrapped_outputs += 1;
        } else {
            self.agree_clean += usize::from(class == argmax(want));
            self.error_clean += mean;
        }
    }
}

/// The exact reference, summing each rescale's local-truncation failure probability `|x| / p`.
#[derive(Default)]
struct WrapMeter(std::cell::Cell<f64>);

impl SignOracle<P41> for WrapMeter {
    fn sign(&self, y: Fp<P41>) -> bool {
        ExactOracle.sign(y)
    }

    fn truncate(&self, x: Fp<P41>, bits: u32) -> Fp<P41> {
        self.0
            .set(self.0.get() + x.to_i64().unsigned_abs() as f64 / P41::P as f64);
        ExactOracle.truncate(x, bits)
    }
}

/// What runs each image.
#[derive(Clone, Copy)]
enum Config<'a> {
    /// The fixed-point reference: exact sign, exact rescales.
    Exact,
    /// A simulated private run: `variant` per site (`sites` override the `k`), local truncation.
    Private(Variant, &'a [SiteChoice]),
}

fn plan(variant: Variant, frac_bits: u32) -> PlanParams {
    PlanParams {
        frac_bits,
        sign_scale: defaults::SIGN_SCALE,
        variant,
        field_bits: 41,
    }
}

fn run_chunk(
    net: &Network,
    config: Config<'_>,
    frac_bits: u32,
    seed: u64,
    images: &[Vec<f64>],
    labels: &[usize],
    reference: &[Vec<f64>],
) -> Tally {
    let mut t = Tally::default();
    // Runs every image through `logits` (which also says whether the image wrapped).
    let each = |t: &mut Tally, logits: &LogitsFn<'_>| {
        for ((x, &l), want) in images.iter().zip(labels).zip(reference) {
            let (got, wrapped) = logits(x);
            t.add(&got, want, l);
            t.wrapped_inferences += usize::from(wrapped);
        }
    };
    match config {
        Config::Exact => {
            let fx = Fixed::<P41, _>::with_oracle(
                net,
                frac_bits,
                SignScale::Product,
                WrapMeter::default(),
            )
            .unwrap_or_else(|e| fail(e.to_string()));
            each(&mut t, &|x| {
                (fx.logits(x).unwrap_or_else(|e| fail(e.to_string())), false)
            });
            t.expected_wraps = fx.oracle().0.get();
        }
        Config::Private(variant, sites) => {
            let sim = simulated_with_sites::<P41, _>(
                net,
                plan(variant, frac_bits),
                sites,
                ChaCha20Rng::seed_from_u64(seed),
            )
            .unwrap_or_else(|e| fail(e.to_string()));
            let (encoded, oracle) = sim.into_parts();
            let sim = Fixed::from_encoded(encoded, oracle.with_local_truncation(true));
            each(&mut t, &|x| {
                let before = sim.oracle().truncation_failures();
                let got = sim.logits(x).unwrap_or_else(|e| fail(e.to_string()));
                (got, sim.oracle().truncation_failures() > before)
            });
            let o = sim.oracle();
            t.truncations = o.truncations();
            t.wrapped_truncations = o.truncation_failures();
            t.sites = o.site_counts();
        }
    }
    t
}

#[allow(clippy::too_many_arguments)]
fn run_all(
    net: &Network,
    config: Config<'_>,
    frac_bits: u32,
    seed: u64,
    images: &[Vec<f64>],
    labels: &[usize],
    reference: &[Vec<f64>],
    threads: usize,
) -> Tally {
    let chunk = images.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = images
            .chunks(chunk)
            .zip(labels.chunks(chunk))
            .zip(reference.chunks(chunk))
            .enumerate()
            .map(|(i, ((xs, ls), rs))| {
                s.spawn(move || {
                    run_chunk(net, config, frac_bits, seed * 1000 + i as u64, xs, ls, rs)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| fail("worker panicked".into())))
            .fold(Tally::default(), Tally::merge)
    })
}

/// One image's logits and whether a truncation wrapped while computing them.
type LogitsFn<'a> = dyn Fn(&[f64]) -> (Vec<f64>, bool) + 'a;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut images_path = root.join("models/data/fashion_test_1000-images.idx3");
    let mut labels_path = root.join("models/data/fashion_test_1000-labels.idx1");
    let mut count = usize::MAX;
    let mut threads = 2usize;
    let mut seed = 1u64;
    let mut per_layer = false;
    let mut calibrated_only = false;
    let mut frac_bits: Option<u32> = None;
    let mut seeds = 1u64;
    let mut sites_arg: Option<String> = None;
    let mut models = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| fail(format!("{name} needs a value")))
        };
        let number = |s: String| -> u64 {
            s.parse()
                .unwrap_or_else(|_| fail(format!("bad number {s}")))
        };
        match a.as_str() {
            "--images" => images_path = PathBuf::from(value("--images")),
            "--labels" => labels_path = PathBuf::from(value("--labels")),
            "--count" => count = number(value("--count")) as usize,
            "--threads" => threads = number(value("--threads")) as usize,
            "--seed" => seed = number(value("--seed")),
            "--per-layer" => per_layer = true,
            "--calibrated-only" => calibrated_only = true,
            "--frac-bits" => frac_bits = Some(number(value("--frac-bits")) as u32),
            "--seeds" => seeds = number(value("--seeds")).max(1),
            "--sites" => sites_arg = Some(value("--sites")),
            _ => models.push(PathBuf::from(a)),
        }
    }
    if models.is_empty() {
        models.push(root.join("models/fashion/fashion_resnet8.onnx"));
    }
    let data = read_idx(&images_path, &labels_path, 10, MAX_IDX_ITEMS)
        .unwrap_or_else(|e| fail(e.to_string()))
        .into_labelled();
    let data: Vec<_> = data.into_iter().take(count).collect();
    let labels: Vec<usize> = data.iter().map(|(l, _)| *l).collect();
    let images: Vec<Vec<f64>> = data.into_iter().map(|(_, x)| x).collect();
    let n = images.len();
    for path in &models {
        let bytes =
            std::fs::read(path).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        let net = import_onnx(&bytes).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        let reference: Vec<Vec<f64>> = images
            .iter()
            .map(|x| infer(&net, x).unwrap_or_else(|e| fail(e.to_string())))
            .collect();
        let f64_correct = reference
            .iter()
            .zip(&labels)
            .filter(|(r, l)| argmax(r) == Some(**l))
            .count();
        println!(
            "{}: {} ReLUs, {n} images, f64 accuracy {:.2}%",
            path.display(),
            net.architecture().relu_count(),
            100.0 * f64_correct as f64 / n as f64
        );
        let f = net
            .calibration()
            .map(|c| c.frac_bits)
            .or(frac_bits)
            .unwrap_or(defaults::FRAC_BITS);
        // The default real band 2^(k - 2f) = 1/16 at every site.
        let circa = Variant::TruncatedSign {
            k: 2 * f - 4,
            mode: defaults::TIE_MODE,
        };
        println!("  f = {f}, p41, sign tests at the product scale");
        let calibrated = net.calibration().map(|c| c.sites.clone());
        let overrides = sites_arg.as_deref().map(parse_sites);
        let mut configs: Vec<(&str, Config<'_>)> = vec![
            ("reference", Config::Exact),
            ("exact", Config::Private(Variant::ExactSign, &[])),
            ("default", Config::Private(circa, &[])),
        ];
        if calibrated_only {
            configs.clear();
        }
        if let Some(sites) = calibrated.as_deref() {
            configs.push(("calibrated", Config::Private(circa, sites)));
        }
        if let Some(sites) = overrides.as_deref() {
            configs.push(("sites", Config::Private(circa, sites)));
        }
        for (name, config) in configs {
            let runs = if matches!(config, Config::Exact) {
                1
            } else {
                seeds
            };
            let mut agreements = Vec::new();
            let mut clean_errors = Vec::new();
            for s in seed..seed + runs {
                let start = Instant::now();
                let t = run_all(&net, config, f, s, &images, &labels, &reference, threads);
                agreements.push(t.agree);
                clean_errors.push(t.error_clean / (n - t.wrapped_outputs).max(1) as f64);
                println!(
                    "  {name:10} seed {s}: agree with f64 {}/{n} ({:.2}%; {}/{} without a wrapped output), accuracy {:.2}%, \
                 mean |logit error| {:.5} ({:.5} without wrapped outputs), largest {:.4}, \
                 truncations/inference {:.0}, wrapped truncations {} (in {} inferences; expected {:.1}), \
                 wrapped outputs {}/{n} ({:.1} s)",
                    t.agree,
                    100.0 * t.agree as f64 / n as f64,
                    t.agree_clean,
                    n - t.wrapped_outputs,
                    100.0 * t.correct as f64 / n as f64,
                    t.error_sum / n as f64,
                    t.error_clean / (n - t.wrapped_outputs).max(1) as f64,
                    t.worst,
                    t.truncations as f64 / n as f64,
                    t.wrapped_truncations,
                    t.wrapped_inferences,
                    t.expected_wraps,
                    t.wrapped_outputs,
                    start.elapsed().as_secs_f64()
                );
                if per_layer {
                    for (layer, (tests, faults)) in &t.sites {
                        let name = &net.architecture().layers()[*layer].name;
                        println!(
                            "    site {layer:3} {name:24} {:8} tests/inference, fault rate {:.3e}",
                            tests / n as u64,
                            *faults as f64 / (*tests).max(1) as f64
                        );
                    }
                }
            }
            if runs > 1 {
                let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
                let agree: Vec<f64> = agreements.iter().map(|&a| a as f64).collect();
                println!(
                    "  {name:10} over {runs} seeds: agree with f64 min {} mean {:.1} max {} of {n}, mean |logit error| without wrapped outputs {:.5}",
                    agreements.iter().min().unwrap_or(&0),
                    mean(&agree),
                    agreements.iter().max().unwrap_or(&0),
                    mean(&clean_errors)
                );
            }
        }
    }
}

/// `--sites 1:11,6:5`: per layer index, its `k` (tie rule: the default).
fn parse_sites(s: &str) -> Vec<SiteChoice> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (layer, k) = p
                .split_once(':')
                .unwrap_or_else(|| fail(format!("--sites: {p} is not LAYER:K")));
            SiteChoice {
                layer: layer
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| fail(format!("--sites: bad layer {layer}"))),
                k: k.trim()
                    .parse()
                    .unwrap_or_else(|_| fail(format!("--sites: bad k {k}"))),
                mode: defaults::TIE_MODE,
            }
        })
        .collect()
}
