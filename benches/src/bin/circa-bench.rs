//! `circa-bench`: the machine-readable benchmark report of circa-rs.
//!
//! `circa-bench SECTION [--json] [--quick]` prints one JSON object per line
//! (with `--json`) or aligned `key=value` text. Sections: `ot`, `gc`, `share`, `relu`, `nn`, `all`.
//! `nn --network NAME` runs one model only. `nn` runs each party in a child process of its own
//! (`circa-bench nn-party`, hidden) so that each reports its own peak memory.

use circa_benches::nn::{NnOptions, Parties};
use circa_benches::{Record, Size, print_records};
use circa_nn::private::LinearMode;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "circa-bench", about = "circa-rs benchmark report")]
struct Cli {
    #[command(subcommand)]
    section: Section,
    /// One JSON object per line.
    #[arg(long, global = true)]
    json: bool,
    /// Small sizes (seconds, for smoke tests) instead of the full ones.
    #[arg(long, global = true)]
    quick: bool,
    /// Folder holding the Bristol circuits (default: ../shared/circuits next to the workspace).
    #[arg(long, global = true)]
    circuits: Option<PathBuf>,
    /// Folder holding the bundled models (default: models/ in the workspace).
    #[arg(long, global = true)]
    models: Option<PathBuf>,
    /// Threads the server (garbler) uses: `relu` garbles each chunk on this many threads, `gc`
    /// adds parallel-garbling figures at this count. The OT extension is single-threaded.
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    /// `nn`: only this model (digits_cnn, digits_cnn_pruned, digits_poly, minionn, resnet32,
    /// resnet18, vgg16, or the long names of the records).
    #[arg(long, global = true)]
    network: Option<String>,
    /// `nn`: run both parties as threads of this process (peak memory: both together).
    #[arg(long, global = true)]
    same_process: bool,
    /// `nn`: each linear layer's correlation: `ot`, `he` or `auto` (per layer, the faster).
    #[arg(long, global = true, default_value_t = LinearMode::Auto)]
    linear: LinearMode,
    /// `nn`: the server precomputes its HE kernels' NTT forms once per model.
    #[arg(long, global = true)]
    he_ntt_cache: bool,
}

#[derive(Subcommand, Clone)]
enum Section {
    /// OT extension throughput over loopback.
    Ot,
    /// Garbling and evaluation throughput.
    Gc,
    /// Linear algebra on shares.
    Share,
    /// The ReLU protocols: cost per ReLU and throughput.
    Relu,
    /// Private inference of whole networks.
    Nn,
    /// Every section in turn.
    All,
    /// One party of an `nn` measurement (started by `circa-bench nn`); prints its report.
    #[command(hide = true)]
    NnParty {
        /// `server` or `client`.
        #[arg(long)]
        role: String,
        /// The model.
        #[arg(long)]
        model: String,
        /// The ReLU variant (`exact` or `circa`).
        #[arg(long)]
        variant: String,
        /// The server's address (client only).
        #[arg(long)]
        connect: Option<String>,
    },
}

fn default_circuits_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/circuits"
    ))
}

fn default_models_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models"))
}

fn run(cli: &Cli) -> Result<Vec<Record>, circa_benches::Error> {
    let size = if cli.quick { Size::Quick } else { Size::Full };
    let dir = cli.circuits.clone().unwrap_or_else(default_circuits_dir);
    let dir = dir.exists().then_some(dir);
    let mut out = Vec::new();
    let all = matches!(cli.section, Section::All);
    if all || matches!(cli.section, Section::Ot) {
        out.extend(circa_benches::ot::run(size)?);
    }
    if all || matches!(cli.section, Section::Gc) {
        out.extend(circa_benches::gc::run(size, dir.as_deref(), cli.threads)?);
        out.push(circa_benches::gc::aes_limit(size)?);
    }
    if all || matches!(cli.section, Section::Share) {
        out.extend(circa_benches::share::run(size)?);
    }
    if all || matches!(cli.section, Section::Relu) {
        out.extend(circa_benches::relu::run_all(size, cli.threads)?);
    }
    let nn = NnOptions {
        size,
        models_dir: cli.models.clone().unwrap_or_else(default_models_dir),
        network: cli.network.clone(),
        parties: if cli.same_process {
            Parties::Threads
        } else {
            Parties::Processes {
                exe: std::env::current_exe()?,
            }
        },
        linear: cli.linear,
        he_ntt_cache: cli.he_ntt_cache,
    };
    if all || matches!(cli.section, Section::Nn) {
        out.extend(circa_benches::nn::run_with(&nn)?);
    }
    if let Section::NnParty {
        role,
        model,
        variant,
        connect,
    } = &cli.section
    {
        out.push(circa_benches::nn::party(
            role,
            model,
            variant,
            connect.as_deref(),
            &nn,
        )?);
    }
    Ok(out)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(records) => {
            // A party's report is read by its parent: always JSON.
            let json = cli.json || matches!(cli.section, Section::NnParty { .. });
            print_records(&records, json);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("circa-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
