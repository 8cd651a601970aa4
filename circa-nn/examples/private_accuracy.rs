//! Test accuracy of REAL private inference against the truncation `k` of the Circa ReLU.
//!
//! Both parties run as threads over `circa_ot::TcpChannel::loopback_pair`, one session per
//! configuration (model, ReLU variant, seed set), with fixed rng seeds per configuration and
//! party (printed). Every test image runs the offline and the online phase. Parameters: the
//! 41-bit prime, `f = 10`, `SignScale::Product`; both tie modes; the exact ReLU as a baseline.
//! Printed per configuration: private accuracy, predictions differing from plaintext (`f64`)
//! and from the fixed-point reference (exact ReLU, exact rescale), the largest logit gap to the
//! reference, and the ReLU offline bytes per ReLU. Images whose exact-ReLU private prediction
//! differs from the reference are listed with their f64, fixed-point and private logits.
//!
//! `cargo run --release -p circa-nn --example private_accuracy -- [--models a,b] [--ks 14,19]
//! [--modes negpass,poszero] [--seed-sets N] [--first-set S] [--images N] [--only INDEX] [--no-exact]`
//! (`--only INDEX`: that test image alone; `--ks none`: no Circa rows)
//! or `-- --rounding-study RUNS` (plaintext only: the private run's rescale, local share
//! truncation, simulated RUNS times per image with the exact sign, against a flooring and a
//! rounding fixed-point reference)
//! (seed sets `S .. S + N`; the exact-ReLU and polynomial rows run once per seed set)

use std::path::PathBuf;
use std::thread;
use std::time::Instant;

use circa_nn::private::{ClientSession, Prime, PrivateParams, ServerModel, ServerSession};
use circa_nn::{CircaSign, Fixed, Network, SignOracle, SignScale, argmax, import_onnx, infer};
use circa_ot::TcpChannel;
use circa_relu::TieMode;
use circa_relu::reference::true_sign;
use circa_relu::{ProductPath, ReluParams, Variant};
use circa_share::Fp;
use circa_share::P2061584302081;
use circa_share::fixed_point::truncate_plain;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const FRAC_BITS: u32 = 10;
const PRIME: Prime = Prime::P41;

type Images = Vec<(usize, Vec<f64>)>;

struct Options {
    models: Vec<String>,
    ks: Vec<u32>,
    modes: Vec<TieMode>,
    seed_sets: u64,
    first_set: u64,
    images: usize,
    only: Option<usize>,
    exact: bool,
    rounding: Option<u64>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        models: ["digits_cnn", "digits_cnn_pruned", "digits_poly"]
            .map(String::from)
            .to_vec(),
        ks: vec![10, 12, 14, 15, 16, 17, 18, 19, 20],
        modes: vec![TieMode::NegPass, TieMode::PosZero],
        seed_sets: 1,
        first_set: 0,
        images: usize::MAX,
        only: None,
        exact: true,
        rounding: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--no-exact" {
            o.exact = false;
            continue;
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag}: {e}");
        match flag.as_str() {
            "--models" => o.models = v.split(',').map(String::from).collect(),
            "--only" => o.only = Some(v.parse().map_err(bad)?),
            "--ks" if v == "none" => o.ks = Vec::new(),
            "--ks" => {
                o.ks = v
                    .split(',')
                    .map(|k| k.parse().map_err(bad))
                    .collect::<Result<_, _>>()?
            }
            "--modes" => {
                o.modes = v
                    .split(',')
                    .map(|m| match m {
                        "negpass" => Ok(TieMode::NegPass),
                        "poszero" => Ok(TieMode::PosZero),
                        _ => Err(format!("unknown mode {m}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--seed-sets" => o.seed_sets = v.parse().map_err(bad)?,
            "--rounding-study" => o.rounding = Some(v.parse().map_err(bad)?),
            "--first-set" => o.first_set = v.parse().map_err(bad)?,
            "--images" => o.images = v.parse().map_err(bad)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(o)
}

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn load_images(n: usize) -> Result<Images, String> {
    let text = std::fs::read_to_string(models_dir().join("data/digits_test.csv"))
        .map_err(|e| e.to_string())?;
    let mut all = circa_nn::dataset::parse_labelled(&text, 64, 10).map_err(|e| e.to_string())?;
    all.truncate(n);
    Ok(all)
}

fn load_model(name: &str) -> Result<Network, String> {
    let bytes =
        std::fs::read(models_dir().join(format!("{name}.onnx"))).map_err(|e| e.to_string())?;
    import_onnx(&bytes).map_err(|e| format!("{name}: {e}"))
}

/// One private session over every image: per image the logits, plus (ReLU offline bytes,
/// ReLUs) of the last inference.
fn private_run(
    net: &Network,
    params: PrivateParams,
    images: &Images,
    seeds: (u64, u64),
) -> Result<(Vec<Vec<f64>>, u64, u64), String> {
    let (mut sch, mut cch) = TcpChannel::loopback_pair().map_err(|e| e.to_string())?;
    let server_net = net.clone();
    let server = thread::spawn(move || -> Result<(), String> {
        let mut rng = ChaCha20Rng::seed_from_u64(seeds.0);
        let mut s = ServerSession::handshake(
            &mut sch,
            &ServerModel::new(&server_net, params).expect("model"),
            &mut rng,
        )
        .map_err(|e| format!("server: {e}"))?;
        while s
            .serve_one(&mut sch)
            .map_err(|e| format!("server: {e}"))?
            .is_some()
        {}
        Ok(())
    });
    let mut rng = ChaCha20Rng::seed_from_u64(seeds.1);
    let client = (|| -> Result<_, String> {
        let mut c = ClientSession::handshake(&mut cch, &mut rng).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(images.len());
        for (_, x) in images {
            let pre = c.offline(&mut cch).map_err(|e| e.to_string())?;
            out.push(c.online(&mut cch, pre, x).map_err(|e| e.to_string())?);
        }
        let st = c.last_stats();
        c.close(&mut cch).map_err(|e| e.to_string())?;
        Ok((out, st.offline_relu_bytes, st.relus))
    })();
    let served = server
        .join()
        .map_err(|_| "server thread panicked".to_string())?;
    let out = client.map_err(|e| format!("client: {e}"))?;
    served?;
    Ok(out)
}

/// Seeds of one configuration: (server, client). `variant` 0 = exact, else `k + 64 * mode`.
fn seeds_for(set: u64, model: usize, variant: u64) -> (u64, u64) {
    let base = 0xC12C_A000_0000_0000 ^ (set << 32) ^ ((model as u64) << 16) ^ (variant << 4);
    (base | 1, base | 2)
}

struct Reference {
    name: String,
    net: Network,
    relus: usize,
    plain_logits: Vec<Vec<f64>>,
    plain: Vec<Option<usize>>,
    fixed_logits: Vec<Vec<f64>>,
    fixed: Vec<Option<usize>>,
}

/// The gap between the largest and the second largest logit.
fn top_two_margin(l: &[f64]) -> f64 {
    let mut v = l.to_vec();
    v.sort_by(|a, b| b.total_cmp(a));
    v.first().copied().unwrap_or(0.0) - v.get(1).copied().unwrap_or(f64::NEG_INFINITY)
}

fn percent(n: usize, total: usize) -> f64 {
    100.0 * n as f64 / total as f64
}

fn fmt_logits(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.4}")).collect();
    format!("[{}]", parts.join(", "))
}

#[allow(clippy::too_many_arguments)]
fn row(
    r: &Reference,
    images: &Images,
    mode: &str,
    k: Option<u32>,
    set: u64,
    seeds: (u64, u64),
    params: PrivateParams,
    diagnose: bool,
    offset: usize,
) -> Result<(), String> {
    let t0 = Instant::now();
    let (logits, relu_bytes, relus) = private_run(&r.net, params, images, seeds)?;
    let secs = t0.elapsed().as_secs_f64();
    let preds: Vec<Option<usize>> = logits.iter().map(|l| argmax(l)).collect();
    let correct = preds
        .iter()
        .zip(images)
        .filter(|(p, (label, _))| **p == Some(*label))
        .count();
    let vs_plain = preds.iter().zip(&r.plain).filter(|(a, b)| a != b).count();
    let vs_fixed = preds.iter().zip(&r.fixed).filter(|(a, b)| a != b).count();
    let gap = logits
        .iter()
        .zip(&r.fixed_logits)
        .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
        .fold(0f64, f64::max);
    let per_relu = relu_bytes
        .checked_div(relus)
        .map_or("-".to_string(), |b| b.to_string());
    let (k_s, bits_s) = match k {
        Some(k) => (k.to_string(), (PRIME.bits() - k).to_string()),
        None => ("-".into(), "exact".into()),
    };
    println!(
        "| {} | {mode} | {k_s} | {bits_s} | {set} | {:.2} ({correct}/{}) | {vs_plain} | {vs_fixed} | {gap:.4} | {per_relu} | {secs:.0} |",
        r.name,
        percent(correct, images.len()),
        images.len()
    );
    if diagnose {
        for (i, (p, f)) in preds.iter().zip(&r.fixed).enumerate() {
            if p != f {
                println!(
                    "  image {} (label {}): plaintext {:?} {}\n    fixed {:?} {}\n    private {:?} {}",
                    i + offset,
                    images[i].0,
                    r.plain[i],
                    fmt_logits(&r.plain_logits[i]),
                    r.fixed[i],
                    fmt_logits(&r.fixed_logits[i]),
                    p,
                    fmt_logits(&logits[i])
                );
            }
        }
    }
    Ok(())
}

fn run(o: &Options) -> Result<(), String> {
    let mut images = load_images(o.images)?;
    let offset = o.only.unwrap_or(0);
    if let Some(i) = o.only {
        images = images.get(i).cloned().into_iter().collect();
        if images.is_empty() {
            return Err(format!("no test image {i}"));
        }
    }
    println!(
        "Private inference, {} test images, {} f = {FRAC_BITS}, sign scale product, TCP loopback.",
        images.len(),
        PRIME.name()
    );
    let mut refs = Vec::new();
    for name in &o.models {
        let net = load_model(name)?;
        let fx = Fixed::<P2061584302081>::new(&net, FRAC_BITS, SignScale::Product)
            .map_err(|e| e.to_string())?;
        let mut r = Reference {
            name: name.clone(),
            relus: net.architecture().relu_count(),
            plain_logits: Vec::new(),
            plain: Vec::new(),
            fixed_logits: Vec::new(),
            fixed: Vec::new(),
            net: net.clone(),
        };
        for (_, x) in &images {
            let pl = infer(&net, x).map_err(|e| e.to_string())?;
            r.plain.push(argmax(&pl));
            r.plain_logits.push(pl);
            let fl = fx.logits(x).map_err(|e| e.to_string())?;
            r.fixed.push(argmax(&fl));
            r.fixed_logits.push(fl);
        }
        let acc = |p: &[Option<usize>]| {
            percent(
                p.iter()
                    .zip(&images)
                    .filter(|(p, (l, _))| **p == Some(*l))
                    .count(),
                images.len(),
            )
        };
        println!(
            "{name}: {} ReLUs, plaintext (f64) accuracy {:.2} %, fixed-point reference {:.2} % ({} predictions differ)",
            r.relus,
            acc(&r.plain),
            acc(&r.fixed),
            r.plain.iter().zip(&r.fixed).filter(|(a, b)| a != b).count()
        );
        let mut margins: Vec<(f64, usize)> = r
            .fixed_logits
            .iter()
            .enumerate()
            .map(|(i, l)| (top_two_margin(l), i))
            .collect();
        margins.sort_by(|a, b| a.0.total_cmp(&b.0));
        let near: Vec<String> = margins
            .iter()
            .take(4)
            .map(|(m, i)| format!("image {}: {m:.4}", i + offset))
            .collect();
        println!(
            "  smallest top-2 margins of the fixed-point logits: {}",
            near.join(", ")
        );
        refs.push(r);
    }
    println!(
        "Seeds: server 0xc12ca000_00000000 ^ set << 32 ^ model << 16 ^ variant << 4 | 1, client the same | 2 \
         (variant 0 = exact, k + 64 for negpass, k + 128 for poszero; each also printed on stderr)."
    );
    println!(
        "\n| model | mode | k | comparator bits | seed set | private accuracy % | differ from plaintext | differ from fixed-point ref. | max logit gap to ref. | ReLU offline B/ReLU | seconds |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (mi, r) in refs.iter().enumerate() {
        for set in o.first_set..o.first_set + o.seed_sets {
            if o.exact || r.relus == 0 {
                let seeds = seeds_for(set, mi, 0);
                eprintln!(
                    "{} exact set {set}: seeds server {:#x} client {:#x}",
                    r.name, seeds.0, seeds.1
                );
                let mode = if r.relus == 0 { "poly" } else { "exact" };
                let params = PrivateParams::exact(PRIME, FRAC_BITS);
                row(r, &images, mode, None, set, seeds, params, true, offset)?;
            }
            if r.relus == 0 {
                continue; // No ReLU: k and mode do not matter.
            }
            for &mode in &o.modes {
                for &k in &o.ks {
                    let variant = u64::from(k)
                        + 64 * match mode {
                            TieMode::NegPass => 1,
                            TieMode::PosZero => 2,
                        };
                    let seeds = seeds_for(set, mi, variant);
                    eprintln!(
                        "{} {} k={k} set {set}: seeds server {:#x} client {:#x}",
                        r.name,
                        mode.name(),
                        seeds.0,
                        seeds.1
                    );
                    let params = PrivateParams::circa(PRIME, FRAC_BITS, k, mode);
                    row(
                        r,
                        &images,
                        mode.name(),
                        Some(k),
                        set,
                        seeds,
                        params,
                        true,
                        offset,
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// Exact sign, rescale by rounding to nearest (`floor((x + 2^(bits-1)) / 2^bits)`).
struct RoundOracle;

impl SignOracle<P2061584302081> for RoundOracle {
    fn sign(&self, y: Fp<P2061584302081>) -> bool {
        true_sign(y)
    }
    fn truncate(&self, x: Fp<P2061584302081>, bits: u32) -> Fp<P2061584302081> {
        truncate_plain(x + Fp::from_u64_reduced(1 << (bits - 1)), bits)
    }
}

/// Exact-ReLU rescaling study: local share truncation (simulated, `runs` times per image)
/// against a flooring and a rounding fixed-point reference.
fn rounding_study(o: &Options, runs: u64) -> Result<(), String> {
    type M = P2061584302081;
    let images = load_images(o.images)?;
    println!(
        "| model | reference | ref. accuracy % | ref. differs from f64 | mean (ref - f64) logit | local trunc.: predictions differing from ref. (per run; images, w = with a wrap) | inferences with a wrap (logit off by > 1) | mean (private - ref.) logit, no wrap | mean abs, no wrap |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for name in &o.models {
        let net = load_model(name)?;
        let floor =
            Fixed::<M>::new(&net, FRAC_BITS, SignScale::Product).map_err(|e| e.to_string())?;
        let round = Fixed::<M, _>::with_oracle(&net, FRAC_BITS, SignScale::Product, RoundOracle)
            .map_err(|e| e.to_string())?;
        let plain: Vec<Vec<f64>> = images
            .iter()
            .map(|(_, x)| infer(&net, x).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let refs: [(&str, Vec<Vec<f64>>); 2] = [
            (
                "floor",
                images
                    .iter()
                    .map(|(_, x)| floor.logits(x))
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?,
            ),
            (
                "round",
                images
                    .iter()
                    .map(|(_, x)| round.logits(x))
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?,
            ),
        ];
        let params = ReluParams::<M>::new(Variant::ExactSign, ProductPath::LabelTable, FRAC_BITS)
            .map_err(|e| e.to_string())?;
        let mut sims: Vec<Vec<Vec<f64>>> = Vec::new();
        for run in 0..runs {
            let oracle = CircaSign::new(params, ChaCha20Rng::seed_from_u64(0x5EED_0000 + run))
                .with_local_truncation(true);
            let sim = Fixed::<M, _>::with_oracle(&net, FRAC_BITS, SignScale::Product, oracle)
                .map_err(|e| e.to_string())?;
            sims.push(
                images
                    .iter()
                    .map(|(_, x)| sim.logits(x))
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?,
            );
        }
        for (rname, rl) in &refs {
            let correct = rl
                .iter()
                .zip(&images)
                .filter(|(l, (y, _))| argmax(l) == Some(*y))
                .count();
            let vs_plain = rl
                .iter()
                .zip(&plain)
                .filter(|(a, b)| argmax(a) != argmax(b))
                .count();
            let n = (images.len() * rl[0].len()) as f64;
            let bias: f64 = rl
                .iter()
                .zip(&plain)
                .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| x - y))
                .sum::<f64>()
                / n;
            let mut differ = 0usize;
            let mut flipped: Vec<String> = Vec::new();
            let (mut d, mut ad, mut cnt, mut wraps) = (0f64, 0f64, 0f64, 0usize);
            for s in &sims {
                for (i, (a, b)) in s.iter().zip(rl).enumerate() {
                    // A truncation wrap moves a logit by far more than 1; counted apart.
                    let wrapped = a.iter().zip(b).any(|(x, y)| (x - y).abs() > 1.0);
                    if argmax(a) != argmax(b) {
                        differ += 1;
                        let tag = if wrapped {
                            format!("{i}w")
                        } else {
                            i.to_string()
                        };
                        flipped.push(tag);
                    }
                    if wrapped {
                        wraps += 1;
                        continue;
                    }
                    for (x, y) in a.iter().zip(b) {
                        d += x - y;
                        ad += (x - y).abs();
                        cnt += 1.0;
                    }
                }
            }
            println!(
                "| {name} | {rname} | {:.2} | {vs_plain} | {bias:+.5} | {differ} ({:.2}; images {flipped:?}) | {wraps} | {:+.5} | {:.5} |",
                percent(correct, images.len()),
                differ as f64 / runs as f64,
                d / cnt,
                ad / cnt
            );
        }
    }
    Ok(())
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let result = match o.rounding {
        Some(runs) => rounding_study(&o, runs.max(1)),
        None => run(&o),
    };
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
