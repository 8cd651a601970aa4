//! One session, batches with different parameters (per-layer `k` and tie rule, as the network
//! engine runs them): every batch agrees with the plaintext reference of its own parameters,
//! and a batch whose parameters do not fit the session is refused.

use circa_ot::TcpChannel;
use circa_relu::protocol::{ReluClient, ReluServer};
use circa_relu::reference::relu_value;
use circa_relu::{Error, ProductPath, ReluParams, TieMode, Variant};
use circa_share::{Fp, P2061584302081};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

type M = P2061584302081;

/// Per batch: its variant and whether its rescale is fused.
fn batches() -> Vec<(Variant, bool)> {
    let t = |k, mode| Variant::TruncatedSign { k, mode };
    vec![
        (t(16, TieMode::NegPass), false),
        (t(6, TieMode::NegPass), false),
        (Variant::ExactSign, false),
        (t(20, TieMode::PosZero), false),
        // Fused rescales: the same circuit size with one more AND gate, both tie rules.
        (t(16, TieMode::NegPass), true),
        (t(9, TieMode::PosZero), true),
        (Variant::StochasticSign, true),
        // The first variant again: the session's circuit cache serves it.
        (t(16, TieMode::NegPass), false),
    ]
}

fn batch_params(base: &ReluParams<M>, (v, rescale): (Variant, bool)) -> ReluParams<M> {
    base.with_variant(v).unwrap().with_rescale(rescale).unwrap()
}

#[test]
fn batches_with_their_own_k_agree_with_their_references() {
    let base = ReluParams::<M>::new(batches()[0].0, ProductPath::LabelTable, 10).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(0xba7c);
    // Shares of values around every batch's band, plus random ones.
    let ys: Vec<Vec<Fp<M>>> = (0..batches().len())
        .map(|b| {
            (0..1500 + 37 * b)
                .map(|i| {
                    let r = (rng.next_u64() % (1 << 26)) as i64 - (1 << 25);
                    Fp::from_i64_reduced(if i % 3 == 0 { r >> 12 } else { r })
                })
                .collect()
        })
        .collect();
    let cs: Vec<Vec<Fp<M>>> = ys
        .iter()
        .map(|y| y.iter().map(|_| Fp::random(&mut rng)).collect())
        .collect();
    let ss: Vec<Vec<Fp<M>>> = ys
        .iter()
        .zip(&cs)
        .map(|(y, c)| y.iter().zip(c).map(|(&y, &c)| y - c).collect())
        .collect();
    let (mut sch, mut cch) = TcpChannel::loopback_pair().unwrap();
    let server = {
        let ss = ss.clone();
        std::thread::spawn(move || {
            let mut rng = ChaCha20Rng::seed_from_u64(1);
            let mut srv = ReluServer::setup(&mut sch, &base, &mut rng).unwrap();
            let mut pres = Vec::new();
            for (v, s) in batches().into_iter().zip(&ss) {
                let p = batch_params(&base, v);
                pres.push(srv.offline_for(&mut sch, s.len(), &p, None).unwrap());
            }
            pres.into_iter()
                .zip(&ss)
                .map(|(pre, s)| srv.online(&mut sch, pre, s).unwrap())
                .collect::<Vec<_>>()
        })
    };
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut cli = ReluClient::setup(&mut cch, &base, &mut rng).unwrap();
    let mut pres = Vec::new();
    for (v, c) in batches().into_iter().zip(&cs) {
        let p = batch_params(&base, v);
        pres.push(cli.offline_for(&mut cch, c, &p, None).unwrap());
    }
    let client: Vec<Vec<Fp<M>>> = pres
        .into_iter()
        .map(|pre| cli.online(&mut cch, pre).unwrap())
        .collect();
    let server = server.join().unwrap();
    for (b, v) in batches().into_iter().enumerate() {
        let p = batch_params(&base, v);
        for i in 0..ys[b].len() {
            let want = relu_value(&p, cs[b][i], ss[b][i]);
            assert_eq!(
                client[b][i] + server[b][i],
                want,
                "batch {b} ({v:?}) element {i}"
            );
        }
    }
}

#[test]
fn incompatible_batches_are_refused_before_any_message() {
    let base = ReluParams::<M>::new(Variant::ExactSign, ProductPath::LabelTable, 10).unwrap();
    let (mut sch, mut cch) = TcpChannel::loopback_pair().unwrap();
    let server = std::thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut srv = ReluServer::setup(&mut sch, &base, &mut rng).unwrap();
        let other_f =
            ReluParams::<M>::new(Variant::ExactSign, ProductPath::LabelTable, 12).unwrap();
        let baseline =
            ReluParams::<M>::new(Variant::DelphiBaseline, ProductPath::LabelTable, 10).unwrap();
        let beaver = ReluParams::<M>::new(Variant::ExactSign, ProductPath::Beaver, 10).unwrap();
        for p in [other_f, baseline, beaver] {
            assert!(matches!(
                srv.offline_for(&mut sch, 4, &p, None),
                Err(Error::InvalidParams { .. })
            ));
        }
    });
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let _cli = ReluClient::setup(&mut cch, &base, &mut rng).unwrap();
    server.join().unwrap();
}
