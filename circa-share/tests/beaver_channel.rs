//! The Beaver driver between two threads over TCP loopback, and a peer that
//! disconnects or sends a short message.

use std::thread;

use circa_ot::{Channel, MemChannel, TcpChannel};
use circa_share::field::batch;
use circa_share::{
    Client, Error, Fp, InsecureDealer, P2138816513, Share, TripleSource, multiply, reconstruct,
    share,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type M = P2138816513;

#[test]
fn beaver_over_tcp_loopback() {
    let n = 5000;
    let mut rng = ChaCha20Rng::seed_from_u64(40);
    let x: Vec<Fp<M>> = batch::random_many(&mut rng, n);
    let y: Vec<Fp<M>> = batch::random_many(&mut rng, n);
    let (xc, xs) = share(&x, &mut rng);
    let (yc, ys) = share(&y, &mut rng);
    let (mut dc, mut ds) = InsecureDealer::<Client, M>::pair([4; 32]);
    let (tc, ts) = (dc.triples(n).unwrap(), ds.triples(n).unwrap());
    let (mut chc, mut chs) = TcpChannel::loopback_pair().unwrap();
    let server = thread::spawn(move || {
        let z = multiply(&mut chs, &xs, &ys, ts).unwrap();
        (z, chs.stats())
    });
    let zc = multiply(&mut chc, &xc, &yc, tc).unwrap();
    let (zs, stats) = server.join().unwrap();
    let z = reconstruct(&zc, &zs).unwrap();
    for i in 0..n {
        assert_eq!(z[i], x[i] * y[i], "index {i}");
    }
    assert_eq!(stats.bytes_sent, 16 * n as u64);
    assert_eq!(stats.bytes_received, 16 * n as u64);
    assert_eq!(chc.stats().rounds, 1);
}

#[test]
fn beaver_peer_disconnects() {
    let (mut chc, chs) = MemChannel::pair();
    drop(chs);
    let (mut dc, _) = InsecureDealer::<Client, M>::pair([5; 32]);
    let x: Share<Client, M> = Share::zeros(10);
    let r = multiply(&mut chc, &x, &x, dc.triples(10).unwrap());
    assert!(matches!(r, Err(Error::Ot(_))), "{r:?}");
}

#[test]
fn beaver_short_message() {
    let (mut ours, mut peer_ch) = TcpChannel::loopback_pair().unwrap();
    let peer = thread::spawn(move || {
        // Read the client's opening, answer with 15 of the 160 bytes, hang up.
        let mut buf = vec![0u8; 160];
        peer_ch.recv(&mut buf).unwrap();
        peer_ch.send(&buf[..15]).unwrap();
        peer_ch.flush().unwrap();
    });
    let (mut dc, _) = InsecureDealer::<Client, M>::pair([6; 32]);
    let x: Share<Client, M> = Share::zeros(10);
    let r = multiply(&mut ours, &x, &x, dc.triples(10).unwrap());
    peer.join().unwrap();
    assert!(matches!(r, Err(Error::Ot(_))), "{r:?}");
}

#[test]
fn beaver_noncanonical_opening() {
    let (mut chc, mut chs) = MemChannel::pair();
    let mut bad = vec![0u8; 32];
    bad[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let peer = thread::spawn(move || {
        let mut buf = vec![0u8; 32];
        chs.recv(&mut buf).unwrap();
        chs.send(&bad).unwrap();
        chs.flush().unwrap();
    });
    let (mut dc, _) = InsecureDealer::<Client, M>::pair([7; 32]);
    let x: Share<Client, M> = Share::zeros(2);
    let r = multiply(&mut chc, &x, &x, dc.triples(2).unwrap());
    peer.join().unwrap();
    assert!(matches!(r, Err(Error::NonCanonical { .. })), "{r:?}");
}
