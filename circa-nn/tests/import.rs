//! ONNX import: every supported operator matches numpy (fixtures written by
//! `tests/fixtures/make_fixtures.py`), every unsupported case gives its error, and malformed
//! bytes give typed errors without panicking.

use std::path::PathBuf;

use circa_nn::{NnError, import_onnx, infer};
use proptest::prelude::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("reading fixture {name}: {e}"))
}

fn parse_line(line: &str) -> Vec<f64> {
    line.split_whitespace()
        .map(|v| v.parse().expect("number in fixture"))
        .collect()
}

const OK: &[&str] = &[
    "ok_conv",
    "ok_conv_stride_pads",
    "ok_conv_group",
    "ok_gemm",
    "ok_gemm_transb0",
    "ok_matmul_add",
    "ok_add_residual",
    "ok_relu",
    "ok_avgpool",
    "ok_avgpool_pad",
    "ok_globalavgpool",
    "ok_maxpool",
    "ok_maxpool_3x3",
    "ok_batchnorm_conv",
    "ok_batchnorm_gemm",
    "ok_flatten",
    "ok_reshape",
    "ok_channelrelu",
    "ok_channelrelu_flat",
    "ok_polynomial",
    "ok_small_cnn",
];

#[test]
fn every_fixture_is_listed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixture(""))
        .expect("fixture dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("ok_") && n.ends_with(".onnx"))
        .map(|n| n.trim_end_matches(".onnx").to_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = OK.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn supported_operators_match_numpy() {
    for name in OK {
        let net = import_onnx(&read(&format!("{name}.onnx")))
            .unwrap_or_else(|e| panic!("{name}: import failed: {e}"));
        let io = String::from_utf8(read(&format!("{name}.txt"))).expect("utf8");
        let mut lines = io.lines();
        let x = parse_line(lines.next().expect("input line"));
        let want = parse_line(lines.next().expect("output line"));
        let got = infer(&net, &x).unwrap_or_else(|e| panic!("{name}: inference failed: {e}"));
        assert_eq!(got.len(), want.len(), "{name}: output length");
        assert_eq!(
            net.architecture().output_shape().len(),
            want.len(),
            "{name}"
        );
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-9 * (1.0 + w.abs()),
                "{name}: output {i}: got {g}, numpy {w}"
            );
        }
    }
}

#[test]
fn batch_norm_and_bias_add_are_folded() {
    use circa_nn::Op;
    let net = import_onnx(&read("ok_small_cnn.onnx")).expect("import");
    let kinds: Vec<&str> = net
        .architecture()
        .layers()
        .iter()
        .map(|l| l.op.kind_name())
        .collect();
    assert_eq!(
        kinds,
        [
            "Conv2d",
            "Relu",
            "MaxPool",
            "Conv2d",
            "ChannelRelu",
            "Add",
            "AvgPool",
            "Reshape",
            "Dense",
            "Polynomial"
        ]
    );
    // The residual Add reads the max pool output (tensor 3) and the ChannelRelu output (5).
    let add = &net.architecture().layers()[5];
    assert!(matches!(add.op, Op::Add));
    assert_eq!(add.inputs, vec![3, 5]);
    // 4 channels x 8 x 8 ReLUs + max pool 4 x 4 x 4 outputs x 3 + 3 of 4 channels x 4 x 4
    assert_eq!(net.architecture().relu_count(), 256 + 192 + 48);
    assert_eq!(net.architecture().polynomial_count(), 10);
}

fn import_err(name: &str) -> NnError {
    match import_onnx(&read(&format!("bad_{name}.onnx"))) {
        Ok(_) => panic!("bad_{name} imported without error"),
        Err(e) => e,
    }
}

fn assert_attr_value(e: NnError, attr: &str) {
    match &e {
        NnError::UnsupportedAttributeValue { attribute, .. } if attribute == attr => {}
        other => panic!("expected unsupported value of {attr}, got {other:?}"),
    }
    assert!(e.to_string().contains(attr), "{e}");
}

#[test]
fn unsupported_cases_give_their_errors() {
    match import_err("op_sigmoid") {
        NnError::UnsupportedOperators { nodes, hints } => {
            assert_eq!(nodes.len(), 1);
            assert_eq!(nodes[0].op_type, "Sigmoid");
            assert!(hints[0].contains("ReLU"), "{hints:?}");
        }
        e => panic!("{e:?}"),
    }
    assert_attr_value(import_err("conv_dilations"), "dilations");
    let e = import_err("conv_auto_pad");
    // The value is named, quoted and escaped (it is a string from the file).
    assert!(e.to_string().contains("\"SAME_UPPER\""), "{e}");
    assert_attr_value(e, "auto_pad");
    match import_err("conv_double_weights") {
        e @ NnError::UnsupportedDataType { .. } => assert!(e.to_string().contains("DOUBLE")),
        e => panic!("{e:?}"),
    }
    assert_attr_value(import_err("maxpool_ceil_mode"), "ceil_mode");
    assert_attr_value(import_err("maxpool_pads"), "pads");
    assert!(matches!(
        import_err("maxpool_indices"),
        NnError::ArityMismatch {
            what: "output",
            actual: 2,
            ..
        }
    ));
    assert_attr_value(import_err("avgpool_exclude_pad"), "count_include_pad");
    assert_attr_value(import_err("gemm_transa"), "transA");
    match import_err("relu_unknown_attribute") {
        NnError::UnsupportedAttribute { attribute, .. } => assert_eq!(attribute, "alpha"),
        e => panic!("{e:?}"),
    }
    match import_err("relu_foreign_domain") {
        NnError::UnsupportedOperators { nodes, .. } => assert_eq!(nodes[0].domain, "com.example"),
        e => panic!("{e:?}"),
    }
    match import_err("circa_unknown_op") {
        NnError::UnsupportedOperators { nodes, .. } => {
            let n = &nodes[0];
            assert_eq!(
                (n.op_type.as_str(), n.domain.as_str()),
                ("Gelu", "ai.circa")
            )
        }
        e => panic!("{e:?}"),
    }
    assert_attr_value(import_err("polynomial_degree3"), "coefficients");
    assert_attr_value(import_err("channelrelu_mask_value"), "mask");
    assert!(matches!(
        import_err("channelrelu_mask_length"),
        NnError::ShapeMismatch { .. }
    ));
    assert!(matches!(
        import_err("batchnorm_first"),
        NnError::BatchNormNotFoldable { .. }
    ));
    assert!(matches!(
        import_err("batchnorm_shared"),
        NnError::BatchNormNotFoldable { .. }
    ));
    assert_attr_value(import_err("batchnorm_training"), "training_mode");
    assert!(matches!(
        import_err("add_constant_not_after_dense"),
        NnError::ConstantAddNotFoldable { .. }
    ));
    assert!(matches!(
        import_err("add_broadcast"),
        NnError::ShapeMismatch { .. }
    ));
    match import_err("input_int8") {
        e @ NnError::UnsupportedDataType { .. } => assert!(e.to_string().contains("INT8")),
        e => panic!("{e:?}"),
    }
    assert!(matches!(
        import_err("declared_output_shape"),
        NnError::ShapeMismatch { .. }
    ));
    match import_err("unsorted") {
        NnError::UnknownTensor { tensor, .. } => assert_eq!(tensor, "r1"),
        e => panic!("{e:?}"),
    }
    assert!(matches!(
        import_err("duplicate_output"),
        NnError::InvalidNode { .. }
    ));
    assert!(matches!(
        import_err("external_data"),
        NnError::ExternalData { .. }
    ));
}

#[test]
fn every_bad_fixture_fails() {
    for entry in std::fs::read_dir(fixture("")).expect("fixture dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("name");
        if name.starts_with("bad_") && name.ends_with(".onnx") {
            assert!(import_onnx(&read(&name)).is_err(), "{name} imported");
        }
    }
}

#[test]
fn no_truncation_of_a_model_panics() {
    let bytes = read("ok_small_cnn.onnx");
    for len in 0..bytes.len() {
        // Some prefixes end exactly between fields and decode; none may panic, and none may
        // import successfully as a different network without an error somewhere.
        let _ = import_onnx(&bytes[..len]);
    }
    // A cut in the middle of the graph (in its length-delimited field) is a truncation error.
    assert!(matches!(
        import_onnx(&bytes[..bytes.len() / 2]),
        Err(NnError::Truncated { .. }) | Err(NnError::MissingGraph)
    ));
}

#[test]
fn garbage_and_limits() {
    assert!(matches!(import_onnx(&[]), Err(NnError::MissingGraph)));
    assert!(import_onnx(&[0xff; 64]).is_err());
    let bytes = read("ok_conv.onnx");
    let limits = circa_nn::DecodeLimits {
        max_total_bytes: 100,
        ..Default::default()
    };
    assert!(matches!(
        circa_nn::onnx::import_onnx_with_limits(&bytes, &limits),
        Err(NnError::LimitExceeded { .. })
    ));
    let limits = circa_nn::DecodeLimits {
        max_depth: 2,
        ..Default::default()
    };
    assert!(matches!(
        circa_nn::onnx::import_onnx_with_limits(&bytes, &limits),
        Err(NnError::NestingTooDeep { limit: 2 })
    ));
    let limits = circa_nn::DecodeLimits {
        max_elements: 10,
        ..Default::default()
    };
    assert!(matches!(
        circa_nn::onnx::import_onnx_with_limits(&bytes, &limits),
        Err(NnError::LimitExceeded { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = import_onnx(&bytes);
    }

    #[test]
    fn corrupted_models_never_panic(pos in 0usize..4096, val in any::<u8>(), cut in 0usize..4096) {
        let mut bytes = read("ok_small_cnn.onnx");
        let p = pos % bytes.len();
        bytes[p] = val;
        bytes.truncate(bytes.len() - cut % bytes.len());
        let _ = import_onnx(&bytes);
    }
}

/// A small file must not decode to a much larger model: 100 000 empty attributes take 2 bytes
/// each on the wire but hundreds of bytes each once decoded. The budget over the whole decode
/// stops it with a typed error; the real models stay far below the default budget.
#[test]
fn decoded_size_is_bounded_over_the_whole_model() {
    const ATTRIBUTES: usize = 100_000;
    // NodeProto { attribute: {} x ATTRIBUTES } inside GraphProto inside ModelProto.
    let mut node = Vec::with_capacity(2 * ATTRIBUTES);
    for _ in 0..ATTRIBUTES {
        node.extend([0x2a, 0x00]);
    }
    let wrap = |field: u8, payload: &[u8]| {
        let mut out = vec![(field << 3) | 2];
        let mut len = payload.len();
        while len >= 0x80 {
            out.push((len as u8) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(payload);
        out
    };
    let model = wrap(7, &wrap(1, &node));
    assert!(model.len() < (1 << 20) / 4);
    // The default budget is proportional to the input (16 bytes per byte, plus 1 MiB).
    for limits in [
        circa_nn::DecodeLimits::default(),
        circa_nn::DecodeLimits {
            max_decoded_bytes: 1 << 20,
            decoded_bytes_per_input_byte: 1 << 20,
            ..Default::default()
        },
    ] {
        assert!(matches!(
            circa_nn::onnx::decode_model(&model, &limits),
            Err(NnError::LimitExceeded {
                what: "decoded model bytes",
                ..
            })
        ));
    }
    // Under a budget large enough for it, the same bytes decode (the limit is what stopped it).
    let roomy = circa_nn::DecodeLimits {
        max_decoded_bytes: 1 << 30,
        decoded_bytes_per_input_byte: 1 << 20,
        ..Default::default()
    };
    assert!(circa_nn::onnx::decode_model(&model, &roomy).is_ok());
    for name in [
        "digits_cnn.onnx",
        "digits_cnn_pruned.onnx",
        "digits_poly.onnx",
    ] {
        let bytes = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../models")
                .join(name),
        )
        .expect("bundled model");
        // Mostly weights in raw_data: the bound is a small multiple of the file.
        let tight = circa_nn::DecodeLimits {
            max_decoded_bytes: 6 * bytes.len(),
            ..Default::default()
        };
        assert!(
            circa_nn::onnx::import_onnx_with_limits(&bytes, &tight).is_ok(),
            "{name}"
        );
    }
}

#[test]
fn ambiguous_or_overflowing_graphs_give_their_errors() {
    // A repeated attribute would otherwise be read from its first occurrence only.
    match import_err("conv_duplicate_attribute") {
        NnError::InvalidNode { reason, .. } => assert!(reason.contains("more than once")),
        e => panic!("{e:?}"),
    }
    assert_attr_value(import_err("reshape_allowzero"), "allowzero");
    // Target dims whose product overflows i64 (used to panic with overflow checks on).
    assert!(matches!(
        import_err("reshape_overflow"),
        NnError::ShapeMismatch { .. }
    ));
    // A [2, 1] bias after a [1, 2] product broadcasts to [2, 2]: rejected, not added per row.
    match import_err("add_column_bias") {
        NnError::ShapeMismatch { actual, .. } => assert_eq!(actual, vec![2, 1]),
        e => panic!("{e:?}"),
    }
    match import_err("duplicate_initializer") {
        NnError::UnsupportedGraphShape { what, name } => {
            assert_eq!((what, name.as_str()), ("duplicate initializer", "w"))
        }
        e => panic!("{e:?}"),
    }
}

/// 64 convolutions share one 9-element weight initializer: each use is converted and stored,
/// so each counts against the import's element budget (2 x `max_elements`), which stops a
/// small file from materialising one large initializer once per node.
#[test]
fn shared_constants_count_once_per_use() {
    let bytes = read("limit_shared_weight.onnx");
    let net = import_onnx(&bytes).expect("imports under the default limits");
    assert_eq!(net.architecture().layers().len(), 64);
    let enough = circa_nn::DecodeLimits {
        max_elements: 64 * 9 / 2,
        ..Default::default()
    };
    assert!(circa_nn::onnx::import_onnx_with_limits(&bytes, &enough).is_ok());
    let tight = circa_nn::DecodeLimits {
        max_elements: 64 * 9 / 2 - 1,
        ..Default::default()
    };
    assert!(matches!(
        circa_nn::onnx::import_onnx_with_limits(&bytes, &tight),
        Err(NnError::LimitExceeded {
            what: "constant elements read over the whole graph",
            ..
        })
    ));
}

const BUNDLED: [&str; 3] = [
    "digits_cnn.onnx",
    "digits_cnn_pruned.onnx",
    "digits_poly.onnx",
];

fn bundled(i: usize) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(BUNDLED[i % BUNDLED.len()]);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// One structural edit of a byte string (positions and lengths taken modulo the length).
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    /// Copies `len` bytes from `from` to `to` (repeats fields, splices messages).
    Splice {
        from: usize,
        to: usize,
        len: usize,
    },
    /// Sets the continuation bit of a byte: lengths and varints grow and swallow what follows.
    Continue(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, v)| Edit::Set(p, v)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, v)| Edit::Insert(p, v)),
        (any::<usize>(), 1usize..16).prop_map(|(p, n)| Edit::Delete(p, n)),
        (any::<usize>(), any::<usize>(), 1usize..256).prop_map(|(from, to, len)| Edit::Splice {
            from,
            to,
            len
        }),
        any::<usize>().prop_map(Edit::Continue),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, e: &Edit) {
    if bytes.is_empty() {
        return;
    }
    let n = bytes.len();
    match *e {
        Edit::Set(p, v) => bytes[p % n] = v,
        Edit::Insert(p, v) => bytes.insert(p % (n + 1), v),
        Edit::Delete(p, len) => {
            let p = p % n;
            bytes.drain(p..(p + len).min(n));
        }
        Edit::Splice { from, to, len } => {
            let from = from % n;
            let chunk: Vec<u8> = bytes[from..(from + len).min(n)].to_vec();
            let to = to % (n + 1);
            bytes.splice(to..to, chunk);
        }
        Edit::Continue(p) => bytes[p % n] |= 0x80,
        Edit::Truncate(p) => bytes.truncate(p % n),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// The server loads models: mutated bytes of the real bundled models must give a typed error
    /// or a valid network, never a panic. Whatever is accepted is consistent: its architecture
    /// survives the client encoding, and (when small enough to be quick) it runs.
    #[test]
    fn mutated_bundled_models_never_panic(
        model in 0usize..BUNDLED.len(),
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let mut bytes = bundled(model);
        for e in &edits {
            apply(&mut bytes, e);
        }
        if let Ok(net) = import_onnx(&bytes) {
            let arch = net.architecture();
            prop_assert_eq!(&circa_nn::Architecture::from_bytes(&arch.to_bytes())?, arch);
            if arch.layers().iter().all(|l| l.output_shape().len() <= 4096) {
                let input = vec![0.5; arch.input_shape().len()];
                prop_assert!(infer(&net, &input).is_ok());
            }
        }
    }
}
