#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod calibrate;
pub mod calibration;
pub mod cost;
pub mod dataset;
pub mod engine;
pub mod error;
pub mod files;
pub mod fixed;
pub mod kernels;
pub mod model;
pub mod net;
pub mod onnx;
pub mod plain;
pub mod private;
pub mod simulate;
pub mod summary;

pub use error::{NnError, Result, UnsupportedNode};
pub use fixed::{ExactOracle, Fixed, SignOracle, SignScale, argmax_fixed};
pub use model::{
    Activation, Architecture, Conv2d, Layer, LinearWeights, Network, Op, Shape, TensorId, Window2d,
};
pub use onnx::{DecodeLimits, import_onnx, import_onnx_file};
pub use plain::{argmax, infer};
pub use simulate::{CircaSign, Simulated, simulated, simulated_with_sites};
pub use summary::summary;
