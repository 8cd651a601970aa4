//! `circa demo`: server and client on loopback with a model and data (default: the bundled
//! digits model and test split).

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use circa_nn::Fixed;
use circa_nn::net::{Client, ClientConfig, ServerConfig, Shutdown, serve};
use circa_nn::private::{Prime, PrivateParams, SessionStats};
use circa_nn::{Network, argmax};

use crate::CliError;
use crate::cli::{DemoArgs, describe};
use crate::commands::load_model;
use crate::data;
use circa_nn::cost::DELPHI_STORAGE_PER_RELU;

/// The workspace root (the bundled models live in `models/` there).
fn workspace_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

/// Deadlines of the demo's loopback connections (generous: the offline phase of a large
/// model can keep a party busy).
const DEMO_TIMEOUT: Duration = Duration::from_secs(300);

/// Sums over the inferences of one private run.
#[derive(Debug, Default)]
struct PrivateRun {
    predictions: Vec<Option<usize>>,
    setup_seconds: f64,
    totals: SessionStats,
    max_storage: u64,
}

impl PrivateRun {
    fn add(&mut self, s: &SessionStats) {
        let t = &mut self.totals;
        t.offline_seconds += s.offline_seconds;
        t.online_seconds += s.online_seconds;
        t.offline_bytes_c2s += s.offline_bytes_c2s;
        t.offline_bytes_s2c += s.offline_bytes_s2c;
        t.online_bytes_c2s += s.online_bytes_c2s;
        t.online_bytes_s2c += s.online_bytes_s2c;
        t.online_rounds += s.online_rounds;
        t.offline_relu_bytes += s.offline_relu_bytes;
        t.relus += s.relus;
        t.client_storage_bytes += s.client_storage_bytes;
        self.max_storage = self.max_storage.max(s.client_storage_bytes);
    }
}

fn run_private(
    network: &Arc<Network>,
    params: PrivateParams,
    images: &[(usize, Vec<f64>)],
    label: &str,
) -> Result<PrivateRun, CliError> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let shutdown = Shutdown::new();
    let config = ServerConfig {
        max_sessions: 1,
        read_timeout: DEMO_TIMEOUT,
        write_timeout: DEMO_TIMEOUT,
        flight_timeout: DEMO_TIMEOUT,
        max_session_time: None,
        log: false,
        shutdown: shutdown.clone(),
        ..ServerConfig::default()
    };
    let server_network = Arc::clone(network);
    let server = std::thread::spawn(move || serve(listener, server_network, params, config));
    let result = run_client(addr, images, label);
    shutdown.trigger();
    let served = server.join();
    let run = result?;
    match served {
        Ok(report) => {
            report?;
        }
        Err(_) => return Err(CliError::ServerPanicked),
    }
    Ok(run)
}

fn run_client(
    addr: std::net::SocketAddr,
    images: &[(usize, Vec<f64>)],
    label: &str,
) -> Result<PrivateRun, CliError> {
    let config = ClientConfig {
        read_timeout: DEMO_TIMEOUT,
        write_timeout: DEMO_TIMEOUT,
        flight_timeout: DEMO_TIMEOUT,
        ..ClientConfig::default()
    };
    let mut run = PrivateRun::default();
    let t0 = Instant::now();
    let mut client = Client::connect(addr, &config)?;
    run.setup_seconds = t0.elapsed().as_secs_f64();
    let bar = crate::progress::bar(images.len() as u64, label);
    for (_, image) in images {
        let (logits, stats) = client.infer(image)?;
        run.predictions.push(argmax(&logits));
        run.add(&stats);
        bar.inc(1);
    }
    bar.finish_and_clear();
    client.close()?;
    Ok(run)
}

/// Accuracy against the labels, as `"98.61% (355/360)"`, or `"-"` without labels.
fn accuracy(predictions: &[Option<usize>], images: &[(usize, Vec<f64>)], labelled: bool) -> String {
    if !labelled {
        return "-".to_owned();
    }
    let correct = predictions
        .iter()
        .zip(images)
        .filter(|(p, (label, _))| **p == Some(*label))
        .count();
    let n = images.len();
    format!(
        "{:.2}% ({correct}/{n})",
        100.0 * correct as f64 / n.max(1) as f64
    )
}

fn differing(a: &[Option<usize>], b: &[Option<usize>]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

/// The inputs of the demo, their labels if known, and the word for them.
struct DemoData {
    images: Vec<(usize, Vec<f64>)>,
    labelled: bool,
    noun: &'static str,
}

fn demo_data(
    args: &DemoArgs,
    root: &std::path::Path,
    arch: &circa_nn::Architecture,
) -> Result<DemoData, CliError> {
    let data_path = args
        .data
        .clone()
        .unwrap_or_else(|| root.join("models/data/digits_test.csv"));
    let (rows, labels) = data::load_labelled(
        &data_path,
        args.labels.as_deref(),
        &args.csv.options(),
        arch,
    )?;
    let labelled = labels.is_some();
    let labels = labels.unwrap_or_else(|| vec![usize::MAX; rows.len()]);
    let mut images: Vec<(usize, Vec<f64>)> = labels.into_iter().zip(rows).collect();
    if let Some(limit) = args.limit {
        images.truncate(limit);
    }
    if images.is_empty() {
        return Err(CliError::EmptyInput {
            path: data_path.display().to_string(),
        });
    }
    let s = arch.input_shape();
    let noun = if s.height * s.width > 1 {
        "images"
    } else {
        "rows"
    };
    Ok(DemoData {
        images,
        labelled,
        noun,
    })
}

/// `circa demo`.
pub fn demo_command(args: &DemoArgs) -> Result<(), CliError> {
    let root = workspace_root();
    let model_path = args
        .model
        .clone()
        .unwrap_or_else(|| root.join("models/digits_cnn.onnx"));
    let network = Arc::new(load_model(&model_path)?);
    let arch = network.architecture();
    let DemoData {
        images,
        labelled,
        noun,
    } = demo_data(args, &root, arch)?;
    let data_path = args
        .data
        .clone()
        .unwrap_or_else(|| root.join("models/data/digits_test.csv"));
    let n = images.len();
    let exact = PrivateParams::exact(args.prime.prime(), args.frac_bits);
    let exact = PrivateParams {
        sign_scale: args.sign_scale.sign_scale(),
        ..exact
    };
    let circa = PrivateParams {
        sign_scale: args.sign_scale.sign_scale(),
        ..PrivateParams::circa(
            args.prime.prime(),
            args.frac_bits,
            args.k,
            args.mode.tie_mode(),
        )
    };
    exact.validate()?;
    circa.validate()?;

    println!(
        "model: {} (input {}, {} outputs, {} ReLUs); {} {noun} from {}{}",
        model_path.display(),
        arch.input_shape(),
        arch.output_shape().len(),
        arch.relu_count(),
        n,
        data_path.display(),
        if labelled {
            ""
        } else {
            " (no labels: accuracy not shown)"
        }
    );
    let mut plain = Vec::with_capacity(n);
    for (_, image) in &images {
        plain.push(argmax(&circa_nn::infer(&network, image)?));
    }
    println!(
        "plaintext accuracy: {}",
        accuracy(&plain, &images, labelled)
    );
    let reference = fixed_point_predictions(&network, &exact, &images)?;
    println!(
        "fixed-point reference accuracy (exact rescale, exact ReLU): {}; differs from plaintext \
         on {}",
        accuracy(&reference, &images, labelled),
        differing(&reference, &plain)
    );

    println!("exact run:  {}", describe(&exact));
    let exact_run = run_private(&network, exact, &images, "private, exact ReLU")?;
    println!("circa run:  {}", describe(&circa));
    let circa_run = run_private(&network, circa, &images, "private, Circa ReLU")?;

    println!();
    println!("{:<44} {:>18} {:>18}", "", "exact ReLU", "Circa ReLU");
    let row = |name: &str, a: String, b: String| println!("{name:<44} {a:>18} {b:>18}");
    row(
        "private accuracy",
        accuracy(&exact_run.predictions, &images, labelled),
        accuracy(&circa_run.predictions, &images, labelled),
    );
    row(
        "predictions differing from plaintext",
        differing(&exact_run.predictions, &plain).to_string(),
        differing(&circa_run.predictions, &plain).to_string(),
    );
    row(
        "predictions differing from fixed-point ref.",
        differing(&exact_run.predictions, &reference).to_string(),
        differing(&circa_run.predictions, &reference).to_string(),
    );
    let per = |x: f64| x / n as f64;
    let runs = [&exact_run, &circa_run];
    let both = |f: &dyn Fn(&PrivateRun) -> String| (f(runs[0]), f(runs[1]));
    let (a, b) = both(&|r| format!("{:.2} s", r.setup_seconds));
    row("session setup (base OTs, once)", a, b);
    let (a, b) = both(&|r| format!("{:.1} ms", 1e3 * per(r.totals.offline_seconds)));
    row("offline time per inference", a, b);
    let (a, b) = both(&|r| format!("{:.2} ms", 1e3 * per(r.totals.online_seconds)));
    row("online time per inference", a, b);
    let (a, b) = both(&|r| bytes(per(r.totals.offline_bytes_c2s as f64)));
    row("offline bytes client->server", a, b);
    let (a, b) = both(&|r| bytes(per(r.totals.offline_bytes_s2c as f64)));
    row("offline bytes server->client", a, b);
    let (a, b) = both(&|r| bytes(per(r.totals.online_bytes_c2s as f64)));
    row("online bytes client->server", a, b);
    let (a, b) = both(&|r| bytes(per(r.totals.online_bytes_s2c as f64)));
    row("online bytes server->client", a, b);
    let (a, b) = both(&|r| format!("{:.1}", per(r.totals.online_rounds as f64)));
    row("online rounds (one-way flights)", a, b);
    let (a, b) = both(&|r| bytes(r.max_storage as f64));
    row("client storage (after offline)", a, b);
    let (a, b) = both(&|r| {
        if r.totals.relus == 0 {
            "-".to_owned()
        } else {
            format!(
                "{:.0} B",
                r.totals.offline_relu_bytes as f64 / r.totals.relus as f64
            )
        }
    });
    row("ReLU offline bytes per ReLU", a, b);
    println!(
        "(per inference, averaged over {n} {noun}; Delphi's client stores {DELPHI_STORAGE_PER_RELU:.0} B per ReLU)"
    );
    println!(
        "exact and Circa private predictions differ on {} of {n} {noun}",
        differing(&exact_run.predictions, &circa_run.predictions)
    );
    Ok(())
}

/// Predictions of the fixed-point reference (`circa_nn::fixed`) under `params`' field, `f` and
/// sign scale: what the private run computes, with exact rescaling and the exact ReLU.
fn fixed_point_predictions(
    network: &Network,
    params: &PrivateParams,
    images: &[(usize, Vec<f64>)],
) -> Result<Vec<Option<usize>>, CliError> {
    fn run<M: circa_share::Modulus>(
        network: &Network,
        params: &PrivateParams,
        images: &[(usize, Vec<f64>)],
    ) -> Result<Vec<Option<usize>>, CliError> {
        let reference = Fixed::<M>::new(network, params.frac_bits, params.sign_scale)?;
        images
            .iter()
            .map(|(_, x)| reference.predict(x).map_err(CliError::from))
            .collect()
    }
    match params.prime {
        Prime::P41 => run::<circa_share::P2061584302081>(network, params, images),
        Prime::P31 => run::<circa_share::P2138816513>(network, params, images),
    }
}

fn bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}
