//! ReLU benches.
//!
//! * `cargo bench -p circa-relu --bench protocol`: criterion benches garbling and evaluating each
//!   ReLU circuit in batches of `CHUNK_RELUS` (throughput in ReLUs), in memory.
//! * `cargo bench -p circa-relu --bench protocol -- --cost [log2 n]`: the two-party cost report
//!   (one JSON line per configuration) over TCP loopback, batch `2^16` by default;
//!   `--only WORD...` keeps the configurations whose label (`<prime> <variant> k<k> <mode>
//!   <product>`) contains every word.

use circa_gc::{Delta, EvaluatorSession, GarblerSession};
use circa_ot::{Block, Prg};
use circa_relu::circuits::relu_circuit;
use circa_relu::protocol::{CHUNK_RELUS, bench};
use circa_relu::{ProductPath, ReluParams, TieMode, Variant};
use circa_share::{Modulus, P2138816513, P2061584302081};
use criterion::{Criterion, Throughput, criterion_group};

fn configs(ks: &[u32]) -> Vec<Variant> {
    let mut v = vec![
        Variant::DelphiBaseline,
        Variant::ExactSign,
        Variant::StochasticSign,
    ];
    for &k in ks {
        v.push(Variant::TruncatedSign {
            k,
            mode: TieMode::NegPass,
        });
    }
    v.push(Variant::TruncatedSign {
        k: ks[1],
        mode: TieMode::PosZero,
    });
    v
}

/// Whether a configuration's label (`<modulus name> <variant> k<k> <mode> <product>`) matches
/// the `--only` filter (every word of the filter must occur in the label).
fn selected(filter: &[String], label: &str) -> bool {
    filter.iter().all(|w| label.contains(w.as_str()))
}

fn label<M: Modulus>(v: Variant, product: ProductPath) -> String {
    let (k, mode) = match v {
        Variant::TruncatedSign { k, mode } => (k, mode.name()),
        _ => (0, "none"),
    };
    format!("{} {} k{k} {mode} {product:?}", M::NAME, v.name())
}

fn cost_lines<M: Modulus>(ks: &[u32], n: usize, filter: &[String]) {
    for v in configs(ks) {
        if !selected(filter, &label::<M>(v, ProductPath::LabelTable)) {
            continue;
        }
        let params = ReluParams::<M>::new(v, ProductPath::LabelTable, 12).expect("params");
        match bench::run(&params, n) {
            Ok(r) => println!("{}", r.to_json_line()),
            Err(e) => eprintln!("{v:?}: {e}"),
        }
    }
}

/// The Beaver path with triples from circa-share's OT-based source (their bytes counted in
/// `triple_bytes` and `offline_bytes`, their time in the offline phase).
fn beaver_line<M: Modulus>(k: u32, n: usize, filter: &[String]) {
    let v = Variant::TruncatedSign {
        k,
        mode: TieMode::NegPass,
    };
    if !selected(filter, &label::<M>(v, ProductPath::Beaver)) {
        return;
    }
    let params = ReluParams::<M>::new(v, ProductPath::Beaver, 12).expect("params");
    match bench::run_with_ot_triples(&params, n) {
        Ok(r) => println!("{}", r.to_json_line()),
        Err(e) => eprintln!("{v:?} Beaver: {e}"),
    }
}

fn gc_benches<M: Modulus>(c: &mut Criterion, ks: &[u32]) {
    for v in configs(ks) {
        let params = ReluParams::<M>::new(v, ProductPath::LabelTable, 12).expect("params");
        let circuit = relu_circuit(&params, CHUNK_RELUS).expect("circuit");
        let name = format!("relu/{}/{v:?}", M::NAME);
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(CHUNK_RELUS as u64));
        group.sample_size(10);
        let mut rng = Prg::from_seed_block(Block::from_u128(1));
        let tweak = Block::random(&mut rng);
        let mut gs = GarblerSession::new(Delta::random(&mut rng), tweak);
        group.bench_function("garble", |b| {
            b.iter(|| gs.garble(&circuit, &mut rng).expect("garble"))
        });
        let mut es = EvaluatorSession::new(tweak);
        let mut gs = GarblerSession::new(Delta::random(&mut rng), tweak);
        let g_in = vec![false; circuit.garbler_inputs()];
        let e_in = vec![true; circuit.evaluator_inputs()];
        group.bench_function("evaluate", |b| {
            b.iter_batched(
                || {
                    let (gc, enc, _) = gs.garble(&circuit, &mut rng).expect("garble");
                    (gc, enc.encode_all(&g_in, &e_in).expect("encode"))
                },
                |(gc, labels)| es.evaluate(&circuit, gc, &labels).expect("evaluate"),
                criterion::BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

fn benches(c: &mut Criterion) {
    gc_benches::<P2061584302081>(c, &[8, 12, 16]);
    gc_benches::<P2138816513>(c, &[4, 8, 12]);
}

criterion_group!(gc_group, benches);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--cost") {
        let log2 = args
            .get(i + 1)
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(16);
        let n = 1usize << log2.min(24);
        // `--only WORD...`: run the configurations whose label contains every WORD, e.g.
        // `--only 41 truncated k12 negpass LabelTable`.
        let filter: Vec<String> = args
            .iter()
            .position(|a| a == "--only")
            .map(|j| args[j + 1..].to_vec())
            .unwrap_or_default();
        cost_lines::<P2061584302081>(&[8, 12, 16], n, &filter);
        cost_lines::<P2138816513>(&[4, 8, 12], n, &filter);
        beaver_line::<P2061584302081>(12, n, &filter);
        beaver_line::<P2138816513>(8, n, &filter);
        return;
    }
    gc_group();
    Criterion::default().configure_from_args().final_summary();
}
