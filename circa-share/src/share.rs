//! Additive secret shares of vectors: `x = <x>_C + <x>_S mod p`.
//!
//! [`Share<R, M>`] is one party's share, tagged by its [`Role`]
//! ([`Client`] or [`Server`]) so the two halves cannot be mixed up. All local
//! operations (add, subtract, scale, add a public constant, linear layers,
//! truncation) are methods that each party calls on its own share with the
//! same public arguments; role-specific behaviour (who adds a public
//! constant, how truncation corrects for the wrap) is chosen by the type.

use core::fmt;
use core::marker::PhantomData;

use rand_core::CryptoRng;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroize;

use crate::error::Error;
use crate::field::batch::{self, check_len};
use crate::field::{Fp, Modulus};
use crate::fixed_point::{truncate_client_share, truncate_server_share};

mod sealed {
    pub trait Sealed {}
}

/// A party of the two-party protocol (sealed: [`Client`] or [`Server`]).
pub trait Role:
    sealed::Sealed + 'static + Copy + Clone + fmt::Debug + Default + Send + Sync
{
    /// `"client"` or `"server"`.
    const NAME: &'static str;
    /// Whether this party's share absorbs public constants (the server's does).
    const ADDS_PUBLIC: bool;
    /// Whether this is the server.
    const IS_SERVER: bool;
}

/// The client (holds the input).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Client;
/// The server (holds the model).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Server;

impl sealed::Sealed for Client {}
impl sealed::Sealed for Server {}
impl Role for Client {
    const NAME: &'static str = "client";
    const ADDS_PUBLIC: bool = false;
    const IS_SERVER: bool = false;
}
impl Role for Server {
    const NAME: &'static str = "server";
    const ADDS_PUBLIC: bool = true;
    const IS_SERVER: bool = true;
}

/// One party's additive share of a vector over `Fp<M>`.
///
/// Zeroized on drop; `Debug` shows only the role and the length; `==`
/// compares the values in constant time (only the lengths may leak).
#[derive(Clone)]
pub struct Share<R: Role, M: Modulus> {
    values: Vec<Fp<M>>,
    _role: PhantomData<R>,
}

/// The client's share.
pub type ClientShare<M> = Share<Client, M>;
/// The server's share.
pub type ServerShare<M> = Share<Server, M>;

impl<R: Role, M: Modulus> Share<R, M> {
    /// Wraps share values.
    pub fn from_vec(values: Vec<Fp<M>>) -> Self {
        Self {
            values,
            _role: PhantomData,
        }
    }

    /// A share of all zeros (a valid share of zero for either party).
    pub fn zeros(len: usize) -> Self {
        Self::from_vec(vec![Fp::ZERO; len])
    }

    /// A uniformly random share (e.g. a client's mask `r`).
    pub fn random<G: CryptoRng + ?Sized>(rng: &mut G, len: usize) -> Self {
        Self::from_vec(batch::random_many(rng, len))
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the share is empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The share values.
    pub fn as_slice(&self) -> &[Fp<M>] {
        &self.values
    }

    /// The share values, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [Fp<M>] {
        &mut self.values
    }

    /// Takes the values out (the caller becomes responsible for them).
    pub fn into_vec(mut self) -> Vec<Fp<M>> {
        core::mem::take(&mut self.values)
    }

    /// `self += other` (both shares of the same party).
    pub fn add_assign(&mut self, other: &Self) -> Result<(), Error> {
        batch::add_assign_many(&mut self.values, &other.values)
    }

    /// `self -= other`.
    pub fn sub_assign(&mut self, other: &Self) -> Result<(), Error> {
        batch::sub_assign_many(&mut self.values, &other.values)
    }

    /// `self + other` (e.g. a residual connection).
    pub fn add(&self, other: &Self) -> Result<Self, Error> {
        let mut out = self.clone();
        out.add_assign(other)?;
        Ok(out)
    }

    /// `self - other`.
    pub fn sub(&self, other: &Self) -> Result<Self, Error> {
        let mut out = self.clone();
        out.sub_assign(other)?;
        Ok(out)
    }

    /// Multiplies by a public scalar.
    pub fn scale(&mut self, c: Fp<M>) {
        batch::scale_assign_many(&mut self.values, c);
    }

    /// Multiplies element-wise by a public vector.
    pub fn mul_public(&mut self, c: &[Fp<M>]) -> Result<(), Error> {
        batch::mul_assign_many(&mut self.values, c)
    }

    /// Negates the share.
    pub fn negate(&mut self) {
        self.values.iter_mut().for_each(|v| *v = -*v);
    }

    /// Adds a public vector: only the server's share changes (both parties
    /// call this with the same `c`; the client's call only checks lengths).
    pub fn add_public(&mut self, c: &[Fp<M>]) -> Result<(), Error> {
        check_len(self.values.len(), c.len())?;
        if R::ADDS_PUBLIC {
            batch::add_assign_many(&mut self.values, c)?;
        }
        Ok(())
    }

    /// Adds a public scalar to every element (server's share only).
    pub fn add_public_scalar(&mut self, c: Fp<M>) {
        if R::ADDS_PUBLIC {
            self.values.iter_mut().for_each(|v| *v += c);
        }
    }

    /// Local truncation by `bits` (see [`crate::fixed_point`] for the method
    /// and its failure probability `|x| / p` per element).
    pub fn truncate(&mut self, bits: u32) {
        if R::ADDS_PUBLIC {
            self.values
                .iter_mut()
                .for_each(|v| *v = truncate_server_share(*v, bits));
        } else {
            self.values
                .iter_mut()
                .for_each(|v| *v = truncate_client_share(*v, bits));
        }
    }

    /// Applies a linear map known to this party to its share.
    pub fn map_linear<F>(&self, f: F) -> Result<Self, Error>
    where
        F: FnOnce(&[Fp<M>]) -> Result<Vec<Fp<M>>, Error>,
    {
        f(&self.values).map(Self::from_vec)
    }
}

impl<R: Role, M: Modulus> fmt::Debug for Share<R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Share<{}>(len = {}, values redacted)",
            R::NAME,
            self.values.len()
        )
    }
}

impl<R: Role, M: Modulus> ConstantTimeEq for Share<R, M> {
    fn ct_eq(&self, other: &Self) -> Choice {
        if self.values.len() != other.values.len() {
            return Choice::from(0);
        }
        self.values
            .iter()
            .zip(&other.values)
            .fold(Choice::from(1), |acc, (a, b)| acc & a.ct_eq(b))
    }
}

impl<R: Role, M: Modulus> PartialEq for Share<R, M> {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl<R: Role, M: Modulus> Eq for Share<R, M> {}

impl<R: Role, M: Modulus> Drop for Share<R, M> {
    fn drop(&mut self) {
        self.values.zeroize();
    }
}

impl<R: Role, M: Modulus> Zeroize for Share<R, M> {
    fn zeroize(&mut self) {
        self.values.zeroize();
    }
}

/// Splits `x` into a uniformly random client share and the matching server share.
pub fn share<M: Modulus, G: CryptoRng + ?Sized>(
    x: &[Fp<M>],
    rng: &mut G,
) -> (ClientShare<M>, ServerShare<M>) {
    let c: ClientShare<M> = Share::random(rng, x.len());
    let s = x.iter().zip(c.as_slice()).map(|(&x, &c)| x - c).collect();
    (c, Share::from_vec(s))
}

/// `x = <x>_C + <x>_S`.
pub fn reconstruct<M: Modulus>(
    client: &ClientShare<M>,
    server: &ServerShare<M>,
) -> Result<Vec<Fp<M>>, Error> {
    check_len(client.len(), server.len())?;
    Ok(client
        .as_slice()
        .iter()
        .zip(server.as_slice())
        .map(|(&c, &s)| c + s)
        .collect())
}
