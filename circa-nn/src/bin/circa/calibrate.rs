//! `circa calibrate`: per-layer `k` and ranges from data, written into a copy of the model.

use circa_nn::calibrate::{Options, Report, calibrate};
use circa_nn::calibration::append_to_model;

use crate::CliError;
use crate::cli::{CalibrateArgs, describe};
use crate::commands::load_model;
use crate::data;

/// The text of a calibration report.
pub fn report_text(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>4}  {:<20} {:>8} {:>6} {:>9} {:>5} {:>9} {:>11} {:>11} {:>10} {:>10}",
        "#",
        "site",
        "relus",
        "scale",
        "default k",
        "k",
        "and/relu",
        "saved ANDs",
        "band",
        "pred faults",
        "sim faults"
    );
    for site in &r.sites {
        let name: String = site
            .name
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .take(20)
            .collect();
        let _ = writeln!(
            s,
            "{:>4}  {:<20} {:>8} {:>6} {:>9} {:>5} {:>9} {:>11} {:>11.4} {:>10.2} {:>10.2}",
            site.layer,
            name,
            site.relus,
            format!("2^{}", site.scale_bits),
            site.default_k,
            format!(
                "{}{}",
                site.k,
                if site.k == site.default_k { "" } else { "*" }
            ),
            site.and_per_relu,
            site.and_gates_saved,
            site.band,
            site.predicted_faults,
            site.measured_faults
        );
    }
    let saved: i64 = r.sites.iter().map(|x| x.and_gates_saved).sum();
    let total: i64 = r
        .sites
        .iter()
        .map(|x| x.relus as i64 * i64::from(x.and_per_relu))
        .sum();
    let _ = writeln!(
        s,
        "AND gates per inference: {} ({} saved against the default, {:.1}%)",
        total,
        saved,
        100.0 * saved as f64 / (total + saved).max(1) as f64
    );
    let n = r.inputs;
    let _ = writeln!(
        s,
        "{n} inputs, {} simulations (sign faults, exact rescale); predictions changed against the exact reference: default {}/{n}, calibrated {}/{n}",
        r.simulations, r.default.disagree, r.chosen.disagree
    );
    if let Some(e) = r.exact_correct {
        let _ = writeln!(
            s,
            "accuracy: exact {:.2}%, default Circa {:.2}%, calibrated Circa {:.2}%",
            100.0 * e as f64 / n as f64,
            100.0 * r.default.correct as f64 / n as f64,
            100.0 * r.chosen.correct as f64 / n as f64
        );
    }
    let _ = writeln!(
        s,
        "as the protocol runs it (every rescale a local truncation): {}/{n} predictions changed against the exact reference{}",
        r.chosen_truncated.disagree,
        match r.exact_correct {
            Some(_) => format!(
                ", accuracy {:.2}%",
                100.0 * r.chosen_truncated.correct as f64 / n as f64
            ),
            None => String::new(),
        }
    );
    let _ = writeln!(
        s,
        "local-truncation wraps: expected {:.2e} per inference (sum |x|/p), simulated {:.2e}; {}/{n} inferences with a wrap; largest input {:.4}",
        r.expected_wraps, r.measured_wraps, r.wrapped_inferences, r.calibration.input_bound
    );
    s
}

/// `circa calibrate`.
pub fn calibrate_command(args: &CalibrateArgs) -> Result<(), CliError> {
    let network = load_model(&args.model)?;
    let params = args.params.params();
    params.validate()?;
    let (mut rows, mut labels) = data::load_labelled(
        &args.data,
        args.labels.as_deref(),
        &args.csv.options(),
        network.architecture(),
    )?;
    if let Some(limit) = args.limit {
        rows.truncate(limit);
        if let Some(l) = labels.as_mut() {
            l.truncate(limit);
        }
    }
    if rows.is_empty() {
        return Err(CliError::EmptyInput {
            path: args.data.display().to_string(),
        });
    }
    if !(0.0..=1.0).contains(&args.tolerance) {
        return Err(CliError::InvalidOption {
            option: "--tolerance",
            reason: "must be a fraction between 0 and 1",
        });
    }
    println!("calibrating for: {}", describe(&params));
    let mut opts = Options::new(params);
    opts.tolerance = args.tolerance;
    opts.seed = args.seed;
    let spinner = crate::progress::spinner("simulating the Circa ReLU per layer");
    let report = calibrate(&network, &rows, labels.as_deref(), &opts)?;
    spinner.finish_and_clear();
    print!("{}", report_text(&report));
    let bytes = circa_nn::files::read_bounded(
        &args.model,
        circa_nn::DecodeLimits::default().max_total_bytes,
        "model file size in bytes",
    )
    .map_err(|source| CliError::Model {
        path: args.model.display().to_string(),
        source,
    })?;
    let out = append_to_model(&bytes, &report.calibration);
    std::fs::write(&args.output, out).map_err(|source| CliError::Write {
        path: args.output.display().to_string(),
        source,
    })?;
    println!("calibrated model written to {}", args.output.display());
    Ok(())
}
