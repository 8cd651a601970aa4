//! OT-based triples and linear-layer correlations between two threads over
//! TCP loopback, checked at every index; a peer that disconnects or sends a
//! short message.

use std::cell::Cell;
use std::rc::Rc;
use std::thread;

use circa_ot::{Channel, ChannelStats, TcpChannel};
use circa_share::field::batch;
use circa_share::linalg::{Conv2dShape, conv2d, dense};
use circa_share::{
    Client, Error, Fp, LinearCorrelationClient, LinearCorrelationServer, Modulus, OtTripleSource,
    P2138816513, P2061584302081, Server, TripleSource,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn ot_triples<M: Modulus>(n: usize, seed: u64) {
    let (chc, chs) = TcpChannel::loopback_pair().unwrap();
    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(seed + 1);
        let mut src = OtTripleSource::<Server, M, _>::setup(chs, &mut rng).unwrap();
        let before = src.channel().stats();
        let t = src.triples(n).unwrap();
        let t2 = src.triples(3).unwrap();
        (t, t2, src.channel().stats().since(&before))
    });
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut src = OtTripleSource::<Client, M, _>::setup(chc, &mut rng).unwrap();
    let tc = src.triples(n).unwrap();
    let tc2 = src.triples(3).unwrap();
    let (ts, ts2, stats) = server.join().unwrap();
    for (c, s) in [(&tc, &ts), (&tc2, &ts2)] {
        for i in 0..c.len() {
            let a = c.a()[i] + s.a()[i];
            let b = c.b()[i] + s.b()[i];
            assert_eq!(a * b, c.c()[i] + s.c()[i], "{}: triple {i}", M::NAME);
        }
    }
    // Fresh randomness: the two batches differ and shares are not trivial.
    assert_ne!(tc.a()[0], tc2.a()[0]);
    assert_ne!(ts.a()[..3], ts2.a()[..3]);
    // Wire cost: 2 bits(p) OTs of 16 B plus 2 bits(p) packed elements per
    // triple, plus small per-call framing.
    let per_triple = 2 * M::BITS as u64 * (16 + M::BITS.div_ceil(8) as u64);
    let total = stats.bytes_sent + stats.bytes_received;
    let expected = per_triple * (n as u64 + 3);
    assert!(
        total >= expected && total <= expected + expected / 10 + 8192,
        "{total} vs {expected}"
    );
}

#[test]
fn ot_triples_over_loopback() {
    ot_triples::<P2138816513>(1000, 50);
    ot_triples::<P2061584302081>(300, 60);
}

fn signed_weights<M: Modulus>(rng: &mut ChaCha20Rng, n: usize, bits: u32) -> Vec<Fp<M>> {
    let half = 1i64 << (bits - 1);
    (0..n)
        .map(|_| Fp::from_i64((rng.next_u64() % (2 * half as u64)) as i64 - half).unwrap())
        .collect()
}

#[test]
fn linear_correlation_dense_and_conv() {
    type M = P2138816513;
    let bits = 9;
    let mut rng = ChaCha20Rng::seed_from_u64(70);
    let (rows, cols) = (7, 19);
    let wd = signed_weights::<M>(&mut rng, rows * cols, bits);
    let shape = Conv2dShape::new(4, 6, 5, 6, 3)
        .with_padding(1)
        .with_groups(2)
        .with_batch(2);
    let wc = signed_weights::<M>(&mut rng, shape.weight_len(), bits);
    // Extremes of the weight range.
    let mut wc = wc;
    wc[0] = Fp::from_i64(-(1 << (bits - 1))).unwrap();
    wc[1] = Fp::from_i64((1 << (bits - 1)) - 1).unwrap();
    let rd: Vec<Fp<M>> = batch::random_many(&mut rng, cols);
    let rc: Vec<Fp<M>> = batch::random_many(&mut rng, shape.input_len());

    let (mut chc, mut chs) = TcpChannel::loopback_pair().unwrap();
    let (wd2, wc2) = (wd.clone(), wc.clone());
    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(71);
        let mut s = LinearCorrelationServer::<M>::setup(&mut chs, &mut rng).unwrap();
        let before = chs.stats();
        let sd = s.dense(&mut chs, &wd2, rows, cols, bits).unwrap();
        let dense_stats = chs.stats().since(&before);
        let sc = s.conv2d(&mut chs, &shape, &wc2, bits).unwrap();
        (sd, sc, dense_stats)
    });
    let mut c = LinearCorrelationClient::<M>::setup(&mut chc, &mut rng).unwrap();
    let cd = c.dense(&mut chc, rows, cols, bits, &rd).unwrap();
    let cc = c.conv2d(&mut chc, &shape, bits, &rc).unwrap();
    let (sd, sc, dense_stats) = server.join().unwrap();

    let want_d = dense(&wd, rows, cols, &rd).unwrap();
    for i in 0..rows {
        assert_eq!(cd[i] + sd[i], want_d[i], "dense row {i}");
    }
    // The server's share alone is not the result.
    assert_ne!(sd, want_d);
    let want_c = conv2d(&shape, &wc, &rc).unwrap();
    assert_eq!(cc.len(), want_c.len());
    for i in 0..want_c.len() {
        assert_eq!(cc[i] + sc[i], want_c[i], "conv output {i}");
    }
    // Dense cost: rows*cols*bits OTs, each 16 B of COT plus one 4-byte element.
    let ots = (rows * cols * bits as usize) as u64;
    let total = dense_stats.bytes_sent + dense_stats.bytes_received;
    assert!(total >= ots * 20 && total <= ots * 20 + 4096, "{total}");
}

#[test]
fn linear_correlation_mask_bits_direction() {
    use circa_share::ole::Direction;
    type M = P2061584302081;
    let (rows, cols, bits) = (64, 10, 13);
    assert_eq!(
        Direction::choose::<M>(rows, cols, 1, bits),
        Direction::MaskBits
    );
    assert_eq!(
        Direction::choose::<M>(7, 19, 30, bits),
        Direction::WeightBits
    );
    let mut rng = ChaCha20Rng::seed_from_u64(75);
    let w = signed_weights::<M>(&mut rng, rows * cols, bits);
    let r: Vec<Fp<M>> = batch::random_many(&mut rng, cols);
    let (mut chc, mut chs) = TcpChannel::loopback_pair().unwrap();
    let w2 = w.clone();
    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(76);
        let mut s = LinearCorrelationServer::<M>::setup(&mut chs, &mut rng).unwrap();
        let before = chs.stats();
        let out = s.dense(&mut chs, &w2, rows, cols, bits).unwrap();
        (out, chs.stats().since(&before))
    });
    let mut c = LinearCorrelationClient::<M>::setup(&mut chc, &mut rng).unwrap();
    let cd = c.dense(&mut chc, rows, cols, bits, &r).unwrap();
    let (sd, stats) = server.join().unwrap();
    let want = dense(&w, rows, cols, &r).unwrap();
    for i in 0..rows {
        assert_eq!(cd[i] + sd[i], want[i], "row {i}");
    }
    let expected = Direction::MaskBits.bytes::<M>(rows, cols, 1, bits) as u64;
    let total = stats.bytes_sent + stats.bytes_received;
    assert!(
        total >= expected && total <= expected + 4096,
        "{total} vs {expected}"
    );
}

#[test]
fn weight_out_of_range_rejected() {
    type M = P2138816513;
    let (mut chc, mut chs) = TcpChannel::loopback_pair().unwrap();
    let client = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(81);
        LinearCorrelationClient::<M>::setup(&mut chc, &mut rng).unwrap()
    });
    let mut rng = ChaCha20Rng::seed_from_u64(80);
    let mut s = LinearCorrelationServer::<M>::setup(&mut chs, &mut rng).unwrap();
    let _c = client.join().unwrap();
    let mut w = vec![Fp::from_i64(255).unwrap(); 4];
    w[2] = Fp::from_i64(256).unwrap();
    let r = s.dense(&mut chs, &w, 2, 2, 9);
    assert!(
        matches!(
            r,
            Err(Error::WeightOutOfRange {
                index: 2,
                weight_bits: 9
            })
        ),
        "{r:?}"
    );
    // The message names the position, not the secret weight.
    assert!(!r.unwrap_err().to_string().contains("256"));
    w[2] = Fp::from_i64(-257).unwrap();
    let r = s.dense(&mut chs, &w, 2, 2, 9);
    assert!(
        matches!(r, Err(Error::WeightOutOfRange { index: 2, .. })),
        "{r:?}"
    );
    let r = s.dense(&mut chs, &w, 2, 2, 40);
    assert!(matches!(r, Err(Error::LimitExceeded { .. })), "{r:?}");
}

#[test]
fn triples_peer_disconnects() {
    type M = P2138816513;
    let (chc, chs) = TcpChannel::loopback_pair().unwrap();
    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(91);
        // Set up, then hang up without producing triples.
        drop(OtTripleSource::<Server, M, _>::setup(chs, &mut rng).unwrap());
    });
    let mut rng = ChaCha20Rng::seed_from_u64(90);
    let mut src = OtTripleSource::<Client, M, _>::setup(chc, &mut rng).unwrap();
    server.join().unwrap();
    let r = src.triples(100);
    assert!(matches!(r, Err(Error::Ot(_))), "{r:?}");
}

/// What a [`Tampering`] channel does to the bytes it sends.
#[derive(Clone, Copy)]
enum Tamper {
    /// Forward unchanged.
    Pass,
    /// Forward at most this many more bytes, silently drop the rest.
    Truncate(usize),
    /// Replace every byte with 0xff.
    Corrupt,
}

/// A channel whose outgoing bytes are tampered with as `mode` says (the
/// mode is shared so a test can change it while a protocol object holds the
/// channel).
struct Tampering<C> {
    inner: C,
    mode: Rc<Cell<Tamper>>,
}

impl<C> Tampering<C> {
    /// Wraps `inner`, passing bytes through until the returned mode changes.
    fn new(inner: C) -> (Self, Rc<Cell<Tamper>>) {
        let mode = Rc::new(Cell::new(Tamper::Pass));
        (
            Tampering {
                inner,
                mode: mode.clone(),
            },
            mode,
        )
    }
}

impl<C: Channel> Channel for Tampering<C> {
    fn send(&mut self, data: &[u8]) -> Result<(), circa_ot::Error> {
        match self.mode.get() {
            Tamper::Pass => self.inner.send(data),
            Tamper::Truncate(budget) => {
                let n = data.len().min(budget);
                self.mode.set(Tamper::Truncate(budget - n));
                self.inner.send(&data[..n])
            }
            Tamper::Corrupt => self.inner.send(&vec![0xff; data.len()]),
        }
    }
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), circa_ot::Error> {
        self.inner.recv(buf)
    }
    fn flush(&mut self) -> Result<(), circa_ot::Error> {
        self.inner.flush()
    }
    fn stats(&self) -> ChannelStats {
        self.inner.stats()
    }
}

#[test]
fn correlation_short_message() {
    type M = P2138816513;
    let (chc, mut chs) = TcpChannel::loopback_pair().unwrap();
    let client = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(101);
        let (mut ch, mode) = Tampering::new(chc);
        let mut c = LinearCorrelationClient::<M>::setup(&mut ch, &mut rng).unwrap();
        // After setup, let only 100 more bytes through, then hang up.
        mode.set(Tamper::Truncate(100));
        let r: Vec<Fp<M>> = batch::random_many(&mut rng, 8);
        let _ = c.dense(&mut ch, 3, 8, 9, &r);
    });
    let mut rng = ChaCha20Rng::seed_from_u64(100);
    let mut s = LinearCorrelationServer::<M>::setup(&mut chs, &mut rng).unwrap();
    let w = vec![Fp::ONE; 24];
    let r = s.dense(&mut chs, &w, 3, 8, 9);
    client.join().unwrap();
    assert!(matches!(r, Err(Error::Ot(_))), "{r:?}");
}

#[test]
fn triples_short_message() {
    type M = P2138816513;
    let (chc, chs) = TcpChannel::loopback_pair().unwrap();
    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(111);
        let (ch, mode) = Tampering::new(chs);
        let mut src = OtTripleSource::<Server, M, _>::setup(ch, &mut rng).unwrap();
        // After setup, let only 100 bytes of corrections through, then hang up.
        mode.set(Tamper::Truncate(100));
        let _ = src.triples(100);
    });
    let mut rng = ChaCha20Rng::seed_from_u64(110);
    let mut src = OtTripleSource::<Client, M, _>::setup(chc, &mut rng).unwrap();
    let r = src.triples(100);
    server.join().unwrap();
    assert!(matches!(r, Err(Error::Ot(_))), "{r:?}");
}

#[test]
fn correlation_peer_disconnects() {
    type M = P2138816513;
    let (mut chc, mut chs) = TcpChannel::loopback_pair().unwrap();
    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(121);
        drop(LinearCorrelationServer::<M>::setup(&mut chs, &mut rng).unwrap());
    });
    let mut rng = ChaCha20Rng::seed_from_u64(120);
    let mut c = LinearCorrelationClient::<M>::setup(&mut chc, &mut rng).unwrap();
    server.join().unwrap();
    let r: Vec<Fp<M>> = batch::random_many(&mut rng, 8);
    // Weight-bits direction: the client (COT sender) reads the OT rows first.
    let res = c.dense(&mut chc, 3, 8, 9, &r);
    assert!(matches!(res, Err(Error::Ot(_))), "{res:?}");
}

#[test]
fn correlation_noncanonical_correction_rejected() {
    type M = P2138816513;
    let (chc, mut chs) = TcpChannel::loopback_pair().unwrap();
    let client = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(131);
        let (mut ch, mode) = Tampering::new(chc);
        let mut c = LinearCorrelationClient::<M>::setup(&mut ch, &mut rng).unwrap();
        // In the weight-bits direction the client (COT sender) sends only
        // corrections: 0xffffffff is not below p.
        mode.set(Tamper::Corrupt);
        let r: Vec<Fp<M>> = batch::random_many(&mut rng, 8);
        let _ = c.dense(&mut ch, 3, 8, 9, &r);
    });
    let mut rng = ChaCha20Rng::seed_from_u64(130);
    let mut s = LinearCorrelationServer::<M>::setup(&mut chs, &mut rng).unwrap();
    assert_eq!(
        circa_share::ole::Direction::choose::<M>(3, 8, 1, 9),
        circa_share::ole::Direction::WeightBits
    );
    let r = s.dense(&mut chs, &[Fp::ONE; 24], 3, 8, 9);
    client.join().unwrap();
    assert!(matches!(r, Err(Error::NonCanonical { .. })), "{r:?}");
}

#[test]
fn linear_correlation_size_overflow_is_an_error() {
    type M = P2138816513;
    let (mut a, mut b) = TcpChannel::loopback_pair().unwrap();
    let server = thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(141);
        LinearCorrelationServer::<M>::setup(&mut b, &mut rng).unwrap()
    });
    let mut rng = ChaCha20Rng::seed_from_u64(140);
    let mut c = LinearCorrelationClient::<M>::setup(&mut a, &mut rng).unwrap();
    let _s = server.join().unwrap();
    // m = 0 makes the MAC count zero, but k * n overflows usize.
    let r = c.matmul(&mut a, 0, 9, &[], usize::MAX, 2);
    assert!(matches!(r, Err(Error::ShapeOverflow)), "{r:?}");
}

#[test]
fn bench_support_reports_costs() {
    use circa_share::bench_support::{linear_correlation_throughput, triples_ot_throughput};
    let t = triples_ot_throughput::<P2138816513>(200).unwrap();
    assert_eq!(t.ops, 200);
    assert!(
        t.bytes_per_op >= t.analytic_bytes_per_op && t.bytes_per_op < t.analytic_bytes_per_op * 1.1
    );
    let shape = Conv2dShape::new(2, 6, 6, 3, 3).with_padding(1);
    let l = linear_correlation_throughput::<P2138816513>(&shape, 9).unwrap();
    assert_eq!(l.ops, shape.macs());
    assert!(
        l.bytes_per_op >= l.analytic_bytes_per_op && l.bytes_per_op < l.analytic_bytes_per_op * 1.2,
        "{l:?}"
    );
}
