//! Secure preprocessing from oblivious transfer (semi-honest, no trusted party): the linear-layer
//! correlation, square pairs for polynomial activations and Beaver triples for the ReLU's Beaver
//! product path. All three are one primitive, a vector OLE in Gilboa's style (Gilboa, CRYPTO
//! 1999; the "correlation" of Delphi, USENIX Security 2020, built here from OT instead of HE):
//!
//! The client holds `x` (n field elements), the server a linear map `W` given by its public
//! *support* (for each input `i`, the output positions it touches) and secret values on that
//! support. For every input `i` and every bit `j < bits(p)` of the client's `x_i` (as an integer
//! in `[0, p)`) one random OT runs with the server as sender: the server gets keys `(k0, k1)`,
//! the client `k_b` for its bit `b`. Each key seeds an AES-CTR PRG expanded to `|supp_i|` field
//! elements `G(k)`. The server sends `corr = G(k0) - G(k1) + 2^j W[., i]` on the support; the
//! client takes `G(k_b) + b * corr = G(k0) + b 2^j W[., i]` (constant-time select on `b`) and
//! sums; the server sums `-G(k0)`. Over all `(i, j)`: the client ends with `W x - s` and the
//! server with `s = -sum G(k0)`.
//!
//! Security: the client's view is one key per OT (the other is hidden by the OT) and `corr`,
//! which is masked by the PRG output of the key it does not hold: pseudo-random. The server's
//! view is the OT transcript, which hides `b` (IKNP). Cost: 16 B per bit of `x` (the OT
//! extension) plus `8 |supp_i|` B per bit, i.e. `bits(p) * 8` B per multiply-accumulate of the
//! support, server to client. The support is public (the layer geometry), never the weights.

use circa_ot::{Block, Channel, Prg, RotReceiver, RotSender};
use circa_share::field::batch::{decode_many, encode_many};
use circa_share::{Client, Fp, Modulus, Role, Server, Triples};
use subtle::{Choice, ConditionallySelectable};
use zeroize::Zeroize;

use super::error::Result;
use crate::model::{Conv2d, Shape};

/// Public sparsity structure of a linear map: for each input, the outputs it touches.
#[derive(Debug, Clone)]
pub(crate) struct Support {
    starts: Vec<usize>,
    outputs: Vec<usize>,
    /// Per entry: the index into the server's weight vector (or value vector).
    value_index: Vec<usize>,
    out_len: usize,
}

impl Support {
    /// Builds the structure from `(input, output, value index)` triples.
    fn from_entries(
        inputs: usize,
        out_len: usize,
        mut entries: Vec<(usize, usize, usize)>,
    ) -> Self {
        entries.sort_by_key(|e| e.0);
        let mut starts = vec![0usize; inputs + 1];
        for e in &entries {
            starts[e.0 + 1] += 1;
        }
        for i in 0..inputs {
            starts[i + 1] += starts[i];
        }
        Self {
            starts,
            outputs: entries.iter().map(|e| e.1).collect(),
            value_index: entries.iter().map(|e| e.2).collect(),
            out_len,
        }
    }

    /// The convolution `conv` on inputs of shape `xs` (weights `[out][in/groups][kh][kw]`).
    pub(crate) fn conv(conv: &Conv2d, xs: Shape) -> Self {
        let out = crate::kernels::conv_output_shape(conv, xs);
        let ipg = conv.in_channels / conv.groups;
        let opg = conv.out_channels / conv.groups;
        let mut entries = Vec::new();
        for o in 0..conv.out_channels {
            let g = o / opg;
            for oy in 0..out.height {
                for ox in 0..out.width {
                    for i in 0..ipg {
                        for ky in 0..conv.kernel_h {
                            let y = (oy * conv.stride_h + ky) as isize - conv.pad_top as isize;
                            if y < 0 || y >= xs.height as isize {
                                continue;
                            }
                            for kx in 0..conv.kernel_w {
                                let x = (ox * conv.stride_w + kx) as isize - conv.pad_left as isize;
                                if x < 0 || x >= xs.width as isize {
                                    continue;
                                }
                                let w = ((o * ipg + i) * conv.kernel_h + ky) * conv.kernel_w + kx;
                                entries.push((
                                    xs.index(g * ipg + i, y as usize, x as usize),
                                    out.index(o, oy, ox),
                                    w,
                                ));
                            }
                        }
                    }
                }
            }
        }
        Self::from_entries(xs.len(), out.len(), entries)
    }

    /// A dense layer `[out][in]`.
    pub(crate) fn dense(in_features: usize, out_features: usize) -> Self {
        let mut entries = Vec::with_capacity(in_features * out_features);
        for i in 0..in_features {
            for o in 0..out_features {
                entries.push((i, o, o * in_features + i));
            }
        }
        Self::from_entries(in_features, out_features, entries)
    }

    /// The diagonal map `x_i -> v_i x_i` on `n` elements.
    pub(crate) fn diagonal(n: usize) -> Self {
        Self::from_entries(n, n, (0..n).map(|i| (i, i, i)).collect())
    }

    pub(crate) fn inputs(&self) -> usize {
        self.starts.len() - 1
    }

    fn range(&self, i: usize) -> core::ops::Range<usize> {
        self.starts[i]..self.starts[i + 1]
    }
}

fn bit_of<M: Modulus>(x: Fp<M>, j: u32) -> bool {
    (x.value() >> j) & 1 == 1
}

/// The server's side: `values[k]` is the weight of support entry with value index `k`.
/// Returns `s`; the client ends with `W x - s`.
pub(crate) fn server_ole<M: Modulus, C: Channel + ?Sized>(
    ch: &mut C,
    rot: &mut RotSender,
    support: &Support,
    values: &[Fp<M>],
) -> Result<Vec<Fp<M>>> {
    let l = M::BITS as usize;
    let n = support.inputs();
    let mut keys = vec![[Block::ZERO; 2]; n * l];
    rot.send_rot(ch, &mut keys)?;
    let mut s = vec![Fp::<M>::ZERO; support.out_len];
    let mut corr = Vec::new();
    for i in 0..n {
        let range = support.range(i);
        corr.clear();
        for j in 0..l {
            let [k0, k1] = keys[i * l + j];
            let (mut g0, mut g1) = (Prg::from_seed_block(k0), Prg::from_seed_block(k1));
            let pow = Fp::<M>::from_u64_reduced(1u64 << j);
            for e in range.clone() {
                let u = Fp::<M>::random(&mut g0);
                let v = Fp::<M>::random(&mut g1);
                corr.push(u - v + pow * values[support.value_index[e]]);
                s[support.outputs[e]] -= u;
            }
        }
        ch.send(&encode_many(&corr))?;
    }
    ch.flush()?;
    keys.zeroize();
    corr.zeroize();
    Ok(s)
}

/// The client's side with its vector `x` (one element per input of the support).
/// Returns `W x - s`.
pub(crate) fn client_ole<M: Modulus, C: Channel + ?Sized>(
    ch: &mut C,
    rot: &mut RotReceiver,
    support: &Support,
    x: &[Fp<M>],
) -> Result<Vec<Fp<M>>> {
    let l = M::BITS as usize;
    let n = support.inputs();
    if x.len() != n {
        return Err(super::PrivateError::LengthMismatch {
            what: "OLE input",
            expected: n,
            actual: x.len(),
        });
    }
    let mut choices: Vec<bool> = x
        .iter()
        .flat_map(|&v| (0..l as u32).map(move |j| bit_of(v, j)))
        .collect();
    let mut keys = vec![Block::ZERO; n * l];
    rot.receive_rot(ch, &choices, &mut keys)?;
    let mut acc = vec![Fp::<M>::ZERO; support.out_len];
    let mut buf = Vec::new();
    for i in 0..n {
        let range = support.range(i);
        let len = range.len();
        buf.resize(l * len * circa_share::FP_BYTES, 0);
        ch.recv(&mut buf)?;
        let mut corr = decode_many::<M>(&buf)?;
        for j in 0..l {
            let mut g = Prg::from_seed_block(keys[i * l + j]);
            let b = Choice::from(u8::from(choices[i * l + j]));
            for (e, k) in range.clone().enumerate() {
                let v = Fp::<M>::random(&mut g);
                acc[support.outputs[k]] +=
                    v + Fp::conditional_select(&Fp::ZERO, &corr[j * len + e], b);
            }
        }
        corr.zeroize();
    }
    choices.zeroize();
    keys.zeroize();
    Ok(acc)
}

/// Square pairs `(a, a^2)` for `n` units: the client's half.
pub(crate) fn client_squares<M: Modulus, C: Channel + ?Sized, R: rand_core::CryptoRng + ?Sized>(
    ch: &mut C,
    rot: &mut RotReceiver,
    n: usize,
    rng: &mut R,
) -> Result<SquarePairs<Client, M>> {
    let a: Vec<Fp<M>> = (0..n).map(|_| Fp::random(rng)).collect();
    // a_C * a_S - s
    let cross = client_ole(ch, rot, &Support::diagonal(n), &a)?;
    let sq = a.iter().zip(&cross).map(|(&a, &x)| a * a + x + x).collect();
    Ok(SquarePairs::new(a, sq))
}

/// Square pairs: the server's half.
pub(crate) fn server_squares<M: Modulus, C: Channel + ?Sized, R: rand_core::CryptoRng + ?Sized>(
    ch: &mut C,
    rot: &mut RotSender,
    n: usize,
    rng: &mut R,
) -> Result<SquarePairs<Server, M>> {
    let a: Vec<Fp<M>> = (0..n).map(|_| Fp::random(rng)).collect();
    let s = server_ole(ch, rot, &Support::diagonal(n), &a)?;
    let sq = a.iter().zip(&s).map(|(&a, &s)| a * a + s + s).collect();
    Ok(SquarePairs::new(a, sq))
}

/// Beaver triples, the client's half: `a_C, b_C` random; the cross terms by OLE.
pub(crate) fn client_triples<M: Modulus, C: Channel + ?Sized, R: rand_core::CryptoRng + ?Sized>(
    ch: &mut C,
    rot: &mut RotReceiver,
    n: usize,
    rng: &mut R,
) -> Result<Triples<Client, M>> {
    let ab: Vec<Fp<M>> = (0..2 * n).map(|_| Fp::random(rng)).collect();
    // [a_C b_S - s1, b_C a_S - s2]
    let cross = client_ole(ch, rot, &Support::diagonal(2 * n), &ab)?;
    let (a, b) = ab.split_at(n);
    let c = (0..n)
        .map(|i| a[i] * b[i] + cross[i] + cross[n + i])
        .collect();
    Ok(Triples::from_parts(a.to_vec(), b.to_vec(), c)?)
}

/// Beaver triples, the server's half.
pub(crate) fn server_triples<M: Modulus, C: Channel + ?Sized, R: rand_core::CryptoRng + ?Sized>(
    ch: &mut C,
    rot: &mut RotSender,
    n: usize,
    rng: &mut R,
) -> Result<Triples<Server, M>> {
    let a: Vec<Fp<M>> = (0..n).map(|_| Fp::random(rng)).collect();
    let b: Vec<Fp<M>> = (0..n).map(|_| Fp::random(rng)).collect();
    let mut values = b.clone();
    values.extend_from_slice(&a);
    let s = server_ole(ch, rot, &Support::diagonal(2 * n), &values)?;
    values.zeroize();
    let c = (0..n).map(|i| a[i] * b[i] + s[i] + s[n + i]).collect();
    Ok(Triples::from_parts(a, b, c)?)
}

/// One party's shares of square pairs `(a, a^2)`. Zeroized on drop, redacted `Debug`, not
/// `Clone`: each pair is used once.
pub(crate) struct SquarePairs<R: Role, M: Modulus> {
    pub(crate) a: Vec<Fp<M>>,
    pub(crate) sq: Vec<Fp<M>>,
    _role: core::marker::PhantomData<R>,
}

impl<R: Role, M: Modulus> SquarePairs<R, M> {
    fn new(a: Vec<Fp<M>>, sq: Vec<Fp<M>>) -> Self {
        Self {
            a,
            sq,
            _role: core::marker::PhantomData,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.a.len()
    }
}

impl<R: Role, M: Modulus> Drop for SquarePairs<R, M> {
    fn drop(&mut self) {
        self.a.zeroize();
        self.sq.zeroize();
    }
}

impl<R: Role, M: Modulus> core::fmt::Debug for SquarePairs<R, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "SquarePairs<{}>(len = {}, redacted)",
            R::NAME,
            self.len()
        )
    }
}

/// Pregenerated triples served through `TripleSource` (for the ReLU's Beaver path).
pub(crate) struct Pregenerated<R: Role, M: Modulus>(pub(crate) Triples<R, M>);

impl<R: Role, M: Modulus> circa_share::TripleSource<M> for Pregenerated<R, M> {
    type Role = R;
    fn triples(&mut self, n: usize) -> std::result::Result<Triples<R, M>, circa_share::Error> {
        self.0.take_front(n)
    }
}
