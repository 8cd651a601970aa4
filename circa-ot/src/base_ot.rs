//! Base OT: the "simplest OT" of Chou and Orlandi (LATINCRYPT 2015,
//! ePrint 2015/267) over the Ristretto group (`curve25519-dalek`),
//! semi-honest, producing random 128-bit keys.
//!
//! ```text
//! sender                                  receiver (choice c_i)
//! a <- Z_l, A = a*G      ---- A ---->
//!                                         b_i <- Z_l, B_i = b_i*G + c_i*A
//!                        <--- B_i ---
//! k0_i = KDF(i, A, B_i, a*B_i)            k_i = KDF(i, A, B_i, b_i*A) = k{c_i}_i
//! k1_i = KDF(i, A, B_i, a*(B_i - A))
//! ```
//!
//! `KDF` is SHA-256 over the domain label `"circa-ot/co/kdf"`, a 16-byte
//! session id, the index `i` (u64, little-endian), the encodings of `A` and
//! `B_i` and the shared point, truncated to 128 bits.
//!
//! Every received point must be the canonical 32-byte Ristretto encoding of a
//! point other than the identity: anything else is rejected with
//! [`Error::LengthMismatch`], [`Error::InvalidPoint`] or
//! [`Error::IdentityPoint`]. The receiver adds `A` or the identity to
//! `b_i*G` with a constant-time select on its choice bit.
//!
//! The protocol logic is in the pure functions [`BaseOtSender::new`],
//! [`BaseOtSender::derive_keys`] and [`receiver_respond`]; [`send`] and
//! [`receive`] drive them over a [`Channel`].

use crate::{Block, Channel, Error};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable};
use zeroize::{Zeroize, Zeroizing};

/// Bytes of an encoded Ristretto point.
pub const POINT_BYTES: usize = 32;

/// Domain label of the key derivation.
pub const KDF_LABEL: &[u8] = b"circa-ot/co/kdf";

/// Largest number of base OTs one run may carry (bounds the receive buffer).
pub const MAX_BASE_OTS: usize = 1 << 16;

/// A 16-byte session id, fresh per session, bound into every derived key.
pub type SessionId = [u8; 16];

/// Decodes the point at position `index` of a message, rejecting wrong
/// lengths, non-canonical encodings and the identity.
pub fn decode_point(bytes: &[u8], index: usize) -> Result<RistrettoPoint, Error> {
    let compressed = CompressedRistretto::from_slice(bytes).map_err(|_| Error::LengthMismatch {
        expected: POINT_BYTES,
        actual: bytes.len(),
    })?;
    let point = compressed
        .decompress()
        .ok_or(Error::InvalidPoint { index })?;
    if point.is_identity() {
        return Err(Error::IdentityPoint { index });
    }
    Ok(point)
}

/// `KDF(index, A, B, shared)` (see the module docs).
fn kdf(
    session: &SessionId,
    index: usize,
    a: &CompressedRistretto,
    b: &[u8],
    shared: &RistrettoPoint,
) -> Block {
    let mut shared_bytes = shared.compress().to_bytes();
    let mut digest = Sha256::new()
        .chain_update(KDF_LABEL)
        .chain_update(session)
        .chain_update((index as u64).to_le_bytes())
        .chain_update(a.as_bytes())
        .chain_update(b)
        .chain_update(shared_bytes)
        .finalize();
    shared_bytes.zeroize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    digest.as_mut_slice().zeroize();
    Block(key)
}

/// The sender's state between its first message `A` and the receiver's reply.
pub struct BaseOtSender {
    session: SessionId,
    a: Scalar,
    a_point: RistrettoPoint,
    a_enc: CompressedRistretto,
}

impl BaseOtSender {
    /// Samples `a` and returns the state and the first message `A = a*G`.
    pub fn new<R: CryptoRng + ?Sized>(
        session: SessionId,
        rng: &mut R,
    ) -> (BaseOtSender, [u8; POINT_BYTES]) {
        let a = Scalar::random(rng);
        let a_point = RistrettoPoint::mul_base(&a);
        let a_enc = a_point.compress();
        let msg = a_enc.to_bytes();
        (
            BaseOtSender {
                session,
                a,
                a_point,
                a_enc,
            },
            msg,
        )
    }

    /// Derives both keys of each of the `n` OTs from the receiver's message
    /// (`n` concatenated point encodings). Consumes the state.
    pub fn derive_keys(self, msg: &[u8], n: usize) -> Result<Zeroizing<Vec<[Block; 2]>>, Error> {
        let expected = n.checked_mul(POINT_BYTES).ok_or(Error::LengthMismatch {
            expected: usize::MAX,
            actual: msg.len(),
        })?;
        if msg.len() != expected {
            return Err(Error::LengthMismatch {
                expected,
                actual: msg.len(),
            });
        }
        // `a*A = a^2*G` is secret: with it and `a*B_i` anyone gets both keys.
        let aa = Zeroizing::new(self.a * self.a_point);
        let mut keys = Zeroizing::new(Vec::with_capacity(n));
        for (i, b_bytes) in msg.chunks_exact(POINT_BYTES).enumerate() {
            let b = decode_point(b_bytes, i)?;
            let mut s0 = self.a * b;
            let mut s1 = s0 - *aa;
            keys.push([
                kdf(&self.session, i, &self.a_enc, b_bytes, &s0),
                kdf(&self.session, i, &self.a_enc, b_bytes, &s1),
            ]);
            s0.zeroize();
            s1.zeroize();
        }
        Ok(keys)
    }
}

impl Drop for BaseOtSender {
    fn drop(&mut self) {
        self.a.zeroize();
    }
}

impl core::fmt::Debug for BaseOtSender {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BaseOtSender(<redacted>)")
    }
}

/// The receiver's whole part: from the sender's message `A` and its choice
/// bits, the reply (concatenated `B_i`) and the chosen keys `k{c_i}_i`.
pub fn receiver_respond<R: CryptoRng + ?Sized>(
    session: &SessionId,
    choices: &[bool],
    a_msg: &[u8],
    rng: &mut R,
) -> Result<(Vec<u8>, Zeroizing<Vec<Block>>), Error> {
    let a_point = decode_point(a_msg, 0)?;
    let a_enc = a_point.compress();
    let identity = RistrettoPoint::identity();
    let mut reply = Vec::with_capacity(choices.len() * POINT_BYTES);
    let mut keys = Zeroizing::new(Vec::with_capacity(choices.len()));
    for (i, &c) in choices.iter().enumerate() {
        let mut b = Scalar::random(rng);
        // `added` reveals the choice bit: zeroized below with the other secrets.
        let mut added =
            RistrettoPoint::conditional_select(&identity, &a_point, Choice::from(c as u8));
        let b_enc = (RistrettoPoint::mul_base(&b) + added).compress();
        let mut shared = b * a_point;
        keys.push(kdf(session, i, &a_enc, b_enc.as_bytes(), &shared));
        reply.extend_from_slice(b_enc.as_bytes());
        b.zeroize();
        shared.zeroize();
        added.zeroize();
    }
    Ok((reply, keys))
}

/// Runs `n` base OTs as the sender over `ch`: sends `A`, receives the `B_i`
/// and returns the key pairs.
pub fn send<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
    ch: &mut C,
    session: SessionId,
    n: usize,
    rng: &mut R,
) -> Result<Zeroizing<Vec<[Block; 2]>>, Error> {
    if n > MAX_BASE_OTS {
        return Err(Error::MessageTooLarge {
            len: n as u64,
            max: MAX_BASE_OTS as u64,
        });
    }
    let (state, a_msg) = BaseOtSender::new(session, rng);
    ch.send(&a_msg)?;
    ch.flush()?;
    let mut reply = vec![0u8; n * POINT_BYTES];
    ch.recv(&mut reply)?;
    state.derive_keys(&reply, n)
}

/// Runs base OTs as the receiver with `choices` over `ch`: receives `A`,
/// sends the `B_i` and returns the chosen keys.
pub fn receive<C: Channel + ?Sized, R: CryptoRng + ?Sized>(
    ch: &mut C,
    session: SessionId,
    choices: &[bool],
    rng: &mut R,
) -> Result<Zeroizing<Vec<Block>>, Error> {
    let mut a_msg = [0u8; POINT_BYTES];
    ch.recv(&mut a_msg)?;
    let (reply, keys) = receiver_respond(&session, choices, &a_msg, rng)?;
    ch.send(&reply)?;
    ch.flush()?;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn keys_agree_with_choices() {
        let mut rs = ChaCha20Rng::seed_from_u64(1);
        let mut rr = ChaCha20Rng::seed_from_u64(2);
        let session = [9u8; 16];
        let choices: Vec<bool> = (0..40).map(|i| i % 3 == 1).collect();
        let (sender, a_msg) = BaseOtSender::new(session, &mut rs);
        let (reply, chosen) = receiver_respond(&session, &choices, &a_msg, &mut rr).unwrap();
        let keys = sender.derive_keys(&reply, choices.len()).unwrap();
        for i in 0..choices.len() {
            assert_eq!(chosen[i], keys[i][choices[i] as usize]);
            assert_ne!(chosen[i], keys[i][!choices[i] as usize]);
        }
    }

    #[test]
    fn session_id_separates_keys() {
        let run = |session: SessionId| {
            let mut rs = ChaCha20Rng::seed_from_u64(1);
            let mut rr = ChaCha20Rng::seed_from_u64(2);
            let (sender, a_msg) = BaseOtSender::new(session, &mut rs);
            let (reply, _) = receiver_respond(&session, &[true], &a_msg, &mut rr).unwrap();
            sender.derive_keys(&reply, 1).unwrap()[0]
        };
        assert_ne!(run([1; 16]), run([2; 16]));
    }

    #[test]
    fn rejects_bad_points() {
        let identity = [0u8; 32];
        assert!(matches!(
            decode_point(&identity, 3),
            Err(Error::IdentityPoint { index: 3 })
        ));
        // p = 2^255 - 19 encodes 0 non-canonically.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(matches!(
            decode_point(&p, 4),
            Err(Error::InvalidPoint { index: 4 })
        ));
        assert!(matches!(
            decode_point(&[1u8; 31], 0),
            Err(Error::LengthMismatch {
                expected: 32,
                actual: 31
            })
        ));
    }
}
