//! OT-based correlations (semi-honest): vector OLE from correlated OT, the
//! secure triple generator [`OtTripleSource`] and the linear-layer
//! correlation ([`LinearCorrelationClient`] / [`LinearCorrelationServer`]).
//! All run over a `circa_ot::Channel` with the IKNP/ALSZ extension of
//! `circa-ot`.

pub(crate) mod linear;
mod triples;
mod vole;

pub use linear::{
    Direction, LinearCorrelationClient, LinearCorrelationServer, MAX_MACS_PER_CALL, MAX_WEIGHT_BITS,
};
pub use triples::{MAX_TRIPLES_PER_CALL, OtTripleSource};
pub use vole::CHUNK_ELEMS;
