//! Every gadget against integer arithmetic: exhaustively at widths 1..=4, randomly at 64 bits.

use circa_gc::{Circuit, CircuitBuilder, Wire, bits_to_u128, u128_to_bits};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// A two-operand gadget: builds outputs from (x, y) words.
type Build = fn(&mut CircuitBuilder, &[Wire], &[Wire]) -> Vec<Wire>;
/// Its reference on (x, y, n).
type Reference = fn(u128, u128, usize) -> u128;

fn mask(n: usize) -> u128 {
    if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    }
}

fn circuit(n: usize, build: Build) -> Circuit {
    let mut b = CircuitBuilder::new();
    let x = b.garbler_input(n);
    let y = b.evaluator_input(n);
    let out = build(&mut b, &x, &y);
    b.output(&out);
    b.finish().unwrap()
}

fn run(c: &Circuit, n: usize, x: u128, y: u128) -> u128 {
    bits_to_u128(
        &c.eval_plain(&u128_to_bits(x, n), &u128_to_bits(y, n))
            .unwrap(),
    )
}

fn check(name: &str, build: Build, reference: Reference, max_ands: fn(usize) -> usize) {
    for n in 1..=4 {
        let c = circuit(n, build);
        assert!(
            c.and_count() <= max_ands(n),
            "{name}: {} ANDs at n={n}",
            c.and_count()
        );
        for x in 0..1u128 << n {
            for y in 0..1u128 << n {
                assert_eq!(
                    run(&c, n, x, y),
                    reference(x, y, n),
                    "{name} n={n} x={x} y={y}"
                );
            }
        }
    }
    let c = circuit(64, build);
    assert!(
        c.and_count() <= max_ands(64),
        "{name}: {} ANDs at n=64",
        c.and_count()
    );
    let mut rng = ChaCha20Rng::seed_from_u64(0x6761_6467);
    for i in 0..200 {
        let x = u128::from(rng.next_u64());
        // Also exercise equal operands and neighbours.
        let y = match i % 4 {
            0 => x,
            1 => x.wrapping_add(1) & mask(64),
            _ => u128::from(rng.next_u64()),
        };
        assert_eq!(
            run(&c, 64, x, y),
            reference(x, y, 64),
            "{name} n=64 x={x} y={y}"
        );
    }
}

fn bit(b: bool) -> u128 {
    u128::from(b)
}

#[test]
fn add_and_sub() {
    check(
        "add",
        |b, x, y| b.add(x, y),
        |x, y, n| (x + y) & mask(n),
        |n| n - 1,
    );
    check(
        "add_with_carry",
        |b, x, y| {
            let (mut s, c) = b.add_with_carry(x, y);
            s.push(c);
            s
        },
        |x, y, _| x + y,
        |n| n,
    );
    check(
        "sub",
        |b, x, y| b.sub(x, y),
        |x, y, n| x.wrapping_sub(y) & mask(n),
        |n| n - 1,
    );
    check(
        "sub_with_borrow",
        |b, x, y| {
            let (mut d, borrow) = b.sub_with_borrow(x, y);
            d.push(borrow);
            d
        },
        |x, y, n| (x.wrapping_sub(y) & mask(n)) | (bit(x < y) << n),
        |n| n,
    );
}

#[test]
fn comparators() {
    check(
        "ge",
        |b, x, y| vec![b.ge(x, y)],
        |x, y, _| bit(x >= y),
        |n| n,
    );
    check(
        "gt",
        |b, x, y| vec![b.gt(x, y)],
        |x, y, _| bit(x > y),
        |n| n,
    );
    check(
        "le",
        |b, x, y| vec![b.le(x, y)],
        |x, y, _| bit(x <= y),
        |n| n,
    );
    check(
        "lt",
        |b, x, y| vec![b.lt(x, y)],
        |x, y, _| bit(x < y),
        |n| n,
    );
    check(
        "eq",
        |b, x, y| vec![b.eq(x, y)],
        |x, y, _| bit(x == y),
        |n| n - 1,
    );
}

#[test]
fn comparators_use_exactly_n_and_gates() {
    for n in [1, 7, 32, 64] {
        assert_eq!(circuit(n, |b, x, y| vec![b.ge(x, y)]).and_count(), n);
        assert_eq!(circuit(n, |b, x, y| vec![b.gt(x, y)]).and_count(), n);
    }
}

#[test]
fn comparators_and_subtraction_need_no_not_gates() {
    // One AND and at most three free gates per bit (four with the difference), no NOT gates except
    // the final inversion of `ge`/`le`.
    for n in [1, 7, 41, 64] {
        for (name, build, nots) in [
            ("lt", (|b, x, y| vec![b.lt(x, y)]) as Build, 0),
            ("gt", |b, x, y| vec![b.gt(x, y)], 0),
            ("ge", |b, x, y| vec![b.ge(x, y)], 1),
            ("le", |b, x, y| vec![b.le(x, y)], 1),
            (
                "sub_with_borrow",
                |b, x, y| {
                    let (mut d, br) = b.sub_with_borrow(x, y);
                    d.push(br);
                    d
                },
                0,
            ),
        ] {
            let c = circuit(n, build);
            assert_eq!(c.not_count(), nots, "{name} n={n}");
            let per_bit = if name == "sub_with_borrow" { 5 } else { 4 };
            assert!(
                c.gates().len() <= per_bit * n + nots,
                "{name} n={n}: {} gates",
                c.gates().len()
            );
        }
    }
}

#[test]
fn mux_selects() {
    // Selector = lowest bit of y.
    check(
        "mux",
        |b, x, y| {
            let s = y[0];
            b.mux(s, x, y)
        },
        |x, y, _| if y & 1 == 1 { y } else { x },
        |n| n,
    );
}

#[test]
fn add_mod_matches() {
    // Inputs must be below the modulus: reduce them first with a public modulus of n bits.
    for (n, m) in [
        (3usize, 5u128),
        (4, 16),
        (4, 11),
        (8, 251),
        (64, (1u128 << 61) - 1),
    ] {
        let mut b = CircuitBuilder::new();
        let x = b.garbler_input(n);
        let y = b.evaluator_input(n);
        let s = b.add_mod(&x, &y, m);
        b.output(&s);
        let c = b.finish().unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(n as u64);
        for i in 0..300u128 {
            let (x, y) = if m <= 16 {
                (i % m, (i / m) % m)
            } else {
                (
                    u128::from(rng.next_u64()) % m,
                    u128::from(rng.next_u64()) % m,
                )
            };
            assert_eq!(
                run(&c, n, x, y),
                (x + y) % m,
                "add_mod n={n} m={m} x={x} y={y}"
            );
        }
    }
}

/// Constant gadgets: every constant at small widths, random constants at 64 bits.
#[test]
fn constant_gadgets() {
    type ConstBuild = fn(&mut CircuitBuilder, &[Wire], u128) -> Vec<Wire>;
    let cases: [(&str, ConstBuild, Reference); 8] = [
        (
            "add_const",
            |b, x, c| b.add_const(x, c),
            |x, c, n| (x + c) & mask(n),
        ),
        (
            "sub_const_with_borrow",
            |b, x, c| {
                let (mut d, br) = b.sub_const_with_borrow(x, c);
                d.push(br);
                d
            },
            |x, c, n| (x.wrapping_sub(c) & mask(n)) | (bit(x < c) << n),
        ),
        (
            "ge_const",
            |b, x, c| vec![b.ge_const(x, c)],
            |x, c, _| bit(x >= c),
        ),
        (
            "gt_const",
            |b, x, c| vec![b.gt_const(x, c)],
            |x, c, _| bit(x > c),
        ),
        (
            "lt_const",
            |b, x, c| vec![b.lt_const(x, c)],
            |x, c, _| bit(x < c),
        ),
        (
            "le_const",
            |b, x, c| vec![b.le_const(x, c)],
            |x, c, _| bit(x <= c),
        ),
        (
            "eq_const",
            |b, x, c| vec![b.eq_const(x, c)],
            |x, c, _| bit(x == c),
        ),
        (
            "constant_word",
            |b, x, c| {
                let w = b.constant_word(c, x.len());
                b.xor_words(x, &w)
            },
            |x, c, n| x ^ (c & mask(n)),
        ),
    ];
    let build = |f: ConstBuild, n: usize, c: u128| {
        let mut b = CircuitBuilder::new();
        let x = b.garbler_input(n);
        let out = f(&mut b, &x, c);
        b.output(&out);
        b.finish().unwrap()
    };
    let eval = |circ: &Circuit, n: usize, x: u128| {
        bits_to_u128(&circ.eval_plain(&u128_to_bits(x, n), &[]).unwrap())
    };
    for (name, f, reference) in cases {
        for n in 1..=4 {
            // Constants one beyond the width exercise the out-of-range shortcut of the comparators.
            for c in 0..=(1u128 << n) {
                let circ = build(f, n, c);
                assert!(
                    circ.and_count() <= n,
                    "{name} uses {} ANDs at n={n}",
                    circ.and_count()
                );
                for x in 0..1u128 << n {
                    let want = if name.ends_with("_const")
                        && name != "add_const"
                        && name != "sub_const_with_borrow"
                    {
                        reference(x, c, n)
                    } else {
                        reference(x, c & mask(n), n)
                    };
                    assert_eq!(eval(&circ, n, x), want, "{name} n={n} x={x} c={c}");
                }
            }
        }
        let mut rng = ChaCha20Rng::seed_from_u64(0x636f_6e73);
        for _ in 0..20 {
            let c = u128::from(rng.next_u64());
            let circ = build(f, 64, c);
            for _ in 0..10 {
                let x = u128::from(rng.next_u64());
                assert_eq!(
                    eval(&circ, 64, x),
                    reference(x, c, 64),
                    "{name} n=64 x={x} c={c}"
                );
            }
        }
    }
}
