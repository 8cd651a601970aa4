//! Conversions between bit vectors (LSB first) and integers or hex strings.
//!
//! Hex convention (the one of the circuits in `shared/circuits`): a hex string is read as a
//! big-endian integer and bit `i` of the word is bit `i` of that integer (least significant first).
//! An `n`-bit word is written with exactly `ceil(n / 4)` hex digits.

use crate::error::Error;

/// The low `width` bits of `value`, LSB first (bits beyond 128 are 0).
pub fn u128_to_bits(value: u128, width: usize) -> Vec<bool> {
    (0..width)
        .map(|i| i < 128 && (value >> i) & 1 == 1)
        .collect()
}

/// The integer whose bit `i` is `bits[i]` (bits beyond 128 are ignored).
pub fn bits_to_u128(bits: &[bool]) -> u128 {
    bits.iter()
        .take(128)
        .enumerate()
        .fold(0u128, |acc, (i, &b)| acc | (u128::from(b) << i))
}

/// Parses `hex` (exactly `ceil(nbits / 4)` digits, either case) into `nbits` bits, LSB first.
pub fn hex_to_bits(hex: &str, nbits: usize) -> Result<Vec<bool>, Error> {
    let digits = nbits.div_ceil(4);
    let hex = hex.trim();
    if hex.len() != digits {
        return Err(Error::HexLength {
            expected_digits: digits,
            actual_digits: hex.chars().count(),
        });
    }
    let mut bits = vec![false; digits * 4];
    for (position, ch) in hex.chars().enumerate() {
        let v = ch.to_digit(16).ok_or(Error::InvalidHex { position })?;
        let nibble = digits - 1 - position; // big-endian: the last digit is the least significant
        for k in 0..4 {
            bits[4 * nibble + k] = (v >> k) & 1 == 1;
        }
    }
    if bits[nbits..].iter().any(|&b| b) {
        return Err(Error::HexTooWide { bits: nbits });
    }
    bits.truncate(nbits);
    Ok(bits)
}

/// Writes `bits` (LSB first) as `ceil(len / 4)` lowercase hex digits, most significant first.
pub fn bits_to_hex(bits: &[bool]) -> String {
    let digits = bits.len().div_ceil(4);
    (0..digits)
        .rev()
        .map(|nibble| {
            let v = (0..4).fold(0u32, |acc, k| {
                acc | (u32::from(bits.get(4 * nibble + k).copied().unwrap_or(false)) << k)
            });
            char::from_digit(v, 16).unwrap_or('0')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let b = hex_to_bits("0f1", 12).unwrap();
        assert_eq!(bits_to_u128(&b), 0x0f1);
        assert_eq!(bits_to_hex(&b), "0f1");
        assert_eq!(bits_to_hex(&u128_to_bits(5, 3)), "5");
        assert!(matches!(
            hex_to_bits("f", 3),
            Err(Error::HexTooWide { bits: 3 })
        ));
        assert!(matches!(
            hex_to_bits("0g", 8),
            Err(Error::InvalidHex { position: 1 })
        ));
        assert!(matches!(
            hex_to_bits("000", 8),
            Err(Error::HexLength {
                expected_digits: 2,
                actual_digits: 3
            })
        ));
        assert_eq!(hex_to_bits("", 0).unwrap(), Vec::<bool>::new());
    }
}
