//! `circa serve`, `circa infer` and `circa inspect`.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use circa_nn::net::{Client, ClientConfig, PrivateInference, serve_with};
use circa_nn::{Network, argmax, dataset, import_onnx, io, summary};

use crate::CliError;
use crate::cli::{InferArgs, InspectArgs, ServeArgs, describe, measured_relus, seconds};
use crate::cost;

/// Reads (bounded by the importer's size limit, checked before reading) and imports an ONNX
/// model.
pub fn load_model(path: &Path) -> Result<Network, CliError> {
    let bytes = io::read_bounded(path, io::max_model_bytes())?;
    import_onnx(&bytes).map_err(|source| CliError::Model {
        path: path.display().to_string(),
        source,
    })
}

/// Reads a text file (at most `circa_nn::io::MAX_DATA_BYTES`, checked before reading).
pub fn read_text(path: &Path) -> Result<String, CliError> {
    Ok(io::read_text_bounded(path, io::MAX_DATA_BYTES)?)
}

/// `circa serve`: runs until the process is stopped. The options, then the model against the
/// prime and `f` (every weight, bias and coefficient: an error names the layer) are checked
/// before the socket is bound.
pub fn serve_command(args: &ServeArgs) -> Result<(), CliError> {
    let config = crate::cli::server_config(args)?;
    let network = load_model(&args.model)?;
    let params = args.params.params();
    params.validate()?;
    let service =
        PrivateInference::new(&network, params).map_err(|source| CliError::Unservable {
            path: args.model.display().to_string(),
            source: Box::new(source),
        })?;
    let listener = TcpListener::bind(&args.listen).map_err(|source| CliError::Listen {
        addr: args.listen.clone(),
        source,
    })?;
    let addr = listener.local_addr()?;
    // Startup lines; a closed standard output must not stop the server.
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "circa serve: {} ({} ReLUs) on {addr}, at most {} sessions",
        args.model.display(),
        network.architecture().relu_count(),
        args.max_sessions
    );
    let _ = writeln!(out, "circa serve: {}", describe(&params));
    let _ = out.flush();
    serve_with(listener, Arc::new(service), config)?;
    Ok(())
}

/// `circa infer`: one session, one private inference per input line.
pub fn infer_command(args: &InferArgs) -> Result<(), CliError> {
    let timeout = seconds(args.timeout)?;
    let text = read_text(&args.input)?;
    let config = ClientConfig {
        read_timeout: timeout,
        write_timeout: timeout,
        max_message: args.max_message,
        ..ClientConfig::default()
    };
    let spinner = crate::progress::spinner("connecting (session setup)");
    let mut client = Client::connect(&args.connect, &config)?;
    spinner.finish_and_clear();
    let len = client.architecture().input_shape().len();
    let inputs = dataset::parse_inputs(&text, len).map_err(|source| CliError::Model {
        path: args.input.display().to_string(),
        source,
    })?;
    if inputs.is_empty() {
        return Err(CliError::EmptyInput {
            path: args.input.display().to_string(),
        });
    }
    println!("parameters: {}", describe(client.params()));
    for (i, input) in inputs.iter().enumerate() {
        let (logits, stats) = client.infer(input)?;
        let class = argmax(&logits).map_or_else(|| "none".to_owned(), |c| c.to_string());
        let shown: Vec<String> = logits.iter().map(|v| format!("{v:.4}")).collect();
        if inputs.len() > 1 {
            println!("input {}:", i + 1);
        }
        println!("predicted class: {class}");
        println!("logits: {}", shown.join(", "));
        println!(
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
        );
    }
    client.close()?;
    Ok(())
}

/// `circa inspect`.
pub fn inspect_command(args: &InspectArgs) -> Result<(), CliError> {
    let network = load_model(&args.model)?;
    print!("{}", summary(&network));
    let params = args.params.params();
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
    print!("{}", cost::report(&network, &params, &unit, measured)?);
    Ok(())
}
