#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cost;
pub mod dataset;
pub mod engine;
pub mod error;
pub mod fixed;
pub mod io;
pub mod kernels;
pub mod model;
pub mod net;
pub mod onnx;
pub mod plain;
pub mod private;
pub mod simulate;
pub mod summary;

pub use error::{NnError, Result};
pub use fixed::{ExactOracle, Fixed, SignOracle, SignScale, argmax_fixed};
pub use model::{
    Activation, Architecture, Conv2d, Layer, LinearWeights, Network, Op, Shape, TensorId, Window2d,
};
pub use onnx::{DecodeLimits, import_onnx};
pub use plain::{argmax, infer};
pub use simulate::{CircaSign, Simulated, simulated};
pub use summary::summary;
