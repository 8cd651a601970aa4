//! The two-party driver: garbler and evaluator in two threads over memory and TCP loopback.

mod common;

use std::thread;

use circa_gc::{
    Circuit, CircuitBuilder, Error, Evaluator2pc, Garbler2pc, Reveal, bits_to_hex, hex_to_bits,
};
use circa_ot::{Channel, ChannelStats, MemChannel, TcpChannel};
use common::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

type Outcome = Result<Option<Vec<bool>>, Error>;

/// Runs `circuits` in sequence in one session; returns each party's results.
fn run_pair<C: Channel + Send + 'static>(
    (mut gch, mut ech): (C, C),
    jobs: Vec<(Circuit, Vec<bool>, Vec<bool>, Reveal)>,
) -> (Vec<Outcome>, Vec<Outcome>) {
    let g_jobs: Vec<_> = jobs
        .iter()
        .map(|(c, x, _, r)| (c.clone(), x.clone(), *r))
        .collect();
    let garbler = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut g = match Garbler2pc::setup(&mut gch, &mut rng) {
            Ok(g) => g,
            Err(e) => return vec![Err(e)],
        };
        g_jobs
            .iter()
            .map(|(c, x, r)| g.run(&mut gch, c, x, *r, &mut rng))
            .collect::<Vec<_>>()
    });
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let evaluator = match Evaluator2pc::setup(&mut ech, &mut rng) {
        Ok(mut e) => jobs
            .iter()
            .map(|(c, _, y, r)| e.run(&mut ech, c, y, *r))
            .collect(),
        Err(e) => vec![Err(e)],
    };
    drop(ech);
    (garbler.join().expect("garbler thread"), evaluator)
}

#[test]
fn aes_128_known_answer_and_random_inputs_over_tcp() {
    use aes::Aes128;
    use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
    let Some(c) = shared_circuit("aes_128.txt") else {
        return;
    };
    let hex = |b: &[u8]| b.iter().map(|v| format!("{v:02x}")).collect::<String>();
    let mut jobs = vec![(
        c.clone(),
        hex_to_bits(AES_KEY, 128).unwrap(),
        hex_to_bits(AES_PT, 128).unwrap(),
        Reveal::Both,
    )];
    let mut want = vec![AES_CT.to_string()];
    let mut rng = ChaCha20Rng::seed_from_u64(0xae5);
    for _ in 0..3 {
        let (mut key, mut pt) = ([0u8; 16], [0u8; 16]);
        rng.fill_bytes(&mut key);
        rng.fill_bytes(&mut pt);
        let mut block = Array::from(pt);
        Aes128::new(&Array::from(key)).encrypt_block(&mut block);
        want.push(hex(&block.0));
        jobs.push((
            c.clone(),
            hex_to_bits(&hex(&key), 128).unwrap(),
            hex_to_bits(&hex(&pt), 128).unwrap(),
            Reveal::Both,
        ));
    }
    let (g, e) = run_pair(TcpChannel::loopback_pair().unwrap(), jobs);
    for ((g, e), want) in g.into_iter().zip(e).zip(want) {
        assert_eq!(bits_to_hex(&e.unwrap().unwrap()), want);
        assert_eq!(bits_to_hex(&g.unwrap().unwrap()), want);
    }
}

fn compare_circuit() -> Circuit {
    let mut b = CircuitBuilder::new();
    let x = b.garbler_input(32);
    let y = b.evaluator_input(32);
    let ge = b.ge(&x, &y);
    let s = b.add(&x, &y);
    b.output(&[ge]);
    b.output(&s);
    b.finish().unwrap()
}

#[test]
fn several_circuits_and_reveal_modes_in_one_session() {
    let c = compare_circuit();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut jobs = Vec::new();
    let mut want = Vec::new();
    for (i, reveal) in [
        Reveal::Evaluator,
        Reveal::Garbler,
        Reveal::Both,
        Reveal::Both,
    ]
    .into_iter()
    .enumerate()
    {
        let x: Vec<bool> = (0..32).map(|_| rng.next_u32() & 1 == 1).collect();
        let y: Vec<bool> = if i == 3 {
            x.clone()
        } else {
            (0..32).map(|_| rng.next_u32() & 1 == 1).collect()
        };
        want.push(c.eval_plain(&x, &y).unwrap());
        jobs.push((c.clone(), x, y, reveal));
    }
    // An empty-input-side circuit as well: only the garbler has inputs.
    let mut b = CircuitBuilder::new();
    let x = b.garbler_input(4);
    let a = b.and(x[0], x[1]);
    b.output(&[a]);
    let only_g = b.finish().unwrap();
    want.push(vec![true]);
    jobs.push((only_g, vec![true, true, false, false], vec![], Reveal::Both));

    let (g, e) = run_pair(MemChannel::pair(), jobs.clone());
    for (i, ((g, e), want)) in g.into_iter().zip(e).zip(want).enumerate() {
        let (g, e) = (g.unwrap(), e.unwrap());
        let reveal = jobs[i].3;
        assert_eq!(
            e,
            (reveal != Reveal::Garbler).then(|| want.clone()),
            "job {i}"
        );
        assert_eq!(g, (reveal != Reveal::Evaluator).then_some(want), "job {i}");
    }
}

#[test]
fn mismatched_circuits_and_wrong_input_lengths_are_errors() {
    let c = compare_circuit();
    let other = {
        let mut b = CircuitBuilder::new();
        let x = b.garbler_input(32);
        let y = b.evaluator_input(32);
        let gt = b.gt(&x, &y);
        let eq = b.eq(&x, &y);
        b.output(&[gt, eq]);
        b.finish().unwrap()
    };
    let (mut gch, mut ech) = MemChannel::pair();
    let garbler = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut g = Garbler2pc::setup(&mut gch, &mut rng).unwrap();
        let short = g.run(&mut gch, &c, &[true; 31], Reveal::Both, &mut rng);
        assert!(matches!(
            short,
            Err(Error::LengthMismatch {
                expected: 32,
                actual: 31,
                ..
            })
        ));
        g.run(&mut gch, &c, &[true; 32], Reveal::Both, &mut rng)
    });
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut e = Evaluator2pc::setup(&mut ech, &mut rng).unwrap();
    let r = e.run(&mut ech, &other, &[false; 32], Reveal::Both);
    assert!(
        matches!(
            r,
            Err(Error::CircuitMismatch {
                field: "outputs",
                ours: 2,
                peer: 33
            })
        ),
        "{r:?}"
    );
    drop(ech);
    assert!(garbler.join().unwrap().is_err());
}

/// A channel that closes the connection after `budget` bytes have been sent.
struct Cut {
    inner: Option<TcpChannel>,
    budget: usize,
}

impl Channel for Cut {
    fn send(&mut self, data: &[u8]) -> Result<(), circa_ot::Error> {
        let ch = self.inner.as_mut().ok_or(circa_ot::Error::Closed)?;
        if data.len() > self.budget {
            let _ = ch.send(&data[..self.budget]);
            let _ = ch.flush();
            self.inner = None; // closes the socket mid-stream
            return Err(circa_ot::Error::Closed);
        }
        self.budget -= data.len();
        ch.send(data)
    }
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), circa_ot::Error> {
        self.inner
            .as_mut()
            .ok_or(circa_ot::Error::Closed)?
            .recv(buf)
    }
    fn flush(&mut self) -> Result<(), circa_ot::Error> {
        self.inner.as_mut().ok_or(circa_ot::Error::Closed)?.flush()
    }
    fn stats(&self) -> ChannelStats {
        self.inner.as_ref().map(|c| c.stats()).unwrap_or_default()
    }
}

#[test]
fn garbler_disconnect_mid_stream_is_an_error_not_a_hang() {
    let Some(c) = shared_circuit("aes_128.txt") else {
        return;
    };
    let c2 = c.clone();
    let (gch, mut ech) = TcpChannel::loopback_pair().unwrap();
    // A safety net: if the disconnect went unnoticed the test fails with a timeout, not a hang.
    ech.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let garbler = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let mut cut = Cut {
            inner: Some(gch),
            budget: usize::MAX,
        };
        let mut g = Garbler2pc::setup(&mut cut, &mut rng).unwrap();
        // Let the header, OT and input labels through, then about half of the tables.
        cut.budget = 40 * 128 * 16 + 16 * c2.and_count();
        g.run(&mut cut, &c2, &[false; 128], Reveal::Evaluator, &mut rng)
    });
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut e = Evaluator2pc::setup(&mut ech, &mut rng).unwrap();
    let r = e.run(&mut ech, &c, &[false; 128], Reveal::Evaluator);
    assert!(
        matches!(r, Err(Error::Ot(circa_ot::Error::Closed))),
        "{r:?}"
    );
    assert!(garbler.join().unwrap().is_err());
}
