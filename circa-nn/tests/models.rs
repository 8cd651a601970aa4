//! The bundled digits models (`models/` at the repository root): the f64 reference inference
//! matches the training framework's reference logits and reproduces the recorded accuracy.

use std::path::PathBuf;

use circa_nn::{Network, argmax, import_onnx, infer};

const MODELS: [&str; 3] = ["digits_cnn", "digits_cnn_pruned", "digits_poly"];

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn read_text(rel: &str) -> String {
    std::fs::read_to_string(models_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn load(model: &str) -> Network {
    let bytes = std::fs::read(models_dir().join(format!("{model}.onnx"))).expect("model file");
    import_onnx(&bytes).unwrap_or_else(|e| panic!("{model}: {e}"))
}

/// `(label, 64 pixels)` per test image.
fn test_set() -> Vec<(usize, Vec<f64>)> {
    circa_nn::dataset::parse_labelled(&read_text("data/digits_test.csv"), 64, 10).expect("test set")
}

#[test]
fn reference_logits_match() {
    let images = test_set();
    let refs = read_text("data/reference_logits.csv");
    let mut checked = 0;
    for model in MODELS {
        let net = load(model);
        for line in refs
            .lines()
            .skip(1)
            .filter(|l| l.starts_with(&format!("{model},")))
        {
            let mut fields = line.split(',');
            fields.next();
            let index: usize = fields.next().expect("index").parse().expect("index");
            let want: Vec<f64> = fields.map(|v| v.parse().expect("logit")).collect();
            let got = infer(&net, &images[index].1).expect("inference");
            assert_eq!(got.len(), 10);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-4,
                    "{model} image {index}: got {got:?}, reference {want:?}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 30, "10 reference rows per model");
}

fn recorded_accuracy(model: &str) -> f64 {
    // accuracy.json is a flat object `{"name": value, ...}`; read it without a JSON dependency.
    let text = read_text("data/accuracy.json");
    let key = format!("\"{model}\"");
    let rest = &text[text.find(&key).expect("model in accuracy.json") + key.len()..];
    let rest = rest.trim_start().trim_start_matches(':').trim_start();
    let end = rest
        .find(|c: char| c == ',' || c == '}' || c.is_whitespace())
        .expect("end of number");
    rest[..end].parse().expect("accuracy")
}

#[test]
fn test_accuracy_matches_recorded() {
    let images = test_set();
    assert_eq!(images.len(), 360);
    for model in MODELS {
        let net = load(model);
        let correct = images
            .iter()
            .filter(|(label, x)| argmax(&infer(&net, x).expect("inference")) == Some(*label))
            .count();
        let acc = correct as f64 / images.len() as f64;
        let want = recorded_accuracy(model);
        assert!(
            (acc - want).abs() < 1e-12,
            "{model}: accuracy {acc} ({correct}/360), recorded {want}"
        );
    }
}

#[test]
fn sample_input_is_test_image_0() {
    let sample = circa_nn::dataset::parse_inputs(&read_text("data/sample_input.csv"), 64)
        .expect("sample input");
    assert_eq!(sample.len(), 1);
    assert_eq!(sample[0], test_set()[0].1);
}

#[test]
fn bundled_architectures() {
    let cnn = load("digits_cnn");
    let pruned = load("digits_cnn_pruned");
    let poly = load("digits_poly");
    // ReLU CNN: 8x8x8 + 16x4x4 + 32 activation ReLUs, 8x4x4 max-pool outputs x 3.
    assert_eq!(cnn.architecture().relu_count(), 512 + 256 + 32 + 128 * 3);
    assert!(pruned.architecture().relu_count() < cnn.architecture().relu_count());
    assert_eq!(poly.architecture().relu_count(), 0);
    assert!(poly.architecture().polynomial_count() > 0);
    for net in [&cnn, &pruned, &poly] {
        let arch = net.architecture();
        assert_eq!(arch.input_shape(), circa_nn::Shape::new(1, 8, 8));
        assert_eq!(arch.output_shape(), circa_nn::Shape::flat(10));
        let decoded = circa_nn::Architecture::from_bytes(&arch.to_bytes()).expect("decode");
        assert_eq!(&decoded, arch);
    }
    let text = circa_nn::summary(&cnn);
    assert!(text.contains("relus: 1184"), "{text}");
}

/// A second backend through the same walk: fixed point in plain `i64` with `F` fractional
/// bits (a test of the engine's `Arith` interface, not the project's fixed-point reference).
mod fixed {
    use circa_nn::Network;
    use circa_nn::engine::reference::Arith;
    use circa_nn::engine::{Scale, SignSite};

    pub const F: u32 = 16;

    pub fn encode(v: f64, bits: u32) -> i64 {
        (v * 2f64.powi(bits as i32)).round() as i64
    }

    pub struct Fixed<'n> {
        net: &'n Network,
        params: Vec<Option<(Vec<i64>, Vec<i64>)>>,
    }

    impl<'n> Fixed<'n> {
        pub fn new(net: &'n Network) -> Self {
            let params = net
                .weights()
                .iter()
                .map(|w| {
                    w.as_ref().map(|w| {
                        (
                            w.weight().iter().map(|&v| encode(v, F)).collect(),
                            w.bias().iter().map(|&v| encode(v, 2 * F)).collect(),
                        )
                    })
                })
                .collect();
            Self { net, params }
        }
    }

    impl Arith for Fixed<'_> {
        type V = i64;
        fn weights(
            &self,
            layer: usize,
        ) -> Option<circa_nn::engine::reference::LinearParams<'_, i64>> {
            self.params[layer]
                .as_ref()
                .map(|(w, b)| (w.as_slice(), b.as_slice()))
        }
        fn coefficients(&self, layer: usize) -> Option<[i64; 3]> {
            match &self.net.architecture().layers()[layer].op {
                circa_nn::Op::Activation(circa_nn::Activation::Polynomial {
                    coefficients: [c0, c1, c2],
                }) => Some([encode(*c0, 2 * F), encode(*c1, F), encode(*c2, F)]),
                _ => None,
            }
        }
        fn reciprocal(&self, divisor: usize) -> i64 {
            encode(1.0 / divisor as f64, F)
        }
        fn lift(&self, site: &SignSite) -> i64 {
            match site.scale {
                Scale::Product => 1 << F,
                Scale::Single => 1,
            }
        }
        fn two_f(&self) -> i64 {
            1 << F
        }
        fn rescale(&self, data: &mut [i64]) {
            data.iter_mut().for_each(|v| *v >>= F);
        }
        fn keep(&self, _: &SignSite, y: i64) -> bool {
            y >= 0
        }
    }
}

#[test]
fn a_fixed_point_backend_reuses_the_walk() {
    use circa_nn::engine::reference::run;
    use circa_nn::engine::{Plan, PlanParams, Scale, SignScale};
    let images = test_set();
    for model in MODELS {
        let net = load(model);
        let backend = fixed::Fixed::new(&net);
        let plan = Plan::new(
            net.architecture(),
            PlanParams {
                frac_bits: fixed::F,
                sign_scale: SignScale::Product,
                variant: circa_relu::Variant::ExactSign,
                field_bits: 64,
            },
        )
        .expect("plan");
        let out_scale = match plan.scale(plan.output()) {
            Scale::Product => 2 * fixed::F,
            Scale::Single => fixed::F,
        };
        let mut agree = 0;
        for (_, x) in &images {
            let input = x.iter().map(|&v| fixed::encode(v, fixed::F)).collect();
            let out = run(&plan, &backend, input).expect("fixed point");
            let logits: Vec<f64> = out
                .iter()
                .map(|&v| v as f64 / 2f64.powi(out_scale as i32))
                .collect();
            let reference = infer(&net, x).expect("f64");
            for (a, b) in logits.iter().zip(&reference) {
                assert!((a - b).abs() < 0.05, "{model}: {logits:?} vs {reference:?}");
            }
            agree += usize::from(argmax(&logits) == argmax(&reference));
        }
        assert!(agree >= 358, "{model}: {agree}/360 predictions agree");
    }
}
