//! Public parameters of a private-inference session: the prime, the fixed-point bits, the ReLU
//! variant and product path, and where the sign test runs relative to the rescale. The server
//! chooses them and sends them to the client in the handshake.

use circa_relu::{ProductPath, TieMode, Variant};

use super::error::{PrivateError, Result};
use crate::engine::{MAX_BAND_BITS, PlanParams, SignScale};

/// Fewest integer bits a value at the product scale `2^(2f)` must have room for in the field.
pub const MIN_RANGE_BITS: u32 = 8;

/// The prime field, chosen at run time (the protocol code is generic over the modulus).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prime {
    /// Delphi's `p = 2061584302081 = 15 * 2^37 + 1` (41 bits).
    P41,
    /// Circa's `p = 2138816513 = 2^14 * 7 * 17 * 1097 + 1` (31 bits).
    P31,
}

impl Prime {
    /// The prime.
    pub const fn value(self) -> u64 {
        match self {
            Prime::P41 => 2_061_584_302_081,
            Prime::P31 => 2_138_816_513,
        }
    }

    /// `bits(p)`.
    pub const fn bits(self) -> u32 {
        64 - self.value().leading_zeros()
    }

    /// A short stable name (`"p41"`, `"p31"`).
    pub const fn name(self) -> &'static str {
        match self {
            Prime::P41 => "p41",
            Prime::P31 => "p31",
        }
    }
}

/// A value for each prime: the one place where the run-time [`Prime`] meets the compile-time
/// modulus types. Build one with [`by_prime_new!`], use it with [`by_prime!`].
pub(crate) enum ByPrime<A, B> {
    /// For [`Prime::P41`].
    P41(A),
    /// For [`Prime::P31`].
    P31(B),
}

/// `by_prime_new!(prime, M => expr)`: evaluates `expr` with the type `M` bound to the modulus of
/// `prime` and wraps the result in the matching [`ByPrime`] variant.
macro_rules! by_prime_new {
    ($prime:expr, $m:ident => $body:expr) => {
        match $prime {
            $crate::private::Prime::P41 => {
                #[allow(dead_code)]
                type $m = circa_share::P2061584302081;
                $crate::private::ByPrime::P41($body)
            }
            $crate::private::Prime::P31 => {
                #[allow(dead_code)]
                type $m = circa_share::P2138816513;
                $crate::private::ByPrime::P31($body)
            }
        }
    };
}

/// `by_prime!(value, x => expr)`: evaluates `expr` with `x` bound to the value inside a
/// [`ByPrime`] (the expression is instantiated for each modulus).
macro_rules! by_prime {
    ($value:expr, $x:ident => $body:expr) => {
        match $value {
            $crate::private::ByPrime::P41($x) => $body,
            $crate::private::ByPrime::P31($x) => $body,
        }
    };
}

pub(crate) use {by_prime, by_prime_new};

/// Public parameters of private inference (both parties know them; the server sends them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PrivateParams {
    /// The prime field.
    pub prime: Prime,
    /// Fixed-point fractional bits `f` (inputs and weights at `2^f`, products at `2^(2f)`).
    pub frac_bits: u32,
    /// The ReLU variant and how its sign bit becomes shares of the ReLU output.
    pub relu: (Variant, ProductPath),
    /// Where the sign test runs relative to the rescale after a linear layer.
    pub sign_scale: SignScale,
}

/// Encoded length of [`PrivateParams`] on the wire.
pub(crate) const PARAMS_BYTES: usize = 12;

impl PrivateParams {
    /// Exact ReLU (the sign computed by adder, reduction and comparison; `y * b` by the label
    /// table) with the given field and fixed point, sign tests at the product scale.
    pub fn exact(prime: Prime, frac_bits: u32) -> Self {
        Self {
            prime,
            frac_bits,
            relu: (Variant::ExactSign, ProductPath::LabelTable),
            sign_scale: SignScale::Product,
        }
    }

    /// Circa's truncated stochastic sign with `k` dropped bits and tie rule `mode`.
    pub fn circa(prime: Prime, frac_bits: u32, k: u32, mode: TieMode) -> Self {
        Self {
            relu: (Variant::TruncatedSign { k, mode }, ProductPath::LabelTable),
            ..Self::exact(prime, frac_bits)
        }
    }

    /// Checks the combination: products at `2^(2f)` keep [`MIN_RANGE_BITS`] integer bits in
    /// the field (`2f + 1 + MIN_RANGE_BITS <= bits(p)`: `f <= 16` for the 41-bit prime, `f <= 11`
    /// for the 31-bit one), a truncated sign's default fault band `2^(k - 2f)` is at most
    /// `2^MAX_BAND_BITS` real units, and the ReLU parameters are valid for the field.
    pub fn validate(&self) -> Result<()> {
        if 2 * self.frac_bits + 1 + MIN_RANGE_BITS > self.prime.bits() {
            return Err(PrivateError::InvalidParams {
                reason: "frac_bits too large for the prime: products at 2^(2f) need 8 integer bits",
            });
        }
        if let Variant::TruncatedSign { k, .. } = self.relu.0
            && i64::from(k) - 2 * i64::from(self.frac_bits) > MAX_BAND_BITS
        {
            return Err(PrivateError::InvalidParams {
                reason: "k too large: the fault band 2^(k - 2f) exceeds 4 real units",
            });
        }
        let (variant, product) = self.relu;
        let check = by_prime_new!(self.prime, M => {
            circa_relu::ReluParams::<M>::new(variant, product, self.frac_bits).map(|_| ())
        });
        by_prime!(check, c => c.map_err(PrivateError::Relu))
    }

    /// The parameters of the fixed-point plan.
    pub fn plan(&self) -> PlanParams {
        PlanParams {
            frac_bits: self.frac_bits,
            sign_scale: self.sign_scale,
            variant: self.relu.0,
            field_bits: self.prime.bits(),
        }
    }

    /// The fixed-width wire encoding: prime, f, variant, k, tie mode, product path, sign scale.
    pub fn to_bytes(&self) -> [u8; PARAMS_BYTES] {
        let (variant, product) = self.relu;
        let (tag, k, mode) = match variant {
            Variant::DelphiBaseline => (0u8, 0u32, 0u8),
            Variant::ExactSign => (1, 0, 0),
            Variant::StochasticSign => (2, 0, 0),
            Variant::TruncatedSign { k, mode } => (
                3,
                k,
                match mode {
                    TieMode::NegPass => 0,
                    TieMode::PosZero => 1,
                },
            ),
        };
        let mut out = [0u8; PARAMS_BYTES];
        out[0] = match self.prime {
            Prime::P41 => 0,
            Prime::P31 => 1,
        };
        out[1..5].copy_from_slice(&self.frac_bits.to_le_bytes());
        out[5] = tag;
        out[6..10].copy_from_slice(&k.to_le_bytes());
        out[10] = mode
            | match product {
                ProductPath::Beaver => 0,
                ProductPath::LabelTable => 2,
            };
        out[11] = match self.sign_scale {
            SignScale::Product => 0,
            SignScale::Rescaled => 1,
        };
        out
    }

    /// Decodes and validates parameters received from the peer.
    pub fn from_bytes(b: &[u8; PARAMS_BYTES]) -> Result<Self> {
        let bad = |reason| PrivateError::InvalidParams { reason };
        let prime = match b[0] {
            0 => Prime::P41,
            1 => Prime::P31,
            _ => return Err(bad("unknown prime")),
        };
        let frac_bits = u32::from_le_bytes([b[1], b[2], b[3], b[4]]);
        let k = u32::from_le_bytes([b[6], b[7], b[8], b[9]]);
        let mode = match b[10] & 1 {
            0 => TieMode::NegPass,
            _ => TieMode::PosZero,
        };
        let product = match b[10] >> 1 {
            0 => ProductPath::Beaver,
            1 => ProductPath::LabelTable,
            _ => return Err(bad("unknown product path")),
        };
        let variant = match (b[5], k, b[10] & 1) {
            (0, 0, 0) => Variant::DelphiBaseline,
            (1, 0, 0) => Variant::ExactSign,
            (2, 0, 0) => Variant::StochasticSign,
            (3, k, _) => Variant::TruncatedSign { k, mode },
            _ => return Err(bad("unknown ReLU variant")),
        };
        let sign_scale = match b[11] {
            0 => SignScale::Product,
            1 => SignScale::Rescaled,
            _ => return Err(bad("unknown sign scale")),
        };
        let params = Self {
            prime,
            frac_bits,
            relu: (variant, product),
            sign_scale,
        };
        params.validate()?;
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let all = [
            PrivateParams::exact(Prime::P41, 12),
            PrivateParams::circa(Prime::P31, 8, 6, TieMode::PosZero),
            PrivateParams {
                relu: (Variant::DelphiBaseline, ProductPath::Beaver),
                sign_scale: SignScale::Rescaled,
                ..PrivateParams::exact(Prime::P31, 10)
            },
        ];
        for p in all {
            assert_eq!(PrivateParams::from_bytes(&p.to_bytes()).unwrap(), p);
        }
        let mut b = PrivateParams::exact(Prime::P41, 12).to_bytes();
        b[0] = 7;
        assert!(PrivateParams::from_bytes(&b).is_err());
        // f too large for the 31-bit prime (the f = 14), and for the 41-bit (f = 19)
        for (prime, f) in [
            (Prime::P31, 15),
            (Prime::P31, 14),
            (Prime::P31, 12),
            (Prime::P41, 19),
            (Prime::P41, 17),
        ] {
            let b = PrivateParams::exact(prime, f).to_bytes();
            assert!(PrivateParams::from_bytes(&b).is_err(), "{prime:?} f = {f}");
        }
        assert!(PrivateParams::exact(Prime::P31, 11).validate().is_ok());
        assert!(PrivateParams::exact(Prime::P41, 16).validate().is_ok());
        // k = 40 at f = 10: a fault band of 2^20 real units
        assert!(
            PrivateParams::circa(Prime::P41, 10, 40, TieMode::NegPass)
                .validate()
                .is_err()
        );
        assert!(
            PrivateParams::circa(Prime::P41, 10, 22, TieMode::NegPass)
                .validate()
                .is_ok()
        );
        assert!(
            PrivateParams::circa(Prime::P41, 10, 23, TieMode::NegPass)
                .validate()
                .is_err()
        );
        // k must leave a comparator bit
        let b = PrivateParams::circa(Prime::P31, 8, 31, TieMode::NegPass).to_bytes();
        assert!(PrivateParams::from_bytes(&b).is_err());
    }
}
