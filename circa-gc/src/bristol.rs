//! Bristol Fashion circuit files: reader and writer.
//!
//! Format: a header line `gates wires`, a line `niv n_1 .. n_niv` (input groups), a line
//! `nov m_1 .. m_nov` (output groups), then one gate per line: `nin nout in.. out.. OP` with `OP` one of
//! `XOR`, `AND`, `INV` (or `NOT`), `EQ` (assign the constant 0 or 1), `EQW` (copy) and `MAND`
//! (`2k k a_1..a_k b_1..b_k c_1..c_k`: `c_i = a_i & b_i`). The outputs are the last wires. Blank lines
//! are ignored. The first input group is the garbler's, the second (if any) the evaluator's.
//!
//! The reader bounds every declared size ([`BristolLimits`]) before allocating; malformed input gives
//! [`Error::Bristol`] with the one-based line number. `EQW` and `EQ` are resolved by renaming wires, so
//! a read circuit may have fewer wires than the file declares.

use std::io::{BufRead, Write};
use std::path::Path;

use crate::circuit::{Circuit, Gate, GateKind};
use crate::error::{BristolError, Error};

/// Bounds on the header values the reader accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BristolLimits {
    /// Maximum declared gate count.
    pub max_gates: u64,
    /// Maximum declared wire count.
    pub max_wires: u64,
    /// Maximum number of output groups.
    pub max_groups: u64,
}

impl Default for BristolLimits {
    fn default() -> Self {
        BristolLimits {
            max_gates: 1 << 27,
            max_wires: 1 << 27,
            max_groups: 1 << 16,
        }
    }
}

const UNDEFINED: u32 = u32::MAX;

/// Longest line the reader accepts, in bytes (a longer one is [`BristolError::LineTooLong`], so a
/// file without line breaks cannot make the reader buffer it whole).
pub const MAX_LINE_BYTES: usize = 1 << 24;

/// Reads a Bristol Fashion circuit with the default limits.
pub fn read_bristol<R: BufRead>(reader: R) -> Result<Circuit, Error> {
    read_bristol_with_limits(reader, BristolLimits::default())
}

/// Reads a Bristol Fashion circuit from a file with the default limits.
pub fn read_bristol_file(path: impl AsRef<Path>) -> Result<Circuit, Error> {
    let f = std::fs::File::open(path)?;
    read_bristol(std::io::BufReader::new(f))
}

/// Parses a Bristol Fashion circuit held in a string.
pub fn parse_bristol(text: &str) -> Result<Circuit, Error> {
    read_bristol(text.as_bytes())
}

struct Lines<R> {
    reader: R,
    buf: String,
    line: usize,
}

impl<R: BufRead> Lines<R> {
    /// Moves to the next non-blank line; `false` at end of file.
    fn advance(&mut self) -> Result<bool, Error> {
        use std::io::Read;
        loop {
            self.buf.clear();
            let limit = MAX_LINE_BYTES as u64 + 1;
            let read = match (&mut self.reader).take(limit).read_line(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Err(self.err_next(BristolError::NotUtf8));
                }
                Err(e) => return Err(e.into()),
            };
            if read == 0 {
                return Ok(false);
            }
            if read > MAX_LINE_BYTES {
                let max = MAX_LINE_BYTES;
                return Err(self.err_next(BristolError::LineTooLong { max }));
            }
            self.line += 1;
            if !self.buf.trim().is_empty() {
                return Ok(true);
            }
        }
    }

    /// The next non-blank line's tokens; an error at end of file.
    fn next_tokens(&mut self) -> Result<Vec<&str>, Error> {
        if !self.advance()? {
            return Err(Error::Bristol {
                line: self.line + 1,
                reason: BristolError::UnexpectedEof,
            });
        }
        Ok(self.buf.split_ascii_whitespace().collect())
    }

    /// An error about the line being read (not yet counted).
    fn err_next(&self, reason: BristolError) -> Error {
        Error::Bristol {
            line: self.line + 1,
            reason,
        }
    }

    fn err(&self, reason: BristolError) -> Error {
        Error::Bristol {
            line: self.line,
            reason,
        }
    }
}

fn number(tokens: &[&str], index: usize) -> Result<u64, BristolError> {
    tokens
        .get(index)
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or(BristolError::InvalidNumber { index })
}

fn bounded(v: u64, field: &'static str, max: u64) -> Result<u64, BristolError> {
    if v > max {
        Err(BristolError::HeaderTooLarge {
            field,
            value: v,
            max,
        })
    } else {
        Ok(v)
    }
}

/// A group line `count n_1 .. n_count`; returns the sizes.
fn group_line(
    tokens: &[&str],
    field: &'static str,
    max_groups: u64,
) -> Result<Vec<u64>, BristolError> {
    let count = bounded(number(tokens, 0)?, field, max_groups)?;
    let expected = count as usize + 1;
    if tokens.len() != expected {
        return Err(BristolError::WrongTokenCount {
            expected,
            actual: tokens.len(),
        });
    }
    (1..expected).map(|i| number(tokens, i)).collect()
}

/// The total size of `groups`, which must not exceed the wire count.
fn group_total(groups: &[u64], what: &'static str, num_wires: u64) -> Result<u64, BristolError> {
    let bits = groups.iter().fold(0u64, |a, &b| a.saturating_add(b));
    if bits > num_wires {
        Err(BristolError::TooManyBits {
            what,
            bits,
            num_wires,
        })
    } else {
        Ok(bits)
    }
}

/// Reads a Bristol Fashion circuit, rejecting headers beyond `limits` before allocating.
pub fn read_bristol_with_limits<R: BufRead>(
    reader: R,
    limits: BristolLimits,
) -> Result<Circuit, Error> {
    let mut lines = Lines {
        reader,
        buf: String::new(),
        line: 0,
    };
    let header = lines.next_tokens()?;
    let parsed = (|| {
        if header.len() != 2 {
            return Err(BristolError::WrongTokenCount {
                expected: 2,
                actual: header.len(),
            });
        }
        let g = bounded(number(&header, 0)?, "gates", limits.max_gates)?;
        let w = bounded(
            number(&header, 1)?,
            "wires",
            limits.max_wires.min(u64::from(u32::MAX - 2)),
        )?;
        Ok((g, w))
    })();
    let (num_gates, num_wires) = parsed.map_err(|r| lines.err(r))?;

    let inputs = lines.next_tokens()?;
    let input_groups = group_line(&inputs, "input groups", 2).map_err(|r| lines.err(r))?;
    if input_groups.is_empty() {
        return Err(lines.err(BristolError::UnsupportedInputGroups { count: 0 }));
    }
    let total_in = group_total(&input_groups, "input", num_wires).map_err(|r| lines.err(r))?;
    let garbler_inputs = input_groups[0] as usize;
    let evaluator_inputs = input_groups.get(1).copied().unwrap_or(0) as usize;

    let outputs = lines.next_tokens()?;
    let output_groups =
        group_line(&outputs, "output groups", limits.max_groups).map_err(|r| lines.err(r))?;
    let total_out = group_total(&output_groups, "output", num_wires).map_err(|r| lines.err(r))?;
    let outputs_line = lines.line;

    // file wire -> circuit wire; grows with the wires actually used (never beyond `num_wires`).
    let mut map: Vec<u32> = (0..total_in as u32).collect();
    let mut gates: Vec<Gate> = Vec::with_capacity(num_gates.min(1 << 20) as usize);
    let mut next = total_in as u32;
    let mut constants: Option<(u32, u32)> = None;

    for _ in 0..num_gates {
        let tokens = lines.next_tokens()?;
        let r = parse_gate(
            &tokens,
            num_wires,
            &mut map,
            &mut gates,
            &mut next,
            &mut constants,
            total_in,
        );
        r.map_err(|reason| lines.err(reason))?;
    }
    if lines.advance()? {
        return Err(lines.err(BristolError::TrailingContent));
    }

    let mut out = Vec::with_capacity(total_out as usize);
    for wire in num_wires - total_out..num_wires {
        match map.get(wire as usize) {
            Some(&w) if w != UNDEFINED => out.push(w),
            _ => {
                let reason = BristolError::WireUndefined { wire };
                return Err(Error::Bristol {
                    line: outputs_line,
                    reason,
                });
            }
        }
    }
    let groups = output_groups.iter().map(|&g| g as usize).collect();
    // The checks above guarantee validity; a failure here would be a reader bug, reported as is.
    Circuit::with_output_groups(
        next as usize,
        garbler_inputs,
        evaluator_inputs,
        gates,
        out,
        groups,
    )
}

fn parse_gate(
    tokens: &[&str],
    num_wires: u64,
    map: &mut Vec<u32>,
    gates: &mut Vec<Gate>,
    next: &mut u32,
    constants: &mut Option<(u32, u32)>,
    total_in: u64,
) -> Result<(), BristolError> {
    let nin = number(tokens, 0)?;
    let nout = number(tokens, 1)?;
    let expected = nin.saturating_add(nout).saturating_add(3);
    if expected != tokens.len() as u64 {
        return Err(BristolError::WrongTokenCount {
            expected: expected as usize,
            actual: tokens.len(),
        });
    }
    let (nin, nout) = (nin as usize, nout as usize);
    let op = tokens[tokens.len() - 1];
    let wire = |i: usize| -> Result<u64, BristolError> {
        let w = number(tokens, i)?;
        if w >= num_wires {
            Err(BristolError::WireOutOfRange { wire: w, num_wires })
        } else {
            Ok(w)
        }
    };
    let read = |map: &Vec<u32>, i: usize| -> Result<u32, BristolError> {
        let w = wire(i)?;
        match map.get(w as usize) {
            Some(&v) if v != UNDEFINED => Ok(v),
            _ => Err(BristolError::WireUndefined { wire: w }),
        }
    };
    let write = |map: &mut Vec<u32>, i: usize, value: u32| -> Result<(), BristolError> {
        let w = wire(i)? as usize;
        if map.len() <= w {
            map.resize(w + 1, UNDEFINED);
        }
        if map[w] != UNDEFINED {
            return Err(BristolError::WireWrittenTwice { wire: w as u64 });
        }
        map[w] = value;
        Ok(())
    };
    let arity = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(BristolError::BadArity {
                inputs: nin as u64,
                outputs: nout as u64,
            })
        }
    };
    let mut emit = |kind: GateKind, a: u32, b: u32, gates: &mut Vec<Gate>| -> u32 {
        let out = *next;
        *next += 1;
        gates.push(Gate { kind, a, b, out });
        out
    };
    match op {
        "XOR" | "AND" => {
            arity(nin == 2 && nout == 1)?;
            let (a, b) = (read(map, 2)?, read(map, 3)?);
            let kind = if op == "XOR" {
                GateKind::Xor
            } else {
                GateKind::And
            };
            write(map, 4, UNDEFINED - 1)?; // reserve first so a self-loop is rejected cleanly
            let out = emit(kind, a, b, gates);
            map[wire(4)? as usize] = out;
        }
        "INV" | "NOT" | "EQW" => {
            arity(nin == 1 && nout == 1)?;
            let a = read(map, 2)?;
            let out = if op == "EQW" {
                a
            } else {
                emit(GateKind::Not, a, a, gates)
            };
            write(map, 3, out)?;
        }
        "EQ" => {
            arity(nin == 1 && nout == 1)?;
            let bit = number(tokens, 2)?;
            if bit > 1 {
                return Err(BristolError::InvalidNumber { index: 2 });
            }
            if total_in == 0 {
                return Err(BristolError::ConstantWithoutInputs);
            }
            let (zero, one) = match *constants {
                Some(c) => c,
                None => {
                    let zero = emit(GateKind::Xor, 0, 0, gates);
                    let one = emit(GateKind::Not, zero, zero, gates);
                    *constants = Some((zero, one));
                    (zero, one)
                }
            };
            write(map, 3, if bit == 1 { one } else { zero })?;
        }
        "MAND" => {
            arity(nin >= 2 && nin == 2 * nout)?;
            for i in 0..nout {
                let (a, b) = (read(map, 2 + i)?, read(map, 2 + nout + i)?);
                write(map, 2 + nin + i, UNDEFINED - 1)?;
                let out = emit(GateKind::And, a, b, gates);
                map[wire(2 + nin + i)? as usize] = out;
            }
        }
        _ => return Err(BristolError::UnknownGate),
    }
    Ok(())
}

/// Writes `circuit` in Bristol Fashion. If the outputs are not already the last wires in order,
/// `EQW` copies put them there.
pub fn write_bristol<W: Write>(circuit: &Circuit, mut w: W) -> Result<(), Error> {
    let n = circuit.num_wires();
    let outs = circuit.outputs();
    let inputs = circuit.garbler_inputs() + circuit.evaluator_inputs();
    let in_place = outs
        .iter()
        .enumerate()
        .all(|(i, &o)| o as usize == n - outs.len() + i)
        && outs.iter().all(|&o| o as usize >= inputs);
    let copies = if in_place { 0 } else { outs.len() };
    writeln!(w, "{} {}", circuit.gates().len() + copies, n + copies)?;
    if circuit.evaluator_inputs() == 0 {
        writeln!(w, "1 {}", circuit.garbler_inputs())?;
    } else {
        writeln!(
            w,
            "2 {} {}",
            circuit.garbler_inputs(),
            circuit.evaluator_inputs()
        )?;
    }
    let groups = circuit.output_groups();
    write!(w, "{}", groups.len())?;
    for g in groups {
        write!(w, " {g}")?;
    }
    writeln!(w)?;
    writeln!(w)?;
    for g in circuit.gates() {
        match g.kind {
            GateKind::Xor => writeln!(w, "2 1 {} {} {} XOR", g.a, g.b, g.out)?,
            GateKind::And => writeln!(w, "2 1 {} {} {} AND", g.a, g.b, g.out)?,
            GateKind::Not => writeln!(w, "1 1 {} {} INV", g.a, g.out)?,
        }
    }
    if !in_place {
        for (i, &o) in outs.iter().enumerate() {
            writeln!(w, "1 1 {} {} EQW", o, n + i)?;
        }
    }
    w.flush()?;
    Ok(())
}

/// The Bristol Fashion text of `circuit`.
pub fn to_bristol_string(circuit: &Circuit) -> String {
    let mut v = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_bristol(circuit, &mut v);
    String::from_utf8_lossy(&v).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> (usize, BristolError) {
        match parse_bristol(text) {
            Err(Error::Bristol { line, reason }) => (line, reason),
            other => panic!("expected a Bristol error, got {other:?}"),
        }
    }

    const SMALL: &str = "3 6\n2 1 1\n1 2\n\n2 1 0 1 2 AND\n1 1 2 4 INV\n1 1 0 5 EQW\n";

    #[test]
    fn reads_and_round_trips() {
        let c = parse_bristol(SMALL).unwrap();
        assert_eq!(
            (c.garbler_inputs(), c.evaluator_inputs(), c.and_count()),
            (1, 1, 1)
        );
        for (x, y) in [(false, false), (true, true), (true, false)] {
            assert_eq!(c.eval_plain(&[x], &[y]).unwrap(), vec![!(x & y), x]);
        }
        let again = parse_bristol(&to_bristol_string(&c)).unwrap();
        for (x, y) in [(false, false), (true, true), (false, true)] {
            assert_eq!(
                again.eval_plain(&[x], &[y]).unwrap(),
                c.eval_plain(&[x], &[y]).unwrap()
            );
        }
        assert_eq!(
            reason("1 4\n1 1\n1 1\n1 1 2 3 EQ\n"),
            (4, BristolError::InvalidNumber { index: 2 })
        );
        let c = parse_bristol("2 7\n1 3\n1 3\n4 2 0 1 1 2 4 5 MAND\n1 1 1 6 EQ\n").unwrap();
        assert_eq!(
            c.eval_plain(&[true, true, false], &[]).unwrap(),
            vec![true, false, true]
        );
    }

    #[test]
    fn malformed_lines_name_the_line() {
        assert_eq!(reason(""), (1, BristolError::UnexpectedEof));
        assert_eq!(
            reason("1\n"),
            (
                1,
                BristolError::WrongTokenCount {
                    expected: 2,
                    actual: 1
                }
            )
        );
        assert_eq!(
            reason("1 x\n"),
            (1, BristolError::InvalidNumber { index: 1 })
        );
        assert_eq!(
            reason("1 3\n3 1 1 1\n"),
            (
                2,
                BristolError::HeaderTooLarge {
                    field: "input groups",
                    value: 3,
                    max: 2
                }
            )
        );
        assert_eq!(
            reason("1 3\n2 1\n"),
            (
                2,
                BristolError::WrongTokenCount {
                    expected: 3,
                    actual: 2
                }
            )
        );
        assert_eq!(
            reason("1 3\n2 1 1\n1 1\n\n2 1 0 1 2 NAND\n"),
            (5, BristolError::UnknownGate)
        );
        assert_eq!(
            reason("1 3\n2 1 1\n1 1\n2 1 0 1 3 AND\n"),
            (
                4,
                BristolError::WireOutOfRange {
                    wire: 3,
                    num_wires: 3
                }
            )
        );
        assert_eq!(
            reason("1 3\n2 1 1\n1 1\n2 1 0 2 2 AND\n"),
            (4, BristolError::WireUndefined { wire: 2 })
        );
        assert_eq!(
            reason("1 3\n2 1 1\n1 1\n2 1 0 1 1 AND\n"),
            (4, BristolError::WireWrittenTwice { wire: 1 })
        );
        assert_eq!(
            reason("1 3\n2 1 1\n1 1\n2 1 0 1 2 AND 7\n"),
            (
                4,
                BristolError::WrongTokenCount {
                    expected: 6,
                    actual: 7
                }
            )
        );
        assert_eq!(
            reason("1 3\n2 1 1\n1 1\n1 1 0 2 AND\n"),
            (
                4,
                BristolError::BadArity {
                    inputs: 1,
                    outputs: 1
                }
            )
        );
        assert_eq!(
            reason("2 4\n2 1 1\n1 1\n2 1 0 1 2 AND\n"),
            (5, BristolError::UnexpectedEof)
        );
        assert_eq!(
            reason("1 3\n2 1 1\n1 1\n2 1 0 1 2 AND\n2 1 0 1 2 AND\n"),
            (5, BristolError::TrailingContent)
        );
        assert_eq!(
            reason("1 4\n2 1 1\n1 1\n2 1 0 1 2 AND\n"),
            (3, BristolError::WireUndefined { wire: 3 })
        );
        assert_eq!(
            reason("1 3\n2 2 2\n1 1\n"),
            (
                2,
                BristolError::TooManyBits {
                    what: "input",
                    bits: 4,
                    num_wires: 3
                }
            )
        );
        assert_eq!(
            reason("1 3\n2 1 1\n1 1\n18446744073709551615 1 0 1 2 AND\n").1,
            BristolError::WrongTokenCount {
                expected: usize::MAX,
                actual: 6
            }
        );
    }

    #[test]
    fn endless_long_or_binary_lines_are_errors() {
        // An endless line (no newline ever) stops at the line limit instead of buffering it all.
        let endless = std::io::BufReader::new(std::io::repeat(b'7'));
        assert!(matches!(
            read_bristol(endless),
            Err(Error::Bristol {
                line: 1,
                reason: BristolError::LineTooLong {
                    max: MAX_LINE_BYTES
                }
            })
        ));
        let mut long = "1 3\n2 1 1\n".to_string();
        long.push_str(&" ".repeat(MAX_LINE_BYTES));
        long.push_str("1 1\n");
        assert_eq!(
            reason(&long),
            (
                3,
                BristolError::LineTooLong {
                    max: MAX_LINE_BYTES
                }
            )
        );
        // A line of exactly the limit (newline included) is accepted.
        let mut ok = "1 3\n2 1 1\n".to_string();
        ok.push_str(&" ".repeat(MAX_LINE_BYTES - 4));
        ok.push_str("1 1\n2 1 0 1 2 AND\n");
        assert_eq!(parse_bristol(&ok).unwrap().and_count(), 1);
        let binary: &[u8] = b"1 3\n2 1 \xff\n";
        assert!(matches!(
            read_bristol(binary),
            Err(Error::Bristol {
                line: 2,
                reason: BristolError::NotUtf8
            })
        ));
    }

    #[test]
    fn oversized_headers_are_rejected_before_allocating() {
        let (line, r) = reason("99999999999 5\n");
        assert_eq!(line, 1);
        assert!(matches!(
            r,
            BristolError::HeaderTooLarge { field: "gates", .. }
        ));
        let (_, r) = reason("1 18446744073709551615\n");
        assert!(matches!(
            r,
            BristolError::HeaderTooLarge { field: "wires", .. }
        ));
        let (line, r) = reason("1 3\n2 1 1\n99999999 1\n");
        assert_eq!(line, 3);
        assert!(matches!(
            r,
            BristolError::HeaderTooLarge {
                field: "output groups",
                ..
            }
        ));
        let tight = BristolLimits {
            max_gates: 10,
            max_wires: 10,
            max_groups: 2,
        };
        let e = read_bristol_with_limits("11 3\n".as_bytes(), tight).unwrap_err();
        assert!(matches!(
            e,
            Error::Bristol {
                line: 1,
                reason: BristolError::HeaderTooLarge {
                    value: 11,
                    max: 10,
                    ..
                }
            }
        ));
    }
}
