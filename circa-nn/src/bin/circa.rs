//! The `circa` command: private neural-network inference (semi-honest two-party protocol of
//! Delphi with the Circa ReLU). `circa serve`, `circa infer`, `circa inspect`, `circa demo`;
//! `circa --help` for the options.

#![forbid(unsafe_code)]

#[path = "circa/calibrate.rs"]
mod calibrate;
#[path = "circa/cli.rs"]
mod cli;
#[path = "circa/commands.rs"]
mod commands;
#[path = "circa/cost.rs"]
mod cost;
#[path = "circa/data.rs"]
mod data;
#[path = "circa/demo.rs"]
mod demo;
#[path = "circa/progress.rs"]
mod progress;

use std::process::ExitCode;

use clap::Parser as _;

/// Everything the command reports as a failure.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A model or data file was rejected.
    #[error("{path}: {source}")]
    Model {
        /// The file.
        path: String,
        /// Why.
        source: circa_nn::NnError,
    },
    /// The model cannot be served with the chosen parameters (a weight, bias or coefficient
    /// overflows the field at its scale: the message names the layer).
    #[error("{path}: cannot be served with these parameters: {source}")]
    Unservable {
        /// The model file.
        path: String,
        /// Why (boxed: it is large).
        source: Box<circa_nn::net::NetError>,
    },
    /// An input file holds no input.
    #[error("{path}: no input")]
    EmptyInput {
        /// The file.
        path: String,
    },
    /// The server could not be reached, or the session could not be set up.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address.
        addr: String,
        /// Why (boxed: the error is large).
        source: Box<circa_nn::net::NetError>,
    },
    /// The output file could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A command-line value is out of range.
    #[error("{option}: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The demo's server thread panicked.
    #[error("the server thread panicked")]
    ServerPanicked,
    /// A socket operation failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The network or an input was rejected.
    #[error(transparent)]
    Nn(#[from] circa_nn::NnError),
    /// The connection or the session failed.
    #[error(transparent)]
    Net(#[from] circa_nn::net::NetError),
    /// The protocol parameters are invalid.
    #[error(transparent)]
    Private(#[from] circa_nn::private::PrivateError),
    /// The ReLU parameters are invalid or the ReLU measurement failed.
    #[error("ReLU protocol: {0}")]
    Relu(#[from] circa_relu::Error),
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match &cli.command {
        cli::Command::Serve(a) => commands::serve_command(a),
        cli::Command::Infer(a) => commands::infer_command(a),
        cli::Command::Inspect(a) => commands::inspect_command(a),
        cli::Command::Calibrate(a) => calibrate::calibrate_command(a),
        cli::Command::Demo(a) => demo::demo_command(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("circa: {e}");
            ExitCode::FAILURE
        }
    }
}
