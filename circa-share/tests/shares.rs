//! Additive shares and Beaver multiplication against plaintext.

use circa_share::beaver::{BeaverOpening, blind, finish, open};
use circa_share::field::batch;
use circa_share::{
    ClientShare, Error, Fp, InsecureDealer, Modulus, P2138816513, P2061584302081, ServerShare,
    Share, TripleSource, Triples, reconstruct, share,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn local_ops<M: Modulus>(seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n = 50;
    let x: Vec<Fp<M>> = batch::random_many(&mut rng, n);
    let y: Vec<Fp<M>> = batch::random_many(&mut rng, n);
    let k: Vec<Fp<M>> = batch::random_many(&mut rng, n);
    let (xc, xs) = share(&x, &mut rng);
    let (yc, ys) = share(&y, &mut rng);
    assert_eq!(reconstruct(&xc, &xs).unwrap(), x);
    assert_ne!(xc.as_slice(), &x[..]);

    let mut zc = xc.add(&yc).unwrap();
    let mut zs = xs.add(&ys).unwrap();
    zc.scale(Fp::from_u64(7).unwrap());
    zs.scale(Fp::from_u64(7).unwrap());
    zc.add_public(&k).unwrap();
    zs.add_public(&k).unwrap();
    zc.sub_assign(&yc).unwrap();
    zs.sub_assign(&ys).unwrap();
    zc.add_public_scalar(Fp::ONE);
    zs.add_public_scalar(Fp::ONE);
    let z = reconstruct(&zc, &zs).unwrap();
    let seven = Fp::from_u64(7).unwrap();
    for i in 0..n {
        assert_eq!(z[i], (x[i] + y[i]) * seven + k[i] - y[i] + Fp::ONE);
    }
    zc.negate();
    zs.negate();
    assert_eq!(reconstruct(&zc, &zs).unwrap()[0], -z[0]);
}

#[test]
fn local_ops_both_primes() {
    local_ops::<P2061584302081>(1);
    local_ops::<P2138816513>(2);
}

#[test]
fn share_errors_and_debug() {
    type M = P2138816513;
    let a: ClientShare<M> = Share::from_vec(vec![Fp::from_u64(123456).unwrap(); 3]);
    let b: ServerShare<M> = Share::zeros(4);
    assert!(matches!(
        reconstruct(&a, &b),
        Err(Error::LengthMismatch {
            expected: 3,
            actual: 4
        })
    ));
    let mut a2 = a.clone();
    assert!(a2.add_assign(&Share::zeros(2)).is_err());
    assert!(a2.add_public(&[Fp::ONE; 2]).is_err());
    let dbg = format!("{a:?}");
    assert!(!dbg.contains("123456"), "{dbg}");
    assert!(dbg.contains("client") && dbg.contains("len = 3"));
}

fn beaver_round<M: Modulus>(seed: u64, n: usize) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let x: Vec<Fp<M>> = batch::random_many(&mut rng, n);
    let y: Vec<Fp<M>> = batch::random_many(&mut rng, n);
    let (xc, xs) = share(&x, &mut rng);
    let (yc, ys) = share(&y, &mut rng);
    let (mut dc, mut ds) = InsecureDealer::<_, M>::pair([seed as u8; 32]);
    let tc = dc.triples(n).unwrap();
    let ts = ds.triples(n).unwrap();
    // The dealer's shares combine to real triples.
    for i in 0..n {
        let (a, b, c) = (
            tc.a()[i] + ts.a()[i],
            tc.b()[i] + ts.b()[i],
            tc.c()[i] + ts.c()[i],
        );
        assert_eq!(a * b, c);
    }
    let oc = blind(&xc, &yc, &tc).unwrap();
    let os = blind(&xs, &ys, &ts).unwrap();
    // Through the wire format.
    let oc_wire = BeaverOpening::<M>::from_bytes(&oc.to_bytes(), n).unwrap();
    let os_wire = BeaverOpening::<M>::from_bytes(&os.to_bytes(), n).unwrap();
    let zc = finish(tc, &open(&oc, &os_wire).unwrap()).unwrap();
    let zs = finish(ts, &open(&os, &oc_wire).unwrap()).unwrap();
    let z = reconstruct(&zc, &zs).unwrap();
    for i in 0..n {
        assert_eq!(z[i], x[i] * y[i], "index {i}");
    }
}

#[test]
fn beaver_products_equal_plaintext() {
    beaver_round::<P2061584302081>(5, 1000);
    beaver_round::<P2138816513>(6, 1000);
    beaver_round::<P2138816513>(7, 0);
}

#[test]
fn beaver_negative() {
    type M = P2138816513;
    let (mut dc, _) = InsecureDealer::<_, M>::pair([9; 32]);
    let mut tc = dc.triples(10).unwrap();
    let x: ClientShare<M> = Share::zeros(9);
    assert!(matches!(
        blind(&x, &x, &tc),
        Err(Error::LengthMismatch { .. })
    ));
    // Short and non-canonical messages.
    assert!(matches!(
        BeaverOpening::<M>::from_bytes(&[0u8; 159], 10),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        BeaverOpening::<M>::from_bytes(&[0u8; 16], usize::MAX),
        Err(Error::LengthMismatch { .. })
    ));
    let mut bytes = vec![0u8; 160];
    bytes[80..88].copy_from_slice(&M::P.to_le_bytes());
    assert!(matches!(
        BeaverOpening::<M>::from_bytes(&bytes, 10),
        Err(Error::NonCanonical { .. })
    ));
    // take_front splits off triples; asking for too many is an error.
    let front = tc.take_front(4).unwrap();
    assert_eq!((front.len(), tc.len()), (4, 6));
    assert!(tc.take_front(7).is_err());
    assert!(
        Triples::<circa_share::Client, M>::from_parts(vec![Fp::ZERO; 2], vec![Fp::ZERO; 2], vec![])
            .is_err()
    );
    assert!(!format!("{tc:?}").contains("Fp("));
}

#[test]
fn triples_append_keeps_order_and_correlation() {
    type M = P2138816513;
    let (mut dc, mut ds) = InsecureDealer::<_, M>::pair([10; 32]);
    let (mut c, mut s) = (dc.triples(3).unwrap(), ds.triples(3).unwrap());
    let (c2, s2) = (dc.triples(5).unwrap(), ds.triples(5).unwrap());
    let (c2_a0, s2_a4) = (c2.a()[0], s2.a()[4]);
    // Grows past the initial capacity (the zeroizing reallocation path).
    c.append(c2);
    s.append(s2);
    assert_eq!((c.len(), s.len()), (8, 8));
    assert_eq!((c.a()[3], s.a()[7]), (c2_a0, s2_a4));
    for i in 0..8 {
        let a = c.a()[i] + s.a()[i];
        let b = c.b()[i] + s.b()[i];
        assert_eq!(a * b, c.c()[i] + s.c()[i], "triple {i}");
    }
    // Appending into spare capacity (no reallocation) works too.
    let mut front = c.take_front(2).unwrap();
    front.append(Triples::empty());
    assert_eq!(front.len(), 2);
}

#[test]
fn share_equality() {
    type M = P2138816513;
    let a: ClientShare<M> = Share::from_vec(vec![Fp::ONE, Fp::ZERO]);
    let b: ClientShare<M> = Share::from_vec(vec![Fp::ONE, Fp::ZERO]);
    let c: ClientShare<M> = Share::from_vec(vec![Fp::ONE, Fp::ONE]);
    let d: ClientShare<M> = Share::from_vec(vec![Fp::ONE]);
    assert!(a == b);
    assert!(a != c);
    assert!(a != d);
}
