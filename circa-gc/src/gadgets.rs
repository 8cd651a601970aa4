//! Arithmetic and comparison gadgets on words (LSB first): the only place their logic lives.
//!
//! Everything is built from one ripple chain with one AND gate per bit. For `x + y + c` the carry is
//! `c' = c ^ ((x ^ c) & (y ^ c))`; for `x - y - b` the borrow is `b' = y ^ ((x ^ b) & (y ^ b))` (the
//! majority of `!x, y, b` without computing `!x`); the sum or difference bit is `(x ^ c) ^ y` in both
//! cases, reusing the chain's `x ^ c`. So subtraction and comparison need no NOT gates: a chain bit
//! costs 3 free gates (4 with the sum) besides its AND. Constants are folded by the builder, so the
//! `*_const` variants cost at most as many AND gates as the general ones (usually fewer).
//! Comparisons are unsigned.
//!
//! | gadget | AND gates (n-bit words) |
//! |---|---|
//! | `add`, `add_with_carry`, `sub`, `sub_with_borrow` | n (n - 1 without the carry/borrow out) |
//! | `ge`, `gt`, `le`, `lt` | n |
//! | `eq` | n - 1 |
//! | `mux` | n |
//! | `add_mod` | about 3n |

use crate::builder::{CircuitBuilder, Wire};

/// What a ripple chain computes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Chain {
    /// `x + y + carry_in`.
    Add,
    /// `x - y - borrow_in`.
    Sub,
}

impl CircuitBuilder {
    /// Ripple chain over `x + y + c` ([`Chain::Add`]) or `x - y - c` ([`Chain::Sub`]); returns the
    /// sum/difference bits (if `with_sum`) and the carry/borrow out (if `with_carry`; otherwise the
    /// last AND is skipped and the returned carry is meaningless).
    fn chain(
        &mut self,
        op: Chain,
        x: &[Wire],
        y: &[Wire],
        carry_in: Wire,
        with_sum: bool,
        with_carry: bool,
    ) -> (Vec<Wire>, Wire) {
        let mut sum = Vec::with_capacity(if with_sum { x.len() } else { 0 });
        if !self.same_width(x, y) {
            return (vec![Wire::constant(false); x.len()], Wire::constant(false));
        }
        let mut c = carry_in;
        let last = x.len().saturating_sub(1);
        for (i, (&a, &b)) in x.iter().zip(y).enumerate() {
            let ac = self.xor(a, c);
            if with_sum {
                sum.push(self.xor(ac, b));
            }
            if i < last || with_carry {
                let bc = self.xor(b, c);
                let t = self.and(ac, bc);
                c = match op {
                    Chain::Add => self.xor(c, t),
                    Chain::Sub => self.xor(b, t),
                };
            }
        }
        (sum, c)
    }

    /// `x + y` and the carry out (n AND gates).
    pub fn add_with_carry(&mut self, x: &[Wire], y: &[Wire]) -> (Vec<Wire>, Wire) {
        self.chain(Chain::Add, x, y, Wire::constant(false), true, true)
    }

    /// `x + y mod 2^n` (n - 1 AND gates).
    pub fn add(&mut self, x: &[Wire], y: &[Wire]) -> Vec<Wire> {
        self.chain(Chain::Add, x, y, Wire::constant(false), true, false)
            .0
    }

    /// `x - y mod 2^n` and the borrow (`x < y`), n AND gates.
    pub fn sub_with_borrow(&mut self, x: &[Wire], y: &[Wire]) -> (Vec<Wire>, Wire) {
        self.chain(Chain::Sub, x, y, Wire::constant(false), true, true)
    }

    /// `x - y mod 2^n` (n - 1 AND gates).
    pub fn sub(&mut self, x: &[Wire], y: &[Wire]) -> Vec<Wire> {
        self.chain(Chain::Sub, x, y, Wire::constant(false), true, false)
            .0
    }

    /// `x < y` (unsigned; n AND gates): the borrow out of `x - y`.
    pub fn lt(&mut self, x: &[Wire], y: &[Wire]) -> Wire {
        self.chain(Chain::Sub, x, y, Wire::constant(false), false, true)
            .1
    }

    /// `x > y` (unsigned; n AND gates).
    pub fn gt(&mut self, x: &[Wire], y: &[Wire]) -> Wire {
        self.lt(y, x)
    }

    /// `x >= y` (unsigned; n AND gates).
    pub fn ge(&mut self, x: &[Wire], y: &[Wire]) -> Wire {
        let lt = self.lt(x, y);
        self.not(lt)
    }

    /// `x <= y` (unsigned; n AND gates).
    pub fn le(&mut self, x: &[Wire], y: &[Wire]) -> Wire {
        self.ge(y, x)
    }

    /// `x == y` (n - 1 AND gates, balanced tree of depth log n).
    pub fn eq(&mut self, x: &[Wire], y: &[Wire]) -> Wire {
        let diff = self.xor_words(x, y);
        let mut level = self.not_word(&diff);
        while level.len() > 1 {
            let next = level
                .chunks(2)
                .map(|p| {
                    if p.len() == 2 {
                        self.and(p[0], p[1])
                    } else {
                        p[0]
                    }
                })
                .collect();
            level = next;
        }
        level.first().copied().unwrap_or(Wire::constant(true))
    }

    /// `if sel { if1 } else { if0 }`, bitwise (n AND gates).
    pub fn mux(&mut self, sel: Wire, if0: &[Wire], if1: &[Wire]) -> Vec<Wire> {
        let d = self.xor_words(if0, if1);
        if0.iter()
            .zip(d)
            .map(|(&a, d)| {
                let t = self.and(sel, d);
                self.xor(a, t)
            })
            .collect()
    }

    /// `x + c mod 2^n` for a public constant `c` (bits of `c` beyond 128 are 0).
    pub fn add_const(&mut self, x: &[Wire], c: u128) -> Vec<Wire> {
        let cw = self.constant_word(c, x.len());
        self.add(x, &cw)
    }

    /// `x - c mod 2^n` and the borrow (`x < c`) for a public constant `c`.
    pub fn sub_const_with_borrow(&mut self, x: &[Wire], c: u128) -> (Vec<Wire>, Wire) {
        let cw = self.constant_word(c, x.len());
        self.sub_with_borrow(x, &cw)
    }

    /// `x >= c` for a public constant `c` (at most n AND gates).
    pub fn ge_const(&mut self, x: &[Wire], c: u128) -> Wire {
        if x.len() < 128 && c >> x.len() != 0 {
            return Wire::constant(false);
        }
        let cw = self.constant_word(c, x.len());
        self.ge(x, &cw)
    }

    /// `x > c` for a public constant `c` (at most n AND gates).
    pub fn gt_const(&mut self, x: &[Wire], c: u128) -> Wire {
        if x.len() < 128 && c >> x.len() != 0 {
            return Wire::constant(false);
        }
        let cw = self.constant_word(c, x.len());
        self.gt(x, &cw)
    }

    /// `x < c` for a public constant `c` (at most n AND gates).
    pub fn lt_const(&mut self, x: &[Wire], c: u128) -> Wire {
        if x.len() < 128 && c >> x.len() != 0 {
            return Wire::constant(true);
        }
        let cw = self.constant_word(c, x.len());
        self.lt(x, &cw)
    }

    /// `x <= c` for a public constant `c` (at most n AND gates).
    pub fn le_const(&mut self, x: &[Wire], c: u128) -> Wire {
        if x.len() < 128 && c >> x.len() != 0 {
            return Wire::constant(true);
        }
        let cw = self.constant_word(c, x.len());
        self.le(x, &cw)
    }

    /// `x == c` for a public constant `c`.
    pub fn eq_const(&mut self, x: &[Wire], c: u128) -> Wire {
        if x.len() < 128 && c >> x.len() != 0 {
            return Wire::constant(false);
        }
        let cw = self.constant_word(c, x.len());
        self.eq(x, &cw)
    }

    /// `(x + y) mod m` for n-bit `x, y < m` and a public modulus `0 < m <= 2^n`
    /// (result unspecified if an input is `>= m`).
    pub fn add_mod(&mut self, x: &[Wire], y: &[Wire], m: u128) -> Vec<Wire> {
        let (mut s, carry) = self.add_with_carry(x, y);
        s.push(carry);
        let (mut t, borrow) = self.sub_const_with_borrow(&s, m);
        // The top bit of the result is 0 either way: select only the low n bits.
        t.truncate(x.len());
        s.truncate(x.len());
        self.mux(borrow, &t, &s)
    }
}
