//! An AES-128-CTR pseudo-random generator.

use crate::{AES_BATCH, Block, FixedKeyAes};
use core::convert::Infallible;
use rand_core::{SeedableRng, TryCryptoRng, TryRng};
use zeroize::Zeroize;

/// AES-128 in counter mode under a secret 128-bit seed: `AES_seed(0), AES_seed(1), ...`.
///
/// Implements the `rand_core` 0.10 traits (`TryRng<Error = Infallible>` and
/// `TryCryptoRng`, hence `Rng` and `CryptoRng`) and `SeedableRng`. The key
/// schedule and the output buffer are zeroized on drop; `Debug` is redacted.
/// A generator never restarts: the counter is 128 bits wide.
pub struct Prg {
    aes: FixedKeyAes,
    counter: u128,
    buf: [Block; AES_BATCH],
    /// Bytes of `buf` already handed out; `AES_BATCH * 16` means empty.
    used: usize,
}

const BUF_BYTES: usize = AES_BATCH * 16;

impl Prg {
    /// A generator seeded with `seed`.
    pub fn from_seed_block(seed: Block) -> Prg {
        Prg {
            aes: FixedKeyAes::new(seed),
            counter: 0,
            buf: [Block::ZERO; AES_BATCH],
            used: BUF_BYTES,
        }
    }

    /// A generator seeded from `rng`.
    pub fn from_crypto_rng<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Prg {
        Prg::from_seed_block(Block::random(rng))
    }

    /// Fills `out` with fresh keystream blocks (bypassing the byte buffer).
    pub fn fill_blocks(&mut self, out: &mut [Block]) {
        self.aes.ctr(self.counter, out);
        self.counter = self.counter.wrapping_add(out.len() as u128);
    }

    /// One fresh block.
    pub fn random_block(&mut self) -> Block {
        let mut b = [Block::ZERO];
        self.fill_blocks(&mut b);
        b[0]
    }

    fn refill(&mut self) {
        let mut buf = [Block::ZERO; AES_BATCH];
        self.fill_blocks(&mut buf);
        self.buf = buf;
        buf.zeroize();
        self.used = 0;
    }
}

impl TryRng for Prg {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, mut dst: &mut [u8]) -> Result<(), Infallible> {
        while !dst.is_empty() {
            if self.used == BUF_BYTES {
                self.refill();
            }
            let bytes: &[u8] = bytemuck::cast_slice(&self.buf);
            let n = dst.len().min(BUF_BYTES - self.used);
            dst[..n].copy_from_slice(&bytes[self.used..self.used + n]);
            self.used += n;
            dst = &mut dst[n..];
        }
        Ok(())
    }
}

impl TryCryptoRng for Prg {}

impl SeedableRng for Prg {
    type Seed = [u8; 16];

    fn from_seed(seed: [u8; 16]) -> Prg {
        Prg::from_seed_block(Block(seed))
    }
}

impl Drop for Prg {
    fn drop(&mut self) {
        // The AES key schedule zeroizes itself (`aes` with the `zeroize` feature).
        self.buf.zeroize();
        self.counter.zeroize();
    }
}

impl core::fmt::Debug for Prg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Prg(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn keystream_is_aes_ctr() {
        let seed = Block::from_u128(0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100);
        let mut prg = Prg::from_seed_block(seed);
        let aes = FixedKeyAes::new(seed);
        let mut out = [Block::ZERO; 5];
        prg.fill_blocks(&mut out);
        for (i, b) in out.iter().enumerate() {
            assert_eq!(*b, aes.encrypt(Block::from_u128(i as u128)));
        }
        assert_eq!(prg.random_block(), aes.encrypt(Block::from_u128(5)));
    }

    #[test]
    fn bytes_interface_consumes_stream_in_order() {
        let mut a = Prg::from_seed([7; 16]);
        let mut b = Prg::from_seed([7; 16]);
        let mut x = [0u8; 3000];
        a.fill_bytes(&mut x);
        let mut y = [0u8; 3000];
        for chunk in y.chunks_mut(13) {
            b.fill_bytes(chunk);
        }
        assert_eq!(x, y);
        assert_ne!(a.next_u64(), Prg::from_seed([8; 16]).next_u64());
        assert_eq!(format!("{a:?}"), "Prg(<redacted>)");
    }
}
