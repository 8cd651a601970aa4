//! Command-line syntax (clap) and its translation into library parameters.

use std::path::PathBuf;
use std::time::Duration;

use circa_nn::SignScale;
use circa_nn::fixed::defaults;
use circa_nn::net::{
    DEFAULT_FLIGHT_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_MESSAGE, DEFAULT_MAX_PENDING,
    DEFAULT_MAX_PER_ADDRESS, DEFAULT_MAX_SESSION_TIME, DEFAULT_MAX_SESSIONS, MAX_DURATION,
    ServerConfig,
};
use circa_nn::private::{Prime, PrivateParams};
use circa_relu::{ProductPath, TieMode, Variant};
use circa_share::Modulus;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Default prime of the command: the crate's default (`circa_nn::fixed::defaults`, chosen by
/// the accuracy sweep in the crate README).
pub const DEFAULT_PRIME: PrimeArg =
    if <defaults::DefaultModulus as Modulus>::P == Prime::P41.value() {
        PrimeArg::P41
    } else {
        PrimeArg::P31
    };
/// Default fixed-point fractional bits.
pub const DEFAULT_FRAC_BITS: u32 = defaults::FRAC_BITS;
/// Default number of truncated bits of the Circa ReLU.
pub const DEFAULT_K: u32 = defaults::K;
/// Default tie rule of the Circa ReLU.
pub const DEFAULT_MODE: ModeArg = match defaults::TIE_MODE {
    TieMode::NegPass => ModeArg::Negpass,
    TieMode::PosZero => ModeArg::Poszero,
};
/// Default place of the sign test.
pub const DEFAULT_SIGN_SCALE: SignScaleArg = match defaults::SIGN_SCALE {
    SignScale::Product => SignScaleArg::Product,
    SignScale::Rescaled => SignScaleArg::Rescaled,
};

/// Private neural-network inference with the Circa ReLU (semi-honest two-party protocol).
#[derive(Debug, Parser)]
#[command(name = "circa", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve private inference with a model to any number of clients.
    Serve(ServeArgs),
    /// Run private inference on the inputs in a file against a server.
    Infer(InferArgs),
    /// Print a model's layers, ReLU counts and private-inference cost estimate.
    Inspect(InspectArgs),
    /// Choose the Circa ReLU's truncation k per layer from data and record the network's
    /// ranges; writes a calibrated copy of the model that `serve` uses.
    Calibrate(CalibrateArgs),
    /// Server and client on loopback with a model and labelled data (default: the bundled
    /// digits model and test split): plaintext and private accuracy (exact and Circa ReLU),
    /// time, bytes, rounds, client storage.
    Demo(DemoArgs),
}

/// `circa serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The model (ONNX).
    #[arg(long, value_name = "MODEL.onnx")]
    pub model: PathBuf,
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    pub listen: String,
    /// Largest number of concurrent sessions; further clients are told the server is busy.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_SESSIONS)]
    pub max_sessions: usize,
    /// Read and write deadline per session, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub timeout: f64,
    /// Largest single message accepted from a client, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_MESSAGE)]
    pub max_message: usize,
    /// Longest a session may last, in seconds (0: no limit).
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_MAX_SESSION_TIME.as_secs_f64())]
    pub max_session_time: f64,
    /// Deadline of a client's greeting and session setup, in seconds from its connection.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_HANDSHAKE_TIMEOUT.as_secs_f64())]
    pub handshake_timeout: f64,
    /// Longest the server waits on a client over one flight, in seconds (drops tricklers).
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_FLIGHT_TIMEOUT.as_secs_f64())]
    pub flight_timeout: f64,
    /// Largest number of connections waiting for their greeting.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PENDING)]
    pub max_pending: usize,
    /// Largest number of connections from one client address (IPv4 address or IPv6 /64).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PER_ADDRESS)]
    pub max_per_address: usize,
    /// Threads each session garbles its ReLUs on (1 to 64; the garbled tables do not depend on
    /// it, so clients need no matching option).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub threads: usize,
    /// How the linear layers' offline correlations are made (sent to the client; `inspect`
    /// shows the per-layer choice and its cost).
    #[arg(long, value_enum, default_value_t = LinearArg::Auto)]
    pub linear: LinearArg,
    /// Precompute the HE layers' kernel NTT forms once (faster offline phase; memory as
    /// printed at start-up).
    #[arg(long)]
    pub he_ntt_cache: bool,
    /// Protocol parameters.
    #[command(flatten)]
    pub params: ParamArgs,
}

/// `circa infer`.
#[derive(Debug, Args)]
pub struct InferArgs {
    /// The server's address.
    #[arg(long, value_name = "ADDR")]
    pub connect: String,
    /// Inputs: a `.npy` array (float32/float64, `N x ...` or one input), or a CSV file with one
    /// input per line (values comma-separated, in C x H x W order for images).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// CSV options.
    #[command(flatten)]
    pub csv: CsvArgs,
    /// One JSON object per input (logits, class, times, bytes each way, rounds), one per line.
    #[arg(long)]
    pub json: bool,
    /// Write the results to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read and write deadline, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub timeout: f64,
    /// Largest single message accepted from the server, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_MESSAGE)]
    pub max_message: usize,
}

/// How CSV input files are read.
#[derive(Debug, Clone, Copy, Args)]
pub struct CsvArgs {
    /// The CSV file's first line is a header.
    #[arg(long)]
    pub header: bool,
    /// This 0-based column of the CSV file is a label, not an input value.
    #[arg(long, value_name = "N")]
    pub label_column: Option<usize>,
}

impl CsvArgs {
    /// The library's reading options.
    pub fn options(&self) -> circa_nn::dataset::CsvOptions {
        circa_nn::dataset::CsvOptions {
            header: self.header,
            label_column: self.label_column,
        }
    }
}

/// `circa inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The model (ONNX).
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,
    /// Also measure the per-ReLU costs by running this many ReLUs over loopback.
    #[arg(long, value_name = "RELUS")]
    pub measure: Option<usize>,
    /// How the linear layers' offline correlations are made (as `serve --linear`).
    #[arg(long, value_enum, default_value_t = LinearArg::Auto)]
    pub linear: LinearArg,
    /// Protocol parameters the estimate is for.
    #[command(flatten)]
    pub params: ParamArgs,
}

/// `circa calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The model (ONNX).
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,
    /// Calibration inputs: CSV or `.npy` (a CSV row one value wider than the model's input
    /// starts with its label).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Labels, one per input (text, one integer per line, or `.npy`).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// CSV options of `--data`.
    #[command(flatten)]
    pub csv: CsvArgs,
    /// Use only the first N inputs.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Fraction of the inputs whose prediction may change against the exact reference (and of
    /// correct predictions that may be lost).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub tolerance: f64,
    /// Seed of the fault simulations.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write the calibrated model.
    #[arg(long, value_name = "OUT.onnx")]
    pub output: PathBuf,
    /// Protocol parameters to calibrate for (`--k` sets the default fault band `2^(k-2f)`).
    #[command(flatten)]
    pub params: ParamArgs,
}

/// `circa demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The model (default: the bundled Fashion-MNIST ResNet-8, calibrated, then a DeepReDuce
    /// model and the polynomial model).
    #[arg(long, value_name = "MODEL.onnx")]
    pub model: Option<PathBuf>,
    /// Inputs to run: CSV, `.npy` or IDX (default: the bundled Fashion-MNIST test subset, or
    /// the digits test split with a digits model). A CSV row one value wider than the model's
    /// input starts with its label, unless `--labels` or `--label-column` say otherwise.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Labels, one per input: a text file with one integer per line, or a `.npy` array.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// CSV options of `--data`.
    #[command(flatten)]
    pub csv: CsvArgs,
    /// Run only the first N inputs (default: 10 of the bundled Fashion-MNIST images, all of
    /// other data).
    #[arg(long, visible_alias = "images", value_name = "N")]
    pub limit: Option<usize>,
    /// Field, fixed point and the Circa ReLU's default.
    #[command(flatten)]
    pub field: FieldArgs,
}

/// The field, the fixed point and the Circa ReLU's default `k`: by default those a calibrated
/// model was calibrated for, else the crate's defaults.
#[derive(Debug, Clone, Args)]
pub struct FieldArgs {
    /// Truncated bits of the Circa ReLU at the product scale 2^(2f) (every site gets the same
    /// real fault band 2^(k-2f); a calibrated model's own choices replace it) [default: 16 at
    /// f = 10, 2f - 4 at other f]
    #[arg(long)]
    pub k: Option<u32>,
    /// Tie rule of the Circa ReLU.
    #[arg(long, value_enum, default_value_t = DEFAULT_MODE)]
    pub mode: ModeArg,
    /// The prime field [default: the calibration's, else p41]
    #[arg(long, value_enum)]
    pub prime: Option<PrimeArg>,
    /// Fixed-point fractional bits [default: the calibration's, else 10]
    #[arg(long)]
    pub frac_bits: Option<u32>,
    /// Where the sign test runs relative to the rescale [default: the calibration's, else
    /// product]
    #[arg(long, value_enum)]
    pub sign_scale: Option<SignScaleArg>,
}

impl FieldArgs {
    /// The prime, `f`, sign scale and the Circa variant these options give for a model with
    /// `calibration` (options given on the command line win over the calibration's).
    pub fn resolve(
        &self,
        calibration: Option<&circa_nn::calibration::Calibration>,
    ) -> (Prime, u32, SignScale, Variant) {
        let prime = self
            .prime
            .map(PrimeArg::prime)
            .or(calibration.map(|c| c.prime))
            .unwrap_or(DEFAULT_PRIME.prime());
        let f = self
            .frac_bits
            .or(calibration.map(|c| c.frac_bits))
            .unwrap_or(DEFAULT_FRAC_BITS);
        let sign_scale = self
            .sign_scale
            .map(SignScaleArg::sign_scale)
            .or(calibration.map(|c| c.sign_scale))
            .unwrap_or(DEFAULT_SIGN_SCALE.sign_scale());
        // The default band 2^(DEFAULT_K - 2 DEFAULT_FRAC_BITS) at any f.
        let k = self
            .k
            .unwrap_or((DEFAULT_K + 2 * f).saturating_sub(2 * DEFAULT_FRAC_BITS));
        let variant = Variant::TruncatedSign {
            k,
            mode: self.mode.tie_mode(),
        };
        (prime, f, sign_scale, variant)
    }
}

/// The ReLU variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VariantArg {
    /// Exact sign (adder, reduction, comparison in the circuit).
    Exact,
    /// Circa: truncated stochastic sign (`--k`, `--mode`).
    Circa,
    /// Stochastic sign without truncation.
    Stochastic,
    /// Delphi's baseline circuit (outputs the ReLU value).
    Delphi,
}

/// The tie rule of the truncated sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// `[c' >= t']`: small negative values may pass.
    Negpass,
    /// `[c' > t']`: small positive values may be zeroed.
    Poszero,
}

/// The prime field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrimeArg {
    /// Delphi's 41-bit prime 2061584302081.
    P41,
    /// Circa's 31-bit prime 2138816513.
    P31,
}

/// Where the sign test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignScaleArg {
    /// On the linear layer's output at scale 2^(2f), before the rescale.
    Product,
    /// After the rescale to 2^f.
    Rescaled,
}

/// How the linear layers' offline correlations are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LinearArg {
    /// Per layer, HE or OT, whichever the cost model says is faster on a 1 Gbit/s link.
    Auto,
    /// Every layer by OT (vector OLE, about 50-80 B per multiply-accumulate).
    Ot,
    /// Every layer by HE (BFV; a layer no parameter set fits falls back to OT).
    He,
}

impl LinearArg {
    /// The library's mode.
    pub fn mode(self) -> circa_nn::private::LinearMode {
        use circa_nn::private::LinearMode;
        match self {
            LinearArg::Auto => LinearMode::Auto,
            LinearArg::Ot => LinearMode::Ot,
            LinearArg::He => LinearMode::He,
        }
    }
}

/// How the ReLU's sign bit becomes shares of its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProductArg {
    /// Encrypted two-entry table under the output labels plus one random OT (default).
    LabelTable,
    /// A Beaver multiplication, as in the paper.
    Beaver,
}

/// Protocol parameters shared by `serve` and `inspect`.
#[derive(Debug, Clone, Args)]
pub struct ParamArgs {
    /// The ReLU variant.
    #[arg(long, value_enum, default_value_t = VariantArg::Circa)]
    pub variant: VariantArg,
    /// Field, fixed point and the Circa ReLU's default.
    #[command(flatten)]
    pub field: FieldArgs,
    /// How the sign bit becomes shares of the ReLU output.
    #[arg(long, value_enum, default_value_t = ProductArg::LabelTable)]
    pub product: ProductArg,
}

impl ModeArg {
    /// The library's tie mode.
    pub fn tie_mode(self) -> TieMode {
        match self {
            ModeArg::Negpass => TieMode::NegPass,
            ModeArg::Poszero => TieMode::PosZero,
        }
    }
}

impl PrimeArg {
    /// The library's prime.
    pub fn prime(self) -> Prime {
        match self {
            PrimeArg::P41 => Prime::P41,
            PrimeArg::P31 => Prime::P31,
        }
    }
}

impl SignScaleArg {
    /// The library's sign scale.
    pub fn sign_scale(self) -> SignScale {
        match self {
            SignScaleArg::Product => SignScale::Product,
            SignScaleArg::Rescaled => SignScale::Rescaled,
        }
    }
}

impl ParamArgs {
    /// The parameters these options describe (validated by the library when used) for a
    /// model without calibration.
    pub fn params(&self) -> PrivateParams {
        self.params_for(None)
    }

    /// The parameters for a model with `calibration` (see [`FieldArgs::resolve`]).
    pub fn params_for(
        &self,
        calibration: Option<&circa_nn::calibration::Calibration>,
    ) -> PrivateParams {
        let (prime, frac_bits, sign_scale, circa) = self.field.resolve(calibration);
        let variant = match self.variant {
            VariantArg::Exact => Variant::ExactSign,
            VariantArg::Circa => circa,
            VariantArg::Stochastic => Variant::StochasticSign,
            VariantArg::Delphi => Variant::DelphiBaseline,
        };
        let product = match self.product {
            ProductArg::LabelTable => ProductPath::LabelTable,
            ProductArg::Beaver => ProductPath::Beaver,
        };
        PrivateParams {
            prime,
            frac_bits,
            relu: (variant, product),
            sign_scale,
        }
    }
}

/// A deadline in seconds given on the command line (`--timeout`).
pub fn seconds(secs: f64) -> Result<Duration, crate::CliError> {
    positive_seconds(secs, "--timeout")
}

/// A positive number of seconds, at most `circa_nn::net::MAX_DURATION` (a week): larger values
/// would overflow the deadlines computed from them.
fn positive_seconds(secs: f64, option: &'static str) -> Result<Duration, crate::CliError> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero() && *d <= MAX_DURATION)
        .ok_or(crate::CliError::InvalidOption {
            option,
            reason: "must be a positive number of seconds, at most 604800 (a week)",
        })
}

/// `--max-session-time`: `None` for 0 (no limit).
pub fn session_time(secs: f64) -> Result<Option<Duration>, crate::CliError> {
    if secs == 0.0 {
        return Ok(None);
    }
    positive_seconds(secs, "--max-session-time").map(Some)
}

/// The server settings of `circa serve`, every bound checked (before anything is bound or
/// loaded twice).
pub fn server_config(args: &ServeArgs) -> Result<ServerConfig, crate::CliError> {
    let timeout = seconds(args.timeout)?;
    let config = ServerConfig {
        max_sessions: args.max_sessions,
        max_pending: args.max_pending,
        max_per_address: args.max_per_address,
        handshake_timeout: positive_seconds(args.handshake_timeout, "--handshake-timeout")?,
        read_timeout: timeout,
        write_timeout: timeout,
        flight_timeout: positive_seconds(args.flight_timeout, "--flight-timeout")?,
        max_message: args.max_message,
        max_session_time: session_time(args.max_session_time)?,
        ..ServerConfig::default()
    };
    config.validate()?;
    Ok(config)
}

/// `serve --threads`, checked before the model is loaded.
pub fn garble_threads(n: usize) -> Result<usize, crate::CliError> {
    if (1..=circa_nn::private::MAX_GARBLE_THREADS).contains(&n) {
        Ok(n)
    } else {
        Err(crate::CliError::InvalidOption {
            option: "--threads",
            reason: "1 to 64 threads",
        })
    }
}

/// Largest `inspect --measure` (each measured ReLU is preprocessed and stored whole: 2^14 of
/// the baseline circuit's are about 200 MB per party).
pub const MAX_MEASURED_RELUS: usize = 1 << 14;

/// `inspect --measure`, checked before anything is allocated for it.
pub fn measured_relus(n: Option<usize>) -> Result<Option<usize>, crate::CliError> {
    match n {
        Some(n) if n > MAX_MEASURED_RELUS => Err(crate::CliError::InvalidOption {
            option: "--measure",
            reason: "at most 16384 ReLUs",
        }),
        Some(0) | None => Ok(None),
        n => Ok(n),
    }
}

/// A one-line description of the parameters.
pub fn describe(p: &PrivateParams) -> String {
    let (variant, product) = p.relu;
    let relu = match variant {
        Variant::TruncatedSign { k, mode } => format!("Circa ReLU (k = {k}, {})", mode.name()),
        other => other.name().to_owned(),
    };
    let product = match product {
        ProductPath::LabelTable => "label table",
        ProductPath::Beaver => "Beaver",
    };
    format!(
        "{relu}, {product} product, {} (p = {}), f = {}, sign test at the {} scale",
        p.prime.name(),
        p.prime.value(),
        p.frac_bits,
        p.sign_scale.name()
    )
}
