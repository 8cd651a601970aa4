//! Test accuracy of the bundled digits models against the truncation `k` of the Circa ReLU,
//! in a PLAINTEXT SIMULATION of the fault model (`circa_nn::simulate`: each ReLU sign from
//! `circa_relu::reference::sign_bit` on a fresh random sharing), for both shipped primes,
//! several fractional bits `f`, both sign-test scales and both tie modes; each point twice:
//! with exact rescaling, and with every rescale simulated as local share truncation of a random
//! sharing (what the private run does; it wraps with probability about `|x| / p`).
//! Then picks, per configuration, the largest `k` such that every `k' <= k` in the range keeps
//! the simulated accuracy of every model within 0.5 points of plaintext (`f64`), and among all
//! configurations the fewest comparator bits `bits(p) - k` (ties: the smaller worst drop).
//! The default is the choice under simulated local truncation.
//!
//! `cargo run --release -p circa-nn --example accuracy_sweep [-- --seeds N]`
//! (N = independent simulation runs per point, averaged; default 2).

use std::path::PathBuf;

use circa_nn::dataset::parse_labelled;
use circa_nn::{
    CircaSign, Fixed, Network, SignOracle, SignScale, argmax, argmax_fixed, import_onnx, infer,
};
use circa_relu::{ProductPath, ReluParams, TieMode, Variant};
use circa_share::{Modulus, P2138816513, P2061584302081};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const MODELS: [&str; 3] = ["digits_cnn", "digits_cnn_pruned", "digits_poly"];
const TOLERANCE_POINTS: f64 = 0.5;

type Images = Vec<(usize, Vec<f64>)>;

struct Model {
    name: &'static str,
    net: Network,
    relus: usize,
    plain: f64,
}

/// One simulated point.
struct Row {
    model: &'static str,
    bits: u32,
    f: u32,
    scale: SignScale,
    mode: TieMode,
    k: u32,
    /// Mean simulated accuracy (percent) with exact rescaling; for a model without ReLUs, the
    /// fixed-point accuracy.
    sim: f64,
    /// Mean simulated accuracy with every rescale simulated as local share truncation.
    sim_trunc: f64,
    /// Wrong sign bits (on nonzero inputs) per sign test.
    fault_rate: f64,
    /// Local truncation wraps per inference.
    wraps: f64,
}

fn percent(correct: usize, total: usize) -> f64 {
    100.0 * correct as f64 / total as f64
}

fn accuracy<M: Modulus, S: SignOracle<M>>(
    fx: &Fixed<M, S>,
    images: &Images,
) -> Result<f64, String> {
    let mut correct = 0;
    for (label, x) in images {
        let pred = argmax_fixed(&fx.run(x).map_err(|e| e.to_string())?);
        correct += usize::from(pred == Some(*label));
    }
    Ok(percent(correct, images.len()))
}

/// A simulation run: (accuracy, sign tests, sign faults, truncation wraps).
fn sim_run<M: Modulus>(
    net: &Network,
    images: &Images,
    f: u32,
    scale: SignScale,
    variant: Variant,
    truncation: bool,
    seed: u64,
) -> Result<(f64, u64, u64, u64), String> {
    let params =
        ReluParams::<M>::new(variant, ProductPath::LabelTable, f).map_err(|e| e.to_string())?;
    let oracle =
        CircaSign::new(params, ChaCha20Rng::seed_from_u64(seed)).with_local_truncation(truncation);
    let sim = Fixed::<M, _>::with_oracle(net, f, scale, oracle).map_err(|e| e.to_string())?;
    let acc = accuracy(&sim, images)?;
    let o = sim.oracle();
    Ok((acc, o.tests(), o.faults(), o.truncation_failures()))
}

fn load() -> Result<(Vec<Model>, Images), String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models");
    let text =
        std::fs::read_to_string(dir.join("data/digits_test.csv")).map_err(|e| e.to_string())?;
    let images = parse_labelled(&text, 64, 10).map_err(|e| e.to_string())?;
    let mut models = Vec::new();
    for name in MODELS {
        let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).map_err(|e| e.to_string())?;
        let net = import_onnx(&bytes).map_err(|e| format!("{name}: {e}"))?;
        let mut correct = 0;
        for (label, x) in &images {
            let logits = infer(&net, x).map_err(|e| e.to_string())?;
            correct += usize::from(argmax(&logits) == Some(*label));
        }
        let relus = net.architecture().relu_count();
        models.push(Model {
            name,
            net,
            relus,
            plain: percent(correct, images.len()),
        });
    }
    Ok((models, images))
}

type FixedRow = (&'static str, u32, u32, SignScale, Option<f64>);

fn sweep<M: Modulus>(
    models: &[Model],
    images: &Images,
    fs: &[u32],
    seeds: u64,
    fixed_rows: &mut Vec<FixedRow>,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    for &f in fs {
        for scale in [SignScale::Rescaled, SignScale::Product] {
            let scale_bits = match scale {
                SignScale::Rescaled => f,
                SignScale::Product => 2 * f,
            };
            let k_lo = scale_bits.saturating_sub(8);
            let k_hi = (scale_bits + 2).min(M::BITS - 1);
            // Fixed point, exact ReLU, exact rescale.
            let mut fits = true;
            for m in models {
                let fixed = match Fixed::<M>::new(&m.net, f, scale) {
                    Ok(fx) => Some(accuracy(&fx, images)?),
                    Err(_) => None,
                };
                fits &= fixed.is_some_and(|a| a >= m.plain - TOLERANCE_POINTS);
                fixed_rows.push((m.name, M::BITS, f, scale, fixed));
            }
            if !fits {
                continue; // Some model already misses the tolerance without any Circa fault.
            }
            for m in models {
                let seed0 = (u64::from(M::BITS) << 48) ^ (u64::from(f) << 40);
                let no_relu = if m.relus == 0 {
                    // Independent of k and mode: one exact and one truncation-simulated run.
                    let fx = Fixed::<M>::new(&m.net, f, scale).map_err(|e| e.to_string())?;
                    let exact = accuracy(&fx, images)?;
                    let (mut acc, mut wraps) = (0.0, 0);
                    for seed in 0..seeds {
                        let r = sim_run::<M>(
                            &m.net,
                            images,
                            f,
                            scale,
                            Variant::ExactSign,
                            true,
                            seed0 ^ seed,
                        )?;
                        acc += r.0;
                        wraps += r.3;
                    }
                    Some((
                        exact,
                        acc / seeds as f64,
                        wraps as f64 / (seeds as f64 * images.len() as f64),
                    ))
                } else {
                    None
                };
                for mode in [TieMode::NegPass, TieMode::PosZero] {
                    for k in k_lo..=k_hi {
                        let mut row = Row {
                            model: m.name,
                            bits: M::BITS,
                            f,
                            scale,
                            mode,
                            k,
                            sim: 0.0,
                            sim_trunc: 0.0,
                            fault_rate: 0.0,
                            wraps: 0.0,
                        };
                        if let Some((exact, trunc, wraps)) = no_relu {
                            row.sim = exact;
                            row.sim_trunc = trunc;
                            row.wraps = wraps;
                            rows.push(row);
                            continue;
                        }
                        let variant = Variant::TruncatedSign { k, mode };
                        let (mut tests, mut faults, mut wraps) = (0, 0, 0);
                        for seed in 0..seeds {
                            let seed = seed0 ^ (u64::from(k) << 32) ^ seed;
                            let a = sim_run::<M>(&m.net, images, f, scale, variant, false, seed)?;
                            let b = sim_run::<M>(&m.net, images, f, scale, variant, true, !seed)?;
                            row.sim += a.0 / seeds as f64;
                            row.sim_trunc += b.0 / seeds as f64;
                            tests += a.1;
                            faults += a.2;
                            wraps += b.3;
                        }
                        row.fault_rate = faults as f64 / tests.max(1) as f64;
                        row.wraps = wraps as f64 / (seeds as f64 * images.len() as f64);
                        rows.push(row);
                    }
                }
            }
        }
    }
    Ok(())
}

type Choice = (u32, u32, SignScale, TieMode, u32, f64);

/// Prints, per configuration, the largest k whose every k' <= k keeps all models within the
/// tolerance under `acc`, and returns the choice with the fewest comparator bits.
fn select(models: &[Model], rows: &[Row], acc: fn(&Row) -> f64) -> Option<Choice> {
    println!(
        "| bits(p) | f | sign scale | mode | largest k | comparator bits | worst drop at that k |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut best: Option<Choice> = None;
    let mut configs: Vec<(u32, u32, SignScale, TieMode)> = Vec::new();
    for r in rows {
        let c = (r.bits, r.f, r.scale, r.mode);
        if !configs.contains(&c) {
            configs.push(c);
        }
    }
    for (bits, f, scale, mode) in configs {
        let pts: Vec<&Row> = rows
            .iter()
            .filter(|r| (r.bits, r.f, r.scale, r.mode) == (bits, f, scale, mode))
            .collect();
        let mut ks: Vec<u32> = pts.iter().map(|r| r.k).collect();
        ks.sort_unstable();
        ks.dedup();
        let drop_at = |k: u32| -> Option<f64> {
            let mut worst = f64::NEG_INFINITY;
            for m in models {
                let r = pts.iter().find(|r| r.k == k && r.model == m.name)?;
                worst = worst.max(m.plain - acc(r));
            }
            Some(worst)
        };
        let mut chosen: Option<(u32, f64)> = None;
        for &k in &ks {
            match drop_at(k) {
                Some(d) if d <= TOLERANCE_POINTS => chosen = Some((k, d)),
                _ => break,
            }
        }
        let top = ks.last().copied().unwrap_or(0);
        match chosen {
            Some((k, d)) => {
                let note = if k == top { " (top of range)" } else { "" };
                println!(
                    "| {bits} | {f} | {} | {} | {k}{note} | {} | {d:.2} |",
                    scale.name(),
                    mode.name(),
                    bits - k
                );
                if best.is_none_or(|(bb, _, _, _, bk, bd)| (bits - k, d) < (bb - bk, bd)) {
                    best = Some((bits, f, scale, mode, k, d));
                }
            }
            None => {
                let k0 = ks.first().copied().unwrap_or(0);
                let lo = drop_at(k0).unwrap_or(f64::NAN);
                println!(
                    "| {bits} | {f} | {} | {} | none (drop {lo:.2} at k = {k0}) | - | - |",
                    scale.name(),
                    mode.name()
                )
            }
        }
    }
    match best {
        Some((bits, f, scale, mode, k, d)) => println!(
            "\nChoice (fewest comparator bits): bits(p) = {bits}, f = {f}, k = {k}, mode = {}, \
             sign scale = {}: comparator {} bits, worst drop {d:.2} points.",
            mode.name(),
            scale.name(),
            bits - k
        ),
        None => println!("\nNo configuration stays within {TOLERANCE_POINTS} points."),
    }
    best
}

fn main() {
    let mut seeds = 2u64;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, n] = args.as_slice()
        && flag == "--seeds"
    {
        match n.parse() {
            Ok(v) if v > 0 => seeds = v,
            _ => {
                eprintln!("--seeds needs a positive integer");
                std::process::exit(2);
            }
        }
    } else if !args.is_empty() {
        eprintln!("usage: accuracy_sweep [--seeds N]");
        std::process::exit(2);
    }
    let (models, images) = match load() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    println!(
        "Accuracy against k: SIMULATED Circa ReLU (plaintext simulation of the fault model, \
         exact rescaling), {} test images, {seeds} simulation run(s) per point, mean shown.",
        images.len()
    );
    for m in &models {
        println!(
            "plaintext (f64) accuracy {}: {:.2} % ({} ReLUs)",
            m.name, m.plain, m.relus
        );
    }
    let mut fixed_rows = Vec::new();
    let mut rows = Vec::new();
    let run = sweep::<P2061584302081>(
        &models,
        &images,
        &[7, 8, 10, 13],
        seeds,
        &mut fixed_rows,
        &mut rows,
    )
    .and_then(|()| {
        sweep::<P2138816513>(
            &models,
            &images,
            &[6, 7, 8, 10],
            seeds,
            &mut fixed_rows,
            &mut rows,
        )
    });
    if let Err(e) = run {
        eprintln!("{e}");
        std::process::exit(1);
    }

    println!("\n## Fixed point, exact ReLU (accuracy %, '-' = does not fit the field)\n");
    println!("| model | bits(p) | f | sign scale | fixed-point accuracy |");
    println!("|---|---|---|---|---|");
    for (model, bits, f, scale, acc) in &fixed_rows {
        let a = acc.map_or("-".to_string(), |a| format!("{a:.2}"));
        println!("| {model} | {bits} | {f} | {} | {a} |", scale.name());
    }
    println!(
        "\n## Simulated Circa ReLU (TruncatedSign): mean accuracy %, sign faults per test, \
         truncation wraps per inference\n"
    );
    println!(
        "| model | bits(p) | f | sign scale | mode | k | comparator bits | sim. acc. (exact rescale) | sim. acc. (local truncation) | plaintext | sign faults | wraps/inference |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let plain = models
            .iter()
            .find(|m| m.name == r.model)
            .map_or(0.0, |m| m.plain);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2e} | {:.3} |",
            r.model,
            r.bits,
            r.f,
            r.scale.name(),
            r.mode.name(),
            r.k,
            r.bits - r.k,
            r.sim,
            r.sim_trunc,
            plain,
            r.fault_rate,
            r.wraps
        );
    }
    println!(
        "\n## Largest k within {TOLERANCE_POINTS} points of plaintext on all {} models: exact rescale\n",
        models.len()
    );
    select(&models, &rows, |r| r.sim);
    println!(
        "\n## Largest k within {TOLERANCE_POINTS} points of plaintext on all {} models: local truncation simulated too (the default)\n",
        models.len()
    );
    select(&models, &rows, |r| r.sim_trunc);
}
