//! Full two-party runs over TCP loopback (one thread per party) for every variant and product
//! path, checked against the plaintext reference; the client's colour bits; negative cases.

use circa_ot::{Channel, TcpChannel};
use circa_relu::protocol::{CHUNK_RELUS, ReluClient, ReluServer};
use circa_relu::reference::relu_value;
use circa_relu::{Error, ProductPath, ReluParams, TieMode, Variant};
use circa_share::{Fp, InsecureDealer, Modulus, P2138816513, P2061584302081};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const SERVER_SEED: u64 = 0x5e_5e;
const CLIENT_SEED: u64 = 0xc1_c1;

fn variants(k: u32) -> Vec<Variant> {
    vec![
        Variant::DelphiBaseline,
        Variant::ExactSign,
        Variant::StochasticSign,
        Variant::TruncatedSign {
            k,
            mode: TieMode::NegPass,
        },
        Variant::TruncatedSign {
            k,
            mode: TieMode::PosZero,
        },
    ]
}

/// Boundary values of `y` followed by random small and random full-range values.
fn test_values<M: Modulus>(k: u32, n: usize, rng: &mut ChaCha20Rng) -> Vec<Fp<M>> {
    let half = M::HALF as i64;
    let two_k = 1i64 << k;
    let mut v: Vec<Fp<M>> = [
        0,
        1,
        -1,
        two_k - 1,
        -(two_k - 1),
        two_k,
        -two_k,
        half,
        -half,
    ]
    .iter()
    .map(|&x| Fp::from_i64_reduced(x))
    .collect();
    while v.len() < n {
        let y = if v.len().is_multiple_of(2) {
            Fp::from_i64_reduced((rng.next_u64() % (1 << 24)) as i64 - (1 << 23))
        } else {
            Fp::random(rng)
        };
        v.push(y);
    }
    v.truncate(n);
    v
}

/// Shares of `y`: random `c`, except that the first values also get `c = 0` and `s = 0` cases.
fn share<M: Modulus>(y: &[Fp<M>], rng: &mut ChaCha20Rng) -> (Vec<Fp<M>>, Vec<Fp<M>>) {
    let c: Vec<Fp<M>> = y
        .iter()
        .enumerate()
        .map(|(i, &y)| match i % 23 {
            3 => Fp::ZERO,
            5 => y, // s = 0: t = 0 edge case
            _ => Fp::random(rng),
        })
        .collect();
    let s = y.iter().zip(&c).map(|(&y, &c)| y - c).collect();
    (c, s)
}

struct Outcome<M: Modulus> {
    server: Vec<Fp<M>>,
    client: Vec<Fp<M>>,
    colours: Vec<bool>,
}

/// Runs setup, offline and online once over TCP loopback.
fn run_pair<M: Modulus>(params: &ReluParams<M>, c: &[Fp<M>], s: &[Fp<M>]) -> Outcome<M> {
    let (mut sch, mut cch) = TcpChannel::loopback_pair().unwrap();
    let beaver = params.variant().is_sign() && params.product() == ProductPath::Beaver;
    let (mut dc, mut ds) = InsecureDealer::<_, M>::pair([9; 32]);
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(CLIENT_SEED);
            let mut cl = ReluClient::setup(&mut cch, params, &mut rng).unwrap();
            let pre = if beaver {
                cl.offline_with_triples(&mut cch, c, &mut dc).unwrap()
            } else {
                cl.offline(&mut cch, c).unwrap()
            };
            assert_eq!(pre.len(), c.len());
            cl.online_with_colours(&mut cch, pre).unwrap()
        });
        let mut rng = ChaCha20Rng::seed_from_u64(SERVER_SEED);
        let mut sv = ReluServer::setup(&mut sch, params, &mut rng).unwrap();
        let pre = if beaver {
            sv.offline_with_triples(&mut sch, s.len(), &mut ds).unwrap()
        } else {
            sv.offline(&mut sch, s.len()).unwrap()
        };
        let server = sv.online(&mut sch, pre, s).unwrap();
        let (client, colours) = client.join().unwrap();
        Outcome {
            server,
            client,
            colours,
        }
    })
}

fn check_against_reference<M: Modulus>(params: &ReluParams<M>, n: usize, seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let k = params.variant().truncation_bits().max(4);
    let y = test_values::<M>(k, n, &mut rng);
    let (c, s) = share(&y, &mut rng);
    let out = run_pair(params, &c, &s);
    assert_eq!(out.server.len(), n);
    assert_eq!(out.client.len(), n);
    for i in 0..n {
        assert_eq!(
            out.server[i] + out.client[i],
            relu_value(params, c[i], s[i]),
            "{:?} {:?} relu {i}: y = {}",
            params.variant(),
            params.product(),
            y[i].to_i64()
        );
    }
}

fn all_variants_both_paths<M: Modulus>(ks: &[u32], n: usize) {
    for &k in ks {
        for v in variants(k) {
            for product in [ProductPath::LabelTable, ProductPath::Beaver] {
                if v == Variant::DelphiBaseline && product == ProductPath::Beaver {
                    continue; // the baseline's circuit outputs the ReLU itself
                }
                if k != ks[0] && !matches!(v, Variant::TruncatedSign { .. }) {
                    continue;
                }
                let params = ReluParams::<M>::new(v, product, 12).unwrap();
                check_against_reference(&params, n, u64::from(k) * 31 + 7);
                // The fused rescale, where the variant has it (both product paths).
                if let Ok(fused) = params.with_rescale(true) {
                    check_against_reference(&fused, n, u64::from(k) * 31 + 8);
                }
            }
        }
    }
}

#[test]
fn every_variant_and_path_reconstructs_the_reference_p41() {
    all_variants_both_paths::<P2061584302081>(&[12, 4], 300);
}

#[test]
fn every_variant_and_path_reconstructs_the_reference_p31() {
    all_variants_both_paths::<P2138816513>(&[8, 1], 300);
}

#[test]
fn multi_chunk_batches_reconstruct() {
    let n = CHUNK_RELUS + 77;
    let t = Variant::TruncatedSign {
        k: 12,
        mode: TieMode::NegPass,
    };
    for (v, product) in [
        (t, ProductPath::LabelTable),
        (t, ProductPath::Beaver),
        (Variant::DelphiBaseline, ProductPath::LabelTable),
    ] {
        let params = ReluParams::<P2061584302081>::new(v, product, 12).unwrap();
        check_against_reference(&params, n, 99);
    }
}

/// The client's colour bits are `b XOR lambda` with `lambda` a fresh random permute bit: balanced
/// whatever the signs. 4096 bits: a 5-sigma band is +-160 around 2048.
#[test]
fn client_colour_bits_are_balanced_for_all_positive_and_all_negative_inputs() {
    let n = 4096;
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    for v in [
        Variant::ExactSign,
        Variant::StochasticSign,
        Variant::TruncatedSign {
            k: 8,
            mode: TieMode::PosZero,
        },
    ] {
        for product in [ProductPath::LabelTable, ProductPath::Beaver] {
            let params = ReluParams::<P2138816513>::new(v, product, 12).unwrap();
            for negative in [false, true] {
                let y: Vec<Fp<P2138816513>> = (0..n)
                    .map(|_| {
                        let m = (rng.next_u64() % (1 << 20)) as i64 + (1 << 10);
                        Fp::from_i64_reduced(if negative { -m } else { m })
                    })
                    .collect();
                let (c, s) = share(&y, &mut rng);
                let out = run_pair(&params, &c, &s);
                assert_eq!(out.colours.len(), n);
                let ones = out.colours.iter().filter(|&&b| b).count();
                assert!(
                    ones.abs_diff(n / 2) <= 160,
                    "{v:?} {product:?} negative={negative}: {ones} of {n} colours are 1"
                );
                // And the outputs are right (the signs are all equal here).
                for i in 0..n {
                    assert_eq!(
                        out.server[i] + out.client[i],
                        relu_value(&params, c[i], s[i])
                    );
                }
            }
        }
    }
}

fn truncated(product: ProductPath) -> ReluParams<P2138816513> {
    ReluParams::new(
        Variant::TruncatedSign {
            k: 8,
            mode: TieMode::NegPass,
        },
        product,
        12,
    )
    .unwrap()
}

/// Two batches preprocessed in one session, used online in reverse order.
#[test]
fn batches_can_be_used_online_in_any_order() {
    let params = truncated(ProductPath::LabelTable);
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let y1 = test_values::<P2138816513>(8, 50, &mut rng);
    let y2 = test_values::<P2138816513>(8, 70, &mut rng);
    let (c1, s1) = share(&y1, &mut rng);
    let (c2, s2) = share(&y2, &mut rng);
    let (mut sch, mut cch) = TcpChannel::loopback_pair().unwrap();
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(CLIENT_SEED);
            let mut cl = ReluClient::setup(&mut cch, &params, &mut rng).unwrap();
            let p1 = cl.offline(&mut cch, &c1).unwrap();
            let p2 = cl.offline(&mut cch, &c2).unwrap();
            let o2 = cl.online(&mut cch, p2).unwrap();
            let o1 = cl.online(&mut cch, p1).unwrap();
            (o1, o2)
        });
        let mut rng = ChaCha20Rng::seed_from_u64(SERVER_SEED);
        let mut sv = ReluServer::setup(&mut sch, &params, &mut rng).unwrap();
        let p1 = sv.offline(&mut sch, 50).unwrap();
        let p2 = sv.offline(&mut sch, 70).unwrap();
        let so2 = sv.online(&mut sch, p2, &s2).unwrap();
        let so1 = sv.online(&mut sch, p1, &s1).unwrap();
        let (co1, co2) = client.join().unwrap();
        for i in 0..50 {
            assert_eq!(so1[i] + co1[i], relu_value(&params, c1[i], s1[i]));
        }
        for i in 0..70 {
            assert_eq!(so2[i] + co2[i], relu_value(&params, c2[i], s2[i]));
        }
    });
}

/// The parties run the online phase on different batches: the client detects it.
#[test]
fn mismatched_batches_are_rejected() {
    let params = truncated(ProductPath::LabelTable);
    let c = vec![Fp::ZERO; 10];
    let s = vec![Fp::ZERO; 10];
    let (mut sch, mut cch) = TcpChannel::loopback_pair().unwrap();
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(CLIENT_SEED);
            let mut cl = ReluClient::setup(&mut cch, &params, &mut rng).unwrap();
            let _p1 = cl.offline(&mut cch, &c).unwrap();
            let p2 = cl.offline(&mut cch, &c).unwrap();
            let r = cl.online(&mut cch, p2);
            drop(cch);
            r
        });
        let mut rng = ChaCha20Rng::seed_from_u64(SERVER_SEED);
        let mut sv = ReluServer::setup(&mut sch, &params, &mut rng).unwrap();
        let p1 = sv.offline(&mut sch, 10).unwrap();
        let _p2 = sv.offline(&mut sch, 10).unwrap();
        let server = sv.online(&mut sch, p1, &s);
        let client = client.join().unwrap();
        assert!(matches!(
            client,
            Err(Error::BatchIdMismatch {
                expected: 10,
                actual: 0
            })
        ));
        assert!(server.is_err());
    });
}

#[test]
fn wrong_batch_sizes_are_rejected() {
    let params = truncated(ProductPath::LabelTable);
    let (mut sch, mut cch) = TcpChannel::loopback_pair().unwrap();
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(CLIENT_SEED);
            let mut cl = ReluClient::setup(&mut cch, &params, &mut rng).unwrap();
            let r = cl.offline(&mut cch, &[Fp::ZERO; 11]);
            drop(cch);
            r.map(|p| p.len())
        });
        let mut rng = ChaCha20Rng::seed_from_u64(SERVER_SEED);
        let mut sv = ReluServer::setup(&mut sch, &params, &mut rng).unwrap();
        let server = sv.offline(&mut sch, 10).map(|p| p.len());
        drop(sch);
        assert!(matches!(
            server,
            Err(Error::LengthMismatch {
                expected: 10,
                actual: 11,
                ..
            })
        ));
        assert!(client.join().unwrap().is_err());
    });
    // Online: the server's shares must match the preprocessed batch (checked before any I/O).
    let (mut sch, mut cch) = TcpChannel::loopback_pair().unwrap();
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(CLIENT_SEED);
            let mut cl = ReluClient::setup(&mut cch, &params, &mut rng).unwrap();
            let pre = cl.offline(&mut cch, &[Fp::ZERO; 10]).unwrap();
            let r = cl.online(&mut cch, pre);
            r.map(|o| o.len())
        });
        let mut rng = ChaCha20Rng::seed_from_u64(SERVER_SEED);
        let mut sv = ReluServer::setup(&mut sch, &params, &mut rng).unwrap();
        let pre = sv.offline(&mut sch, 10).unwrap();
        let r = sv.online(&mut sch, pre, &[Fp::ZERO; 9]);
        assert!(matches!(
            r,
            Err(Error::LengthMismatch {
                expected: 10,
                actual: 9,
                ..
            })
        ));
        drop(sch);
        assert!(client.join().unwrap().is_err());
    });
}

#[test]
fn parameter_mismatch_is_detected_by_both_parties() {
    let a = truncated(ProductPath::LabelTable);
    let b = ReluParams::<P2138816513>::new(
        Variant::TruncatedSign {
            k: 9,
            mode: TieMode::NegPass,
        },
        ProductPath::LabelTable,
        12,
    )
    .unwrap();
    let (mut sch, mut cch) = TcpChannel::loopback_pair().unwrap();
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(CLIENT_SEED);
            ReluClient::setup(&mut cch, &b, &mut rng).map(|_| ())
        });
        let mut rng = ChaCha20Rng::seed_from_u64(SERVER_SEED);
        let server = ReluServer::setup(&mut sch, &a, &mut rng).map(|_| ());
        assert!(matches!(server, Err(Error::ParamsMismatch)));
        assert!(matches!(client.join().unwrap(), Err(Error::ParamsMismatch)));
    });
}

/// The server disconnects between offline and online: the client's online phase fails cleanly.
#[test]
fn disconnect_between_offline_and_online() {
    for product in [ProductPath::LabelTable, ProductPath::Beaver] {
        let params = truncated(product);
        let (mut sch, mut cch) = TcpChannel::loopback_pair().unwrap();
        let (mut dc, mut ds) = InsecureDealer::<_, P2138816513>::pair([3; 32]);
        std::thread::scope(|scope| {
            let client = scope.spawn(|| {
                let mut rng = ChaCha20Rng::seed_from_u64(CLIENT_SEED);
                let mut cl = ReluClient::setup(&mut cch, &params, &mut rng).unwrap();
                let pre = cl
                    .offline_with_triples(&mut cch, &[Fp::ONE; 20], &mut dc)
                    .unwrap();
                cl.online(&mut cch, pre).map(|o| o.len())
            });
            let mut rng = ChaCha20Rng::seed_from_u64(SERVER_SEED);
            let mut sv = ReluServer::setup(&mut sch, &params, &mut rng).unwrap();
            let pre = sv.offline_with_triples(&mut sch, 20, &mut ds).unwrap();
            drop(pre);
            drop(sch);
            let r = client.join().unwrap();
            assert!(
                matches!(r, Err(Error::Ot(circa_ot::Error::Closed))),
                "{r:?}"
            );
        });
    }
}

/// A server that stops in the middle of its first online flight, and one that stops in the
/// middle of the offline garbled tables: the client reports an error, never panics or hangs.
#[test]
fn truncated_messages_are_errors() {
    let params = truncated(ProductPath::LabelTable);
    // Online flight cut short: the batch id and half a label.
    let (mut sch, mut cch) = TcpChannel::loopback_pair().unwrap();
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(CLIENT_SEED);
            let mut cl = ReluClient::setup(&mut cch, &params, &mut rng).unwrap();
            let pre = cl.offline(&mut cch, &[Fp::ONE; 20]).unwrap();
            cl.online(&mut cch, pre).map(|o| o.len())
        });
        let mut rng = ChaCha20Rng::seed_from_u64(SERVER_SEED);
        let mut sv = ReluServer::setup(&mut sch, &params, &mut rng).unwrap();
        let _pre = sv.offline(&mut sch, 20).unwrap();
        sch.send_u64(0).unwrap();
        sch.send(&[0u8; 8]).unwrap();
        sch.flush().unwrap();
        drop(sch);
        let r = client.join().unwrap();
        assert!(
            matches!(r, Err(Error::Ot(circa_ot::Error::Closed))),
            "{r:?}"
        );
    });
    // A client that announces its batch and then vanishes: the server's offline fails.
    let (mut sch, mut cch) = TcpChannel::loopback_pair().unwrap();
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(CLIENT_SEED);
            let _cl = ReluClient::setup(&mut cch, &params, &mut rng).unwrap();
            cch.send_u64(20).unwrap();
            cch.send(&[1u8; 100]).unwrap();
            cch.flush().unwrap();
        });
        let mut rng = ChaCha20Rng::seed_from_u64(SERVER_SEED);
        let mut sv = ReluServer::setup(&mut sch, &params, &mut rng).unwrap();
        client.join().unwrap();
        let r = sv.offline(&mut sch, 20).map(|p| p.len());
        assert!(r.is_err(), "{r:?}");
    });
}

#[test]
fn beaver_path_without_triples_is_an_error() {
    let params = truncated(ProductPath::Beaver);
    let (mut sch, mut cch) = TcpChannel::loopback_pair().unwrap();
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(CLIENT_SEED);
            let mut cl = ReluClient::setup(&mut cch, &params, &mut rng).unwrap();
            cl.offline(&mut cch, &[Fp::ONE; 3]).map(|p| p.len())
        });
        let mut rng = ChaCha20Rng::seed_from_u64(SERVER_SEED);
        let mut sv = ReluServer::setup(&mut sch, &params, &mut rng).unwrap();
        assert!(matches!(
            sv.offline(&mut sch, 3).map(|p| p.len()),
            Err(Error::TriplesRequired)
        ));
        assert!(matches!(
            client.join().unwrap(),
            Err(Error::TriplesRequired)
        ));
    });
}

/// A server whose online output tables hold non-canonical field elements: a typed error.
#[test]
fn non_canonical_table_entries_are_rejected() {
    let params = truncated(ProductPath::LabelTable);
    let n = 20;
    let (mut sch, mut cch) = TcpChannel::loopback_pair().unwrap();
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(CLIENT_SEED);
            let mut cl = ReluClient::setup(&mut cch, &params, &mut rng).unwrap();
            let pre = cl.offline(&mut cch, &[Fp::ONE; 20]).unwrap();
            cl.online(&mut cch, pre).map(|o| o.len())
        });
        let mut rng = ChaCha20Rng::seed_from_u64(SERVER_SEED);
        let mut sv = ReluServer::setup(&mut sch, &params, &mut rng).unwrap();
        let _pre = sv.offline(&mut sch, n).unwrap();
        sch.send_u64(0).unwrap();
        sch.send(&vec![0u8; n * params.comparator_bits() * 16])
            .unwrap();
        sch.send(&vec![0xffu8; n * 16]).unwrap();
        sch.flush().unwrap();
        let r = client.join().unwrap();
        assert!(matches!(r, Err(Error::Share(_))), "{r:?}");
    });
}

/// An empty batch is a no-op that still keeps both parties in step.
#[test]
fn empty_batch_then_a_real_one() {
    let params = truncated(ProductPath::LabelTable);
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let y = test_values::<P2138816513>(8, 30, &mut rng);
    let (c, s) = share(&y, &mut rng);
    let (mut sch, mut cch) = TcpChannel::loopback_pair().unwrap();
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(CLIENT_SEED);
            let mut cl = ReluClient::setup(&mut cch, &params, &mut rng).unwrap();
            let p0 = cl.offline(&mut cch, &[]).unwrap();
            assert!(p0.is_empty());
            assert!(cl.online(&mut cch, p0).unwrap().is_empty());
            let p1 = cl.offline(&mut cch, &c).unwrap();
            cl.online(&mut cch, p1).unwrap()
        });
        let mut rng = ChaCha20Rng::seed_from_u64(SERVER_SEED);
        let mut sv = ReluServer::setup(&mut sch, &params, &mut rng).unwrap();
        let p0 = sv.offline(&mut sch, 0).unwrap();
        assert!(sv.online(&mut sch, p0, &[]).unwrap().is_empty());
        let p1 = sv.offline(&mut sch, 30).unwrap();
        let so = sv.online(&mut sch, p1, &s).unwrap();
        let co = client.join().unwrap();
        for i in 0..30 {
            assert_eq!(so[i] + co[i], relu_value(&params, c[i], s[i]));
        }
    });
}
