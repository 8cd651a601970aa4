#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod aes;
mod block;
pub mod channel;
mod error;
mod hash;
mod prg;

pub use crate::aes::{AES_BATCH, FixedKeyAes};
pub use block::Block;
pub use channel::{Channel, ChannelStats, MemChannel, TcpChannel};
pub use error::Error;
pub use hash::{TweakableHash, ccr_hash_many};
pub use prg::Prg;
