//! Two-party correctness of the OT extension against plaintext oracles.

use circa_ot::{
    Block, Channel, CotReceiver, CotSender, MemChannel, OtReceiver, OtSender, RotReceiver,
    RotSender, TcpChannel,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn choice_pattern(n: usize, salt: usize) -> Vec<bool> {
    let mut prg = circa_ot::Prg::from_seed_block(Block::from_u128(salt as u128));
    let mut bytes = vec![0u8; n];
    rand_core::Rng::fill_bytes(&mut prg, &mut bytes);
    bytes.iter().map(|b| b & 1 == 1).collect()
}

/// Runs `sender` and `receiver` on two threads connected by `pair`.
fn two_party<C, S, R, A, B>(pair: (C, C), sender: S, receiver: R) -> (A, B)
where
    C: Channel + Send,
    S: FnOnce(&mut C) -> A + Send,
    R: FnOnce(&mut C) -> B + Send,
    A: Send,
    B: Send,
{
    let (mut cs, mut cr) = pair;
    std::thread::scope(|s| {
        let hs = s.spawn(move || sender(&mut cs));
        let b = receiver(&mut cr);
        (hs.join().expect("sender thread"), b)
    })
}

#[test]
fn cot_2_pow_20_over_tcp_loopback() {
    const N: usize = 1 << 20;
    let delta = Block::from_u128(0x0123_4567_89ab_cdef_0f1e_2d3c_4b5a_6978).with_lsb(true);
    let choices = choice_pattern(N, 1);
    let (q, (t, stats)) = two_party(
        TcpChannel::loopback_pair().unwrap(),
        |ch| {
            let mut rng = ChaCha20Rng::seed_from_u64(11);
            let mut s = CotSender::setup(ch, delta, &mut rng).unwrap();
            assert_eq!(s.delta(), delta);
            let mut q = vec![Block::ZERO; N];
            s.send_cot(ch, &mut q).unwrap();
            q
        },
        |ch| {
            let mut rng = ChaCha20Rng::seed_from_u64(22);
            let mut r = CotReceiver::setup(ch, &mut rng).unwrap();
            let before = ch.stats();
            let mut t = vec![Block::ZERO; N];
            r.receive_cot(ch, &choices, &mut t).unwrap();
            (t, ch.stats().since(&before))
        },
    );
    for i in 0..N {
        assert_eq!(t[i], q[i] ^ delta.and_bit(choices[i]), "OT {i}");
    }
    // 16 bytes per OT receiver -> sender, plus the 8-byte count.
    assert_eq!(stats.bytes_sent, 16 * N as u64 + 8);
    assert_eq!(stats.bytes_received, 0);
    // Outputs are not trivially zero or repeated.
    assert_ne!(q[0], q[1]);
}

#[test]
fn cot_and_rcot_many_calls_odd_sizes() {
    let sizes = [
        1usize,
        127,
        128,
        129,
        1000,
        circa_ot::ext::CHUNK_OTS + 77,
        0,
        64,
    ];
    let delta = Block::from_u128(0xfeed_beef).with_lsb(true);
    let (qs, rs) = two_party(
        MemChannel::pair(),
        |ch| {
            let mut s = CotSender::setup(ch, delta, &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
            let mut all = Vec::new();
            for (k, &n) in sizes.iter().enumerate() {
                let mut q = vec![Block::ZERO; n];
                s.send_cot(ch, &mut q).unwrap();
                all.push(q);
                assert_eq!(s.ots_done() as usize, sizes[..=k].iter().sum::<usize>());
            }
            all
        },
        |ch| {
            let mut r = CotReceiver::setup(ch, &mut ChaCha20Rng::seed_from_u64(2)).unwrap();
            let mut all = Vec::new();
            for (k, &n) in sizes.iter().enumerate() {
                let mut t = vec![Block::ZERO; n];
                let mut c = choice_pattern(n, k);
                if k % 2 == 0 {
                    r.receive_cot(ch, &c, &mut t).unwrap();
                } else {
                    r.receive_rcot(ch, &mut c, &mut t).unwrap();
                }
                all.push((c, t));
            }
            all
        },
    );
    let mut seen = std::collections::HashSet::new();
    for (q, (c, t)) in qs.iter().zip(&rs) {
        for i in 0..q.len() {
            assert_eq!(t[i], q[i] ^ delta.and_bit(c[i]));
            assert!(seen.insert(q[i]), "a q value repeated: PRG output reused?");
        }
    }
    // Random choices are balanced-ish (the large rcot batch has 32845 bits).
    let ones = rs[5].0.iter().filter(|&&b| b).count();
    let n = rs[5].0.len();
    assert!(ones.abs_diff(n / 2) < 6 * (n as f64).sqrt() as usize / 2);
}

#[test]
fn rot_and_chosen_correct_at_every_index() {
    // 2^20 + 3: every index of a million-OT batch, plus a partial last block.
    const N: usize = (1 << 20) + 3;
    let choices = choice_pattern(N, 9);
    let mut msgs = vec![[Block::ZERO; 2]; N];
    circa_ot::Prg::from_seed_block(Block::from_u128(99))
        .fill_blocks(bytemuck::cast_slice_mut(&mut msgs));
    let ((pairs, rand_pairs), (got, (rc, rand_got), chosen)) = two_party(
        TcpChannel::loopback_pair().unwrap(),
        |ch| {
            let mut rng = ChaCha20Rng::seed_from_u64(3);
            let mut rot = RotSender::setup(ch, &mut rng).unwrap();
            let mut pairs = vec![[Block::ZERO; 2]; N];
            rot.send_rot(ch, &mut pairs).unwrap();
            let mut rand_pairs = vec![[Block::ZERO; 2]; 1000];
            rot.send_rot(ch, &mut rand_pairs).unwrap();
            let mut ot = OtSender::setup(ch, &mut rng).unwrap();
            ot.send(ch, &msgs).unwrap();
            (pairs, rand_pairs)
        },
        |ch| {
            let mut rng = ChaCha20Rng::seed_from_u64(4);
            let mut rot = RotReceiver::setup(ch, &mut rng).unwrap();
            let mut got = vec![Block::ZERO; N];
            rot.receive_rot(ch, &choices, &mut got).unwrap();
            let mut rc = vec![false; 1000];
            let mut rand_got = vec![Block::ZERO; 1000];
            rot.receive_random_rot(ch, &mut rc, &mut rand_got).unwrap();
            let mut ot = OtReceiver::setup(ch, &mut rng).unwrap();
            let mut chosen = vec![Block::ZERO; N];
            ot.receive(ch, &choices, &mut chosen).unwrap();
            (got, (rc, rand_got), chosen)
        },
    );
    for i in 0..N {
        let c = choices[i] as usize;
        assert_eq!(got[i], pairs[i][c], "rot {i}");
        assert_ne!(got[i], pairs[i][1 - c], "rot {i}");
        assert_eq!(chosen[i], msgs[i][c], "chosen {i}");
    }
    for i in 0..1000 {
        assert_eq!(rand_got[i], pairs_of(&rand_pairs, i, rc[i]));
    }
}

fn pairs_of(p: &[[Block; 2]], i: usize, c: bool) -> Block {
    p[i][c as usize]
}

/// Every bit position of random-OT outputs is 1 about half of the time
/// (within 6 sigma over 2^16 outputs), for both messages of the sender.
#[test]
fn rot_outputs_unbiased_per_bit_position() {
    const N: usize = 1 << 16;
    let (pairs, _) = two_party(
        MemChannel::pair(),
        |ch| {
            let mut s = RotSender::setup(ch, &mut ChaCha20Rng::seed_from_u64(5)).unwrap();
            let mut pairs = vec![[Block::ZERO; 2]; N];
            s.send_rot(ch, &mut pairs).unwrap();
            pairs
        },
        |ch| {
            let mut r = RotReceiver::setup(ch, &mut ChaCha20Rng::seed_from_u64(6)).unwrap();
            let mut c = vec![false; N];
            let mut out = vec![Block::ZERO; N];
            r.receive_random_rot(ch, &mut c, &mut out).unwrap();
        },
    );
    let sigma = (N as f64).sqrt() / 2.0;
    for which in 0..2 {
        let mut counts = [0usize; 128];
        for p in &pairs {
            let x = p[which].to_u128();
            for (bit, c) in counts.iter_mut().enumerate() {
                *c += ((x >> bit) & 1) as usize;
            }
        }
        for (bit, &c) in counts.iter().enumerate() {
            let dev = (c as f64 - N as f64 / 2.0).abs();
            assert!(
                dev < 6.0 * sigma,
                "message {which} bit {bit}: {c} ones of {N}"
            );
        }
    }
}

/// Two sessions with the same (caller-chosen) Delta, as a garbler reusing its
/// free-XOR offset would run: the base OTs and column PRGs are fresh per
/// session, so no `q` value of one session appears in the other, and each
/// session's hash has its own tweak offset.
#[test]
fn sessions_with_the_same_delta_share_no_prg_output() {
    const N: usize = 5000;
    let delta = Block::from_u128(0xabcd_ef01_2345).with_lsb(true);
    let run = |seed_s: u64, seed_r: u64| {
        two_party(
            MemChannel::pair(),
            |ch| {
                let mut s =
                    CotSender::setup(ch, delta, &mut ChaCha20Rng::seed_from_u64(seed_s)).unwrap();
                let mut q = vec![Block::ZERO; N];
                s.send_cot(ch, &mut q).unwrap();
                (q, s.hash().hash(Block::ZERO, 0))
            },
            |ch| {
                let mut r =
                    CotReceiver::setup(ch, &mut ChaCha20Rng::seed_from_u64(seed_r)).unwrap();
                let mut t = vec![Block::ZERO; N];
                let mut c = vec![false; N];
                r.receive_rcot(ch, &mut c, &mut t).unwrap();
                (t, c, r.hash().hash(Block::ZERO, 0))
            },
        )
    };
    let ((q1, h1), (t1, c1, g1)) = run(31, 32);
    let ((q2, h2), (t2, c2, g2)) = run(33, 34);
    assert_eq!((h1, h2), (g1, g2), "both parties hold the session hash");
    assert_ne!(h1, h2, "sessions share a tweak offset");
    let first: std::collections::HashSet<Block> = q1.iter().copied().collect();
    assert!(
        q2.iter().all(|q| !first.contains(q)),
        "PRG output reused across sessions"
    );
    for i in 0..N {
        assert_eq!(t1[i], q1[i] ^ delta.and_bit(c1[i]));
        assert_eq!(t2[i], q2[i] ^ delta.and_bit(c2[i]));
    }
}

#[test]
fn prepared_cot_messages_are_what_receive_cot_sends() {
    // A receiver that prepares every message (the pure step) and puts it on the wire itself:
    // the message is the whole of what is sent, and the sender's correlation holds for every
    // batch size (odd, empty, more than one chunk).
    let sizes = [1usize, 129, circa_ot::ext::CHUNK_OTS + 77, 0, 1000];
    let delta = Block::from_u128(0x0005_eed0_fc07).with_lsb(true);
    let (qs, (sent, prepared, ts)) = two_party(
        MemChannel::pair(),
        |ch| {
            let mut s = CotSender::setup(ch, delta, &mut ChaCha20Rng::seed_from_u64(11)).unwrap();
            sizes
                .iter()
                .map(|&n| {
                    let mut q = vec![Block::ZERO; n];
                    s.send_cot(ch, &mut q).unwrap();
                    q
                })
                .collect::<Vec<_>>()
        },
        |ch| {
            let mut live = CotReceiver::setup(ch, &mut ChaCha20Rng::seed_from_u64(12)).unwrap();
            let mut sent = Vec::new();
            let mut prepared = Vec::new();
            let mut ts = Vec::new();
            for (k, &n) in sizes.iter().enumerate() {
                let c = choice_pattern(n, 100 + k);
                let mut t = vec![Block::ZERO; n];
                let before = ch.stats().bytes_sent;
                let message = live.prepare_cot(&c, &mut t).unwrap();
                ch.send(&message).unwrap();
                ch.flush().unwrap();
                sent.push(ch.stats().bytes_sent - before);
                prepared.push(message.len() as u64);
                ts.push((c, t));
            }
            (sent, prepared, ts)
        },
    );
    assert_eq!(sent, prepared);
    for (q, (c, t)) in qs.iter().zip(&ts) {
        assert_eq!(q.len(), t.len());
        for i in 0..q.len() {
            assert_eq!(t[i], q[i] ^ delta.and_bit(c[i]));
        }
    }
}

#[test]
fn prepared_cot_equals_receive_cot_byte_for_byte() {
    // The same receiver state (same seed, same setup transcript) prepares, or sends: identical
    // bytes and outputs.
    fn receiver_bytes(prepare: bool) -> (Vec<u8>, Vec<Block>) {
        let delta = Block::from_u128(77).with_lsb(true);
        let (_, out) = two_party(
            MemChannel::pair(),
            |ch| {
                let mut s =
                    CotSender::setup(ch, delta, &mut ChaCha20Rng::seed_from_u64(21)).unwrap();
                let mut q = vec![Block::ZERO; 3000];
                s.send_cot(ch, &mut q).unwrap();
            },
            |ch| {
                let mut r = CotReceiver::setup(ch, &mut ChaCha20Rng::seed_from_u64(22)).unwrap();
                let c = choice_pattern(3000, 5);
                let mut t = vec![Block::ZERO; 3000];
                if prepare {
                    let m = r.prepare_cot(&c, &mut t).unwrap();
                    ch.send(&m).unwrap();
                    ch.flush().unwrap();
                    (m, t)
                } else {
                    let mut rec = Recorder {
                        ch,
                        bytes: Vec::new(),
                    };
                    r.receive_cot(&mut rec, &c, &mut t).unwrap();
                    (rec.bytes, t)
                }
            },
        );
        out
    }
    /// Passes everything through to `ch` and keeps a copy of what is sent.
    struct Recorder<'a, C: Channel> {
        ch: &'a mut C,
        bytes: Vec<u8>,
    }
    impl<C: Channel> Channel for Recorder<'_, C> {
        fn send(&mut self, data: &[u8]) -> Result<(), circa_ot::Error> {
            self.bytes.extend_from_slice(data);
            self.ch.send(data)
        }
        fn recv(&mut self, buf: &mut [u8]) -> Result<(), circa_ot::Error> {
            self.ch.recv(buf)
        }
        fn flush(&mut self) -> Result<(), circa_ot::Error> {
            self.ch.flush()
        }
        fn stats(&self) -> circa_ot::ChannelStats {
            self.ch.stats()
        }
    }
    assert_eq!(receiver_bytes(true), receiver_bytes(false));
}
