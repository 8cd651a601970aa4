//! The conversion of the garbled sign bit into arithmetic shares: pure functions, no I/O.
//!
//! Notation (see the crate README for the argument): `b = col XOR lambda` is the sign bit,
//! `col` the colour of the client's output label, `lambda` the colour of the garbler's output
//! zero-label. The lambda-OT gives the client `(m, rho)` and the server `v = m + lambda * rho`.

use circa_ot::{Block, TweakableHash};
use circa_share::{Fp, Modulus};
use subtle::{Choice, ConditionallySelectable};

use super::session::{
    fp_bit, hash_pairs_to_field, hash_to_field_strided, lambda_ot_tweak, output_table_tweak,
};
use crate::error::{Error, check_len};

/// A party's output shares and the message `d` it sends.
pub(crate) type SharesAndMessage<M> = (Vec<Fp<M>>, Vec<Fp<M>>);

/// Client side of the lambda-OT (client = COT sender with offset `delta_prime`):
/// `m_i = HF(Q_i)`, `rho_i = HF(Q_i ^ Delta') - m_i`.
pub(crate) fn lambda_ot_client<M: Modulus>(
    hash: &TweakableHash,
    delta_prime: Block,
    q: &[Block],
    first_relu: u64,
) -> (Vec<Fp<M>>, Vec<Fp<M>>) {
    // ReLU i uses the tweak lambda_ot_tweak(first_relu + i) = lambda_ot_tweak(first_relu) + 2i.
    let mut h = hash_pairs_to_field::<M>(hash, q, delta_prime, lambda_ot_tweak(first_relu), 2);
    let m = h.iter().map(|h| h[0]).collect();
    let rho = h.iter().map(|h| h[1] - h[0]).collect();
    zeroize::Zeroize::zeroize(&mut h);
    (m, rho)
}

/// Server side of the lambda-OT (server = COT receiver with choices `lambda`): `v_i = HF(T_i)`.
pub(crate) fn lambda_ot_server<M: Modulus>(
    hash: &TweakableHash,
    t: &[Block],
    first_relu: u64,
) -> Vec<Fp<M>> {
    hash_to_field_strided(hash, t, lambda_ot_tweak(first_relu), 2)
}

/// Server: the two-entry output tables, two field elements per ReLU:
/// `ct[lsb(L_beta)] = beta * s - r + HF_out(L_beta)` for `beta` in {0, 1}.
pub(crate) fn server_output_tables<M: Modulus>(
    hash: &TweakableHash,
    delta: Block,
    out_zero: &[Block],
    first_relu: u64,
    s: &[Fp<M>],
    r: &[Fp<M>],
) -> Result<Vec<Fp<M>>, Error> {
    check_len("server shares", out_zero.len(), s.len())?;
    check_len("output masks", out_zero.len(), r.len())?;
    let n = out_zero.len();
    // ReLU i uses the tweak output_table_tweak(first_relu + i) for both of its labels.
    let mut h = hash_pairs_to_field::<M>(hash, out_zero, delta, output_table_tweak(first_relu), 2);
    let mut ct = Vec::with_capacity(2 * n);
    for i in 0..n {
        let e0 = h[i][0] - r[i];
        let e1 = h[i][1] + s[i] - r[i];
        // Entry of beta = 0 sits at position lsb(L0); swap when lsb(L0) = 1.
        let swap = Choice::from(u8::from(out_zero[i].lsb()));
        ct.push(Fp::conditional_select(&e0, &e1, swap));
        ct.push(Fp::conditional_select(&e1, &e0, swap));
    }
    // The pads of both labels: with `ct` they would give `s` and `r`.
    zeroize::Zeroize::zeroize(&mut h);
    Ok(ct)
}

/// Client: decrypts its entry of each output table with its output label: `e_i = b_i s_i - r_i`.
pub(crate) fn client_open_tables<M: Modulus>(
    hash: &TweakableHash,
    out_labels: &[Block],
    first_relu: u64,
    ct: &[Fp<M>],
) -> Result<Vec<Fp<M>>, Error> {
    check_len("output tables", 2 * out_labels.len(), ct.len())?;
    let mut h: Vec<Fp<M>> =
        hash_to_field_strided(hash, out_labels, output_table_tweak(first_relu), 2);
    let e = out_labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let pick = Choice::from(u8::from(l.lsb()));
            Fp::conditional_select(&ct[2 * i], &ct[2 * i + 1], pick) - h[i]
        })
        .collect();
    zeroize::Zeroize::zeroize(&mut h);
    Ok(e)
}

/// Client, label-table path: its output shares `u_C = c col - m + e` and the message
/// `d = c (1 - 2 col) - rho`.
pub(crate) fn client_label_table_shares<M: Modulus>(
    c: &[Fp<M>],
    col: &[bool],
    e: &[Fp<M>],
    m: &[Fp<M>],
    rho: &[Fp<M>],
) -> Result<SharesAndMessage<M>, Error> {
    let n = c.len();
    for (what, len) in [("colours", col.len()), ("table openings", e.len())] {
        check_len(what, n, len)?;
    }
    check_len("lambda-OT pads", n, m.len())?;
    check_len("lambda-OT pads", n, rho.len())?;
    let mut u = Vec::with_capacity(n);
    let mut d = Vec::with_capacity(n);
    for i in 0..n {
        let cc = c[i] * fp_bit(col[i]);
        u.push(cc - m[i] + e[i]);
        // z = c (1 - 2 col) = c - 2 c col
        d.push(c[i] - cc - cc - rho[i]);
    }
    Ok((u, d))
}

/// Server, label-table path: `u_S = v + lambda d + r`.
pub(crate) fn server_label_table_shares<M: Modulus>(
    v: &[Fp<M>],
    lambda: &[bool],
    d: &[Fp<M>],
    r: &[Fp<M>],
) -> Result<Vec<Fp<M>>, Error> {
    let mut b = server_sign_shares(v, lambda, d)?;
    check_len("output masks", b.len(), r.len())?;
    b.iter_mut().zip(r).for_each(|(x, &r)| *x += r);
    Ok(b)
}

/// Client, Beaver path: its shares of the sign bit `col - m` and the message
/// `d = (1 - 2 col) - rho`.
pub(crate) fn client_sign_shares<M: Modulus>(
    col: &[bool],
    m: &[Fp<M>],
    rho: &[Fp<M>],
) -> Result<SharesAndMessage<M>, Error> {
    check_len("lambda-OT pads", col.len(), m.len())?;
    check_len("lambda-OT pads", col.len(), rho.len())?;
    let mut b = Vec::with_capacity(col.len());
    let mut d = Vec::with_capacity(col.len());
    for i in 0..col.len() {
        let cb = fp_bit::<M>(col[i]);
        b.push(cb - m[i]);
        d.push(Fp::ONE - cb - cb - rho[i]);
    }
    Ok((b, d))
}

/// Server: `v + lambda d` (its share of `lambda * z`; the sign bit's share on the Beaver path).
pub(crate) fn server_sign_shares<M: Modulus>(
    v: &[Fp<M>],
    lambda: &[bool],
    d: &[Fp<M>],
) -> Result<Vec<Fp<M>>, Error> {
    check_len("lambda-OT pads", lambda.len(), v.len())?;
    check_len("client message", lambda.len(), d.len())?;
    Ok((0..v.len())
        .map(|i| v[i] + fp_bit::<M>(lambda[i]) * d[i])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use circa_share::P2138816513 as P;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    type F = Fp<P>;

    /// Runs both conversions with an ideal COT and checks the reconstruction on every
    /// combination of colour and permute bit.
    #[test]
    fn conversions_reconstruct_b_times_y() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let hash = TweakableHash::new(Block::random(&mut rng));
        let delta = Block::random(&mut rng).with_lsb(true);
        let delta_p = Block::random(&mut rng);
        let n = 64;
        let y: Vec<F> = (0..n).map(|_| F::random(&mut rng)).collect();
        let c: Vec<F> = (0..n).map(|_| F::random(&mut rng)).collect();
        let s: Vec<F> = y.iter().zip(&c).map(|(&y, &c)| y - c).collect();
        let b: Vec<bool> = (0..n).map(|i: usize| i.is_multiple_of(2)).collect();
        let out_zero: Vec<Block> = (0..n).map(|_| Block::random(&mut rng)).collect();
        let lambda: Vec<bool> = out_zero.iter().map(|l| l.lsb()).collect();
        // Evaluator's label for value b: L0 ^ b Delta; its colour is b ^ lambda.
        let labels: Vec<Block> = (0..n).map(|i| out_zero[i] ^ delta.and_bit(b[i])).collect();
        let col: Vec<bool> = labels.iter().map(|l| l.lsb()).collect();
        let first = rng.next_u64() >> 8;
        let q: Vec<Block> = (0..n).map(|_| Block::random(&mut rng)).collect();
        let t: Vec<Block> = (0..n).map(|i| q[i] ^ delta_p.and_bit(lambda[i])).collect();
        let (m, rho) = lambda_ot_client::<P>(&hash, delta_p, &q, first);
        let v = lambda_ot_server::<P>(&hash, &t, first);
        for i in 0..n {
            assert_eq!(v[i], m[i] + fp_bit::<P>(lambda[i]) * rho[i]);
        }
        // Label-table path.
        let r: Vec<F> = (0..n).map(|_| F::random(&mut rng)).collect();
        let ct = server_output_tables(&hash, delta, &out_zero, first, &s, &r).unwrap();
        let e = client_open_tables(&hash, &labels, first, &ct).unwrap();
        let (uc, d) = client_label_table_shares(&c, &col, &e, &m, &rho).unwrap();
        let us = server_label_table_shares(&v, &lambda, &d, &r).unwrap();
        for i in 0..n {
            assert_eq!(uc[i] + us[i], y[i] * fp_bit::<P>(b[i]), "relu {i}");
        }
        // Beaver path: shares of b.
        let (bc, d) = client_sign_shares(&col, &m, &rho).unwrap();
        let bs = server_sign_shares(&v, &lambda, &d).unwrap();
        for i in 0..n {
            assert_eq!(bc[i] + bs[i], fp_bit::<P>(b[i]));
        }
        // A wrong label decrypts to garbage, not to the other entry.
        let wrong: Vec<Block> = labels.iter().map(|l| *l ^ Block::from_u128(2)).collect();
        let e2 = client_open_tables(&hash, &wrong, first, &ct).unwrap();
        assert!(e2.iter().zip(&e).all(|(a, b)| a != b));
        assert!(matches!(
            client_open_tables(&hash, &labels, first, &ct[1..]),
            Err(Error::LengthMismatch { .. })
        ));
    }
}
