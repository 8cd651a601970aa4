//! The Fashion-MNIST models (`models/fashion/`, trained by `models/train_fashion.py`, exported
//! by `models/export_fashion.py`): every model imports, its ReLU and polynomial counts are the
//! recorded ones, the f64 reference reproduces the recorded float64 logits of the first 20
//! images of the bundled subset and the recorded number of correct predictions on the first
//! `ACCURACY_IMAGES` of them.
//!
//! Why 100 of the 1,000 bundled images: `circa_nn::infer` runs the convolutions directly
//! (about 30 ms of CPU per image for these 9.3 M multiply-accumulates), so 1,000 images of 8
//! models would take minutes. `models/data/fashion_models.csv` also records the counts on
//! the first 200 and all 1,000; the ignored test `accuracy_on_all_1000` checks the latter
//! (`cargo test --release -p circa-nn --test fashion_models -- --ignored`).

use std::path::PathBuf;

use circa_nn::dataset::{LabelledImages, read_idx};
use circa_nn::{Activation, Network, Op, Shape, argmax, import_onnx, infer};

/// Images the default accuracy check runs (the `f64_correct_subset_100` column).
const ACCURACY_IMAGES: usize = 100;
/// Images per model in `fashion_reference_logits.csv`.
const REFERENCE_IMAGES: usize = 20;
/// The CSV holds float64 logits at 9 significant digits (relative 5e-9); the f64 reference
/// differs from numpy's float64 evaluation of the same file only in summation order.
const LOGIT_TOLERANCE: f64 = 1e-6;

/// One test per model; `every_recorded_model_is_tested` keeps this list and the CSV equal.
macro_rules! model_tests {
    ($($name:ident),* $(,)?) => {
        const TESTED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                check_model(stringify!($name));
            }
        )*
    };
}

model_tests!(
    fashion_resnet8,
    fashion_drd_thinch,
    fashion_drd_cull1_thinch,
    fashion_drd_cull2_thinlayer,
    fashion_drd_only1,
    fashion_poly,
);

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn read_text(rel: &str) -> String {
    std::fs::read_to_string(models_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn load(model: &str) -> Network {
    let path = models_dir().join(format!("fashion/{model}.onnx"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    import_onnx(&bytes).unwrap_or_else(|e| panic!("{model}: {e}"))
}

fn subset() -> LabelledImages {
    let data = models_dir().join("data");
    read_idx(
        &data.join("fashion_test_1000-images.idx3"),
        &data.join("fashion_test_1000-labels.idx1"),
        10,
        1000,
    )
    .expect("bundled subset")
}

/// One row of `fashion_models.csv`.
struct Row {
    model: String,
    relus: usize,
    polynomial_units: usize,
    correct_100: usize,
    correct_1000: usize,
}

fn rows() -> Vec<Row> {
    let text = read_text("data/fashion_models.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let (relus, polys, c100, c1000) = (
        col("relus"),
        col("polynomial_units"),
        col("f64_correct_subset_100"),
        col("f64_correct_subset_1000"),
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |i: usize| f[i].parse::<usize>().expect("count");
            Row {
                model: f[0].to_string(),
                relus: num(relus),
                polynomial_units: num(polys),
                correct_100: num(c100),
                correct_1000: num(c1000),
            }
        })
        .collect()
}

fn row(model: &str) -> Row {
    rows()
        .into_iter()
        .find(|r| r.model == model)
        .unwrap_or_else(|| panic!("{model} in fashion_models.csv"))
}

/// `(image index, logits)` rows of `fashion_reference_logits.csv` for `model`.
fn reference_logits(model: &str) -> Vec<(usize, Vec<f64>)> {
    read_text("data/fashion_reference_logits.csv")
        .lines()
        .skip(1)
        .filter(|l| l.split(',').next() == Some(model))
        .map(|line| {
            let mut fields = line.split(',').skip(1);
            let index = fields.next().expect("index").parse().expect("index");
            (index, fields.map(|v| v.parse().expect("logit")).collect())
        })
        .collect()
}

fn correct(net: &Network, data: &LabelledImages, images: usize) -> usize {
    data.images
        .iter()
        .zip(&data.labels)
        .take(images)
        .filter(|(x, l)| argmax(&infer(net, x).expect("inference")) == Some(**l))
        .count()
}

fn check_model(model: &str) {
    let row = row(model);
    let net = load(model);
    let arch = net.architecture();
    assert_eq!(arch.input_shape(), Shape::new(1, 28, 28));
    assert_eq!(arch.output_shape(), Shape::flat(10));
    assert_eq!(arch.relu_count(), row.relus, "ReLUs");
    assert_eq!(
        arch.polynomial_count(),
        row.polynomial_units,
        "polynomial units"
    );
    let data = subset();
    let refs = reference_logits(model);
    assert_eq!(refs.len(), REFERENCE_IMAGES);
    for (index, want) in &refs {
        let got = infer(&net, &data.images[*index]).expect("inference");
        assert_eq!(got.len(), 10);
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() <= LOGIT_TOLERANCE * w.abs().max(1.0),
                "image {index}: got {got:?}, reference {want:?}"
            );
        }
    }
    let ok = correct(&net, &data, ACCURACY_IMAGES);
    assert_eq!(
        ok, row.correct_100,
        "correct of the first {ACCURACY_IMAGES}"
    );
}

#[test]
fn every_recorded_model_is_tested() {
    let mut recorded: Vec<String> = rows().into_iter().map(|r| r.model).collect();
    let mut tested: Vec<String> = TESTED.iter().map(|s| s.to_string()).collect();
    recorded.sort();
    tested.sort();
    assert_eq!(recorded, tested);
    // And every file in models/fashion/ is recorded.
    let mut files: Vec<String> = std::fs::read_dir(models_dir().join("fashion"))
        .expect("models/fashion")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".onnx").map(str::to_string)
        })
        .collect();
    files.sort();
    assert_eq!(files, recorded);
}

#[test]
fn subset_is_the_recorded_one() {
    let data = subset();
    assert_eq!((data.rows, data.cols), (28, 28));
    assert_eq!(data.images.len(), 1000);
    // Class counts of the first 1,000 test images (models/README.md).
    let mut counts = [0usize; 10];
    for &l in &data.labels {
        counts[l] += 1;
    }
    assert_eq!(counts, [107, 105, 111, 93, 115, 87, 97, 95, 95, 95]);
    assert!(
        data.images
            .iter()
            .flatten()
            .all(|&v| (0.0..=1.0).contains(&v))
    );
}

#[test]
fn recorded_model_family() {
    let rows = rows();
    let base = rows
        .iter()
        .find(|r| r.model == "fashion_resnet8")
        .expect("base model");
    assert!((50_000..=150_000).contains(&base.relus));
    for r in &rows {
        assert!(r.relus <= base.relus, "{}", r.model);
        assert!(r.correct_100 <= ACCURACY_IMAGES && r.correct_1000 <= 1000);
    }
}

#[test]
fn custom_activations_are_imported() {
    // Per-channel identity must arrive as ChannelRelu, polynomials as Polynomial (not as
    // something the importer silently turned into a plain ReLU).
    let mut channel = 0;
    let mut poly = 0;
    for r in rows() {
        let net = load(&r.model);
        for l in net.architecture().layers() {
            match &l.op {
                Op::Activation(Activation::ChannelRelu { mask }) => {
                    assert!(mask.iter().any(|&m| m) && mask.iter().any(|&m| !m));
                    channel += 1;
                }
                Op::Activation(Activation::Polynomial { coefficients }) => {
                    assert!(coefficients[2] != 0.0);
                    poly += 1;
                }
                _ => {}
            }
        }
    }
    let expect_channel = rows().iter().any(|r| r.model.contains("thinch"));
    let expect_poly = rows().iter().any(|r| r.polynomial_units > 0);
    assert_eq!(channel > 0, expect_channel);
    assert_eq!(poly > 0, expect_poly);
}

#[test]
#[ignore = "minutes: 1,000 f64 inferences per model"]
fn accuracy_on_all_1000() {
    let data = subset();
    for r in rows() {
        let net = load(&r.model);
        assert_eq!(correct(&net, &data, 1000), r.correct_1000, "{}", r.model);
    }
}
