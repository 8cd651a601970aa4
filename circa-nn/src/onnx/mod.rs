//! ONNX support: a bounded protobuf decoder for the subset of `onnx.proto` the importer needs
//! ([`proto`]), and the importer from an ONNX graph to a [`Network`](crate::Network) ([`import`]).

pub mod import;
pub mod proto;
mod wire;

pub use import::{CIRCA_DOMAIN, import_model, import_onnx, import_onnx_with_limits};
pub use proto::ModelProto;
pub use wire::DecodeLimits;
