//! The prime field: [`Modulus`], [`Fp`] and batched slice operations.

pub mod batch;
pub(crate) mod fp;
mod modulus;

pub use fp::{FP_BYTES, Fp};
pub use modulus::{Modulus, P2138816513, P2061584302081, is_prime};

/// Delphi's 41-bit field, `p = 2061584302081`.
pub type FpDelphi = Fp<P2061584302081>;
/// Circa's 31-bit field, `p = 2138816513`.
pub type FpCirca = Fp<P2138816513>;
