//! The HE-based linear-layer correlation (semi-honest): the client encrypts
//! its layer mask `r` under its own BFV key; the server multiplies by
//! plaintext polynomials of its weights (coefficient packing in the style
//! of Cheetah, Huang et al., USENIX Security 2022: no rotations, no
//! relinearisation), adds a fresh mask, re-randomises with the client's
//! public key, floods the noise, switches to a small modulus and returns
//! only the needed coefficients; the client decrypts `W r - s` and the
//! server keeps `s`, exactly what [`crate::ole::LinearCorrelationClient`] /
//! [`crate::ole::LinearCorrelationServer`] give, so either can serve a
//! layer. The plaintext modulus is the field prime `p`, so results land in
//! `F_p`.
//!
//! Pure steps (no I/O): [`HeLinearClient::new`] (keys),
//! [`HeLinearClient::encrypt`] (query + pending state),
//! [`HeLayer::encode`] (weights, once per model, shared by sessions),
//! [`HeServer::answer`] (answer + `s`), [`HePending::decrypt`]
//! (`W r - s`). Every message has a canonical fixed-size encoding checked
//! before use ([`msgs`]). Thin drivers over a `circa_ot::Channel` are in
//! [`driver`]; the cost model comparing HE with the OT correlation per
//! layer is [`cost`].
//!
//! The ring arithmetic (NTT, RNS) is this module's own: the `fhe` crate's
//! BFV layer was measured unsuitable (see the crate README).

mod client;
pub mod cost;
pub mod driver;
pub mod fold;
mod keys;
pub mod msgs;
pub mod noise;
mod ntt;
mod params;
pub mod plan;
mod server;
#[cfg(test)]
mod tests;

pub use client::{HeLinearClient, HePending};
pub use msgs::{HeAnswer, HePublicKey, HeQuery};
pub use noise::{NoiseBudget, STAT_BITS};
pub use params::{HeParamSet, HeParams};
pub use plan::HePlan;
pub use server::{HeLayer, HeServer};
