//! Models exported from PyTorch the way users export them (`models/torch_fixtures.py`: 8
//! families x 6 exporter configurations, committed under `tests/fixtures/torch/`; CI does not
//! install torch). Every one imports through `import_onnx_file` (the dynamo exports keep their
//! weights in `.onnx.data` side files), its f64 reference matches onnxruntime's logits, and
//! both the f64 and the fixed-point reference (`circa_nn::Fixed`, the crate's default field,
//! `f` and sign scale) predict onnxruntime's class on every input.

use std::path::PathBuf;

use circa_nn::fixed::defaults;
use circa_nn::{Activation, DecodeLimits, Fixed, NnError, Op, argmax, import_onnx_file, infer};

include!("fixtures/torch_matrix.rs");
/// onnxruntime computes in float32; the reference in f64 from the same float32 weights.
const TOLERANCE: f64 = 1e-4;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch")
}

fn rows(name: &str) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split_whitespace()
                .map(|v| v.parse().expect("number"))
                .collect()
        })
        .collect()
}

fn load(stem: &str) -> circa_nn::Network {
    import_onnx_file(dir().join(format!("{stem}.onnx")), &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("{stem}: {e}"))
}

#[test]
fn every_export_imports_and_matches_onnxruntime() {
    for family in FAMILIES {
        let inputs = rows(&format!("{family}.inputs.txt"));
        assert_eq!(inputs.len(), 4, "{family}");
        for exporter in EXPORTERS {
            let stem = format!("{family}.{exporter}");
            let net = load(&stem);
            let fixed = Fixed::<defaults::DefaultModulus>::new(
                &net,
                defaults::FRAC_BITS,
                defaults::SIGN_SCALE,
            )
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
            let want = rows(&format!("{stem}.ort.txt"));
            assert_eq!(want.len(), inputs.len(), "{stem}");
            for (i, (x, w)) in inputs.iter().zip(&want).enumerate() {
                let got = infer(&net, x).unwrap_or_else(|e| panic!("{stem}: {e}"));
                assert_eq!(got.len(), w.len(), "{stem} input {i}");
                for (g, w) in got.iter().zip(w) {
                    assert!(
                        (g - w).abs() <= TOLERANCE,
                        "{stem} input {i}: {got:?} vs onnxruntime {w:?}"
                    );
                }
                let class = argmax(w);
                assert_eq!(argmax(&got), class, "{stem} input {i}: f64 argmax");
                assert_eq!(
                    fixed.predict(x).expect("fixed point"),
                    class,
                    "{stem} input {i}: fixed-point argmax"
                );
            }
        }
    }
}

fn kinds(net: &circa_nn::Network) -> Vec<&'static str> {
    net.architecture()
        .layers()
        .iter()
        .map(|l| l.op.kind_name())
        .collect()
}

/// The patterns become the IR's own layers, the same for every exporter.
#[test]
fn patterns_become_single_layers() {
    for exporter in EXPORTERS {
        let slice = load(&format!("partial_relu_slice.{exporter}"));
        let masks: Vec<Vec<bool>> = slice
            .architecture()
            .layers()
            .iter()
            .filter_map(|l| match &l.op {
                Op::Activation(Activation::ChannelRelu { mask }) => Some(mask.clone()),
                _ => None,
            })
            .collect();
        let (t, f) = (true, false);
        assert_eq!(
            masks,
            vec![vec![t, t, f, f, f, f], vec![f, f, f, t, t, t]],
            "{exporter}"
        );
        // ReLUs of the masked-in channels only: 2 of 6 channels of 8x8, 3 of 6 of 4x4.
        assert_eq!(slice.architecture().relu_count(), 2 * 64 + 3 * 16);

        let masked = load(&format!("partial_relu_where.{exporter}"));
        assert_eq!(
            kinds(&masked),
            [
                "Conv2d",
                "ChannelRelu",
                "AvgPool",
                "Reshape",
                "Dense",
                "ChannelRelu",
                "Dense"
            ],
            "{exporter}"
        );

        let poly = load(&format!("polynomial.{exporter}"));
        let coefficients: Vec<[f64; 3]> = poly
            .architecture()
            .layers()
            .iter()
            .filter_map(|l| match &l.op {
                Op::Activation(Activation::Polynomial { coefficients }) => Some(*coefficients),
                _ => None,
            })
            .collect();
        assert_eq!(coefficients.len(), 3, "{exporter}");
        let want = [[0.2, 0.5, 0.1], [0.1, 0.6, 0.15], [0.0, 1.0, 0.05]];
        for (got, want) in coefficients.iter().zip(want) {
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-6, "{exporter}: {got:?} vs {want:?}");
            }
        }
        assert_eq!(poly.architecture().relu_count(), 0);

        let resnet = load(&format!("resnet.{exporter}"));
        let k = kinds(&resnet);
        assert_eq!(k.iter().filter(|&&k| k == "GlobalAvgPool").count(), 1);
        assert_eq!(k.iter().filter(|&&k| k == "Add").count(), 2);
        // Batch norms folded: stem, 2 x 2 block convolutions, the projection.
        assert_eq!(
            k.iter().filter(|&&k| k == "Conv2d").count(),
            6,
            "{exporter}"
        );

        let mlp = load(&format!("mlp.{exporter}"));
        assert_eq!(
            kinds(&mlp),
            ["Dense", "Relu", "Dense", "Relu", "Dense"],
            "{exporter}"
        );
    }
}

/// The default exporter keeps weights in a side file: from bytes alone, the error names the
/// tensor and says what to do.
#[test]
fn external_data_needs_the_path() {
    let bytes = std::fs::read(dir().join("cnn_flatten.dynamo.onnx")).expect("fixture");
    match circa_nn::import_onnx(&bytes) {
        Err(e @ NnError::ExternalData { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("conv1.weight"), "{msg}");
            assert!(msg.contains("import_onnx_file"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    // The inline export of the same model imports from bytes.
    let bytes = std::fs::read(dir().join("cnn_flatten.dynamo_inline.onnx")).expect("fixture");
    assert!(circa_nn::import_onnx(&bytes).is_ok());
}

/// A truncated or missing side file is a typed error, never a panic or a short read.
#[test]
fn broken_external_data_is_an_error() {
    let scratch = std::env::temp_dir().join(format!("circa-torch-ext-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let model = scratch.join("cnn_flatten.dynamo.onnx");
    std::fs::copy(dir().join("cnn_flatten.dynamo.onnx"), &model).unwrap();
    let data = std::fs::read(dir().join("cnn_flatten.dynamo.onnx.data")).unwrap();
    let limits = DecodeLimits::default();
    assert!(matches!(
        import_onnx_file(&model, &limits),
        Err(NnError::Io { .. })
    ));
    std::fs::write(
        scratch.join("cnn_flatten.dynamo.onnx.data"),
        &data[..data.len() - 4],
    )
    .unwrap();
    assert!(matches!(
        import_onnx_file(&model, &limits),
        Err(NnError::ExternalDataRange { .. })
    ));
    std::fs::write(scratch.join("cnn_flatten.dynamo.onnx.data"), &data).unwrap();
    assert!(import_onnx_file(&model, &limits).is_ok());
    std::fs::remove_dir_all(&scratch).ok();
}
