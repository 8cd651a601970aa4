//! The benchmark report of circa-rs: one JSON object per line per measured
//! figure, produced by the `circa-bench` binary (`circa-bench ot --json`,
//! `gc`, `share`, ...). Each section lives in its own module and calls the
//! measurement helpers of the crate it measures, so the figures in the
//! report and in that crate's criterion benches come from the same code.
//!
//! Wall-clock figures: this is a benchmark, never a test oracle.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod gc;
pub mod nn;
pub mod nn_networks;
pub mod ot;
pub mod relu;
pub mod share;

use serde_json::Value;

/// Errors of the report: whichever crate's measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A channel or OT failure.
    #[error(transparent)]
    Ot(#[from] circa_ot::Error),
    /// A garbling failure.
    #[error(transparent)]
    Gc(#[from] circa_gc::Error),
    /// A field or share failure.
    #[error(transparent)]
    Share(#[from] circa_share::Error),
    /// A ReLU protocol failure.
    #[error(transparent)]
    Relu(#[from] circa_relu::Error),
    /// A network-crate failure (model import, data set).
    #[error(transparent)]
    Nn(#[from] circa_nn::NnError),
    /// A private-inference failure.
    #[error(transparent)]
    Private(#[from] circa_nn::private::PrivateError),
    /// Reading a bundled model or data file failed.
    #[error("reading a bundled file: {0}")]
    Io(#[from] std::io::Error),
    /// A measurement thread panicked.
    #[error("a measurement thread panicked")]
    ThreadPanicked,
    /// A name on the command line (network, variant, role) is not one this report knows.
    #[error("unknown {what}: {name:?}")]
    UnknownName {
        /// What was named.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// A party's child process exited unsuccessfully (its stderr says why).
    #[error("the {role} process failed (exit code {code:?})")]
    PartyFailed {
        /// `server` or `client`.
        role: &'static str,
        /// The exit code, `None` if it was killed by a signal.
        code: Option<i32>,
    },
    /// A party's child process printed no usable report.
    #[error("the {role} process: {reason}")]
    PartyOutput {
        /// `server` or `client`.
        role: &'static str,
        /// What was wrong with its output.
        reason: &'static str,
    },
}

/// How much work a report section does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// The sizes the issues ask for (e.g. 2^24 OTs): minutes of work.
    Full,
    /// Small sizes that exercise every code path in seconds (used by tests).
    Quick,
}

/// One line of the report.
pub type Record = Value;

/// Prints records as JSON lines, or as aligned `key=value` text.
pub fn print_records(records: &[Record], json: bool) {
    for r in records {
        if json {
            println!("{r}");
        } else if let Value::Object(map) = r {
            let line: Vec<String> = map
                .iter()
                .map(|(k, v)| match v {
                    Value::Number(n) if n.is_f64() => {
                        format!("{k}={:.4}", n.as_f64().unwrap_or_default())
                    }
                    Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect();
            println!("{}", line.join("  "));
        }
    }
}
