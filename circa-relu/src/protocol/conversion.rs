//! The conversion of the garbled sign bit into arithmetic shares: pure functions, no I/O.
//!
//! Notation (see the crate README for the argument): `b = col XOR lambda` is the sign bit,
//! `col` the colour of the client's output label, `lambda` the colour of the garbler's output
//! zero-label. The lambda-OT gives the client `(m, rho)` and the server `v = m + lambda * rho`.

use circa_gc::Label;
use circa_ot::{Block, TweakableHash};
use circa_share::{FP_BYTES, Fp, Modulus};
use subtle::{Choice, ConditionallySelectable};
use zeroize::Zeroize;

use super::session::{
    fp_bit, hash_pairs_to_field, hash_to_field_strided, lambda_ot_tweak, output_table_tweak,
};
use crate::error::{Error, check_len};

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

/// The client's per-batch results, appended chunk by chunk: its output shares, the message `d`
/// (encoded, as sent) and the colours of its output labels. Allocated whole for the batch (no
/// reallocation leaves an unwiped copy); the owner wipes the secret parts.
pub(crate) struct ClientAcc<M: Modulus> {
    /// Output shares (`u_C`, or the sign shares on the Beaver path).
    pub out: Vec<Fp<M>>,
    /// The message `d`, 8 bytes per ReLU (the start of the client's reply).
    pub d: Vec<u8>,
    /// Colour bits of the client's output labels.
    pub colours: Vec<bool>,
}

impl<M: Modulus> ClientAcc<M> {
    /// Room for `n` ReLUs (`reply_extra` more bytes of reply after `d`).
    pub(crate) fn with_capacity(n: usize, reply_extra: usize) -> ClientAcc<M> {
        ClientAcc {
            out: Vec::with_capacity(n),
            d: Vec::with_capacity(n * FP_BYTES + reply_extra),
            colours: Vec::with_capacity(n),
        }
    }
}

/// The client's per-ReLU material of a chunk: its shares `c` and the lambda-OT pads `m, rho`.
pub(crate) type ClientMaterial<'a, M> = (&'a [Fp<M>], &'a [Fp<M>], &'a [Fp<M>]);

/// One ReLU's output table entry: the entry at the label's colour (`ct` holds the two entries,
/// 8 bytes each) minus the label's pad `HF(L)`.
#[inline(always)]
fn open_entry<M: Modulus>(ct: &[u8], colour: bool, pad: Block) -> Result<Fp<M>, Error> {
    let (e0, e1) = ct.split_at(FP_BYTES);
    let e0 = Fp::<M>::from_le_bytes(e0.try_into().map_err(|_| Error::MalformedMessage {
        what: "output table",
    })?)?;
    let e1 = Fp::<M>::from_le_bytes(e1.try_into().map_err(|_| Error::MalformedMessage {
        what: "output table",
    })?)?;
    let pick = Choice::from(u8::from(colour));
    Ok(Fp::conditional_select(&e0, &e1, pick) - Fp::from_u128_reduced(pad.to_u128()))
}

/// Client, label-table path, one chunk in one pass: opens each output table with its output
/// label (`e_i = b_i s_i - r_i`) and appends to `acc` the output share `u_C = c col - m + e`,
/// the message `d = c (1 - 2 col) - rho` and the colour `col`. `ct` holds the two-entry tables
/// as received (8 bytes per entry); `pads` is scratch for the labels' hashes (wiped here).
pub(crate) fn client_label_table_chunk<M: Modulus>(
    hash: &TweakableHash,
    out_labels: &[Label],
    first_relu: u64,
    ct: &[u8],
    (c, m, rho): ClientMaterial<'_, M>,
    pads: &mut Vec<Block>,
    acc: &mut ClientAcc<M>,
) -> Result<(), Error> {
    let n = out_labels.len();
    check_len("output tables", 2 * n * FP_BYTES, ct.len())?;
    check_len("client shares", n, c.len())?;
    check_len("lambda-OT pads", n, m.len())?;
    check_len("lambda-OT pads", n, rho.len())?;
    // ReLU i's label is hashed under output_table_tweak(first_relu + i).
    pads.clear();
    pads.extend(out_labels.iter().map(|l| l.as_block()));
    hash.hash_strided_in_place(pads, output_table_tweak(first_relu), 2);
    let res = (|| {
        for i in 0..n {
            let col = out_labels[i].lsb();
            let e = open_entry::<M>(&ct[2 * FP_BYTES * i..2 * FP_BYTES * (i + 1)], col, pads[i])?;
            let cc = c[i] * fp_bit(col);
            acc.out.push(cc - m[i] + e);
            // z = c (1 - 2 col) = c - 2 c col
            let d = c[i] - cc - cc - rho[i];
            acc.d.extend_from_slice(&d.to_le_bytes());
            acc.colours.push(col);
        }
        Ok(())
    })();
    pads.iter_mut().zeroize();
    res
}

/// Client, Beaver path, one chunk in one pass: appends its shares of the sign bit `col - m`,
/// the message `d = (1 - 2 col) - rho` and the colours to `acc`.
pub(crate) fn client_sign_chunk<M: Modulus>(
    out_labels: &[Label],
    m: &[Fp<M>],
    rho: &[Fp<M>],
    acc: &mut ClientAcc<M>,
) -> Result<(), Error> {
    check_len("lambda-OT pads", out_labels.len(), m.len())?;
    check_len("lambda-OT pads", out_labels.len(), rho.len())?;
    for (i, l) in out_labels.iter().enumerate() {
        let col = l.lsb();
        let cb = fp_bit::<M>(col);
        acc.out.push(cb - m[i]);
        let d = Fp::ONE - cb - cb - rho[i];
        acc.d.extend_from_slice(&d.to_le_bytes());
        acc.colours.push(col);
    }
    Ok(())
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
        // Label-table path (the client's side as one fused pass over the chunk).
        let r: Vec<F> = (0..n).map(|_| F::random(&mut rng)).collect();
        let ct = server_output_tables(&hash, delta, &out_zero, first, &s, &r).unwrap();
        let ct_bytes = circa_share::field::batch::encode_many(&ct);
        let out_labels: Vec<Label> = labels.iter().map(|&l| Label::from_block(l)).collect();
        let mut pads = Vec::new();
        let mut acc = ClientAcc::with_capacity(n, 0);
        client_label_table_chunk(
            &hash,
            &out_labels,
            first,
            &ct_bytes,
            (&c, &m, &rho),
            &mut pads,
            &mut acc,
        )
        .unwrap();
        assert_eq!(acc.colours, col);
        assert!(pads.iter().all(|p| *p == Block::ZERO), "pads wiped");
        let d = circa_share::field::batch::decode_many::<P>(&acc.d).unwrap();
        let us = server_label_table_shares(&v, &lambda, &d, &r).unwrap();
        for i in 0..n {
            assert_eq!(acc.out[i] + us[i], y[i] * fp_bit::<P>(b[i]), "relu {i}");
        }
        // Beaver path: shares of b.
        let mut acc2 = ClientAcc::with_capacity(n, 0);
        client_sign_chunk(&out_labels, &m, &rho, &mut acc2).unwrap();
        let d = circa_share::field::batch::decode_many::<P>(&acc2.d).unwrap();
        let bs = server_sign_shares(&v, &lambda, &d).unwrap();
        for i in 0..n {
            assert_eq!(acc2.out[i] + bs[i], fp_bit::<P>(b[i]));
        }
        // A wrong label decrypts to garbage, not to the other entry (every output share moves;
        // the colour bit is kept, so `d` is unchanged).
        let wrong: Vec<Label> = labels
            .iter()
            .map(|l| Label::from_block(*l ^ Block::from_u128(2)))
            .collect();
        let mut acc3 = ClientAcc::with_capacity(n, 0);
        client_label_table_chunk(
            &hash,
            &wrong,
            first,
            &ct_bytes,
            (&c, &m, &rho),
            &mut pads,
            &mut acc3,
        )
        .unwrap();
        assert!(acc3.out.iter().zip(&acc.out).all(|(a, b)| a != b));
        assert_eq!(acc3.d, acc.d);
        // Short or non-canonical tables are refused.
        let mut acc4 = ClientAcc::with_capacity(n, 0);
        assert!(matches!(
            client_label_table_chunk(
                &hash,
                &out_labels,
                first,
                &ct_bytes[8..],
                (&c, &m, &rho),
                &mut pads,
                &mut acc4,
            ),
            Err(Error::LengthMismatch { .. })
        ));
        let mut bad = ct_bytes.clone();
        bad[8 * 7..8 * 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(
            client_label_table_chunk(
                &hash,
                &out_labels,
                first,
                &bad,
                (&c, &m, &rho),
                &mut pads,
                &mut acc4,
            )
            .is_err()
        );
    }
}
