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
    let kinds = layer_kinds(&net);
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

// ----- graphs built here (prost encodes the project's own schema) -----

mod build {
    use circa_nn::onnx::proto::{
        AttributeProto, Dimension, DimensionValue, GraphProto, ModelProto, NodeProto,
        OperatorSetIdProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto,
        ValueInfoProto,
    };
    use prost::Message as _;

    pub fn node(
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> NodeProto {
        NodeProto {
            name: format!("{op}_{}", outputs[0]),
            op_type: op.into(),
            input: inputs.iter().map(|s| (*s).into()).collect(),
            output: outputs.iter().map(|s| (*s).into()).collect(),
            attribute: attrs,
            ..Default::default()
        }
    }

    pub fn ints(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: 7,
            ints: v.to_vec(),
            ..Default::default()
        }
    }

    pub fn int(name: &str, v: i64) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: 2,
            i: v,
            ..Default::default()
        }
    }

    pub fn floats(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: 1,
            float_data: v.to_vec(),
            ..Default::default()
        }
    }

    pub fn int64s(name: &str, dims: &[i64], v: &[i64]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: 7,
            int64_data: v.to_vec(),
            ..Default::default()
        }
    }

    pub fn bools(name: &str, dims: &[i64], v: &[bool]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: 9,
            raw_data: v.iter().map(|&b| u8::from(b)).collect(),
            ..Default::default()
        }
    }

    fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                tensor_type: Some(TensorTypeProto {
                    elem_type: 1,
                    shape: Some(TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&d| Dimension {
                                value: Some(DimensionValue::DimValue(d)),
                            })
                            .collect(),
                    }),
                }),
            }),
        }
    }

    pub fn model(
        nodes: Vec<NodeProto>,
        inits: Vec<TensorProto>,
        input: &[i64],
        opset: i64,
    ) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: opset,
            }],
            graph: Some(GraphProto {
                node: nodes,
                initializer: inits,
                input: vec![value_info("x", input)],
                output: vec![ValueInfoProto {
                    name: "y".into(),
                    r#type: None,
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }
}

fn layer_kinds(net: &circa_nn::Network) -> Vec<&'static str> {
    net.architecture()
        .layers()
        .iter()
        .map(|l| l.op.kind_name())
        .collect()
}

#[test]
fn one_error_lists_every_unsupported_node() {
    use build::*;
    let mut foreign = node("Foo", &["b"], &["c"], vec![]);
    foreign.domain = "com.example".into();
    let bytes = model(
        vec![
            node("Sigmoid", &["x"], &["a"], vec![]),
            node("Tanh", &["a"], &["b"], vec![]),
            foreign,
            node("Softmax", &["c"], &["y"], vec![]),
        ],
        vec![],
        &[1, 4],
        9,
    );
    match import_onnx(&bytes) {
        Err(e @ NnError::UnsupportedOperators { .. }) => {
            let msg = e.to_string();
            let NnError::UnsupportedOperators { nodes, hints } = e else {
                unreachable!()
            };
            let ops: Vec<&str> = nodes.iter().map(|n| n.op_type.as_str()).collect();
            assert_eq!(ops, ["Sigmoid", "Tanh", "Foo", "Softmax"]);
            assert_eq!(nodes[2].domain, "com.example");
            assert_eq!(hints.len(), 4, "{hints:?}");
            assert!(
                msg.starts_with("4 unsupported nodes: \"Sigmoid_a\""),
                "{msg}"
            );
            assert!(msg.contains("opset 13 to 20"), "{msg}");
            assert!(msg.contains("Softmax"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn shape_chains_reductions_and_no_ops_fold_away() {
    use build::*;
    // x [1, 2, 3, 3] -> ReduceMean(H, W, keepdims 0, axes attribute as before opset 18)
    // -> Identity -> Dropout (mask unused) -> Shape/Gather/Unsqueeze/Concat -> Reshape
    // -> MatMul + Add (bias) -> y [1, 1].
    let nodes = vec![
        node(
            "ReduceMean",
            &["x"],
            &["m"],
            vec![ints("axes", &[-1, 2]), int("keepdims", 0)],
        ),
        node("Identity", &["m"], &["i"], vec![]),
        node("Dropout", &["i"], &["d", "mask"], vec![]),
        node("Shape", &["d"], &["s"], vec![]),
        node("Gather", &["s", "zero"], &["b"], vec![int("axis", 0)]),
        node("Unsqueeze", &["b", "axes0"], &["bu"], vec![]),
        node(
            "Concat",
            &["bu", "minus1"],
            &["target"],
            vec![int("axis", 0)],
        ),
        node("Reshape", &["d", "target"], &["r"], vec![]),
        node("MatMul", &["r", "w"], &["mm"], vec![]),
        node("Add", &["mm", "bias"], &["y"], vec![]),
    ];
    let inits = vec![
        int64s("zero", &[], &[0]),
        int64s("axes0", &[1], &[0]),
        int64s("minus1", &[1], &[-1]),
        floats("w", &[2, 1], &[1.0, -2.0]),
        floats("bias", &[1], &[0.5]),
    ];
    let net = import_onnx(&model(nodes, inits, &[1, 2, 3, 3], 13)).expect("imports");
    let kinds = layer_kinds(&net);
    assert_eq!(kinds, ["GlobalAvgPool", "Dense"]);
    let x: Vec<f64> = (0..18).map(f64::from).collect();
    // Channel means 4 and 13: 4 - 26 + 0.5.
    assert_eq!(infer(&net, &x).expect("runs"), vec![4.0 - 26.0 + 0.5]);
}

#[test]
fn unsupported_patterns_say_what_to_write() {
    use build::*;
    let pattern = |bytes: Vec<u8>| match import_onnx(&bytes) {
        Err(NnError::UnsupportedPattern { reason, hint, .. }) => (reason, hint),
        other => panic!("{other:?}"),
    };
    let slice_inits = || {
        vec![
            int64s("s", &[1], &[0]),
            int64s("e", &[1], &[1]),
            int64s("ax", &[1], &[2]),
        ]
    };
    // A slice along H.
    let (reason, hint) = pattern(model(
        vec![node("Slice", &["x", "s", "e", "ax"], &["y"], vec![])],
        slice_inits(),
        &[1, 2, 3, 3],
        13,
    ));
    assert!(reason.contains("channel axis"), "{reason}");
    assert!(hint.contains("torch.cat"), "{hint}");
    // A channel slice used on its own.
    let mut inits = slice_inits();
    inits[2] = int64s("ax", &[1], &[1]);
    let (reason, _) = pattern(model(
        vec![
            node("Slice", &["x", "s", "e", "ax"], &["a"], vec![]),
            node("Relu", &["a"], &["y"], vec![]),
        ],
        inits,
        &[1, 2, 3, 3],
        13,
    ));
    assert!(reason.contains("Concat"), "{reason}");
    // A mask that varies within a channel.
    let (reason, _) = pattern(model(
        vec![
            node("Relu", &["x"], &["r"], vec![]),
            node("Where", &["m", "r", "x"], &["y"], vec![]),
        ],
        vec![bools("m", &[1, 1, 1, 3], &[true, false, true])],
        &[1, 2, 3, 3],
        13,
    ));
    assert!(reason.contains("within a channel"), "{reason}");
    // Degree 3.
    let (reason, hint) = pattern(model(
        vec![
            node("Mul", &["x", "x"], &["a"], vec![]),
            node("Mul", &["a", "x"], &["y"], vec![]),
        ],
        vec![],
        &[1, 4],
        13,
    ));
    assert!(reason.contains("degree"), "{reason}");
    assert!(hint.contains("a * y * y"), "{hint}");
    // A product of two different activations.
    let (reason, _) = pattern(model(
        vec![
            node("Relu", &["x"], &["a"], vec![]),
            node("Mul", &["a", "x"], &["y"], vec![]),
        ],
        vec![],
        &[1, 4],
        13,
    ));
    assert!(reason.contains("product"), "{reason}");
}

#[test]
fn partial_relu_and_polynomial_patterns_compute_what_onnx_says() {
    use build::*;
    // where(mask, relu(x), x) on [1, 2, 1, 2], then 0.5 * y * y - y + 1 (as Sub, Mul, Add).
    let nodes = vec![
        node("Relu", &["x"], &["r"], vec![]),
        node("Where", &["m", "r", "x"], &["w"], vec![]),
        node("Mul", &["w", "half"], &["a"], vec![]),
        node("Mul", &["a", "w"], &["b"], vec![]),
        node("Sub", &["b", "w"], &["c"], vec![]),
        node("Add", &["one", "c"], &["y"], vec![]),
    ];
    let inits = vec![
        bools("m", &[1, 2, 1, 1], &[false, true]),
        floats("half", &[], &[0.5]),
        floats("one", &[1], &[1.0]),
    ];
    let net = import_onnx(&model(nodes, inits, &[1, 2, 1, 2], 13)).expect("imports");
    let kinds = layer_kinds(&net);
    assert_eq!(kinds, ["ChannelRelu", "Polynomial"]);
    let x = [-1.0, 2.0, -3.0, 4.0];
    let p = |v: f64| 0.5 * v * v - v + 1.0;
    let want = [p(-1.0), p(2.0), p(0.0), p(4.0)];
    assert_eq!(infer(&net, &x).expect("runs"), want);
}

#[test]
fn model_files_are_bounded_before_reading() {
    let limits = circa_nn::DecodeLimits {
        max_total_bytes: 1000,
        ..Default::default()
    };
    // A regular file over the limit: refused by its size.
    assert!(matches!(
        circa_nn::import_onnx_file(fixture("ok_small_cnn.onnx"), &limits),
        Err(NnError::FileTooLarge {
            what: "model size in bytes",
            limit: 1000,
            ..
        })
    ));
    // A device (it would never end) is refused before anything is read from it.
    #[cfg(unix)]
    assert!(matches!(
        circa_nn::import_onnx_file("/dev/zero", &limits),
        Err(NnError::NotAFile {
            kind: "character device",
            ..
        })
    ));
    assert!(matches!(
        circa_nn::import_onnx_file(fixture("missing.onnx"), &limits),
        Err(NnError::Io { .. })
    ));
    // Inline models import from their path too.
    assert!(circa_nn::import_onnx_file(fixture("ok_small_cnn.onnx"), &Default::default()).is_ok());
}
