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
    path: PathBuf,
    images: Vec<(usize, Vec<f64>)>,
    labelled: bool,
    noun: &'static str,
}

/// The bundled Fashion-MNIST test subset (IDX images and labels).
const FASHION_IMAGES: &str = "models/data/fashion_test_1000-images.idx3";
const FASHION_LABELS: &str = "models/data/fashion_test_1000-labels.idx1";
/// The bundled digits test split (CSV, label first).
const DIGITS_DATA: &str = "models/data/digits_test.csv";
/// Images of the default demo (each private Fashion-MNIST inference takes seconds).
const DEFAULT_FASHION_IMAGES: usize = 10;

/// The default demo: the calibrated ResNet-8 (plaintext, exact, Circa), then a calibrated
/// DeepReDuce model and the polynomial model (Circa only: one private run each).
const FASHION_MODELS: [(&str, bool); 3] = [
    ("models/fashion/calibrated/fashion_resnet8.onnx", true),
    (
        "models/fashion/calibrated/fashion_drd_cull1_thinch.onnx",
        false,
    ),
    ("models/fashion/calibrated/fashion_poly.onnx", false),
];

fn demo_data(
    args: &DemoArgs,
    root: &std::path::Path,
    arch: &circa_nn::Architecture,
) -> Result<DemoData, CliError> {
    let digits = arch.input_shape().len() == 64;
    let (data_path, labels_path, default_limit) = match &args.data {
        Some(d) => (d.clone(), args.labels.clone(), None),
        None if digits => (root.join(DIGITS_DATA), args.labels.clone(), None),
        None => (
            root.join(FASHION_IMAGES),
            Some(
                args.labels
                    .clone()
                    .unwrap_or_else(|| root.join(FASHION_LABELS)),
            ),
            Some(DEFAULT_FASHION_IMAGES),
        ),
    };
    let (rows, labels) = data::load_labelled(
        &data_path,
        labels_path.as_deref(),
        &args.csv.options(),
        arch,
    )?;
    let labelled = labels.is_some();
    let labels = labels.unwrap_or_else(|| vec![usize::MAX; rows.len()]);
    let mut images: Vec<(usize, Vec<f64>)> = labels.into_iter().zip(rows).collect();
    if let Some(limit) = args.limit.or(default_limit) {
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
        path: data_path,
        images,
        labelled,
        noun,
    })
}

/// The exact and Circa parameters of the demo's options for a model with `calibration`.
fn demo_params(
    args: &DemoArgs,
    calibration: Option<&circa_nn::calibration::Calibration>,
) -> Result<(PrivateParams, PrivateParams), CliError> {
    let (prime, frac_bits, sign_scale, variant) = args.field.resolve(calibration);
    let exact = PrivateParams {
        sign_scale,
        ..PrivateParams::exact(prime, frac_bits)
    };
    let circa = PrivateParams {
        relu: (variant, exact.relu.1),
        ..exact
    };
    exact.validate()?;
    circa.validate()?;
    Ok((exact, circa))
}

/// A private run of the demo: with the exact ReLU or with Circa's.
#[derive(Clone, Copy)]
enum Column {
    Exact,
    Circa,
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Exact => "exact ReLU",
            Column::Circa => "Circa ReLU",
        }
    }
}

/// One model's line of the summary table.
struct Summary {
    model: String,
    relus: usize,
    and_gates: u64,
    plain: String,
    private: String,
    run: PrivateRun,
    n: usize,
}

/// `circa demo`.
pub fn demo_command(args: &DemoArgs) -> Result<(), CliError> {
    let root = workspace_root();
    // Options that cannot work are refused before any model is loaded.
    demo_params(args, None)?;
    let Some(model) = &args.model else {
        let mut summaries = Vec::new();
        for (i, (rel, with_exact)) in FASHION_MODELS.iter().enumerate() {
            if i > 0 {
                println!();
            }
            let columns: &[Column] = if *with_exact {
                &[Column::Exact, Column::Circa]
            } else {
                &[Column::Circa]
            };
            summaries.push(demo_model(args, &root, &root.join(rel), columns)?);
        }
        print_summary(&summaries);
        return Ok(());
    };
    demo_model(args, &root, model, &[Column::Exact, Column::Circa])?;
    Ok(())
}

/// Runs one model: plaintext, the fixed-point reference, then one private run per column;
/// prints the comparison table and returns the last column's summary.
fn demo_model(
    args: &DemoArgs,
    root: &std::path::Path,
    model_path: &std::path::Path,
    columns: &[Column],
) -> Result<Summary, CliError> {
    let network = Arc::new(load_model(model_path)?);
    let (exact, circa) = demo_params(args, network.calibration())?;
    let arch = network.architecture();
    let DemoData {
        path: data_path,
        images,
        labelled,
        noun,
    } = demo_data(args, root, arch)?;
    let n = images.len();
    println!(
        "model: {} (input {}, {} outputs, {} ReLUs{}); {} {noun} from {}{}",
        model_path.display(),
        arch.input_shape(),
        arch.output_shape().len(),
        arch.relu_count(),
        if network.calibration().is_some() {
            ", calibrated"
        } else {
            ""
        },
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
    let mut runs = Vec::with_capacity(columns.len());
    let mut and_gates = 0;
    for column in columns {
        let (name, params) = match column {
            Column::Exact => (column.name(), &exact),
            Column::Circa => (column.name(), &circa),
        };
        let served = circa_nn::private::ServerModel::new(&network, *params)?;
        and_gates =
            circa_nn::cost::and_gates(&served).map_err(circa_nn::private::PrivateError::from)?;
        let calibrated = if served.sites().is_empty() {
            ""
        } else {
            " (calibrated k per layer)"
        };
        println!(
            "{name} run: {}{calibrated}; {and_gates} AND gates per inference",
            describe(params)
        );
        runs.push(run_private(
            &network,
            *params,
            &images,
            &format!("private, {name}"),
        )?);
    }

    println!();
    let row = |name: &str, cells: Vec<String>| {
        let mut line = format!("{name:<44}");
        for c in cells {
            line.push_str(&format!(" {c:>18}"));
        }
        println!("{line}");
    };
    row("", columns.iter().map(|c| c.name().to_owned()).collect());
    let each = |f: &dyn Fn(&PrivateRun) -> String| runs.iter().map(f).collect::<Vec<_>>();
    row(
        "private accuracy",
        each(&|r| accuracy(&r.predictions, &images, labelled)),
    );
    row(
        "predictions differing from plaintext",
        each(&|r| differing(&r.predictions, &plain).to_string()),
    );
    row(
        "predictions differing from fixed-point ref.",
        each(&|r| differing(&r.predictions, &reference).to_string()),
    );
    let per = |x: f64| x / n as f64;
    row(
        "session setup (base OTs, once)",
        each(&|r| format!("{:.2} s", r.setup_seconds)),
    );
    row(
        "offline time per inference",
        each(&|r| format!("{:.1} ms", 1e3 * per(r.totals.offline_seconds))),
    );
    row(
        "online time per inference",
        each(&|r| format!("{:.2} ms", 1e3 * per(r.totals.online_seconds))),
    );
    row(
        "offline bytes client->server",
        each(&|r| bytes(per(r.totals.offline_bytes_c2s as f64))),
    );
    row(
        "offline bytes server->client",
        each(&|r| bytes(per(r.totals.offline_bytes_s2c as f64))),
    );
    row(
        "online bytes client->server",
        each(&|r| bytes(per(r.totals.online_bytes_c2s as f64))),
    );
    row(
        "online bytes server->client",
        each(&|r| bytes(per(r.totals.online_bytes_s2c as f64))),
    );
    row(
        "online rounds (one-way flights)",
        each(&|r| format!("{:.1}", per(r.totals.online_rounds as f64))),
    );
    row(
        "client storage (after offline)",
        each(&|r| bytes(r.max_storage as f64)),
    );
    row(
        "ReLU offline bytes per ReLU",
        each(&|r| {
            if r.totals.relus == 0 {
                "-".to_owned()
            } else {
                format!(
                    "{:.0} B",
                    r.totals.offline_relu_bytes as f64 / r.totals.relus as f64
                )
            }
        }),
    );
    println!(
        "(per inference, averaged over {n} {noun}; Delphi's client stores {DELPHI_STORAGE_PER_RELU:.0} B per ReLU)"
    );
    if runs.len() == 2 {
        println!(
            "exact and Circa private predictions differ on {} of {n} {noun}",
            differing(&runs[0].predictions, &runs[1].predictions)
        );
    }
    let plain_acc = accuracy(&plain, &images, labelled);
    let run = runs.pop().unwrap_or_default();
    Ok(Summary {
        model: model_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        relus: arch.relu_count(),
        and_gates,
        plain: plain_acc,
        private: accuracy(&run.predictions, &images, labelled),
        run,
        n,
    })
}

/// The default demo's closing table: one line per model (its Circa run).
fn print_summary(summaries: &[Summary]) {
    println!();
    println!("summary (private runs with the Circa ReLU; per inference):");
    println!(
        "{:<28} {:>7} {:>10} {:>16} {:>16} {:>10} {:>10} {:>11} {:>10}",
        "model",
        "ReLUs",
        "AND gates",
        "plaintext",
        "private",
        "offline",
        "online",
        "offline B",
        "storage"
    );
    for s in summaries {
        let per = |x: f64| x / s.n.max(1) as f64;
        let t = &s.run.totals;
        println!(
            "{:<28} {:>7} {:>10} {:>16} {:>16} {:>10} {:>10} {:>11} {:>10}",
            s.model,
            s.relus,
            s.and_gates,
            s.plain,
            s.private,
            format!("{:.2} s", per(t.offline_seconds)),
            format!("{:.0} ms", 1e3 * per(t.online_seconds)),
            bytes(per((t.offline_bytes_c2s + t.offline_bytes_s2c) as f64)),
            bytes(s.run.max_storage as f64),
        );
    }
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
