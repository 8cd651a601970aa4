#![doc = include_str!("../README.md")]
// `unsafe` is denied everywhere except in `simd`: the AES-NI/VAES kernels and
// the run-time dispatch to them and to wider builds of the transpose (see the
// SAFETY comments there).
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod aes;
pub mod base_ot;
pub mod bench_support;
mod block;
pub mod channel;
mod error;
pub mod ext;
pub mod halfgates;
mod hash;
mod prg;
mod security;
#[cfg(target_arch = "x86_64")]
mod simd;
pub mod transpose;

pub use crate::aes::{AES_BATCH, AesBackend, FixedKeyAes, HASH_BATCH};
pub use block::Block;
pub use channel::{Channel, ChannelStats, MemChannel, TcpChannel};
pub use error::Error;
pub use ext::{CotReceiver, CotSender, OtReceiver, OtSender, RotReceiver, RotSender};
pub use hash::{TweakableHash, ccr_hash_many};
pub use prg::Prg;
pub use security::{Malicious, SemiHonest};
