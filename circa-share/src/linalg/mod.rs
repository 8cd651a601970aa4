//! Linear algebra on share tensors: convolution, dense layers, pooling.
//!
//! Every function here is linear over the field, so each party applies it to
//! its own share (with weights it knows) and the outputs are shares of the
//! plaintext result. The hot path is im2col plus a blocked multiply that
//! accumulates products in `u128` and reduces once per dot product. With the
//! `rayon` feature, convolution and dense layers split their output rows
//! (output channels) over rayon's pool, bit-identically to the serial path.

mod conv;
mod dense;
pub(crate) mod kernel;
mod pool;
#[cfg(all(test, feature = "rayon"))]
mod schedule_tests;
mod window;

pub use conv::{Conv2dShape, Im2colLayout, conv2d, im2col};
pub use dense::dense;
pub use kernel::Scalar;
pub use pool::{Pool2dShape, avg_pool2d, sum_planes, sum_pool2d};
pub use window::Window2d;
