//! Reading inputs from simple text files: one comma-separated line per image, as in the
//! bundled `models/data/*.csv` (`sample_input.csv`: `v0,...,v(n-1)`; `digits_test.csv`:
//! `label,v0,...,v(n-1)`). Values must be finite; every line is checked for its length.

use crate::error::{NnError, Result};

/// Largest number of lines read from one data file.
pub const MAX_DATA_LINES: usize = 1 << 20;

fn parse_values(line: &str, line_no: usize, first_field: usize, out: &mut Vec<f64>) -> Result<()> {
    for (i, field) in line.split(',').enumerate() {
        let v: f64 = field
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or(NnError::InvalidDataField {
                line: line_no,
                field: first_field + i,
            })?;
        out.push(v);
    }
    Ok(())
}

fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}

/// Fails once `read` lines have been accepted and another one comes.
fn check_line_limit(read: usize) -> Result<()> {
    if read >= MAX_DATA_LINES {
        return Err(NnError::LimitExceeded {
            what: "data lines",
            value: read as u64 + 1,
            limit: MAX_DATA_LINES as u64,
        });
    }
    Ok(())
}

/// Parses exactly `len` comma-separated values (fields numbered from `first_field`).
fn parse_row(text: &str, line_no: usize, first_field: usize, len: usize) -> Result<Vec<f64>> {
    // A row of `len` values has `len - 1` commas; check before allocating.
    let fields = text.bytes().filter(|&b| b == b',').count() + 1;
    if fields != len {
        return Err(NnError::InputLengthMismatch {
            expected: len,
            actual: fields,
        });
    }
    let mut v = Vec::with_capacity(len);
    parse_values(text, line_no, first_field, &mut v)?;
    Ok(v)
}

/// Parses inputs of `len` values each, one per non-empty line.
pub fn parse_inputs(text: &str, len: usize) -> Result<Vec<Vec<f64>>> {
    let mut out = Vec::new();
    for (line_no, line) in lines(text) {
        check_line_limit(out.len())?;
        out.push(parse_row(line, line_no, 0, len)?);
    }
    Ok(out)
}

/// Parses labelled inputs `label,v0,...,v(len-1)`, one per non-empty line. Labels are
/// non-negative integers below `classes`.
pub fn parse_labelled(text: &str, len: usize, classes: usize) -> Result<Vec<(usize, Vec<f64>)>> {
    let mut out = Vec::new();
    for (line_no, line) in lines(text) {
        check_line_limit(out.len())?;
        let (label, rest) = line.split_once(',').ok_or(NnError::InputLengthMismatch {
            expected: len,
            actual: 0,
        })?;
        let label = label
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&l| l < classes)
            .ok_or(NnError::InvalidDataField {
                line: line_no,
                field: 0,
            })?;
        out.push((label, parse_row(rest, line_no, 1, len)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            parse_inputs("0.5, 1\n\n-2,3e-1\n", 2),
            Ok(vec![vec![0.5, 1.0], vec![-2.0, 0.3]])
        );
        assert_eq!(
            parse_inputs("1,2,3", 2),
            Err(NnError::InputLengthMismatch {
                expected: 2,
                actual: 3
            })
        );
        assert_eq!(
            parse_inputs("1,x", 2),
            Err(NnError::InvalidDataField { line: 1, field: 1 })
        );
        assert_eq!(
            parse_inputs("1,NaN", 2),
            Err(NnError::InvalidDataField { line: 1, field: 1 })
        );
        assert_eq!(
            parse_labelled("3,0.25,0.5\n9,1,0", 2, 10),
            Ok(vec![(3, vec![0.25, 0.5]), (9, vec![1.0, 0.0])])
        );
        assert_eq!(
            parse_labelled("10,0.25,0.5", 2, 10),
            Err(NnError::InvalidDataField { line: 1, field: 0 })
        );
        assert_eq!(
            parse_labelled("1,0.25,x", 2, 10),
            Err(NnError::InvalidDataField { line: 1, field: 2 })
        );
    }
}
