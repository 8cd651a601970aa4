//! A circuit builder with constant folding and free XOR/NOT.
//!
//! Words are slices of [`Wire`]s, least significant bit first. Gadgets (adders, comparators, mux,
//! ...) live in [`crate::gadgets`] as further methods of [`CircuitBuilder`].
//!
//! Misuse that can only be a programming error (words of different widths, a wire from another
//! builder) does not panic: the builder records the first such error, the offending call returns a
//! constant wire, and [`CircuitBuilder::finish`] returns the error.

use crate::circuit::{Circuit, Gate, GateKind, MAX_WIRES};
use crate::error::Error;

/// A wire handle of a [`CircuitBuilder`]: a constant, an input bit or the output of a gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Wire(Repr);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Repr {
    Const(bool),
    Garbler(u32),
    Evaluator(u32),
    Gate(u32),
}

impl Wire {
    /// The constant wire `bit` (folded away by the builder, never a real wire).
    pub const fn constant(bit: bool) -> Wire {
        Wire(Repr::Const(bit))
    }
    /// `Some(bit)` if this wire is a constant.
    pub const fn as_constant(self) -> Option<bool> {
        match self.0 {
            Repr::Const(b) => Some(b),
            _ => None,
        }
    }
}

/// Builds a [`Circuit`]; see the module documentation.
///
/// ```
/// use circa_gc::CircuitBuilder;
/// let mut b = CircuitBuilder::new();
/// let x = b.garbler_input(8);
/// let y = b.evaluator_input(8);
/// let ge = b.ge(&x, &y);
/// b.output(&[ge]);
/// let c = b.finish().unwrap();
/// assert_eq!(c.and_count(), 8);
/// ```
#[derive(Debug, Default)]
pub struct CircuitBuilder {
    garbler_inputs: u32,
    evaluator_inputs: u32,
    gates: Vec<(GateKind, Wire, Wire)>,
    outputs: Vec<Wire>,
    output_groups: Vec<usize>,
    error: Option<Error>,
}

impl CircuitBuilder {
    /// An empty builder.
    pub fn new() -> CircuitBuilder {
        CircuitBuilder::default()
    }

    /// Records the first misuse; later calls keep building but `finish` fails.
    pub(crate) fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn wire_count(&self) -> u64 {
        u64::from(self.garbler_inputs) + u64::from(self.evaluator_inputs) + self.gates.len() as u64
    }

    fn fresh_ids(&mut self, n: usize) -> Option<u32> {
        let total = self.wire_count() + n as u64;
        if total > MAX_WIRES {
            self.fail(Error::TooManyWires {
                count: total,
                max: MAX_WIRES,
            });
            return None;
        }
        Some(n as u32)
    }

    /// `n` fresh garbler input bits (a word, LSB first).
    pub fn garbler_input(&mut self, n: usize) -> Vec<Wire> {
        let Some(n) = self.fresh_ids(n) else {
            return vec![Wire::constant(false); n];
        };
        let start = self.garbler_inputs;
        self.garbler_inputs += n;
        (start..start + n).map(|k| Wire(Repr::Garbler(k))).collect()
    }

    /// `n` fresh evaluator input bits (a word, LSB first).
    pub fn evaluator_input(&mut self, n: usize) -> Vec<Wire> {
        let Some(n) = self.fresh_ids(n) else {
            return vec![Wire::constant(false); n];
        };
        let start = self.evaluator_inputs;
        self.evaluator_inputs += n;
        (start..start + n)
            .map(|k| Wire(Repr::Evaluator(k)))
            .collect()
    }

    /// Declares `wires` as the next output group.
    pub fn output(&mut self, wires: &[Wire]) {
        for &w in wires {
            self.check(w);
        }
        self.outputs.extend_from_slice(wires);
        self.output_groups.push(wires.len());
    }

    /// The constant `bit`.
    pub fn constant(&mut self, bit: bool) -> Wire {
        Wire::constant(bit)
    }

    /// The low `width` bits of `value` as constant wires, LSB first (bits beyond 128 are 0).
    pub fn constant_word(&mut self, value: u128, width: usize) -> Vec<Wire> {
        (0..width)
            .map(|i| Wire::constant(i < 128 && (value >> i) & 1 == 1))
            .collect()
    }

    fn check(&mut self, w: Wire) {
        let ok = match w.0 {
            Repr::Const(_) => true,
            Repr::Garbler(k) => k < self.garbler_inputs,
            Repr::Evaluator(k) => k < self.evaluator_inputs,
            Repr::Gate(k) => (k as usize) < self.gates.len(),
        };
        if !ok {
            let wire = match w.0 {
                Repr::Garbler(k) | Repr::Evaluator(k) | Repr::Gate(k) => k,
                Repr::Const(_) => 0,
            };
            self.fail(Error::ForeignWire { wire });
        }
    }

    fn gate(&mut self, kind: GateKind, a: Wire, b: Wire) -> Wire {
        self.check(a);
        self.check(b);
        if self.fresh_ids(1).is_none() {
            return Wire::constant(false);
        }
        let id = self.gates.len() as u32;
        self.gates.push((kind, a, b));
        Wire(Repr::Gate(id))
    }

    /// `a ^ b` (free; folded when an input is constant or `a == b`).
    pub fn xor(&mut self, a: Wire, b: Wire) -> Wire {
        match (a.as_constant(), b.as_constant()) {
            (Some(x), Some(y)) => Wire::constant(x ^ y),
            (Some(false), None) => b,
            (Some(true), None) => self.not(b),
            (None, Some(false)) => a,
            (None, Some(true)) => self.not(a),
            (None, None) if a == b => Wire::constant(false),
            (None, None) => self.gate(GateKind::Xor, a, b),
        }
    }

    /// `a & b` (one AND gate unless folded: constant input or `a == b`).
    pub fn and(&mut self, a: Wire, b: Wire) -> Wire {
        match (a.as_constant(), b.as_constant()) {
            (Some(x), Some(y)) => Wire::constant(x & y),
            (Some(false), None) | (None, Some(false)) => Wire::constant(false),
            (Some(true), None) => b,
            (None, Some(true)) => a,
            (None, None) if a == b => a,
            (None, None) => self.gate(GateKind::And, a, b),
        }
    }

    /// `!a` (free; folded when `a` is a constant or itself a NOT: `!!a` is `a`).
    pub fn not(&mut self, a: Wire) -> Wire {
        if let Repr::Gate(k) = a.0
            && let Some(&(GateKind::Not, inner, _)) = self.gates.get(k as usize)
        {
            return inner;
        }
        match a.as_constant() {
            Some(x) => Wire::constant(!x),
            None => self.gate(GateKind::Not, a, a),
        }
    }

    /// `a | b` (one AND gate).
    pub fn or(&mut self, a: Wire, b: Wire) -> Wire {
        let x = self.xor(a, b);
        let y = self.and(a, b);
        self.xor(x, y)
    }

    /// Checks that two words have equal widths (recording an error otherwise).
    pub(crate) fn same_width(&mut self, x: &[Wire], y: &[Wire]) -> bool {
        if x.len() == y.len() {
            true
        } else {
            self.fail(Error::WidthMismatch {
                left: x.len(),
                right: y.len(),
            });
            false
        }
    }

    /// Bitwise XOR of two words of equal width.
    pub fn xor_words(&mut self, x: &[Wire], y: &[Wire]) -> Vec<Wire> {
        self.same_width(x, y);
        x.iter().zip(y).map(|(&a, &b)| self.xor(a, b)).collect()
    }

    /// Bitwise AND of two words of equal width.
    pub fn and_words(&mut self, x: &[Wire], y: &[Wire]) -> Vec<Wire> {
        self.same_width(x, y);
        x.iter().zip(y).map(|(&a, &b)| self.and(a, b)).collect()
    }

    /// Bitwise NOT of a word.
    pub fn not_word(&mut self, x: &[Wire]) -> Vec<Wire> {
        x.iter().map(|&a| self.not(a)).collect()
    }

    /// Number of AND gates emitted so far.
    pub fn and_count(&self) -> usize {
        self.gates.iter().filter(|g| g.0 == GateKind::And).count()
    }

    /// Finishes and validates the circuit. Constant outputs are materialised from the first input
    /// wire (`w ^ w`), so a circuit with a constant output needs at least one input.
    pub fn finish(mut self) -> Result<Circuit, Error> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let (g, e) = (self.garbler_inputs, self.evaluator_inputs);
        let mut gates: Vec<Gate> = Vec::with_capacity(self.gates.len() + 2);
        let base = g + e;
        let id = |w: Wire| -> u32 {
            match w.0 {
                Repr::Garbler(k) => k,
                Repr::Evaluator(k) => g + k,
                Repr::Gate(k) => base + k,
                Repr::Const(_) => u32::MAX, // never stored in a gate: folding removes constants
            }
        };
        for (m, &(kind, a, b)) in self.gates.iter().enumerate() {
            gates.push(Gate {
                kind,
                a: id(a),
                b: id(b),
                out: base + m as u32,
            });
        }
        let mut num_wires = u64::from(base) + gates.len() as u64;
        let mut constants = [None, None];
        let mut outputs = Vec::with_capacity(self.outputs.len());
        for &w in &self.outputs {
            let o = match w.as_constant() {
                None => id(w),
                Some(bit) => {
                    if base == 0 {
                        return Err(Error::ConstantWithoutInputs);
                    }
                    if constants[0].is_none() {
                        if num_wires + 2 > MAX_WIRES {
                            return Err(Error::TooManyWires {
                                count: num_wires + 2,
                                max: MAX_WIRES,
                            });
                        }
                        let zero = num_wires as u32;
                        gates.push(Gate::xor(0, 0, zero));
                        gates.push(Gate::not(zero, zero + 1));
                        constants = [Some(zero), Some(zero + 1)];
                        num_wires += 2;
                    }
                    constants[usize::from(bit)].unwrap_or(0)
                }
            };
            outputs.push(o);
        }
        Circuit::with_output_groups(
            num_wires as usize,
            g as usize,
            e as usize,
            gates,
            outputs,
            self.output_groups,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_constants_and_counts() {
        let mut b = CircuitBuilder::new();
        let x = b.garbler_input(1)[0];
        let y = b.evaluator_input(1)[0];
        let one = b.constant(true);
        let zero = b.constant(false);
        assert_eq!(b.and(x, zero), zero);
        assert_eq!(b.and(x, one), x);
        assert_eq!(b.xor(x, zero), x);
        assert_eq!(b.xor(x, x), zero);
        assert_eq!(b.and(x, x), x);
        let nx0 = b.not(x);
        assert_eq!(b.not(nx0), x);
        let nx = b.xor(x, one);
        let a = b.and(nx, y);
        let o = b.or(x, y);
        assert_eq!(b.and_count(), 2);
        b.output(&[a, o, one, zero, x]);
        let c = b.finish().unwrap();
        for (gx, gy) in [(false, false), (false, true), (true, false), (true, true)] {
            assert_eq!(
                c.eval_plain(&[gx], &[gy]).unwrap(),
                vec![!gx & gy, gx | gy, true, false, gx]
            );
        }
    }

    #[test]
    fn misuse_is_reported_by_finish() {
        let mut b = CircuitBuilder::new();
        let x = b.garbler_input(3);
        let y = b.evaluator_input(2);
        let _ = b.xor_words(&x, &y);
        assert!(matches!(
            b.finish(),
            Err(Error::WidthMismatch { left: 3, right: 2 })
        ));

        let mut other = CircuitBuilder::new();
        let z = other.garbler_input(5);
        let mut b = CircuitBuilder::new();
        let x = b.garbler_input(1);
        let _ = b.and(x[0], z[4]);
        assert!(matches!(b.finish(), Err(Error::ForeignWire { wire: 4 })));

        let mut b = CircuitBuilder::new();
        let one = b.constant(true);
        b.output(&[one]);
        assert!(matches!(b.finish(), Err(Error::ConstantWithoutInputs)));
    }
}
