//! ReLU parameters: the variant, the product path, the fixed-point bits, validated against the
//! field, and a fingerprint the two parties compare before running anything.

use core::fmt;
use core::marker::PhantomData;

use circa_share::Modulus;
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Domain label of [`ReluParams::fingerprint`].
const FINGERPRINT_LABEL: &[u8] = b"circa-relu/params/v2";

/// How the truncated sign test breaks ties between the truncated shares (DESIGN.md section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TieMode {
    /// `[c' >= t']`: a negative `y` with `|y| < 2^k` may pass through unchanged.
    NegPass,
    /// `[c' > t']`: a positive `y < 2^k` may be zeroed.
    PosZero,
}

impl TieMode {
    /// A short stable name (`"negpass"`, `"poszero"`), for reports.
    pub const fn name(self) -> &'static str {
        match self {
            TieMode::NegPass => "negpass",
            TieMode::PosZero => "poszero",
        }
    }
}

/// Which ReLU circuit runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Delphi-style: add the shares, reduce mod p, compare with `(p-1)/2`, select, add a fresh
    /// server mask; the circuit outputs the masked ReLU value itself (plain ReLU, not ReLU6).
    DelphiBaseline,
    /// Adder, mod-p reduction and comparison: the exact sign bit `[y >= 0]`.
    ExactSign,
    /// Circa's stochastic sign `[c >= t]`, `t = (p - s) mod p` (errs with probability `|y|/p`).
    StochasticSign,
    /// Circa's truncated stochastic sign on `bits(p) - k`-bit inputs.
    TruncatedSign {
        /// Low bits dropped from both comparator inputs.
        k: u32,
        /// Tie rule between the truncated inputs.
        mode: TieMode,
    },
}

impl Variant {
    /// A short stable name (`"baseline"`, `"exact"`, `"stochastic"`, `"truncated"`), for reports.
    pub const fn name(self) -> &'static str {
        match self {
            Variant::DelphiBaseline => "baseline",
            Variant::ExactSign => "exact",
            Variant::StochasticSign => "stochastic",
            Variant::TruncatedSign { .. } => "truncated",
        }
    }

    /// Whether the circuit outputs one sign bit per ReLU (every variant but the baseline).
    pub const fn is_sign(self) -> bool {
        !matches!(self, Variant::DelphiBaseline)
    }

    /// The truncation `k` (0 for the untruncated variants).
    pub const fn truncation_bits(self) -> u32 {
        match self {
            Variant::TruncatedSign { k, .. } => k,
            _ => 0,
        }
    }

    /// The tie mode of the truncated variant (`None` otherwise).
    pub const fn tie_mode(self) -> Option<TieMode> {
        match self {
            Variant::TruncatedSign { mode, .. } => Some(mode),
            _ => None,
        }
    }
}

/// How the sign bit becomes shares of `y * b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ProductPath {
    /// Bit to arithmetic shares, then one Beaver multiplication (as in the Circa paper).
    Beaver,
    /// The cheaper conversion: a two-entry table under the output labels plus one offline
    /// random OT on the garbler's permute bit (see the crate README). The default.
    #[default]
    LabelTable,
}

impl ProductPath {
    /// A short stable name (`"beaver"`, `"label_table"`), for reports.
    pub const fn name(self) -> &'static str {
        match self {
            ProductPath::Beaver => "beaver",
            ProductPath::LabelTable => "label_table",
        }
    }
}

/// Validated ReLU parameters over the field `Fp<M>`. Public: both parties know them.
pub struct ReluParams<M: Modulus> {
    variant: Variant,
    product: ProductPath,
    frac_bits: u32,
    rescale: bool,
    field: PhantomData<M>,
}

// Manual impls: derives would put needless bounds on `M` (they hold anyway, but this keeps
// `ReluParams<M>` `Copy` for every modulus without relying on that).
impl<M: Modulus> Clone for ReluParams<M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M: Modulus> Copy for ReluParams<M> {}
impl<M: Modulus> PartialEq for ReluParams<M> {
    fn eq(&self, other: &Self) -> bool {
        self.variant == other.variant
            && self.product == other.product
            && self.frac_bits == other.frac_bits
            && self.rescale == other.rescale
    }
}
impl<M: Modulus> Eq for ReluParams<M> {}
impl<M: Modulus> fmt::Debug for ReluParams<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReluParams")
            .field("modulus", &M::NAME)
            .field("variant", &self.variant)
            .field("product", &self.product)
            .field("frac_bits", &self.frac_bits)
            .field("rescale", &self.rescale)
            .finish()
    }
}

/// [`ReluParams::fused_range`] for the prime `p` and truncation `k`:
/// `min(2^(n-1), p - 2^(n-1)) - 2^(k+1)` with `n = bits(p)` (0 when that is negative).
pub fn fused_range(p: u64, k: u32) -> u64 {
    let n = u64::BITS - p.leading_zeros();
    let half = 1u64 << (n - 1);
    half.min(p - half).saturating_sub(1u64 << (k + 1).min(63))
}

impl<M: Modulus> ReluParams<M> {
    /// Validates and builds the parameters.
    ///
    /// Errors ([`Error::InvalidParams`]): a truncation `k >= bits(p)` (no comparator bit left);
    /// `frac_bits >= bits(p) - 1` (the value 1.0 would not be a non-negative field element).
    pub fn new(variant: Variant, product: ProductPath, frac_bits: u32) -> Result<Self, Error> {
        let n = M::BITS;
        if let Variant::TruncatedSign { k, .. } = variant
            && k >= n
        {
            return Err(Error::InvalidParams {
                reason: "the truncation k must leave at least one comparator bit (k < bits(p))",
            });
        }
        if frac_bits >= n - 1 {
            return Err(Error::InvalidParams {
                reason: "frac_bits must be below bits(p) - 1",
            });
        }
        Ok(ReluParams {
            variant,
            product,
            frac_bits,
            rescale: false,
            field: PhantomData,
        })
    }

    /// The same parameters with another variant (validated as by [`ReluParams::new`]; the
    /// fused rescale is kept, and refused if the new variant cannot fuse it): what one batch of
    /// a session may use (per-layer `k` and tie rule).
    pub fn with_variant(&self, variant: Variant) -> Result<Self, Error> {
        Self::new(variant, self.product, self.frac_bits)?.with_rescale(self.rescale)
    }

    /// The same parameters with the rescale after the ReLU fused into it (`rescale = true`):
    /// the output is `ReLU(y) / 2^f` (floor, within one unit) and never wraps (see the crate
    /// README, "Fused rescale"). The circuit adds a range check of the comparator's difference
    /// (one AND gate per ReLU) and the product uses locally truncated shares.
    ///
    /// Errors ([`Error::InvalidParams`]): `rescale` with a variant other than the stochastic
    /// or truncated sign (the exact sign and the baseline cannot tell from their circuit
    /// whether `c - t` is the integer `y`), or with fewer than two comparator bits.
    pub fn with_rescale(&self, rescale: bool) -> Result<Self, Error> {
        if rescale {
            if !matches!(
                self.variant,
                Variant::StochasticSign | Variant::TruncatedSign { .. }
            ) {
                return Err(Error::InvalidParams {
                    reason: "a fused rescale needs the stochastic or truncated sign",
                });
            }
            if self.comparator_bits() < 2 {
                return Err(Error::InvalidParams {
                    reason: "a fused rescale needs at least two comparator bits",
                });
            }
        }
        Ok(ReluParams { rescale, ..*self })
    }

    /// Whether the rescale after the ReLU is fused into it ([`ReluParams::with_rescale`]).
    pub fn rescale(&self) -> bool {
        self.rescale
    }

    /// Largest `|y|` (as an integer at the tested scale) for which the fused rescale cannot
    /// wrap: `min(2^(n-1), p - 2^(n-1)) - 2^(k+1)`. Below it, a sign bit of 1 certifies that
    /// `c - t` is the integer `y` (see the crate README, "Fused rescale").
    pub fn fused_range(&self) -> u64 {
        fused_range(M::P, self.variant.truncation_bits())
    }

    /// Whether a batch with `other`'s parameters can run in a session set up with `self`'s:
    /// the same product path and fixed point, and both sign variants or both the baseline (the
    /// session's OT instances and conversion depend on those, not on `k`, the tie rule or the
    /// fused rescale).
    pub fn batch_compatible(&self, other: &Self) -> bool {
        self.product == other.product
            && self.frac_bits == other.frac_bits
            && self.variant.is_sign() == other.variant.is_sign()
    }

    /// The ReLU variant.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The product path (ignored by [`Variant::DelphiBaseline`], whose circuit outputs the
    /// ReLU value itself).
    pub fn product(&self) -> ProductPath {
        self.product
    }

    /// Fixed-point fractional bits `f` (values are `round(r * 2^f)`).
    pub fn frac_bits(&self) -> u32 {
        self.frac_bits
    }

    /// `n = bits(p)`: the width of a share.
    pub fn field_bits(&self) -> usize {
        M::BITS as usize
    }

    /// Width of each comparator input: `n` for the baseline, exact and stochastic variants,
    /// `n - k` for the truncated one (always at least 1).
    pub fn comparator_bits(&self) -> usize {
        (M::BITS - self.variant.truncation_bits()) as usize
    }

    /// SHA-256 over a domain label, `p` and every parameter. The parties compare it at setup.
    pub fn fingerprint(&self) -> [u8; 32] {
        let (tag, k, mode) = match self.variant {
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
        let product = match self.product {
            ProductPath::Beaver => 0u8,
            ProductPath::LabelTable => 1,
        };
        let digest = Sha256::new()
            .chain_update(FINGERPRINT_LABEL)
            .chain_update(M::P.to_le_bytes())
            .chain_update([tag, mode, product])
            .chain_update(k.to_le_bytes())
            .chain_update(self.frac_bits.to_le_bytes())
            .chain_update([u8::from(self.rescale)])
            .finalize();
        let mut out = [0u8; 32];
        out.copy_from_slice(&digest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use circa_share::{P2138816513, P2061584302081};

    #[test]
    fn validates_k_and_frac_bits() {
        type P = ReluParams<P2138816513>;
        let t = |k| Variant::TruncatedSign {
            k,
            mode: TieMode::NegPass,
        };
        assert_eq!(
            P::new(t(30), ProductPath::Beaver, 12)
                .unwrap()
                .comparator_bits(),
            1
        );
        assert!(matches!(
            P::new(t(31), ProductPath::Beaver, 12),
            Err(Error::InvalidParams { .. })
        ));
        assert!(P::new(Variant::ExactSign, ProductPath::LabelTable, 30).is_err());
        assert!(P::new(Variant::ExactSign, ProductPath::LabelTable, 29).is_ok());
        let d = ReluParams::<P2061584302081>::new(t(40), ProductPath::Beaver, 12).unwrap();
        assert_eq!(d.comparator_bits(), 1);
        assert_eq!(d.field_bits(), 41);
    }

    #[test]
    fn fused_range_is_the_smaller_half_less_the_band() {
        // p41: p - 2^40 = 962,072,674,305 < 2^40; minus 2^17 for k = 16.
        assert_eq!(fused_range(2_061_584_302_081, 16), 962_072_543_233);
        // p31 = 2,138,816,513: p - 2^30 = 1,065,074,689 < 2^30; minus 2^13 for k = 12.
        assert_eq!(fused_range(2_138_816_513, 12), 1_065_066_497);
        let t = |k| Variant::TruncatedSign {
            k,
            mode: TieMode::NegPass,
        };
        let q = ReluParams::<P2061584302081>::new(t(16), ProductPath::LabelTable, 10).unwrap();
        assert_eq!(q.fused_range(), 962_072_543_233);
        // A band wider than the range leaves nothing.
        assert_eq!(fused_range(251, 7), 0);
    }

    #[test]
    fn fingerprint_separates_every_parameter() {
        let variants = [
            Variant::DelphiBaseline,
            Variant::ExactSign,
            Variant::StochasticSign,
            Variant::TruncatedSign {
                k: 8,
                mode: TieMode::NegPass,
            },
            Variant::TruncatedSign {
                k: 8,
                mode: TieMode::PosZero,
            },
            Variant::TruncatedSign {
                k: 9,
                mode: TieMode::NegPass,
            },
        ];
        let mut seen = std::collections::HashSet::new();
        for v in variants {
            for prod in [ProductPath::Beaver, ProductPath::LabelTable] {
                for f in [10, 12] {
                    let a = ReluParams::<P2138816513>::new(v, prod, f).unwrap();
                    let b = ReluParams::<P2061584302081>::new(v, prod, f).unwrap();
                    assert_eq!(a.fingerprint(), a.fingerprint());
                    assert!(seen.insert(a.fingerprint()));
                    assert!(seen.insert(b.fingerprint()));
                }
            }
        }
    }
}
