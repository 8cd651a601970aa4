//! Every way a peer or a caller can misbehave gives the exact typed error.

use circa_ot::base_ot::{self, BaseOtSender, decode_point};
use circa_ot::{Block, Channel, CotReceiver, CotSender, Error, MemChannel, TcpChannel};
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_COMPRESSED;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::time::{Duration, Instant};

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// p = 2^255 - 19: a non-canonical encoding (of 0).
fn non_canonical() -> [u8; 32] {
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
}

/// A fake COT sender (base-OT receiver) that answers the real receiver's
/// setup with 128 valid points except `bad` at position `index`.
fn receiver_setup_against(bad: [u8; 32], index: usize) -> Error {
    let (mut cr, mut cs) = MemChannel::pair();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut hello = [0u8; 48];
            cs.recv(&mut hello).unwrap();
            let mut reply = vec![0u8; 128 * 32];
            for (i, p) in reply.chunks_exact_mut(32).enumerate() {
                p.copy_from_slice(if i == index {
                    &bad
                } else {
                    RISTRETTO_BASEPOINT_COMPRESSED.as_bytes()
                });
            }
            cs.send(&reply).unwrap();
            cs.flush().unwrap();
        });
        CotReceiver::setup(&mut cr, &mut rng(1)).unwrap_err()
    })
}

/// A fake COT receiver (base-OT sender) that sends `a` as its point.
fn sender_setup_against(a: &[u8; 32]) -> Error {
    let (mut cs, mut cr) = MemChannel::pair();
    cr.send(&[7u8; 16]).unwrap();
    cr.send(a).unwrap();
    cr.flush().unwrap();
    CotSender::setup(&mut cs, Block::ONES, &mut rng(2)).unwrap_err()
}

#[test]
fn invalid_point_encoding_is_rejected() {
    let e = receiver_setup_against(non_canonical(), 5);
    assert!(matches!(e, Error::InvalidPoint { index: 5 }), "{e:?}");
    // A negative field element (odd encoding) is not canonical either.
    let mut odd = *RISTRETTO_BASEPOINT_COMPRESSED.as_bytes();
    odd[0] |= 1;
    let e = receiver_setup_against(odd, 127);
    assert!(matches!(e, Error::InvalidPoint { index: 127 }), "{e:?}");
    let e = sender_setup_against(&non_canonical());
    assert!(matches!(e, Error::InvalidPoint { index: 0 }), "{e:?}");
}

#[test]
fn identity_point_is_rejected() {
    let e = receiver_setup_against([0u8; 32], 7);
    assert!(matches!(e, Error::IdentityPoint { index: 7 }), "{e:?}");
    let e = sender_setup_against(&[0u8; 32]);
    assert!(matches!(e, Error::IdentityPoint { index: 0 }), "{e:?}");
}

#[test]
fn points_of_31_and_33_bytes_are_rejected() {
    let good = RISTRETTO_BASEPOINT_COMPRESSED.to_bytes();
    for len in [31usize, 33] {
        let mut bytes = vec![1u8; len];
        bytes[..31].copy_from_slice(&good[..31]);
        // The receiver's view of the sender's point A.
        let e = base_ot::receiver_respond(&[0; 16], &[true], &bytes, &mut rng(3)).unwrap_err();
        assert!(
            matches!(e, Error::LengthMismatch { expected: 32, actual } if actual == len),
            "{e:?}"
        );
        let e = decode_point(&bytes, 9).unwrap_err();
        assert!(
            matches!(e, Error::LengthMismatch { expected: 32, actual } if actual == len),
            "{e:?}"
        );
        // The sender's view of a reply of 4 points, one byte short or long.
        let (sender, _) = BaseOtSender::new([0; 16], &mut rng(4));
        let reply = vec![0u8; 3 * 32 + len];
        let e = sender.derive_keys(&reply, 4).unwrap_err();
        assert!(
            matches!(e, Error::LengthMismatch { expected: 128, actual } if actual == 96 + len),
            "{e:?}"
        );
    }
}

/// Sets up a COT session over `pair` and returns both ends.
fn cot_session<C: Channel + Send>(pair: (C, C)) -> ((CotSender, C), (CotReceiver, C)) {
    let (mut cs, mut cr) = pair;
    std::thread::scope(|s| {
        let h = s.spawn(move || {
            let snd = CotSender::setup(&mut cs, Block::from_u128(0xd17a), &mut rng(5)).unwrap();
            (snd, cs)
        });
        let rcv = CotReceiver::setup(&mut cr, &mut rng(6)).unwrap();
        (h.join().unwrap(), (rcv, cr))
    })
}

#[test]
fn count_mismatch_then_reuse_of_the_poisoned_state() {
    let ((mut snd, mut cs), (mut rcv, mut cr)) = cot_session(MemChannel::pair());
    // The receiver asks for 2000 OTs, the sender for 1000.
    rcv.receive_cot(&mut cr, &[false; 2000], &mut [Block::ZERO; 2000])
        .unwrap();
    let e = snd.send_cot(&mut cs, &mut [Block::ZERO; 1000]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::CountMismatch {
                expected: 1000,
                actual: 2000
            }
        ),
        "{e:?}"
    );
    // The failed call consumed the state: no further use.
    let e = snd.send_cot(&mut cs, &mut [Block::ZERO; 10]).unwrap_err();
    assert!(matches!(e, Error::StateConsumed), "{e:?}");
}

#[test]
fn session_cap_and_length_mismatch() {
    let ((mut snd, mut cs), (mut rcv, mut cr)) = cot_session(MemChannel::pair());
    snd.set_ot_limit(300);
    rcv.set_ot_limit(300);
    rcv.receive_cot(&mut cr, &[true; 200], &mut [Block::ZERO; 200])
        .unwrap();
    snd.send_cot(&mut cs, &mut [Block::ZERO; 200]).unwrap();
    let e = snd.send_cot(&mut cs, &mut [Block::ZERO; 101]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TooManyOts {
                requested: 301,
                max: 300
            }
        ),
        "{e:?}"
    );
    let e = rcv
        .receive_cot(&mut cr, &[true; 5], &mut [Block::ZERO; 6])
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::LengthMismatch {
                expected: 5,
                actual: 6
            }
        ),
        "{e:?}"
    );
    let e = rcv
        .receive_cot(&mut cr, &[true; 5], &mut [Block::ZERO; 5])
        .unwrap_err();
    assert!(matches!(e, Error::StateConsumed), "{e:?}");
}

#[test]
fn length_prefix_far_over_the_limit_allocates_nothing() {
    let (mut a, mut b) = MemChannel::pair();
    a.send_u64(u64::MAX - 5).unwrap();
    a.flush().unwrap();
    let e = b.recv_frame(1 << 20).unwrap_err();
    assert!(
        matches!(e, Error::MessageTooLarge { len, max } if len == u64::MAX - 5 && max == 1 << 20),
        "{e:?}"
    );
    // The base-OT driver refuses absurd counts before allocating too.
    let (mut c, _d) = MemChannel::pair();
    let e = base_ot::send(&mut c, [0; 16], usize::MAX / 64, &mut rng(7)).unwrap_err();
    assert!(matches!(e, Error::MessageTooLarge { .. }), "{e:?}");
}

#[test]
fn peer_closing_mid_extension_gives_closed() {
    let ((mut snd, mut cs), (rcv, mut cr)) = cot_session(TcpChannel::loopback_pair().unwrap());
    // The receiver announces 2^16 OTs, sends part of the first chunk, then vanishes.
    cr.send_u64(1 << 16).unwrap();
    cr.send(&[0x55u8; 10_000]).unwrap();
    cr.flush().unwrap();
    drop(rcv);
    drop(cr);
    let mut q = vec![Block::ZERO; 1 << 16];
    let e = snd.send_cot(&mut cs, &mut q).unwrap_err();
    assert!(matches!(e, Error::Closed), "{e:?}");
    let e = snd.send_cot(&mut cs, &mut q).unwrap_err();
    assert!(matches!(e, Error::StateConsumed), "{e:?}");
}

#[test]
fn stalled_peer_gives_timeout() {
    let ((mut snd, mut cs), (_rcv, cr)) = cot_session(TcpChannel::loopback_pair().unwrap());
    cs.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let start = Instant::now();
    // The receiver stays connected but never sends its rows.
    let e = snd.send_cot(&mut cs, &mut [Block::ZERO; 1000]).unwrap_err();
    assert!(matches!(e, Error::Timeout), "{e:?}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "deadline ignored"
    );
    drop(cr);
}

#[test]
fn stalled_peer_in_memory_gives_timeout() {
    let (mut cs, _cr) = MemChannel::pair_with_timeout(Duration::from_millis(200));
    let e = CotSender::setup(&mut cs, Block::ONES, &mut rng(8)).unwrap_err();
    assert!(matches!(e, Error::Timeout), "{e:?}");
}

#[test]
fn debug_output_is_redacted() {
    let ((snd, _cs), (rcv, _cr)) = cot_session(MemChannel::pair());
    let s = format!("{snd:?} {rcv:?}");
    assert!(s.contains("redacted"), "{s}");
    // Delta = 0xd17a prints as bytes "7ad1..." (little-endian) in Block's Debug;
    // check both byte orders and the full Debug form of the secret.
    let delta = format!("{:?}", snd.delta());
    assert!(!s.contains("7ad1") && !s.contains("d17a"), "{s}");
    assert!(!s.contains(&delta) && !s.contains(&delta[6..38]), "{s}");
}

/// A peer that trickles one byte every 50 ms (each well inside the socket
/// timeout) must not stretch a `recv` past the read deadline.
#[test]
fn trickling_peer_gives_timeout_over_tcp() {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let mut ch = TcpChannel::with_timeouts(stream, Some(Duration::from_millis(300)), None).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if peer.write_all(&[1]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let start = Instant::now();
        // 1000 bytes at 20 bytes/s would take 50 s without a whole-call deadline.
        let r = ch.recv(&mut [0u8; 1000]);
        let took = start.elapsed();
        // Stop the peer before asserting, so a failure cannot hang the test.
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let e = r.unwrap_err();
        assert!(matches!(e, Error::Timeout), "{e:?}");
        assert!(
            took < Duration::from_secs(20),
            "deadline stretched: {took:?}"
        );
    });
}

/// The same for the in-memory channel: many small chunks, slowly.
#[test]
fn trickling_peer_gives_timeout_in_memory() {
    let (mut a, mut b) = MemChannel::pair_with_timeout(Duration::from_millis(300));
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if a.send(&[1]).and_then(|_| a.flush()).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let start = Instant::now();
        let r = b.recv(&mut [0u8; 1000]);
        let took = start.elapsed();
        // Stop the peer before asserting, so a failure cannot hang the test.
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let e = r.unwrap_err();
        assert!(matches!(e, Error::Timeout), "{e:?}");
        assert!(
            took < Duration::from_secs(20),
            "deadline stretched: {took:?}"
        );
    });
}

#[test]
fn chosen_ot_count_mismatch_is_rejected() {
    use circa_ot::{OtReceiver, OtSender};
    let (mut cs, mut cr) = MemChannel::pair();
    std::thread::scope(|s| {
        let h = s.spawn(move || {
            let mut snd = OtSender::setup(&mut cs, &mut rng(9)).unwrap();
            // The sender was told 100 messages; the receiver asks for 150.
            let e = snd.send(&mut cs, &[[Block::ZERO; 2]; 100]).unwrap_err();
            let again = snd.send(&mut cs, &[[Block::ZERO; 2]; 1]).unwrap_err();
            (e, again)
        });
        let mut rcv = OtReceiver::setup(&mut cr, &mut rng(10)).unwrap();
        // Fails once the sender hangs up (its state is dropped with the thread).
        let r = rcv.receive(&mut cr, &[false; 150], &mut [Block::ZERO; 150]);
        let (e, again) = h.join().unwrap();
        assert!(
            matches!(
                e,
                Error::CountMismatch {
                    expected: 100,
                    actual: 150
                }
            ),
            "{e:?}"
        );
        assert!(matches!(again, Error::StateConsumed), "{again:?}");
        assert!(matches!(r, Err(Error::Closed)), "{r:?}");
    });
}
