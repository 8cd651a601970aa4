#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bench_support;
pub mod bits;
pub mod bristol;
pub mod builder;
pub mod circuit;
pub mod error;
pub mod evaluate;
pub mod gadgets;
pub mod garble;
pub mod label;
mod parallel;
mod schedule;
pub mod twopc;

pub use bits::{bits_to_hex, bits_to_u128, hex_to_bits, u128_to_bits};
pub use bristol::{
    BristolLimits, parse_bristol, read_bristol, read_bristol_file, read_bristol_with_limits,
    to_bristol_string, write_bristol,
};
pub use builder::{CircuitBuilder, Wire};
pub use circuit::{Circuit, Gate, GateKind};
pub use error::{BristolError, Error};
pub use evaluate::{EvaluatorSession, StreamEvaluator};
pub use garble::{
    AND_BATCH, CHUNK_ANDS, GarbledCircuit, GarblerOutputs, GarblerSession, InputEncoder,
    OutputDecoder, StreamGarbler,
};
pub use label::{Delta, Label};
pub use twopc::{Evaluator2pc, Garbler2pc, Reveal};
