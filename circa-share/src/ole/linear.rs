//! The linear-layer correlation without a trusted party: the server holds a
//! weight matrix `A` (small signed integers: fixed-point weights), the client
//! a matrix `B` of field elements (its random masks `r`, arranged as the
//! layer needs); afterwards the client holds `A B - S` and the server `S`,
//! uniformly random. Semi-honest.
//!
//! # Method
//!
//! Vector OLE over correlated OT ([`super::vole`]) with the *weights' bits as
//! choice bits*: write `a_ik + 2^(w-1) = sum_j u_ikj 2^j` with `w` the weight
//! width, `0 <= u < 2^w`. For every `(i, k, j)` one OT in which the server
//! (COT receiver) chooses with `u_ikj` and the client (COT sender) supplies
//! the vector `2^j B[k, :]`; the server adds its outputs into row `i` of `S`,
//! the client adds `-P0` into row `i` of its share, and finally subtracts the
//! public-offset term `2^(w-1) sum_k B[k, :]` from every row (it knows `B`).
//!
//! The other direction ([`Direction::MaskBits`]) puts the bits of the
//! client's `B` in the choice bits: for every `(k, col, j)` one OT in which
//! the client chooses with bit `j` of `B[k][col]` and the server supplies
//! `2^j A[:, k]`. Both parties pick the cheaper direction from the public
//! shapes ([`Direction::choose`]): weight bits for convolutions (each weight
//! meets a whole row of `B`, `n` = output positions), mask bits for dense
//! layers with many rows.
//!
//! # Cost (bytes per multiply-accumulate)
//!
//! `m K w` OTs (16 B each, server to client) and `m K w N` field elements
//! (packed to `e = ceil(bits(p)/8)` bytes, client to server) for `m K N`
//! MACs: `w (16 / N + e)` bytes per MAC, which is the analytic minimum of
//! this method over IKNP-style correlated OT. For 13-bit weights and the
//! 31-bit prime (`e = 4`) that is `52 + 208 / N` B per MAC; a 3x3
//! convolution on a 32x32 output (`N = 1024`) costs about 52.2 B per MAC.
//! For a dense layer (`N = 1`) the mask-bits direction costs
//! `bits(p) (16 / m + e)` per MAC instead (124 + 496/m B for p31, against
//! `20 w` = 260 B for 13-bit weights), and is chosen automatically.

use core::marker::PhantomData;
use core::mem::take;

use circa_ot::{Block, Channel, CotReceiver, CotSender};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::vole::{powers_of_two, vole_receive, vole_send};
use crate::error::Error;
use crate::field::batch::check_len;
use crate::field::{Fp, Modulus};
use crate::linalg::{Conv2dShape, Im2colLayout, im2col};

/// Widest supported weight (bits, including the sign).
pub const MAX_WEIGHT_BITS: u32 = 32;

/// Most multiply-accumulates one call may cover (bounds the work a peer can
/// make us do; the lengths themselves are never read from the peer).
pub const MAX_MACS_PER_CALL: u64 = 1 << 32;

/// Checks the weight width and the job size; returns `(m k, k n)`, the
/// lengths of `A` and `B` (computed without overflow).
fn check_params<M: Modulus>(
    m: usize,
    k: usize,
    n: usize,
    weight_bits: u32,
) -> Result<(usize, usize), Error> {
    if weight_bits == 0 || weight_bits > MAX_WEIGHT_BITS || weight_bits + 1 >= M::BITS {
        return Err(Error::LimitExceeded {
            what: "weight bits",
            requested: weight_bits as u64,
            limit: MAX_WEIGHT_BITS.min(M::BITS - 2) as u64,
        });
    }
    let macs = (m as u64)
        .checked_mul(k as u64)
        .and_then(|x| x.checked_mul(n as u64))
        .ok_or(Error::ShapeOverflow)?;
    if macs > MAX_MACS_PER_CALL {
        return Err(Error::LimitExceeded {
            what: "multiply-accumulates",
            requested: macs,
            limit: MAX_MACS_PER_CALL,
        });
    }
    let a_len = m.checked_mul(k).ok_or(Error::ShapeOverflow)?;
    let b_len = k.checked_mul(n).ok_or(Error::ShapeOverflow)?;
    m.checked_mul(n).ok_or(Error::ShapeOverflow)?;
    Ok((a_len, b_len))
}

/// Checks that every weight's centred value lies in `[-2^(w-1), 2^(w-1))`.
/// The error names the position, never the (secret) weight.
pub(crate) fn check_weight_range<M: Modulus>(a: &[Fp<M>], weight_bits: u32) -> Result<(), Error> {
    let half = 1i64 << (weight_bits - 1);
    match a.iter().position(|x| {
        let v = x.to_i64();
        v < -half || v >= half
    }) {
        Some(index) => Err(Error::WeightOutOfRange { index, weight_bits }),
        None => Ok(()),
    }
}

// The OT layouts. Both parties derive every index from the same public
// shapes through these functions, so their views of "OT o" cannot drift apart.

/// Weight-bits direction: OT `o = (i k + kk) w + j` covers bit `j` of the
/// offset weight `A[i][kk]`; returns `(i, kk, j)`.
#[inline]
fn weight_bits_index(o: usize, k: usize, w: usize) -> (usize, usize, usize) {
    let (ik, j) = (o / w, o % w);
    (ik / k, ik % k, j)
}

/// Mask-bits direction: OT `o = (kk n + col) bits + j` covers bit `j` of
/// `B[kk][col]`; returns `(kk, col, j)`.
#[inline]
fn mask_bits_index(o: usize, n: usize, bits: usize) -> (usize, usize, usize) {
    let (entry, j) = (o / bits, o % bits);
    (entry / n, entry % n, j)
}

/// `out[i][..] += vals` for a row-major matrix with `n` columns.
#[inline]
fn add_into_row<M: Modulus>(out: &mut [Fp<M>], n: usize, i: usize, vals: &[Fp<M>]) {
    for (d, &v) in out[i * n..(i + 1) * n].iter_mut().zip(vals) {
        *d += v;
    }
}

/// `out[..][col] += vals` for a row-major matrix with `n` columns.
#[inline]
fn add_into_column<M: Modulus>(out: &mut [Fp<M>], n: usize, col: usize, vals: &[Fp<M>]) {
    for (i, &v) in vals.iter().enumerate() {
        out[i * n + col] += v;
    }
}

/// Which operand's bits are the OT choice bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The server chooses with the bits of its weights (offset to `[0, 2^w)`);
    /// the client sends rows of `B`: `m k w (16 + n e)` bytes.
    WeightBits,
    /// The client chooses with the bits of its mask entries (`bits(p)` each);
    /// the server sends columns of `A`: `k n bits(p) (16 + m e)` bytes.
    MaskBits,
}

impl Direction {
    /// Bytes on the wire (OT-extension rows plus corrections) of `A B` for an
    /// `m x k` weight matrix of `weight_bits`-bit entries and a `k x n` mask.
    pub fn bytes<M: Modulus>(self, m: usize, k: usize, n: usize, weight_bits: u32) -> u128 {
        let e = crate::field::batch::packed_width::<M>() as u128;
        let (m, k, n) = (m as u128, k as u128, n as u128);
        match self {
            Direction::WeightBits => m * k * weight_bits as u128 * (16 + n * e),
            Direction::MaskBits => k * n * M::BITS as u128 * (16 + m * e),
        }
    }

    /// The cheaper direction (both parties compute it from public shapes).
    pub fn choose<M: Modulus>(m: usize, k: usize, n: usize, weight_bits: u32) -> Direction {
        if Direction::MaskBits.bytes::<M>(m, k, n, weight_bits)
            < Direction::WeightBits.bytes::<M>(m, k, n, weight_bits)
        {
            Direction::MaskBits
        } else {
            Direction::WeightBits
        }
    }
}

/// The client's side: COT sender for [`Direction::WeightBits`], COT receiver
/// for [`Direction::MaskBits`].
pub struct LinearCorrelationClient<M: Modulus> {
    cot: CotSender,
    cot_rev: CotReceiver,
    _m: PhantomData<M>,
}

/// The server's side (the mirror of [`LinearCorrelationClient`]).
pub struct LinearCorrelationServer<M: Modulus> {
    cot: CotReceiver,
    cot_rev: CotSender,
    _m: PhantomData<M>,
}

impl<M: Modulus> core::fmt::Debug for LinearCorrelationClient<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LinearCorrelationClient(redacted)")
    }
}

impl<M: Modulus> core::fmt::Debug for LinearCorrelationServer<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LinearCorrelationServer(redacted)")
    }
}

impl<M: Modulus> LinearCorrelationClient<M> {
    /// OT-extension setup (base OTs, one session per direction) with the server.
    pub fn setup<C: Channel + ?Sized, G: CryptoRng + ?Sized>(
        ch: &mut C,
        rng: &mut G,
    ) -> Result<Self, Error> {
        let cot = CotSender::setup(ch, Block::random(rng), rng)?;
        let cot_rev = CotReceiver::setup(ch, rng)?;
        Ok(Self {
            cot,
            cot_rev,
            _m: PhantomData,
        })
    }

    /// Client side of `A B` for a server matrix `A` (`m x k`, weights of
    /// `weight_bits` bits) and the client's `B` (`k x n`, row-major), in the
    /// cheaper [`Direction`]. Returns the client's share `A B - S`
    /// (`m x n`, row-major).
    pub fn matmul<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        m: usize,
        weight_bits: u32,
        b: &[Fp<M>],
        k: usize,
        n: usize,
    ) -> Result<Vec<Fp<M>>, Error> {
        let (_, b_len) = check_params::<M>(m, k, n, weight_bits)?;
        check_len(b_len, b.len())?;
        match Direction::choose::<M>(m, k, n, weight_bits) {
            Direction::WeightBits => self.matmul_weight_bits(ch, m, weight_bits, b, k, n),
            Direction::MaskBits => self.matmul_mask_bits(ch, m, b, k, n),
        }
    }

    fn matmul_mask_bits<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        m: usize,
        b: &[Fp<M>],
        k: usize,
        n: usize,
    ) -> Result<Vec<Fp<M>>, Error> {
        let bits = M::BITS as usize;
        let mut out = Zeroizing::new(vec![Fp::<M>::ZERO; m * n]);
        // OT o chooses with bit j of B[kk][col] and adds 2^j A[:, kk] (+ pad)
        // into column col.
        vole_receive(
            &mut self.cot_rev,
            ch,
            k * n * bits,
            m,
            |o| {
                let (kk, col, j) = mask_bits_index(o, n, bits);
                (b[kk * n + col].value() >> j) & 1 == 1
            },
            |o, y: &[Fp<M>]| add_into_column(&mut out, n, mask_bits_index(o, n, bits).1, y),
        )?;
        Ok(take(&mut *out))
    }

    fn matmul_weight_bits<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        m: usize,
        weight_bits: u32,
        b: &[Fp<M>],
        k: usize,
        n: usize,
    ) -> Result<Vec<Fp<M>>, Error> {
        let w = weight_bits as usize;
        let mut out = Zeroizing::new(vec![Fp::<M>::ZERO; m * n]);
        let two_pow = powers_of_two::<M>(w);
        vole_send(
            &mut self.cot,
            ch,
            m * k * w,
            n,
            |o, v: &mut [Fp<M>]| {
                let (_, kk, j) = weight_bits_index(o, k, w);
                for (d, &x) in v.iter_mut().zip(&b[kk * n..(kk + 1) * n]) {
                    *d = two_pow[j] * x;
                }
            },
            |o, share| add_into_row(&mut out, n, weight_bits_index(o, k, w).0, share),
        )?;
        // Remove the public offset 2^(w-1) from every weight.
        let offset = Fp::<M>::from_u64_reduced(1u64 << (w - 1));
        let mut colsum = Zeroizing::new(vec![Fp::<M>::ZERO; n]);
        for row in b.chunks_exact(n.max(1)) {
            for (s, &x) in colsum.iter_mut().zip(row) {
                *s += x;
            }
        }
        for row in out.chunks_exact_mut(n.max(1)) {
            for (d, &s) in row.iter_mut().zip(colsum.iter()) {
                *d -= offset * s;
            }
        }
        Ok(take(&mut *out))
    }

    /// Dense layer: the client's share of `W r` for the server's
    /// `rows x cols` matrix `W` and the client's mask `r` (length `cols`).
    pub fn dense<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        rows: usize,
        cols: usize,
        weight_bits: u32,
        r: &[Fp<M>],
    ) -> Result<Vec<Fp<M>>, Error> {
        self.matmul(ch, rows, weight_bits, r, cols, 1)
    }

    /// Convolution: the client's share of `conv(W, r)` (layout as
    /// [`crate::linalg::conv2d`]).
    pub fn conv2d<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        shape: &Conv2dShape,
        weight_bits: u32,
        r: &[Fp<M>],
    ) -> Result<Vec<Fp<M>>, Error> {
        shape.validate()?;
        check_len(shape.input_len(), r.len())?;
        let img = shape.input_len() / shape.batch;
        let npos = shape.out_positions();
        let k = shape.patch_len();
        let ocg = shape.out_channels / shape.groups;
        // Allocated once at its final size (no reallocation leaves copies
        // behind) and zeroized if a group fails.
        let mut out = Zeroizing::new(Vec::with_capacity(shape.output_len()));
        let one = Conv2dShape { batch: 1, ..*shape };
        for image in r.chunks_exact(img) {
            for g in 0..shape.groups {
                // B: k x npos, the client's mask.
                let bt = Zeroizing::new(im2col(&one, image, g, Im2colLayout::PatchMajor)?);
                let part = Zeroizing::new(self.matmul(ch, ocg, weight_bits, &bt, k, npos)?);
                out.extend_from_slice(&part);
            }
        }
        Ok(take(&mut *out))
    }
}

impl<M: Modulus> LinearCorrelationServer<M> {
    /// OT-extension setup (base OTs, one session per direction) with the client.
    pub fn setup<C: Channel + ?Sized, G: CryptoRng + ?Sized>(
        ch: &mut C,
        rng: &mut G,
    ) -> Result<Self, Error> {
        let cot = CotReceiver::setup(ch, rng)?;
        let cot_rev = CotSender::setup(ch, Block::random(rng), rng)?;
        Ok(Self {
            cot,
            cot_rev,
            _m: PhantomData,
        })
    }

    /// Server side of `A B` (see [`LinearCorrelationClient::matmul`]): `a` is
    /// `m x k` row-major, each entry's centred value in
    /// `[-2^(w-1), 2^(w-1))` with `w = weight_bits` (checked in both
    /// directions, so the choice of direction never changes what is accepted).
    /// Returns `S`.
    pub fn matmul<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        a: &[Fp<M>],
        m: usize,
        k: usize,
        n: usize,
        weight_bits: u32,
    ) -> Result<Vec<Fp<M>>, Error> {
        let (a_len, _) = check_params::<M>(m, k, n, weight_bits)?;
        check_len(a_len, a.len())?;
        check_weight_range(a, weight_bits)?;

        match Direction::choose::<M>(m, k, n, weight_bits) {
            Direction::WeightBits => self.matmul_weight_bits(ch, a, m, k, n, weight_bits),
            Direction::MaskBits => self.matmul_mask_bits(ch, a, m, k, n),
        }
    }

    fn matmul_mask_bits<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        a: &[Fp<M>],
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<Vec<Fp<M>>, Error> {
        let bits = M::BITS as usize;
        let two_pow = powers_of_two::<M>(bits);
        let mut out = Zeroizing::new(vec![Fp::<M>::ZERO; m * n]);
        vole_send(
            &mut self.cot_rev,
            ch,
            k * n * bits,
            m,
            |o, v: &mut [Fp<M>]| {
                let (kk, _, j) = mask_bits_index(o, n, bits);
                for (i, d) in v.iter_mut().enumerate() {
                    *d = two_pow[j] * a[i * k + kk];
                }
            },
            |o, share| add_into_column(&mut out, n, mask_bits_index(o, n, bits).1, share),
        )?;
        Ok(take(&mut *out))
    }

    fn matmul_weight_bits<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        a: &[Fp<M>],
        m: usize,
        k: usize,
        n: usize,
        weight_bits: u32,
    ) -> Result<Vec<Fp<M>>, Error> {
        let w = weight_bits as usize;
        let half = 1i64 << (w - 1);
        // u = a + 2^(w-1) in [0, 2^w) (the range was checked by `matmul`);
        // the offset weights are the server's secret.
        let u: Zeroizing<Vec<u64>> = Zeroizing::new(
            a.iter()
                .map(|x| x.to_i64().wrapping_add(half) as u64)
                .collect(),
        );
        let mut out = Zeroizing::new(vec![Fp::<M>::ZERO; m * n]);
        vole_receive(
            &mut self.cot,
            ch,
            m * k * w,
            n,
            |o| {
                let (i, kk, j) = weight_bits_index(o, k, w);
                (u[i * k + kk] >> j) & 1 == 1
            },
            |o, y: &[Fp<M>]| add_into_row(&mut out, n, weight_bits_index(o, k, w).0, y),
        )?;
        Ok(take(&mut *out))
    }

    /// Dense layer: the server's share `s` of `W r`.
    pub fn dense<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        weights: &[Fp<M>],
        rows: usize,
        cols: usize,
        weight_bits: u32,
    ) -> Result<Vec<Fp<M>>, Error> {
        self.matmul(ch, weights, rows, cols, 1, weight_bits)
    }

    /// Convolution: the server's share of `conv(W, r)`.
    pub fn conv2d<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        shape: &Conv2dShape,
        weights: &[Fp<M>],
        weight_bits: u32,
    ) -> Result<Vec<Fp<M>>, Error> {
        shape.validate()?;
        check_len(shape.weight_len(), weights.len())?;
        let npos = shape.out_positions();
        let k = shape.patch_len();
        let ocg = shape.out_channels / shape.groups;
        // Check every parameter before the first group touches the channel,
        // so an error never leaves the peer half-way through the layer.
        check_params::<M>(ocg, k, npos, weight_bits)?;
        check_weight_range(weights, weight_bits)?;
        let mut out = Zeroizing::new(Vec::with_capacity(shape.output_len()));
        for _ in 0..shape.batch {
            for g in 0..shape.groups {
                let w = &weights[g * ocg * k..(g + 1) * ocg * k];
                let part = Zeroizing::new(self.matmul(ch, w, ocg, k, npos, weight_bits)?);
                out.extend_from_slice(&part);
            }
        }
        Ok(take(&mut *out))
    }
}
