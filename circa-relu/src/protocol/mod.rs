//! The two-party ReLU protocol (semi-honest): server = garbler = garbling-COT sender, client =
//! evaluator. See the crate README for the message flow, the conversion of the garbled sign into
//! shares, and the correctness and security argument.
//!
//! Usage: both parties call `setup` once per session, `offline` once per batch (the client with
//! its shares `c`), and `online` once per batch (the server with its shares `s`). The online
//! phase consumes the preprocessed material by value, so it cannot be used twice:
//!
//! ```compile_fail
//! # use circa_relu::protocol::{ReluServer, ServerPreprocessed};
//! # use circa_share::{Fp, P2138816513 as P};
//! # fn twice(server: &mut ReluServer<P>, ch: &mut circa_ot::MemChannel,
//! #          pre: ServerPreprocessed<P>, s: &[Fp<P>]) {
//! let first = server.online(ch, pre, s);
//! let again = server.online(ch, pre, s); // error[E0382]: use of moved value: `pre`
//! # }
//! ```
//!
//! Preprocessed material is not `Clone` either:
//!
//! ```compile_fail
//! # use circa_relu::protocol::ClientPreprocessed;
//! # use circa_share::P2138816513 as P;
//! fn copy(pre: &ClientPreprocessed<P>) -> ClientPreprocessed<P> {
//!     pre.clone()
//! }
//! ```

pub mod bench;
mod block_rng;
mod client;
mod conversion;
mod msgs;
mod online;
mod preprocessed;
mod server;
mod session;

pub use client::ReluClient;
pub use online::{ClientOnline, ServerOnline};
pub use preprocessed::{ClientPreprocessed, ServerPreprocessed};
pub use server::ReluServer;
pub use session::{CHUNK_RELUS, MAX_BATCH, MAX_SESSION_RELUS};
