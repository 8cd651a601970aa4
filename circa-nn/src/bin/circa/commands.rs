//! `circa serve`, `circa infer` and `circa inspect`.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use circa_nn::net::{Client, ClientConfig, PrivateInference, serve_with};
use circa_nn::private::SessionStats;
use circa_nn::{DecodeLimits, Network, NnError, argmax, import_onnx_file, summary};

use crate::CliError;
use crate::cli::{InferArgs, InspectArgs, ServeArgs, describe, measured_relus, seconds};
use crate::cost;
use crate::data;

/// Reads and imports an ONNX model file (with its external data, if any).
pub fn load_model(path: &Path) -> Result<Network, CliError> {
    import_onnx_file(path, &DecodeLimits::default()).map_err(|source| match source {
        // The I/O error names the file already.
        e @ NnError::Io { .. } => CliError::Nn(e),
        source => CliError::Model {
            path: path.display().to_string(),
            source,
        },
    })
}

/// `circa serve`: runs until the process is stopped. The options, then the model against the
/// prime and `f` (every weight, bias and coefficient: an error names the layer) are checked
/// before the socket is bound.
pub fn serve_command(args: &ServeArgs) -> Result<(), CliError> {
    let config = crate::cli::server_config(args)?;
    let threads = crate::cli::garble_threads(args.threads)?;
    let network = load_model(&args.model)?;
    let params = args.params.params_for(network.calibration());
    params.validate()?;
    let mut service = PrivateInference::new(&network, params)
        .and_then(|s| s.with_linear(args.linear.mode(), args.he_ntt_cache))
        .map_err(|source| CliError::Unservable {
            path: args.model.display().to_string(),
            source: Box::new(source),
        })?;
    service.set_garble_threads(threads);
    let listener = TcpListener::bind(&args.listen).map_err(|source| CliError::Listen {
        addr: args.listen.clone(),
        source,
    })?;
    let addr = listener.local_addr()?;
    // Startup lines; a closed standard output must not stop the server.
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "circa serve: {} ({} ReLUs) on {addr}, at most {} sessions, {threads} garbling thread{}",
        args.model.display(),
        network.architecture().relu_count(),
        args.max_sessions,
        if threads == 1 { "" } else { "s" }
    );
    let _ = writeln!(out, "circa serve: {}", describe(&params));
    let model = service.model();
    if !model.sites().is_empty() {
        let _ = writeln!(
            out,
            "circa serve: calibrated sign tests at {} layers; input range [-{b}, {b}]",
            model.sites().len(),
            b = model.input_bound().unwrap_or(f64::INFINITY)
        );
    }
    let he = model
        .linear_choices()
        .iter()
        .filter(|c| matches!(c.method, circa_nn::engine::LinearMethod::He(_)))
        .count();
    let _ = writeln!(
        out,
        "circa serve: linear layers ({}): {he} by HE, {} by OT{}",
        model.linear_mode(),
        model.linear_choices().len() - he,
        match model.he_cache_bytes() {
            0 => String::new(),
            b => format!("; kernel NTT cache {:.1} MiB", b as f64 / 1048576.0),
        }
    );
    let _ = out.flush();
    serve_with(listener, Arc::new(service), config)?;
    Ok(())
}

/// Where `circa infer` writes its results.
fn output(path: Option<&Path>) -> Result<Box<dyn Write>, CliError> {
    Ok(match path {
        None => Box::new(std::io::stdout().lock()),
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(
            |source| CliError::Write {
                path: p.display().to_string(),
                source,
            },
        )?)),
    })
}

/// One inference as a JSON object.
fn record(
    index: usize,
    label: Option<usize>,
    logits: &[f64],
    class: Option<usize>,
    stats: &SessionStats,
) -> serde_json::Value {
    let mut v = serde_json::json!({
        "index": index,
        "class": class,
        "logits": logits,
        "offline_seconds": stats.offline_seconds,
        "online_seconds": stats.online_seconds,
        "offline_bytes_sent": stats.offline_bytes_c2s,
        "offline_bytes_received": stats.offline_bytes_s2c,
        "online_bytes_sent": stats.online_bytes_c2s,
        "online_bytes_received": stats.online_bytes_s2c,
        "online_rounds": stats.online_rounds,
        "client_storage_bytes": stats.client_storage_bytes,
    });
    if let (Some(l), Some(obj)) = (label, v.as_object_mut()) {
        obj.insert("label".to_owned(), l.into());
    }
    v
}

/// `circa infer`: one session, one private inference per input.
pub fn infer_command(args: &InferArgs) -> Result<(), CliError> {
    let timeout = seconds(args.timeout)?;
    // Format and finiteness are checked before connecting; the length once the server has
    // sent the architecture, before any inference.
    let data = data::read_data(&args.input, &args.csv.options())?;
    let mut out = output(args.output.as_deref())?;
    let config = ClientConfig {
        read_timeout: timeout,
        write_timeout: timeout,
        max_message: args.max_message,
        ..ClientConfig::default()
    };
    let spinner = crate::progress::spinner("connecting (session setup)");
    let mut client =
        Client::connect(&args.connect, &config).map_err(|source| CliError::Connect {
            addr: args.connect.clone(),
            source: Box::new(source),
        })?;
    spinner.finish_and_clear();
    let len = client.architecture().input_shape().len();
    let inputs = data.rows(len).map_err(|source| CliError::Model {
        path: args.input.display().to_string(),
        source,
    })?;
    let labels = data.labels();
    let write_err = |source| CliError::Write {
        path: args
            .output
            .as_ref()
            .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string()),
        source,
    };
    if args.json {
        eprintln!("parameters: {}", describe(client.params()));
    } else {
        writeln!(out, "parameters: {}", describe(client.params())).map_err(write_err)?;
    }
    for (i, input) in inputs.iter().enumerate() {
        let (logits, stats) = client.infer(input)?;
        let class = argmax(&logits);
        let label = labels.and_then(|l| l.get(i).copied());
        if args.json {
            writeln!(out, "{}", record(i, label, &logits, class, &stats)).map_err(write_err)?;
            continue;
        }
        let shown: Vec<String> = logits.iter().map(|v| format!("{v:.4}")).collect();
        if inputs.len() > 1 {
            writeln!(out, "input {}:", i + 1).map_err(write_err)?;
        }
        let class = class.map_or_else(|| "none".to_owned(), |c| c.to_string());
        writeln!(out, "predicted class: {class}").map_err(write_err)?;
        writeln!(out, "logits: {}", shown.join(", ")).map_err(write_err)?;
        writeln!(
            out,
            "offline {:.3} s, {} B sent, {} B received; online {:.1} ms, {} B sent, {} B received, \
             {} rounds; client storage {} B",
            stats.offline_seconds,
            stats.offline_bytes_c2s,
            stats.offline_bytes_s2c,
            stats.online_seconds * 1e3,
            stats.online_bytes_c2s,
            stats.online_bytes_s2c,
            stats.online_rounds,
            stats.client_storage_bytes
        )
        .map_err(write_err)?;
    }
    out.flush().map_err(write_err)?;
    client.close()?;
    Ok(())
}

/// `circa inspect`.
pub fn inspect_command(args: &InspectArgs) -> Result<(), CliError> {
    let network = load_model(&args.model)?;
    print!("{}", summary(&network));
    let params = args.params.params_for(network.calibration());
    params.validate()?;
    let (unit, measured) = match measured_relus(args.measure)? {
        Some(n) => {
            let spinner = crate::progress::spinner("measuring the ReLU protocol");
            let unit = circa_nn::cost::measure_relu(&params, n)?;
            spinner.finish_and_clear();
            (unit, true)
        }
        None => (circa_nn::cost::relu_unit(&params)?, false),
    };
    // Encoding the model checks it is servable (every weight, bias and calibrated range fits
    // the field) and applies its calibration.
    let model =
        circa_nn::private::ServerModel::new(&network, params)?.with_linear(args.linear.mode())?;
    print!("{}", cost::report(&network, &model, &unit, measured));
    Ok(())
}
