//! Criterion benches: garbling and evaluating each variant's ReLU circuit for a batch of 4096
//! ReLUs in memory (half-gates via circa-gc's sessions), throughput in ReLUs.
//!
//! `cargo bench -p circa-relu --bench circuits`

use circa_gc::EvaluatorSession;
use circa_gc::bench_support::{bench_session, eval_tables, garble_discard, prepare_eval};
use circa_relu::circuits::relu_circuit;
use circa_relu::{ProductPath, ReluParams, TieMode, Variant};
use circa_share::{Modulus, P2138816513, P2061584302081};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// ReLUs per circuit (the protocol's chunk size).
const BATCH: usize = 4096;

fn variants() -> [Variant; 5] {
    [
        Variant::DelphiBaseline,
        Variant::ExactSign,
        Variant::StochasticSign,
        Variant::TruncatedSign {
            k: 8,
            mode: TieMode::NegPass,
        },
        Variant::TruncatedSign {
            k: 16,
            mode: TieMode::PosZero,
        },
    ]
}

fn bench_field<M: Modulus>(c: &mut Criterion, field: &str) {
    for variant in variants() {
        let params = ReluParams::<M>::new(variant, ProductPath::LabelTable, 12).expect("params");
        let circuit = relu_circuit(&params, BATCH).expect("circuit");
        let name = match variant.tie_mode() {
            Some(mode) => format!(
                "{}_k{}_{}",
                variant.name(),
                variant.truncation_bits(),
                mode.name()
            ),
            None => variant.name().to_string(),
        };
        let mut group = c.benchmark_group(format!("relu/{field}/{name}"));
        group.throughput(Throughput::Elements(BATCH as u64));
        group.sample_size(20);
        let (mut gs, _, mut rng) = bench_session(1);
        let mut buf = Vec::new();
        group.bench_function("garble", |b| {
            b.iter(|| garble_discard(&mut gs, &circuit, &mut rng, &mut buf).expect("garble"))
        });
        let (mut gs, tweak, mut rng) = bench_session(2);
        let (tables, labels) = prepare_eval(&mut gs, &circuit, &mut rng).expect("prepare");
        group.bench_function("eval", |b| {
            b.iter(|| {
                eval_tables(
                    &mut EvaluatorSession::new(tweak),
                    &circuit,
                    &tables,
                    &labels,
                )
                .expect("eval")
            })
        });
        group.finish();
    }
}

fn bench(c: &mut Criterion) {
    bench_field::<P2138816513>(c, "p31");
    bench_field::<P2061584302081>(c, "p41");
}

criterion_group!(benches, bench);
criterion_main!(benches);
