#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod beaver;
pub mod bench_support;
mod error;
pub mod field;
pub mod fixed_point;
pub mod he;
pub mod linalg;
pub mod ole;
pub mod share;

#[cfg(feature = "test-utils")]
pub use beaver::InsecureDealer;
pub use beaver::{
    BeaverOpened, BeaverOpening, BeaverRound, TripleSource, Triples, blind, finish, multiply, open,
};
pub use error::Error;
pub use field::{FP_BYTES, Fp, FpCirca, FpDelphi, Modulus, P2138816513, P2061584302081};
pub use fixed_point::FixedPoint;
pub use ole::{LinearCorrelationClient, LinearCorrelationServer, OtTripleSource};
pub use share::{Client, ClientShare, Role, Server, ServerShare, Share, reconstruct, share};
