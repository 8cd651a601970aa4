//! The network IR.
//!
//! * [`Architecture`]: what the client may know -- the input shape, the layers in topological
//!   order (each names its input tensors), their shapes, the activation kinds and their public
//!   parameters. No weights. It is sent to the client with [`Architecture::to_bytes`] and read back
//!   with [`Architecture::from_bytes`] (bounded, typed errors).
//! * [`Network`]: the server's model, an [`Architecture`] plus the weights of its linear layers.
//!
//! Tensor ids: id 0 is the network input, id `i + 1` is the output of layer `i`. All tensors have
//! batch size 1 and are stored row-major in `C x H x W` order (NCHW without the batch); a flat
//! vector of `n` features has shape `n x 1 x 1`, so flattening never moves data.

mod arch;
mod codec;
mod network;

pub use arch::pool_shape;
pub use arch::{
    Activation, Architecture, Conv2d, Layer, MAX_DIM, MAX_LAYER_MACS, MAX_LAYER_WEIGHTS,
    MAX_LAYERS, MAX_POOL_WINDOW_ENTRIES, MAX_TENSOR_ELEMENTS, MAX_TOTAL_ELEMENTS, Op, Shape,
    TensorId,
};
pub use circa_share::linalg::Window2d;
pub use network::{LinearWeights, Network};
