//! A secure two-party triple generator: Gilboa multiplication over
//! correlated OT ([`super::vole`]). Semi-honest.
//!
//! Each party samples its shares `a_P, b_P` locally. Then
//! `c = a b = a_C b_C + a_S b_S + a_C b_S + b_C a_S`; the two cross terms
//! come from `2 bits(p)` OTs per triple in which the client (COT receiver)
//! chooses with the bits of `a_C` and `b_C` and the server (COT sender,
//! holding `Delta`) supplies the correlations `2^j b_S` and `2^j a_S`.
//!
//! Cost per triple: `2 bits(p)` correlated OTs (16 bytes each, client to
//! server, IKNP/ALSZ) plus `2 bits(p)` field elements packed to
//! `ceil(bits(p)/8)` bytes (server to client): `2 bits(p) (16 + ceil(bits(p)/8))`
//! bytes, i.e. 1240 B for the 31-bit prime and 1804 B for the 41-bit one.
//! That is the analytic minimum of Gilboa multiplication over IKNP-style
//! correlated OT (16 B per OT and one element per OT); the measured figure
//! adds only per-chunk framing (8 bytes per batch announcement).

use core::marker::PhantomData;
use core::mem::take;

use circa_ot::{Block, Channel, CotReceiver, CotSender, Prg};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::vole::{powers_of_two, vole_receive, vole_send};
use crate::beaver::{TripleSource, Triples};
use crate::error::Error;
use crate::field::{Fp, Modulus, batch};
use crate::share::Role;

/// Most triples one [`TripleSource::triples`] call may produce.
pub const MAX_TRIPLES_PER_CALL: usize = 1 << 22;

enum Side {
    Sender(CotSender),
    Receiver(Box<CotReceiver>),
}

/// The OT-based [`TripleSource`] for one party, owning its channel (pass
/// `&mut channel` to keep using the channel elsewhere). Both parties must
/// request the same numbers of triples in the same order.
pub struct OtTripleSource<R: Role, M: Modulus, C: Channel> {
    ch: C,
    side: Side,
    rng: Prg,
    _marker: PhantomData<(R, M)>,
}

impl<R: Role, M: Modulus, C: Channel> core::fmt::Debug for OtTripleSource<R, M, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "OtTripleSource<{}>(redacted)", R::NAME)
    }
}

impl<R: Role, M: Modulus, C: Channel> OtTripleSource<R, M, C> {
    /// Runs the OT-extension setup (base OTs) with the peer. The server is
    /// the COT sender with a fresh random `Delta`.
    pub fn setup<G: CryptoRng + ?Sized>(mut ch: C, rng: &mut G) -> Result<Self, Error> {
        let side = if R::IS_SERVER {
            Side::Sender(CotSender::setup(&mut ch, Block::random(rng), rng)?)
        } else {
            Side::Receiver(Box::new(CotReceiver::setup(&mut ch, rng)?))
        };
        Ok(Self {
            ch,
            side,
            rng: Prg::from_crypto_rng(rng),
            _marker: PhantomData,
        })
    }

    /// The channel (for its byte counters).
    pub fn channel(&self) -> &C {
        &self.ch
    }

    /// Gives the channel back.
    pub fn into_channel(self) -> C {
        self.ch
    }
}

impl<R: Role, M: Modulus, C: Channel> TripleSource<M> for OtTripleSource<R, M, C> {
    type Role = R;

    fn triples(&mut self, n: usize) -> Result<Triples<R, M>, Error> {
        if n > MAX_TRIPLES_PER_CALL {
            return Err(Error::LimitExceeded {
                what: "triples per call",
                requested: n as u64,
                limit: MAX_TRIPLES_PER_CALL as u64,
            });
        }
        // Zeroized if the OTs fail half-way.
        let mut a: Zeroizing<Vec<Fp<M>>> = Zeroizing::new(batch::random_many(&mut self.rng, n));
        let mut b: Zeroizing<Vec<Fp<M>>> = Zeroizing::new(batch::random_many(&mut self.rng, n));
        let mut c: Zeroizing<Vec<Fp<M>>> =
            Zeroizing::new(a.iter().zip(b.iter()).map(|(&x, &y)| x * y).collect());
        let bits = M::BITS as usize;
        let n_ots = n * 2 * bits;
        // OT o serves triple o / (2 bits); its position r = o % (2 bits) selects
        // bit r of a_C (r < bits) or bit r - bits of b_C.
        let two_pow = powers_of_two::<M>(bits);
        match &mut self.side {
            Side::Sender(cot) => vole_send(
                cot,
                &mut self.ch,
                n_ots,
                1,
                |o, v: &mut [Fp<M>]| {
                    let (t, r) = (o / (2 * bits), o % (2 * bits));
                    v[0] = if r < bits {
                        two_pow[r] * b[t]
                    } else {
                        two_pow[r - bits] * a[t]
                    };
                },
                |o, share| c[o / (2 * bits)] += share[0],
            )?,
            Side::Receiver(cot) => vole_receive(
                cot,
                &mut self.ch,
                n_ots,
                1,
                |o| {
                    let (t, r) = (o / (2 * bits), o % (2 * bits));
                    let x = if r < bits {
                        a[t].value() >> r
                    } else {
                        b[t].value() >> (r - bits)
                    };
                    x & 1 == 1
                },
                |o, y: &[Fp<M>]| c[o / (2 * bits)] += y[0],
            )?,
        }
        Triples::from_parts(take(&mut a), take(&mut b), take(&mut c))
    }
}
