#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod dataset;
pub mod error;
pub mod kernels;
pub mod model;
pub mod onnx;
pub mod plain;
pub mod summary;

pub use error::{NnError, Result};
pub use model::{
    Activation, Architecture, Conv2d, Layer, LinearWeights, Network, Op, Pool, Shape, TensorId,
};
pub use onnx::{DecodeLimits, import_onnx};
pub use plain::{argmax, infer};
pub use summary::summary;
