#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod circuits;
mod error;
pub mod fault_model;
pub mod params;
pub mod protocol;
pub mod reference;

pub use error::Error;
pub use params::{ProductPath, ReluParams, TieMode, Variant};
