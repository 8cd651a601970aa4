//! Beaver multiplication of shared vectors (Beaver, CRYPTO 1991).
//!
//! Each party holds shares of `x`, `y` and of a triple `(a, b, c = a*b)`.
//! The protocol is one round, written as three pure functions; the I/O is
//! done one layer up by whoever owns the channel:
//!
//! 1. [`blind`]: each party computes its shares of `d = x - a`, `e = y - b`
//!    (a [`BeaverOpening`]) and sends them ([`BeaverOpening::to_bytes`]).
//! 2. [`open`]: each party adds its own and the peer's opening to learn `d`, `e`.
//! 3. [`finish`]: each party outputs `c + d*b + e*a`, and the server also
//!    adds `d*e`; the shares sum to `x*y`. The triple is consumed by value, so
//!    it cannot be used twice.
//!
//! Security (semi-honest): `a` and `b` are uniform and unknown to either
//! party, so `d` and `e` are uniformly distributed and reveal nothing about
//! `x` and `y`.

use core::fmt;
use core::marker::PhantomData;

use circa_ot::Channel;
use zeroize::Zeroize;

use crate::error::Error;
use crate::field::batch::{self, check_len};
use crate::field::{FP_BYTES, Fp, Modulus};
use crate::share::{Role, Share};

/// One party's shares of `n` multiplication triples `c_i = a_i * b_i`.
///
/// Zeroized on drop, redacted `Debug`, not `Clone`: a triple is used once.
pub struct Triples<R: Role, M: Modulus> {
    a: Vec<Fp<M>>,
    b: Vec<Fp<M>>,
    c: Vec<Fp<M>>,
    _role: PhantomData<R>,
}

impl<R: Role, M: Modulus> Triples<R, M> {
    /// Wraps one party's shares of `a`, `b`, `c` (equal lengths).
    pub fn from_parts(a: Vec<Fp<M>>, b: Vec<Fp<M>>, c: Vec<Fp<M>>) -> Result<Self, Error> {
        check_len(a.len(), b.len())?;
        check_len(a.len(), c.len())?;
        Ok(Self {
            a,
            b,
            c,
            _role: PhantomData,
        })
    }

    /// No triples.
    pub fn empty() -> Self {
        Self {
            a: Vec::new(),
            b: Vec::new(),
            c: Vec::new(),
            _role: PhantomData,
        }
    }

    /// Number of triples.
    pub fn len(&self) -> usize {
        self.a.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }

    /// Removes and returns the first `n` triples (the rest stay in `self`).
    pub fn take_front(&mut self, n: usize) -> Result<Self, Error> {
        if n > self.len() {
            return Err(Error::LengthMismatch {
                expected: n,
                actual: self.len(),
            });
        }
        let rest_a = self.a.split_off(n);
        let rest_b = self.b.split_off(n);
        let rest_c = self.c.split_off(n);
        let front = Self {
            a: core::mem::replace(&mut self.a, rest_a),
            b: core::mem::replace(&mut self.b, rest_b),
            c: core::mem::replace(&mut self.c, rest_c),
            _role: PhantomData,
        };
        Ok(front)
    }

    /// Appends `other`'s triples. When a buffer must grow, the old one is
    /// zeroized before it is freed (a plain `Vec::append` would free it with
    /// the secrets still in it).
    pub fn append(&mut self, mut other: Self) {
        for (mine, theirs) in [
            (&mut self.a, &mut other.a),
            (&mut self.b, &mut other.b),
            (&mut self.c, &mut other.c),
        ] {
            append_zeroizing(mine, theirs);
        }
    }

    /// The shares of `a`.
    pub fn a(&self) -> &[Fp<M>] {
        &self.a
    }

    /// The shares of `b`.
    pub fn b(&self) -> &[Fp<M>] {
        &self.b
    }

    /// The shares of `c`.
    pub fn c(&self) -> &[Fp<M>] {
        &self.c
    }
}

/// `dst.append(src)`, zeroizing `dst`'s old buffer if it has to move.
fn append_zeroizing<T: zeroize::DefaultIsZeroes>(dst: &mut Vec<T>, src: &mut Vec<T>) {
    if dst.capacity() - dst.len() < src.len() {
        let mut grown = Vec::with_capacity(dst.len() + src.len());
        grown.extend_from_slice(dst);
        let mut old = core::mem::replace(dst, grown);
        old.zeroize();
    }
    dst.extend_from_slice(src);
    src.zeroize();
}

impl<R: Role, M: Modulus> Drop for Triples<R, M> {
    fn drop(&mut self) {
        self.a.zeroize();
        self.b.zeroize();
        self.c.zeroize();
    }
}

impl<R: Role, M: Modulus> fmt::Debug for Triples<R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Triples<{}>(len = {}, values redacted)",
            R::NAME,
            self.len()
        )
    }
}

/// A supply of multiplication triples for one party.
pub trait TripleSource<M: Modulus> {
    /// The party whose shares this source produces.
    type Role: Role;
    /// Produces `n` fresh triples (never returned before).
    fn triples(&mut self, n: usize) -> Result<Triples<Self::Role, M>, Error>;
}

/// One party's shares of `d = x - a` and `e = y - b`: the message sent to the peer.
#[derive(Clone, PartialEq, Eq)]
pub struct BeaverOpening<M: Modulus> {
    d: Vec<Fp<M>>,
    e: Vec<Fp<M>>,
}

impl<M: Modulus> BeaverOpening<M> {
    /// Number of multiplications.
    pub fn len(&self) -> usize {
        self.d.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.d.is_empty()
    }

    /// Encoded size for `n` multiplications: `16 n` bytes (saturating, so an
    /// absurd `n` gives a length mismatch rather than an overflow).
    pub fn encoded_len(n: usize) -> usize {
        n.saturating_mul(2 * FP_BYTES)
    }

    /// `d || e`, 8 bytes per element.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = batch::encode_many(&self.d);
        out.extend_from_slice(&batch::encode_many(&self.e));
        out
    }

    /// Decodes the peer's opening of `n` multiplications (exact length,
    /// canonical values).
    pub fn from_bytes(bytes: &[u8], n: usize) -> Result<Self, Error> {
        check_len(Self::encoded_len(n), bytes.len())?;
        let (db, eb) = bytes.split_at(n * FP_BYTES);
        Ok(Self {
            d: batch::decode_many(db)?,
            e: batch::decode_many(eb)?,
        })
    }
}

impl<M: Modulus> fmt::Debug for BeaverOpening<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BeaverOpening(len = {})", self.len())
    }
}

impl<M: Modulus> Drop for BeaverOpening<M> {
    fn drop(&mut self) {
        self.d.zeroize();
        self.e.zeroize();
    }
}

/// The opened values `d = x - a` and `e = y - b`.
pub struct BeaverOpened<M: Modulus> {
    d: Vec<Fp<M>>,
    e: Vec<Fp<M>>,
}

impl<M: Modulus> fmt::Debug for BeaverOpened<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BeaverOpened(len = {})", self.d.len())
    }
}

impl<M: Modulus> Drop for BeaverOpened<M> {
    fn drop(&mut self) {
        self.d.zeroize();
        self.e.zeroize();
    }
}

/// Step 1: this party's shares of `x - a` and `y - b`.
pub fn blind<R: Role, M: Modulus>(
    x: &Share<R, M>,
    y: &Share<R, M>,
    triples: &Triples<R, M>,
) -> Result<BeaverOpening<M>, Error> {
    check_len(triples.len(), x.len())?;
    check_len(triples.len(), y.len())?;
    let d = x
        .as_slice()
        .iter()
        .zip(&triples.a)
        .map(|(&x, &a)| x - a)
        .collect();
    let e = y
        .as_slice()
        .iter()
        .zip(&triples.b)
        .map(|(&y, &b)| y - b)
        .collect();
    Ok(BeaverOpening { d, e })
}

/// Step 2: adds both parties' openings.
pub fn open<M: Modulus>(
    mine: &BeaverOpening<M>,
    theirs: &BeaverOpening<M>,
) -> Result<BeaverOpened<M>, Error> {
    check_len(mine.len(), theirs.len())?;
    check_len(mine.d.len(), mine.e.len())?;
    check_len(theirs.d.len(), theirs.e.len())?;
    let d = mine.d.iter().zip(&theirs.d).map(|(&a, &b)| a + b).collect();
    let e = mine.e.iter().zip(&theirs.e).map(|(&a, &b)| a + b).collect();
    Ok(BeaverOpened { d, e })
}

/// Step 3: this party's share of `x * y`, consuming the triples.
pub fn finish<R: Role, M: Modulus>(
    triples: Triples<R, M>,
    opened: &BeaverOpened<M>,
) -> Result<Share<R, M>, Error> {
    check_len(triples.len(), opened.d.len())?;
    check_len(triples.len(), opened.e.len())?;
    let z = (0..triples.len())
        .map(|i| {
            let (d, e) = (opened.d[i], opened.e[i]);
            let mut z = triples.c[i] + d * triples.b[i] + e * triples.a[i];
            if R::ADDS_PUBLIC {
                z += d * e;
            }
            z
        })
        .collect();
    Ok(Share::from_vec(z))
}

/// Largest batch [`multiply`] accepts in one call (16 bytes per
/// multiplication go each way).
pub const MAX_BEAVER_BATCH: usize = 1 << 26;

/// One party's Beaver multiplication between its message and the peer's: the pure form of
/// the round, for callers that own the channel (and may put the opening in the same flight as
/// other messages). [`BeaverRound::start`] blinds (checking [`MAX_BEAVER_BATCH`]) and gives the
/// bytes to send; [`BeaverRound::finish`] takes the peer's bytes (exactly
/// [`BeaverRound::peer_len`]) and consumes the triples.
pub struct BeaverRound<R: Role, M: Modulus> {
    mine: BeaverOpening<M>,
    triples: Triples<R, M>,
}

impl<R: Role, M: Modulus> fmt::Debug for BeaverRound<R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BeaverRound(len = {}, redacted)", self.triples.len())
    }
}

impl<R: Role, M: Modulus> BeaverRound<R, M> {
    /// Blinds `x` and `y` with `triples`; returns the round and this party's opening (the bytes
    /// to send to the peer).
    pub fn start(
        x: &Share<R, M>,
        y: &Share<R, M>,
        triples: Triples<R, M>,
    ) -> Result<(Self, Vec<u8>), Error> {
        if triples.len() > MAX_BEAVER_BATCH {
            return Err(Error::LimitExceeded {
                what: "Beaver batch",
                requested: triples.len() as u64,
                limit: MAX_BEAVER_BATCH as u64,
            });
        }
        let mine = blind(x, y, &triples)?;
        let bytes = mine.to_bytes();
        Ok((Self { mine, triples }, bytes))
    }

    /// Bytes of the peer's opening (derived from the batch size, never from the peer).
    pub fn peer_len(&self) -> usize {
        BeaverOpening::<M>::encoded_len(self.triples.len())
    }

    /// This party's share of `x * y` from the peer's opening (exact length, canonical values).
    pub fn finish(self, peer: &[u8]) -> Result<Share<R, M>, Error> {
        let theirs = BeaverOpening::from_bytes(peer, self.triples.len())?;
        let opened = open(&self.mine, &theirs)?;
        finish(self.triples, &opened)
    }
}

/// The batched driver: one Beaver multiplication round over `ch` ([`BeaverRound`] plus I/O).
///
/// The client sends its opening first and then reads the server's; the
/// server reads first and then answers, so two large messages never sit in
/// both directions' socket buffers at once (no deadlock over TCP). Every
/// length is known to both parties in advance: nothing read from the peer
/// decides an allocation. Errors: length mismatches, [`Error::Ot`] for a
/// closed channel, a timeout or a short message, [`Error::NonCanonical`] for
/// a malformed opening.
pub fn multiply<R: Role, M: Modulus, C: Channel + ?Sized>(
    ch: &mut C,
    x: &Share<R, M>,
    y: &Share<R, M>,
    triples: Triples<R, M>,
) -> Result<Share<R, M>, Error> {
    let (round, bytes) = BeaverRound::start(x, y, triples)?;
    let mut theirs = vec![0u8; round.peer_len()];
    if R::IS_SERVER {
        ch.recv(&mut theirs)?;
        ch.send(&bytes)?;
        ch.flush()?;
    } else {
        ch.send(&bytes)?;
        ch.flush()?;
        ch.recv(&mut theirs)?;
    }
    round.finish(&theirs)
}

#[cfg(feature = "test-utils")]
pub use dealer::InsecureDealer;

#[cfg(feature = "test-utils")]
mod dealer {
    use core::marker::PhantomData;

    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::{TripleSource, Triples};
    use crate::error::Error;
    use crate::field::{Fp, Modulus};
    use crate::share::{Client, Role, Server};

    /// **INSECURE** trusted-dealer triple source, for tests only (feature
    /// `test-utils`).
    ///
    /// Both parties construct a dealer from the *same* seed; each regenerates
    /// every triple in full and keeps its own half. Whoever knows the seed
    /// knows all of both parties' triples, so this provides no security at all.
    pub struct InsecureDealer<R: Role, M: Modulus> {
        rng: ChaCha20Rng,
        _marker: PhantomData<(R, M)>,
    }

    impl<R: Role, M: Modulus> core::fmt::Debug for InsecureDealer<R, M> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "InsecureDealer<{}>(redacted)", R::NAME)
        }
    }

    impl<R: Role, M: Modulus> InsecureDealer<R, M> {
        /// A dealer for role `R` from the seed both parties share.
        pub fn from_shared_seed(seed: [u8; 32]) -> Self {
            Self {
                rng: ChaCha20Rng::from_seed(seed),
                _marker: PhantomData,
            }
        }
    }

    impl<M: Modulus> InsecureDealer<Client, M> {
        /// A matching pair of dealers (client, server) from one seed.
        pub fn pair(seed: [u8; 32]) -> (InsecureDealer<Client, M>, InsecureDealer<Server, M>) {
            (
                InsecureDealer::from_shared_seed(seed),
                InsecureDealer::from_shared_seed(seed),
            )
        }
    }

    impl<R: Role, M: Modulus> TripleSource<M> for InsecureDealer<R, M> {
        type Role = R;

        fn triples(&mut self, n: usize) -> Result<Triples<R, M>, Error> {
            let (mut a, mut b, mut c) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            for _ in 0..n {
                let x = Fp::<M>::random(&mut self.rng);
                let y = Fp::<M>::random(&mut self.rng);
                let client = [
                    Fp::<M>::random(&mut self.rng),
                    Fp::random(&mut self.rng),
                    Fp::random(&mut self.rng),
                ];
                let full = [x, y, x * y];
                let mine = if R::ADDS_PUBLIC {
                    [
                        full[0] - client[0],
                        full[1] - client[1],
                        full[2] - client[2],
                    ]
                } else {
                    client
                };
                a.push(mine[0]);
                b.push(mine[1]);
                c.push(mine[2]);
            }
            Triples::from_parts(a, b, c)
        }
    }
}
