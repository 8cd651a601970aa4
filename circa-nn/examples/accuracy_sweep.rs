//! Test accuracy of the bundled digits models against the truncation `k` of the Circa ReLU,
//! in a PLAINTEXT SIMULATION of the fault model (`circa_nn::simulate`: each ReLU sign from
//! `circa_relu::reference::sign_bit` on a fresh random sharing; exact rescaling), for both
//! shipped primes, several fractional bits `f`, both sign-test scales and both tie modes.
//! Then picks the default `(p, f, k, mode, scale)`: for each configuration the largest `k` such
//! that every `k' <= k` in the range keeps the simulated accuracy of every model within 0.5
//! points of plaintext (`f64`), and among those the fewest comparator bits `bits(p) - k`.
//!
//! `cargo run --release -p circa-nn --example accuracy_sweep [-- --seeds N]`
//! (N = independent simulation runs per point, averaged; default 2).

use std::path::PathBuf;

use circa_nn::dataset::parse_labelled;
use circa_nn::{
    CircaSign, Fixed, Network, SignScale, argmax, argmax_fixed, import_onnx, infer, simulated,
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
    /// Mean simulated accuracy (percent); for a model without ReLUs, the fixed-point accuracy.
    sim: f64,
    /// Wrong sign bits per sign test.
    fault_rate: f64,
}

fn percent(correct: usize, total: usize) -> f64 {
    100.0 * correct as f64 / total as f64
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

fn sweep<M: Modulus>(
    models: &[Model],
    images: &Images,
    fs: &[u32],
    seeds: u64,
    fixed_rows: &mut Vec<(&'static str, u32, u32, SignScale, Option<f64>)>,
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
            for m in models {
                // Fixed point, exact ReLU.
                let fixed = match Fixed::<M>::new(&m.net, f, scale) {
                    Ok(fx) => {
                        let mut correct = 0;
                        for (label, x) in images {
                            let pred = argmax_fixed(&fx.run(x).map_err(|e| e.to_string())?);
                            correct += usize::from(pred == Some(*label));
                        }
                        Some(percent(correct, images.len()))
                    }
                    Err(_) => None,
                };
                fixed_rows.push((m.name, M::BITS, f, scale, fixed));
                let Some(fixed_acc) = fixed else { continue };
                for mode in [TieMode::NegPass, TieMode::PosZero] {
                    for k in k_lo..=k_hi {
                        if m.relus == 0 {
                            rows.push(Row {
                                model: m.name,
                                bits: M::BITS,
                                f,
                                scale,
                                mode,
                                k,
                                sim: fixed_acc,
                                fault_rate: 0.0,
                            });
                            continue;
                        }
                        let (mut total, mut tests, mut faults) = (0.0, 0, 0);
                        for seed in 0..seeds {
                            let rng = ChaCha20Rng::seed_from_u64(
                                (u64::from(M::BITS) << 48)
                                    ^ (u64::from(f) << 40)
                                    ^ (u64::from(k) << 32)
                                    ^ seed,
                            );
                            let sim = simulated::<M, _>(
                                &m.net,
                                f,
                                scale,
                                Variant::TruncatedSign { k, mode },
                                rng,
                            )
                            .map_err(|e| e.to_string())?;
                            let mut correct = 0;
                            for (label, x) in images {
                                let pred = argmax_fixed(&sim.run(x).map_err(|e| e.to_string())?);
                                correct += usize::from(pred == Some(*label));
                            }
                            total += percent(correct, images.len());
                            tests += sim.oracle().tests();
                            faults += sim.oracle().faults();
                        }
                        rows.push(Row {
                            model: m.name,
                            bits: M::BITS,
                            f,
                            scale,
                            mode,
                            k,
                            sim: total / seeds as f64,
                            fault_rate: faults as f64 / tests.max(1) as f64,
                        });
                    }
                }
            }
        }
    }
    Ok(())
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
        &[8, 10, 12, 13],
        seeds,
        &mut fixed_rows,
        &mut rows,
    )
    .and_then(|()| {
        sweep::<P2138816513>(
            &models,
            &images,
            &[6, 8, 10, 12],
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
        "\n## Simulated Circa ReLU (TruncatedSign), mean accuracy % and sign faults per test\n"
    );
    println!(
        "| model | bits(p) | f | sign scale | mode | k | comparator bits | simulated acc. | plaintext | sign faults |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows
        .iter()
        .filter(|r| models.iter().any(|m| m.name == r.model && m.relus > 0))
    {
        let plain = models
            .iter()
            .find(|m| m.name == r.model)
            .map_or(0.0, |m| m.plain);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2e} |",
            r.model,
            r.bits,
            r.f,
            r.scale.name(),
            r.mode.name(),
            r.k,
            r.bits - r.k,
            r.sim,
            plain,
            r.fault_rate
        );
    }

    // Per configuration: the largest k whose every k' <= k keeps all models within tolerance.
    println!(
        "\n## Largest k within {TOLERANCE_POINTS} points of plaintext on all {} models\n",
        models.len()
    );
    println!(
        "| bits(p) | f | sign scale | mode | largest k | comparator bits | worst drop at that k |"
    );
    println!("|---|---|---|---|---|---|---|");
    type Choice = (u32, u32, SignScale, TieMode, u32, f64);
    let mut best: Option<Choice> = None;
    let mut best_per_prime: Vec<Choice> = Vec::new();
    let mut configs: Vec<(u32, u32, SignScale, TieMode)> = Vec::new();
    for r in &rows {
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
            for m in &models {
                let r = pts.iter().find(|r| r.k == k && r.model == m.name)?;
                worst = worst.max(m.plain - r.sim);
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
                let better = best.is_none_or(|(bb, _, _, _, bk, bd)| (bits - k, d) < (bb - bk, bd));
                if better {
                    best = Some((bits, f, scale, mode, k, d));
                }
                let choice = (bits, f, scale, mode, k, d);
                match best_per_prime.iter_mut().find(|c| c.0 == bits) {
                    Some(c) if (bits - k, d) < (c.0 - c.4, c.5) => *c = choice,
                    Some(_) => {}
                    None => best_per_prime.push(choice),
                }
            }
            None => println!(
                "| {bits} | {f} | {} | {} | none | - | - |",
                scale.name(),
                mode.name()
            ),
        }
    }
    match best {
        Some((bits, f, scale, mode, k, d)) => println!(
            "\nDefault (fewest comparator bits, simulated): bits(p) = {bits}, f = {f}, k = {k}, \
             mode = {}, sign scale = {}: comparator {} bits, worst simulated drop {d:.2} points.",
            mode.name(),
            scale.name(),
            bits - k
        ),
        None => println!("\nNo configuration stays within {TOLERANCE_POINTS} points."),
    }

    // The best point of each prime again, now also simulating every rescale as local share
    // truncation of a random sharing (off by one unit, wrapping with probability |x|/p).
    println!(
        "\n## Best point per prime with local share truncation also simulated ({seeds} run(s))\n"
    );
    println!(
        "| bits(p) | f | sign scale | mode | k | model | simulated acc. (exact rescale) | simulated acc. (local truncation) | truncation wraps per inference |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &(bits, f, scale, mode, k, _) in &best_per_prime {
        let res = if bits == P2061584302081::BITS {
            with_truncation::<P2061584302081>(&models, &images, f, scale, mode, k, seeds)
        } else {
            with_truncation::<P2138816513>(&models, &images, f, scale, mode, k, seeds)
        };
        match res {
            Ok(list) => {
                for (model, acc, wraps) in list {
                    let exact = rows
                        .iter()
                        .find(|r| {
                            (r.model, r.bits, r.f, r.scale, r.mode, r.k)
                                == (model, bits, f, scale, mode, k)
                        })
                        .map_or(f64::NAN, |r| r.sim);
                    println!(
                        "| {bits} | {f} | {} | {} | {k} | {model} | {exact:.2} | {acc:.2} | {wraps:.4} |",
                        scale.name(),
                        mode.name()
                    );
                }
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    }
}

/// Mean accuracy and truncation wraps per inference with local truncation simulated.
fn with_truncation<M: Modulus>(
    models: &[Model],
    images: &Images,
    f: u32,
    scale: SignScale,
    mode: TieMode,
    k: u32,
    seeds: u64,
) -> Result<Vec<(&'static str, f64, f64)>, String> {
    let mut out = Vec::new();
    for m in models {
        let (mut total, mut wraps) = (0.0, 0u64);
        for seed in 0..seeds {
            let params = ReluParams::<M>::new(
                Variant::TruncatedSign { k, mode },
                ProductPath::LabelTable,
                f,
            )
            .map_err(|e| e.to_string())?;
            let rng = ChaCha20Rng::seed_from_u64(0x7472_756e_6300 ^ seed);
            let oracle = CircaSign::new(params, rng).with_local_truncation(true);
            let sim =
                Fixed::<M, _>::with_oracle(&m.net, f, scale, oracle).map_err(|e| e.to_string())?;
            let mut correct = 0;
            for (label, x) in images {
                let pred = argmax_fixed(&sim.run(x).map_err(|e| e.to_string())?);
                correct += usize::from(pred == Some(*label));
            }
            total += percent(correct, images.len());
            wraps += sim.oracle().truncation_failures();
        }
        out.push((
            m.name,
            total / seeds as f64,
            wraps as f64 / (seeds as f64 * images.len() as f64),
        ));
    }
    Ok(out)
}
