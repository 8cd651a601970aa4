//! `circa-bench nn`: private inference end to end over TCP loopback on the bundled digits
//! models and on the CIFAR-shaped benchmark networks with random weights ([`crate::nn_networks`]:
//! MiniONN, ResNet-32, ResNet-18, VGG-16). The server's linear layers use the correlation
//! [`NnOptions::linear`] picks (`LinearMode::Auto` by default: per layer, OT or HE).
//!
//! Each record is one model and ReLU variant: per-inference medians of the offline and online
//! seconds (the client's wall clock), mean bytes each way, the client's storage between the
//! phases, the linear layers' multiply-accumulates and offline bytes per multiply-accumulate,
//! and the peak memory of each party.
//!
//! **Peak memory.** With [`Parties::Processes`] (what `circa-bench` does) each party runs in a
//! child process of its own (`circa-bench nn-party`, connected over TCP loopback) and reports
//! its own peak resident set (`VmHWM` of `/proc/self/status`, Linux): the server's includes
//! building the network's weights and encoding them, the client's everything it holds.
//! With [`Parties::Threads`] (the library's tests) both parties are threads of one process:
//! the record's `peak_memory_both_parties_bytes` is that process's high-water mark, reset
//! before the model is built (`/proc/self/clear_refs`), so it is the sum of both parties'
//! peaks at most, and the per-party fields are `null`.

use crate::nn_networks::{self, CIFAR_NETWORKS, cifar_input};
use crate::{Error, Record, Size};
use circa_nn::engine::LinearMethod;
use circa_nn::fixed::defaults;
use circa_nn::model::Network;
use circa_nn::private::{
    ClientSession, LinearMode, Prime, PrivateParams, ServerModel, ServerSession, SessionStats,
};
use circa_nn::{argmax, import_onnx};
use circa_ot::{Block, Prg, TcpChannel};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub use crate::nn_networks::minionn_cifar10;

/// The bundled digits models (ONNX files in the models folder).
pub const DIGITS_MODELS: [&str; 3] = ["digits_cnn", "digits_cnn_pruned", "digits_poly"];

/// The ReLU variants measured on every network.
fn variants() -> [(&'static str, PrivateParams); 2] {
    [
        (
            "exact",
            PrivateParams::exact(Prime::P41, defaults::FRAC_BITS),
        ),
        (
            "circa",
            PrivateParams::circa(
                Prime::P41,
                defaults::FRAC_BITS,
                defaults::K,
                defaults::TIE_MODE,
            ),
        ),
    ]
}

fn variant_params(name: &str) -> Result<PrivateParams, Error> {
    variants()
        .into_iter()
        .find(|(v, _)| *v == name)
        .map(|(_, p)| p)
        .ok_or_else(|| Error::UnknownName {
            what: "ReLU variant",
            name: name.to_string(),
        })
}

/// How the two parties of a measured session run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parties {
    /// Two threads of this process (peak memory: the process's, both parties together).
    Threads,
    /// One child process per party, `exe nn-party ...` (`exe` is the `circa-bench` binary);
    /// each reports its own peak memory.
    Processes {
        /// Path of the `circa-bench` binary.
        exe: PathBuf,
    },
}

/// What `circa-bench nn` runs.
#[derive(Clone, Debug)]
pub struct NnOptions {
    /// Quick: the digits models on 2 images and no CIFAR network unless one is named.
    pub size: Size,
    /// Folder holding the bundled models.
    pub models_dir: PathBuf,
    /// Only this model (a digits model or a CIFAR network, short names accepted).
    pub network: Option<String>,
    /// How the parties run.
    pub parties: Parties,
    /// How the server picks each linear layer's correlation (OT, HE, or per layer).
    pub linear: LinearMode,
    /// Whether the server precomputes its HE kernels' NTT forms once per model.
    pub he_ntt_cache: bool,
}

/// One measured configuration: a model and a ReLU variant.
#[derive(Clone, Debug)]
struct Job {
    model: &'static str,
    /// The variant's name in [`variants`].
    variant: &'static str,
    /// The name in the record (`polynomial` for the ReLU-free network).
    label: &'static str,
}

/// The canonical name of a digits model or CIFAR network.
fn canonical(name: &str) -> Result<&'static str, Error> {
    DIGITS_MODELS
        .iter()
        .copied()
        .find(|m| *m == name)
        .or_else(|| nn_networks::canonical_name(name))
        .ok_or_else(|| Error::UnknownName {
            what: "network",
            name: name.to_string(),
        })
}

fn jobs(size: Size, network: Option<&str>) -> Result<Vec<Job>, Error> {
    let models: Vec<&'static str> = match network {
        Some(name) => vec![canonical(name)?],
        None => {
            let mut m = DIGITS_MODELS.to_vec();
            if size == Size::Full {
                m.extend(CIFAR_NETWORKS);
            }
            m
        }
    };
    let mut out = Vec::new();
    for model in models {
        for (variant, _) in variants() {
            // The polynomial network has no ReLU: one run covers it.
            if model == "digits_poly" {
                if variant == "circa" {
                    out.push(Job {
                        model,
                        variant,
                        label: "polynomial",
                    });
                }
                continue;
            }
            out.push(Job {
                model,
                variant,
                label: variant,
            });
        }
    }
    Ok(out)
}

/// The server's network of `model`.
fn load_network(model: &str, models_dir: &Path) -> Result<Network, Error> {
    match nn_networks::by_name(model) {
        Some(net) => net,
        None => {
            let bytes = std::fs::read(models_dir.join(format!("{model}.onnx")))?;
            Ok(import_onnx(&bytes)?)
        }
    }
}

/// One input of the client and its label (digits test images only).
type Input = (Option<usize>, Vec<f64>);

/// The client's inputs for `model` (labelled test images for the digits models, one
/// deterministic random image for a CIFAR network).
fn load_inputs(model: &str, size: Size, models_dir: &Path) -> Result<Vec<Input>, Error> {
    if nn_networks::canonical_name(model).is_some() {
        return Ok(vec![(None, cifar_input(42))]);
    }
    let images = match size {
        Size::Full => 100,
        Size::Quick => 2,
    };
    let test = std::fs::read_to_string(models_dir.join("data/digits_test.csv"))?;
    let test = circa_nn::dataset::parse_labelled(&test, 64, 10)?;
    Ok(test
        .into_iter()
        .take(images)
        .map(|(l, x)| (Some(l), x))
        .collect())
}

/// Costs summed over the inferences of one run, as the client saw them.
#[derive(Default)]
struct Totals {
    runs: u64,
    correct: u64,
    stats: Vec<SessionStats>,
}

/// The server's linear-layer choices.
#[derive(Clone, Copy, Default)]
struct LinearSummary {
    layers: usize,
    he_layers: usize,
    he_cache_bytes: usize,
    /// The cost model's offline bytes of the chosen methods, summed over the layers.
    estimated_bytes: u64,
}

impl LinearSummary {
    fn of(model: &ServerModel) -> Self {
        let choices = model.linear_choices();
        Self {
            layers: choices.len(),
            he_layers: choices
                .iter()
                .filter(|c| matches!(c.method, LinearMethod::He(_)))
                .count(),
            he_cache_bytes: model.he_cache_bytes(),
            estimated_bytes: choices.iter().map(|c| c.cost().bytes()).sum(),
        }
    }
}

/// The server's model of `job`, its linear layers chosen as `opts` says.
fn server_model(
    model: &str,
    variant: &str,
    linear: LinearMode,
    he_ntt_cache: bool,
    models_dir: &Path,
) -> Result<ServerModel, Error> {
    let network = load_network(model, models_dir)?;
    Ok(ServerModel::new(&network, variant_params(variant)?)?
        .with_linear_options(linear, he_ntt_cache)?)
}

/// A run's costs and each party's peak memory.
struct Outcome {
    linear: LinearSummary,
    totals: Totals,
    peak_server: Option<u64>,
    peak_client: Option<u64>,
    peak_both: Option<u64>,
}

const SERVER_SEED: u128 = 0x5e7e_0001;
const CLIENT_SEED: u128 = 0xc11e_0001;

fn serve(ch: &mut TcpChannel, model: &ServerModel) -> Result<(), Error> {
    let mut rng = Prg::from_seed_block(Block::from_u128(SERVER_SEED));
    let mut session = ServerSession::handshake(ch, model, &mut rng)?;
    while session.serve_one(ch)?.is_some() {}
    Ok(())
}

fn infer_all(ch: &mut TcpChannel, inputs: &[(Option<usize>, Vec<f64>)]) -> Result<Totals, Error> {
    let mut rng = Prg::from_seed_block(Block::from_u128(CLIENT_SEED));
    let mut session = ClientSession::handshake(ch, &mut rng)?;
    let mut totals = Totals::default();
    for (label, input) in inputs {
        let pre = session.offline(ch)?;
        let logits = session.online(ch, pre, input)?;
        totals.runs += 1;
        totals.correct += u64::from(label.is_some() && *label == argmax(&logits));
        totals.stats.push(session.last_stats());
    }
    session.close(ch)?;
    Ok(totals)
}

/// Both parties as threads of this process.
fn run_threads(job: &Job, opts: &NnOptions) -> Result<Outcome, Error> {
    let reset = reset_peak_memory();
    let models_dir = &opts.models_dir;
    let model = server_model(
        job.model,
        job.variant,
        opts.linear,
        opts.he_ntt_cache,
        models_dir,
    )?;
    let inputs = load_inputs(job.model, opts.size, models_dir)?;
    let (mut sch, mut cch) = TcpChannel::loopback_pair()?;
    let totals = std::thread::scope(|scope| {
        let model = &model;
        let server = scope.spawn(move || serve(&mut sch, model));
        let client = infer_all(&mut cch, &inputs);
        let server = server.join().map_err(|_| Error::ThreadPanicked)?;
        let totals = client?;
        server?;
        Ok::<_, Error>(totals)
    })?;
    Ok(Outcome {
        linear: LinearSummary::of(&model),
        totals,
        peak_server: None,
        peak_client: None,
        peak_both: if reset { peak_memory() } else { None },
    })
}

/// One child process per party.
fn run_processes(exe: &Path, job: &Job, opts: &NnOptions) -> Result<Outcome, Error> {
    let linear = opts.linear.to_string();
    let party = |role: &str| {
        let mut cmd = Command::new(exe);
        cmd.args(["nn-party", "--role", role, "--model", job.model])
            .args(["--variant", job.variant, "--linear", &linear, "--models"])
            .arg(&opts.models_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if opts.size == Size::Quick {
            cmd.arg("--quick");
        }
        if opts.he_ntt_cache {
            cmd.arg("--he-ntt-cache");
        }
        cmd
    };
    let mut server = Guard(party("server").spawn()?);
    let mut out = BufReader::new(server.0.stdout.take().ok_or(Error::PartyOutput {
        role: "server",
        reason: "no stdout",
    })?);
    let mut line = String::new();
    out.read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .ok_or(Error::PartyOutput {
            role: "server",
            reason: "no listening address",
        })?
        .to_string();
    let mut client = Guard(party("client").args(["--connect", &addr]).spawn()?);
    let client_out = client.0.stdout.take();
    let client_report = read_report(client_out, "client")?;
    let server_report = read_report(Some(out), "server")?;
    client.wait("client")?;
    server.wait("server")?;
    let stats = client_report["stats"]
        .as_array()
        .ok_or(Error::PartyOutput {
            role: "client",
            reason: "no stats",
        })?
        .iter()
        .map(stats_from_json)
        .collect::<Option<Vec<_>>>()
        .ok_or(Error::PartyOutput {
            role: "client",
            reason: "malformed stats",
        })?;
    let field = |k: &str| server_report[k].as_u64().map(|v| v as usize);
    let linear = LinearSummary {
        layers: field("linear_layers").unwrap_or(0),
        he_layers: field("linear_layers_he").unwrap_or(0),
        he_cache_bytes: field("he_cache_bytes").unwrap_or(0),
        estimated_bytes: server_report["linear_bytes_estimated"]
            .as_u64()
            .unwrap_or(0),
    };
    Ok(Outcome {
        linear,
        totals: Totals {
            runs: client_report["runs"].as_u64().unwrap_or(0),
            correct: client_report["correct"].as_u64().unwrap_or(0),
            stats,
        },
        peak_server: server_report["peak_memory_bytes"].as_u64(),
        peak_client: client_report["peak_memory_bytes"].as_u64(),
        peak_both: None,
    })
}

/// A child process, killed if the measurement is abandoned.
struct Guard(Child);

impl Guard {
    fn wait(&mut self, role: &'static str) -> Result<(), Error> {
        let status = self.0.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::PartyFailed {
                role,
                code: status.code(),
            })
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The last line of a party's stdout, as JSON.
fn read_report<R: std::io::Read>(out: Option<R>, role: &'static str) -> Result<Value, Error> {
    let out = out.ok_or(Error::PartyOutput {
        role,
        reason: "no stdout",
    })?;
    let mut last = None;
    for line in BufReader::new(out).lines() {
        let line = line?;
        if !line.trim().is_empty() {
            last = Some(line);
        }
    }
    let last = last.ok_or(Error::PartyOutput {
        role,
        reason: "no report (the party failed: see its stderr)",
    })?;
    serde_json::from_str(&last).map_err(|_| Error::PartyOutput {
        role,
        reason: "the report is not JSON",
    })
}

/// The fields of [`SessionStats`] a report carries, in one place.
macro_rules! stats_fields {
    ($m:ident) => {
        $m!(
            offline_seconds: f64,
            online_seconds: f64,
            offline_bytes_c2s: u64,
            offline_bytes_s2c: u64,
            online_bytes_c2s: u64,
            online_bytes_s2c: u64,
            online_rounds: u64,
            client_storage_bytes: u64,
            offline_relu_bytes: u64,
            relus: u64,
            offline_linear_bytes: u64,
            linear_macs: u64
        )
    };
}

fn stats_to_json(s: &SessionStats) -> Value {
    macro_rules! to {
        ($($f:ident: $t:ty),*) => { json!({ $(stringify!($f): s.$f),* }) };
    }
    stats_fields!(to)
}

fn stats_from_json(v: &Value) -> Option<SessionStats> {
    macro_rules! from {
        ($($f:ident: $t:ty),*) => {{
            let mut s = SessionStats::default();
            $( s.$f = serde_json::from_value::<$t>(v.get(stringify!($f))?.clone()).ok()?; )*
            Some(s)
        }};
    }
    stats_fields!(from)
}

/// One party of a measured session, run in its own process (`circa-bench nn-party`). The
/// server binds an ephemeral loopback port, prints `listening ADDR` and serves one session;
/// the client connects to `connect` and runs the model's inputs. Returns the party's report
/// (the client's carries every inference's statistics), which includes its peak memory.
pub fn party(
    role: &str,
    model: &str,
    variant: &str,
    connect: Option<&str>,
    opts: &NnOptions,
) -> Result<Record, Error> {
    let model = canonical(model)?;
    let (size, models_dir) = (opts.size, &opts.models_dir);
    match role {
        "server" => {
            let server_model =
                server_model(model, variant, opts.linear, opts.he_ntt_cache, models_dir)?;
            let linear = LinearSummary::of(&server_model);
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let mut stdout = std::io::stdout();
            writeln!(stdout, "listening {}", listener.local_addr()?)?;
            stdout.flush()?;
            let (stream, _) = listener.accept()?;
            serve(&mut TcpChannel::new(stream)?, &server_model)?;
            Ok(json!({
                "role": "server",
                "linear_layers": linear.layers,
                "linear_layers_he": linear.he_layers,
                "he_cache_bytes": linear.he_cache_bytes,
                "linear_bytes_estimated": linear.estimated_bytes,
                "peak_memory_bytes": peak_memory(),
            }))
        }
        "client" => {
            let addr = connect.ok_or(Error::UnknownName {
                what: "client address (--connect)",
                name: String::new(),
            })?;
            let inputs = load_inputs(model, size, models_dir)?;
            let totals = infer_all(&mut TcpChannel::connect(addr)?, &inputs)?;
            Ok(json!({
                "role": "client",
                "runs": totals.runs,
                "correct": totals.correct,
                "stats": totals.stats.iter().map(stats_to_json).collect::<Vec<_>>(),
                "peak_memory_bytes": peak_memory(),
            }))
        }
        other => Err(Error::UnknownName {
            what: "party role",
            name: other.to_string(),
        }),
    }
}

/// This process's peak resident set in bytes (`VmHWM`, Linux); `None` elsewhere.
pub fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Resets this process's peak resident set to its current one (Linux `clear_refs` 5);
/// whether that worked.
fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

fn record(job: &Job, out: &Outcome, opts: &NnOptions) -> Record {
    let t = &out.totals;
    let s = &t.stats;
    let mean =
        |f: fn(&SessionStats) -> u64| s.iter().map(f).sum::<u64>() as f64 / s.len().max(1) as f64;
    let labelled = DIGITS_MODELS.contains(&job.model);
    let offline_bytes = mean(|x| x.offline_bytes_c2s + x.offline_bytes_s2c);
    let linear_macs = s.first().map_or(0, |x| x.linear_macs);
    let linear_bytes = mean(|x| x.offline_linear_bytes);
    json!({
        "bench": "nn",
        "model": job.model,
        "variant": job.label,
        "images": t.runs,
        "relus": s.first().map_or(0, |x| x.relus),
        "linear_mode": opts.linear.to_string(),
        "linear_layers": out.linear.layers,
        "linear_layers_he": out.linear.he_layers,
        "he_ntt_cache_bytes": out.linear.he_cache_bytes,
        "linear_macs": linear_macs,
        "offline_linear_bytes": linear_bytes,
        "offline_linear_bytes_estimated": out.linear.estimated_bytes,
        "linear_bytes_per_mac": linear_bytes / linear_macs.max(1) as f64,
        "offline_seconds": median(s.iter().map(|x| x.offline_seconds).collect()),
        "online_seconds": median(s.iter().map(|x| x.online_seconds).collect()),
        "offline_bytes": offline_bytes,
        "offline_bytes_client_to_server": mean(|x| x.offline_bytes_c2s),
        "offline_bytes_server_to_client": mean(|x| x.offline_bytes_s2c),
        "online_bytes": mean(|x| x.online_bytes_c2s + x.online_bytes_s2c),
        "online_bytes_client_to_server": mean(|x| x.online_bytes_c2s),
        "online_bytes_server_to_client": mean(|x| x.online_bytes_s2c),
        "online_rounds": mean(|x| x.online_rounds),
        "client_storage_bytes": mean(|x| x.client_storage_bytes),
        "offline_relu_bytes": mean(|x| x.offline_relu_bytes),
        "parties": match &opts.parties {
            Parties::Threads => "threads",
            Parties::Processes { .. } => "processes",
        },
        "peak_memory_server_bytes": out.peak_server,
        "peak_memory_client_bytes": out.peak_client,
        "peak_memory_both_parties_bytes": out.peak_both,
        "accuracy": if labelled { json!(t.correct as f64 / t.runs.max(1) as f64) } else { json!(null) },
    })
}

/// The bundled models on `images` test images each, and (full size only) one inference of
/// each CIFAR network per variant; both parties as threads of this process.
pub fn run(size: Size, models_dir: &Path) -> Result<Vec<Record>, Error> {
    run_with(&NnOptions {
        size,
        models_dir: models_dir.to_path_buf(),
        network: None,
        parties: Parties::Threads,
        linear: LinearMode::default(),
        he_ntt_cache: false,
    })
}

/// `circa-bench nn` with its options.
pub fn run_with(opts: &NnOptions) -> Result<Vec<Record>, Error> {
    let mut out = Vec::new();
    for job in jobs(opts.size, opts.network.as_deref())? {
        let outcome = match &opts.parties {
            Parties::Threads => run_threads(&job, opts)?,
            Parties::Processes { exe } => run_processes(exe, &job, opts)?,
        };
        out.push(record(&job, &outcome, opts));
    }
    Ok(out)
}
