//! The HE linear-layer correlation over a `MemChannel` through the drivers,
//! and hostile messages: truncated, oversized, corrupted, wrong-parameter.

use circa_ot::{Channel, MemChannel};
use circa_share::he::driver::{client_layer, recv_public_key, send_public_key, server_layer};
use circa_share::he::{
    HeAnswer, HeLayer, HeLinearClient, HeParamSet, HeParams, HePlan, HePublicKey, HeQuery, HeServer,
};
use circa_share::linalg::{Conv2dShape, Window2d, conv2d};
use circa_share::{Error, Fp, Modulus, P2138816513, P2061584302081};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn weights<M: Modulus>(rng: &mut ChaCha20Rng, len: usize, bits: u32) -> Vec<Fp<M>> {
    let half = 1i64 << (bits - 1);
    (0..len)
        .map(|_| Fp::from_i64_reduced((rng.next_u64() % (2 * half as u64)) as i64 - half))
        .collect()
}

fn over_channel<M: Modulus>(set: HeParamSet, shape: Conv2dShape, bits: u32) {
    let params = HeParams::<M>::new(set).unwrap();
    let mut srng = ChaCha20Rng::seed_from_u64(21);
    let w = weights::<M>(&mut srng, shape.weight_len(), bits);
    let layer = HeLayer::encode(&params, &shape, &w, bits).unwrap();
    let (mut cch, mut sch) = MemChannel::pair();
    let sp = params.clone();
    let server = std::thread::spawn(move || {
        let srv = recv_public_key(&mut sch, &sp).unwrap();
        let s = server_layer(&mut sch, &srv, &layer, &mut srng).unwrap();
        (s, sch.stats())
    });
    let mut crng = ChaCha20Rng::seed_from_u64(22);
    let client = HeLinearClient::new(&params, &mut crng);
    send_public_key(&mut cch, &client).unwrap();
    let plan = HePlan::conv(&params, &shape, bits).unwrap();
    let r: Vec<Fp<M>> = (0..shape.input_len())
        .map(|_| Fp::random(&mut crng))
        .collect();
    let c = client_layer(&mut cch, &client, &plan, &r, &mut crng).unwrap();
    let (s, stats) = server.join().unwrap();
    let want = conv2d(&shape, &w, &r).unwrap();
    for i in 0..want.len() {
        assert_eq!(c[i] + s[i], want[i], "output {i}");
    }
    let cstats = cch.stats();
    assert_eq!(
        cstats.bytes_sent as usize,
        HePublicKey::encoded_len(&params) + plan.query_bytes()
    );
    assert_eq!(stats.bytes_sent as usize, plan.answer_bytes());
}

#[test]
fn drivers_over_a_mem_channel() {
    over_channel::<P2061584302081>(
        HeParamSet::N8192,
        Conv2dShape::new(8, 12, 12, 8, 3).with_window(Window2d::square(3, 2).with_pads(1, 0, 0, 1)),
        13,
    );
    over_channel::<P2138816513>(HeParamSet::N4096, Conv2dShape::new(8, 10, 10, 12, 1), 10);
}

struct Fixture {
    params: HeParams<P2138816513>,
    plan: HePlan<P2138816513>,
    pk: Vec<u8>,
    query: Vec<u8>,
    answer: Vec<u8>,
}

fn fixture() -> Fixture {
    let params = HeParams::<P2138816513>::new(HeParamSet::N4096).unwrap();
    let shape = Conv2dShape::new(3, 8, 8, 4, 3).with_padding(1);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let plan = HePlan::conv(&params, &shape, 9).unwrap();
    let client = HeLinearClient::new(&params, &mut rng);
    let r: Vec<Fp<P2138816513>> = (0..shape.input_len())
        .map(|_| Fp::random(&mut rng))
        .collect();
    let (q, _) = client.encrypt(&plan, &r, &mut rng).unwrap();
    let server = HeServer::new(&params, &client.public_key()).unwrap();
    let layer =
        HeLayer::encode_plan(plan.clone(), &weights(&mut rng, shape.weight_len(), 9)).unwrap();
    let (a, _) = server.answer(&layer, &q, &mut rng).unwrap();
    Fixture {
        pk: client.public_key().to_bytes(&params),
        query: q.to_bytes(&plan),
        answer: a.to_bytes(&plan),
        params,
        plan,
    }
}

#[test]
fn truncated_and_oversized_messages_are_refused() {
    let f = fixture();
    for cut in [0, 1, 15, 16, f.query.len() - 1] {
        assert!(matches!(
            HeQuery::from_bytes(&f.plan, &f.query[..cut]),
            Err(Error::HeMessageSize { .. })
        ));
    }
    let mut long = f.query.clone();
    long.push(0);
    assert!(matches!(
        HeQuery::from_bytes(&f.plan, &long),
        Err(Error::HeMessageSize { .. })
    ));
    assert!(matches!(
        HeAnswer::from_bytes(&f.plan, &f.answer[..f.answer.len() - 1]),
        Err(Error::HeMessageSize { .. })
    ));
    let mut long = f.answer.clone();
    long.extend_from_slice(&[0; 8]);
    assert!(matches!(
        HeAnswer::from_bytes(&f.plan, &long),
        Err(Error::HeMessageSize { .. })
    ));
    assert!(matches!(
        HePublicKey::from_bytes(&f.params, &f.pk[..100]),
        Err(Error::HeMessageSize { .. })
    ));
    assert!(matches!(
        HePublicKey::from_bytes(&f.params, &[]),
        Err(Error::HeMessageSize { .. })
    ));
}

#[test]
fn corrupted_headers_and_coefficients_are_refused() {
    let f = fixture();
    // Header fields: kind, set, reserved, t, count.
    for (at, v) in [(0usize, 3u8), (1, 2), (2, 0), (3, 0), (4, 0xff), (12, 9)] {
        let mut q = f.query.clone();
        q[at] = if q[at] == v { v ^ 1 } else { v };
        assert!(
            matches!(
                HeQuery::from_bytes(&f.plan, &q),
                Err(Error::HeHeader { .. })
            ),
            "byte {at}"
        );
    }
    let mut a = f.answer.clone();
    a[0] = 2;
    assert!(matches!(
        HeAnswer::from_bytes(&f.plan, &a),
        Err(Error::HeHeader { field: "kind", .. })
    ));
    // A coefficient >= q: the first c0 value of the first query ct (after
    // the 16-byte header and 16-byte seed), all ones.
    let mut q = f.query.clone();
    for b in &mut q[32..40] {
        *b = 0xff;
    }
    assert!(matches!(
        HeQuery::from_bytes(&f.plan, &q),
        Err(Error::HeNonCanonical {
            what: "query",
            index: 0
        })
    ));
    // An answer c1 value >= q_f.
    let mut a = f.answer.clone();
    for b in &mut a[16..24] {
        *b = 0xff;
    }
    assert!(matches!(
        HeAnswer::from_bytes(&f.plan, &a),
        Err(Error::HeNonCanonical { what: "answer", .. })
    ));
    // Random garbage of the right size never panics.
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    for _ in 0..20 {
        let mut junk = f.answer.clone();
        rng.fill_bytes(&mut junk[16..]);
        let _ = HeAnswer::from_bytes(&f.plan, &junk);
        let mut junk = f.query.clone();
        rng.fill_bytes(&mut junk[16..]);
        let _ = HeQuery::from_bytes(&f.plan, &junk);
    }
}

#[test]
fn wrong_parameter_messages_are_refused() {
    let f = fixture();
    // The same layer planned for the other parameter set or the other prime.
    let p8 = HeParams::<P2138816513>::new(HeParamSet::N8192).unwrap();
    let plan8 = HePlan::conv(&p8, f.plan.shape(), 9).unwrap();
    assert!(HeQuery::from_bytes(&plan8, &f.query).is_err());
    assert!(HeAnswer::from_bytes(&plan8, &f.answer).is_err());
    assert!(HePublicKey::from_bytes(&p8, &f.pk).is_err());
    let p41 = HeParams::<P2061584302081>::new(HeParamSet::N4096).unwrap();
    let plan41 = HePlan::conv(&p41, f.plan.shape(), 9).unwrap();
    let mut q = f.query.clone();
    // Same size under p41's plan only if the packing agrees; either way the
    // header's t differs.
    if q.len() == plan41.query_bytes() {
        assert!(matches!(
            HeQuery::from_bytes(&plan41, &q),
            Err(Error::HeHeader {
                field: "plaintext modulus",
                ..
            })
        ));
    } else {
        assert!(HeQuery::from_bytes(&plan41, &q).is_err());
    }
    q.truncate(16);
    // A query for a different layer (another shape) of the same parameters.
    let other = HePlan::conv(&f.params, &Conv2dShape::new(64, 8, 8, 4, 3), 9).unwrap();
    assert!(HeQuery::from_bytes(&other, &f.query).is_err());
    // A pending decryption refuses an answer for another layer.
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let client = HeLinearClient::new(&f.params, &mut rng);
    let r = vec![Fp::<P2138816513>::ZERO; other.shape().input_len()];
    let (_, pending) = client.encrypt(&other, &r, &mut rng).unwrap();
    let a = HeAnswer::from_bytes(&f.plan, &f.answer).unwrap();
    assert!(pending.decrypt(&a).is_err());
    // A server for one set refuses the other's public key and plans.
    let k8 = HeLinearClient::new(&p8, &mut rng).public_key();
    assert!(matches!(
        HeServer::new(&f.params, &k8),
        Err(Error::HeHeader { .. })
    ));
    let srv = HeServer::new(&f.params, &client.public_key()).unwrap();
    let w = vec![Fp::<P2138816513>::ZERO; plan8.shape().weight_len()];
    let layer8 = HeLayer::encode_plan(plan8, &w).unwrap();
    let q = HeQuery::from_bytes(&f.plan, &f.query).unwrap();
    assert!(matches!(
        srv.answer(&layer8, &q, &mut rng),
        Err(Error::HeHeader { .. })
    ));
    let _ = Channel::stats(&MemChannel::pair().0);
}
