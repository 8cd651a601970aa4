//! Audits one Bristol Fashion circuit through the full garbled two-party protocol.
//!
//! ```text
//! cargo run --release -p circa-gc --example bristol -- CIRCUIT_FILE GARBLER_INPUT_HEX EVALUATOR_INPUT_HEX
//! ```
//!
//! The garbler (first circuit input) and evaluator (second input) run as two threads over TCP
//! loopback; both learn the output. Hex inputs are big-endian integers whose bit i is circuit input
//! bit i. Prints one JSON line; errors go to stderr with exit code 1.

use std::process::ExitCode;
use std::thread;
use std::time::Instant;

use circa_gc::{
    Circuit, Error, Evaluator2pc, Garbler2pc, Reveal, bits_to_hex, hex_to_bits, read_bristol_file,
};
use circa_ot::{Channel, TcpChannel};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
const USAGE: &str = "usage: bristol CIRCUIT_FILE GARBLER_INPUT_HEX EVALUATOR_INPUT_HEX";

#[derive(Debug)]
enum Failure {
    Usage,
    Input(&'static str, Error),
    Protocol(&'static str, Error),
    Thread,
    Disagree,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Usage => f.write_str(USAGE),
            Failure::Input(what, e) => write!(f, "{what}: {e}"),
            Failure::Protocol(who, e) => write!(f, "{who}: {e}"),
            Failure::Thread => f.write_str("garbler thread panicked"),
            Failure::Disagree => f.write_str("garbler and evaluator decoded different outputs"),
        }
    }
}

struct Report {
    output: Vec<bool>,
    seconds: f64,
    setup_seconds: f64,
    garbler_sent: u64,
    evaluator_sent: u64,
}

/// A fresh seed from the operating system.
fn os_seed() -> Result<[u8; 32], Error> {
    use std::io::Read;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
    Ok(seed)
}

fn garbler(mut ch: TcpChannel, c: &Circuit, x: &[bool]) -> Result<(Vec<bool>, u64), Error> {
    let mut rng = ChaCha20Rng::from_seed(os_seed()?);
    let mut g = Garbler2pc::setup(&mut ch, &mut rng)?;
    let out = g.run(&mut ch, c, x, Reveal::Both, &mut rng)?;
    Ok((out.unwrap_or_default(), ch.stats().bytes_sent))
}

/// The evaluator's side; returns (output, setup seconds, run seconds, bytes sent).
fn evaluator(
    ch: &mut TcpChannel,
    c: &Circuit,
    y: &[bool],
) -> Result<(Vec<bool>, f64, f64, u64), Error> {
    let mut rng = ChaCha20Rng::from_seed(os_seed()?);
    let start = Instant::now();
    let mut e = Evaluator2pc::setup(ch, &mut rng)?;
    let setup = start.elapsed().as_secs_f64();
    let out = e.run(ch, c, y, Reveal::Both)?;
    let run = start.elapsed().as_secs_f64() - setup;
    Ok((out.unwrap_or_default(), setup, run, ch.stats().bytes_sent))
}

fn run(args: &[String]) -> Result<(Circuit, Report), Failure> {
    let [file, gx, ex] = args else {
        return Err(Failure::Usage);
    };
    let c = read_bristol_file(file).map_err(|e| Failure::Input("circuit file", e))?;
    let x = hex_to_bits(gx, c.garbler_inputs()).map_err(|e| Failure::Input("garbler input", e))?;
    let y =
        hex_to_bits(ex, c.evaluator_inputs()).map_err(|e| Failure::Input("evaluator input", e))?;
    let (mut gch, mut ech) =
        TcpChannel::loopback_pair().map_err(|e| Failure::Protocol("loopback", e.into()))?;
    // A silent peer is an error after a minute, never a hang.
    for ch in [&mut gch, &mut ech] {
        ch.set_read_timeout(Some(READ_TIMEOUT))
            .map_err(|e| Failure::Protocol("loopback", e.into()))?;
    }
    let (g_res, e_res) = thread::scope(|s| {
        let gt = s.spawn(|| garbler(gch, &c, &x));
        let e_res = evaluator(&mut ech, &c, &y);
        drop(ech); // unblocks the garbler if the evaluator failed
        (gt.join(), e_res)
    });
    let (output, setup_seconds, seconds, evaluator_sent) =
        e_res.map_err(|e| Failure::Protocol("evaluator", e))?;
    let (g_out, garbler_sent) = g_res
        .map_err(|_| Failure::Thread)?
        .map_err(|e| Failure::Protocol("garbler", e))?;
    if output != g_out {
        return Err(Failure::Disagree);
    }
    Ok((
        c,
        Report {
            output,
            seconds,
            setup_seconds,
            garbler_sent,
            evaluator_sent,
        },
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok((c, r)) => {
            println!(
                "{{\"output_hex\":\"{}\",\"and_gates\":{},\"garbled_bytes\":{},\"garbler_bytes_sent\":{},\"evaluator_bytes_sent\":{},\"setup_seconds\":{:.6},\"seconds\":{:.6}}}",
                bits_to_hex(&r.output),
                c.and_count(),
                32 * c.and_count(),
                r.garbler_sent,
                r.evaluator_sent,
                r.setup_seconds,
                r.seconds
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
