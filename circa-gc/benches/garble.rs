//! Criterion benches: half-gates garbling and evaluation in memory, per AND gate, on a stream of
//! independent AND gates, batches of 4096 ReLU-shaped comparator circuits, AES-128 and SHA-256.
//!
//! `cargo bench -p circa-gc --bench garble`

use circa_gc::bench_support::{
    and_stream_circuit, bench_session, eval_tables, garble_discard, prepare_eval,
    relu_batch_circuit,
};
use circa_gc::{Circuit, EvaluatorSession, read_bristol_file};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn circuits() -> Vec<(&'static str, Circuit)> {
    let mut v = vec![
        (
            "and_stream",
            and_stream_circuit(1 << 20).expect("and stream"),
        ),
        // Many small comparator circuits side by side, like a chunk of ReLUs of circa-relu.
        (
            "relu_sign_4096x41",
            relu_batch_circuit(4096, 41, false).expect("relu batch"),
        ),
        (
            "relu_delphi_4096x41",
            relu_batch_circuit(4096, 41, true).expect("relu batch"),
        ),
    ];
    for (name, file) in [("aes_128", "aes_128.txt"), ("sha256", "sha256.txt")] {
        let path = format!(
            "{}/../../shared/circuits/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        match read_bristol_file(&path) {
            Ok(c) => v.push((name, c)),
            Err(e) => eprintln!("note: skipping {name}: {e}"),
        }
    }
    v
}

fn bench(c: &mut Criterion) {
    for (name, circuit) in circuits() {
        let mut group = c.benchmark_group(format!("gc/{name}"));
        group.throughput(Throughput::Elements(circuit.and_count() as u64));
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

criterion_group!(benches, bench);
criterion_main!(benches);
