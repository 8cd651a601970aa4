#!/usr/bin/env python3
"""Export the trained Fashion-MNIST models to ONNX and write their reference data.

    /opt/torchenv/bin/python models/export_fashion.py [--cache DIR]

For every model in MODELS (checkpoint in the cache written by train_fashion.py):

1. torch.onnx.export (legacy exporter, dynamo=False, opset 13; BatchNormalization is folded
   into the convolutions by the exporter) with every non-identity activation exported as a
   plain Relu placeholder and every removed ReLU as nothing; then each placeholder becomes
   what its site is: Relu, ai.circa.ChannelRelu (INTS `mask`, 1 = ReLU) or
   ai.circa.Polynomial (FLOATS `coefficients` [c0, c1, c2]). Written to models/fashion/.
2. Checks: onnx.checker (full); a float64 numpy evaluation of the written graph (the
   reference: exactly the float32 values in the file, float64 arithmetic), onnxruntime on a
   copy with the ai.circa nodes rewritten into standard operators, and PyTorch, all on the
   committed 1,000-image subset (logits within 1e-4 of the float64 reference, argmax
   agreement reported); accuracies on the full 10,000-image test split (PyTorch and
   onnxruntime); the largest |value| of every tensor over the test split (onnxruntime).
3. Writes models/data/fashion_reference_logits.csv (float64 logits of subset images 0..19
   per model), models/data/fashion_models.csv (one row per model: counts and accuracies,
   read by circa-nn/tests/fashion_models.rs) and models/fashion/report.json (everything
   measured, for the README).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import fashion_data  # noqa: E402
import fashion_nets  # noqa: E402
import train_fashion  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "fashion")
CIRCA_DOMAIN = "ai.circa"
REFERENCE_IMAGES = 20
SUBSET_COUNTS = (100, 200)  # also recorded: correct among the first 100 / 200 subset images
LOGIT_TOLERANCE = 1e-4

# ONNX file name -> checkpoint name in the cache: the base model, the DeepReDuce models on the
# Pareto frontier (README: drd_cull1 and drd_cull2 are dominated by drd_thinch_long and not
# exported) and the polynomial model.
MODELS = {
    "fashion_resnet8": "base",
    "fashion_drd_thinch": "drd_thinch_long",
    "fashion_drd_cull1_thinch": "drd_cull1_thinch_long",
    "fashion_drd_cull2_thinlayer": "drd_cull2_thinlayer",
    "fashion_drd_only1": "drd_only1",
    "fashion_poly": "poly",
}


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------- export


def export(model, path):
    """Exports `model` (eval mode) to `path`; returns the ONNX ModelProto written."""
    model.eval()
    sites = model.sites()
    order = []
    hooks = [a.register_forward_hook(lambda m, i, o, n=n: order.append(n))
             for n, a in sites.items() if a.mode != "identity"]
    dummy = torch.zeros(1, 1, 28, 28)
    with torch.no_grad():
        model(dummy)
    for h in hooks:
        h.remove()
    for a in sites.values():
        a.export_placeholder = True
    tmp = path + ".tmp"
    try:
        torch.onnx.export(model, dummy, tmp, dynamo=False, opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          do_constant_folding=True)
    finally:
        for a in sites.values():
            a.export_placeholder = False
    m = onnx.load(tmp)
    os.remove(tmp)
    relus = [n for n in m.graph.node if n.op_type == "Relu"]
    if len(relus) != len(order):
        sys.exit("%s: %d Relu nodes for %d activation sites" % (path, len(relus), len(order)))
    custom = False
    for node, site in zip(relus, order):
        a = sites[site]
        expect = "/" + site.replace(".", "/") + "/Relu"
        if node.name != expect:
            sys.exit("%s: placeholder %s where %s was expected" % (path, node.name, expect))
        if a.mode == "relu" or (a.mode == "mask" and bool(a.mask.all())):
            continue
        if a.mode == "mask":
            new = helper.make_node("ChannelRelu", list(node.input), list(node.output),
                                   name=node.name[:-4] + "ChannelRelu", domain=CIRCA_DOMAIN,
                                   mask=[int(v) for v in a.mask.tolist()])
        elif a.mode == "poly":
            new = helper.make_node("Polynomial", list(node.input), list(node.output),
                                   name=node.name[:-4] + "Polynomial", domain=CIRCA_DOMAIN,
                                   coefficients=[float(c) for c in a.coef.detach()])
        else:
            sys.exit("%s: site %s has mode %s" % (path, site, a.mode))
        node.CopyFrom(new)
        custom = True
    if custom:
        m.opset_import.append(helper.make_opsetid(CIRCA_DOMAIN, 1))
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    return m


# --------------------------------------------------------------------------- float64 reference


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _conv(x, w, b, node):
    kh, kw = w.shape[2:]
    pads = _attr(node, "pads", [0, 0, 0, 0])
    sh, sw = _attr(node, "strides", [1, 1])
    if _attr(node, "group", 1) != 1 or any(d != 1 for d in _attr(node, "dilations", [1, 1])):
        raise ValueError("unsupported Conv attributes")
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    y = np.einsum("nchwij,ocij->nohw", win, w, optimize=True)
    return y if b is None else y + b[None, :, None, None]


def run_f64(model, x):
    """Float64 evaluation of the exported graph (the operators export() emits)."""
    consts = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    env = {"input": x.astype(np.float64)}
    for node in model.graph.node:
        ins = [env[i] if i in env else consts[i] for i in node.input]
        op = node.op_type
        if op == "Conv":
            y = _conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, node)
        elif op == "Relu":
            y = np.maximum(ins[0], 0.0)
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "AveragePool":
            k = _attr(node, "kernel_shape")
            if list(k) != list(ins[0].shape[2:]) or any(_attr(node, "pads", [0] * 4)):
                raise ValueError("only a global AveragePool is supported here")
            y = ins[0].mean((2, 3), keepdims=True)
        elif op == "Flatten":
            y = ins[0].reshape(ins[0].shape[0], -1)
        elif op == "Gemm":
            if _attr(node, "transB", 0) != 1 or _attr(node, "transA", 0) != 0:
                raise ValueError("unsupported Gemm attributes")
            y = ins[0] @ ins[1].T + ins[2]
        elif op == "ChannelRelu":
            m = np.array(_attr(node, "mask"), dtype=bool)[None, :, None, None]
            y = np.where(m, np.maximum(ins[0], 0.0), ins[0])
        elif op == "Polynomial":
            c0, c1, c2 = [float(np.float32(c)) for c in _attr(node, "coefficients")]
            y = c0 + ins[0] * (c1 + c2 * ins[0])
        else:
            raise ValueError("operator %s not supported by the reference" % op)
        env[node.output[0]] = y
    return env["logits"]


def run_f64_batched(model, x, batch=100):
    return np.concatenate([run_f64(model, x[i : i + batch]) for i in range(0, len(x), batch)])


# --------------------------------------------------------------------------- onnxruntime


def standard_ops(model):
    """Copy with the ai.circa nodes rewritten into standard operators and a free batch
    dimension (for onnxruntime only; never written to disk)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    nodes = []
    for n in m.graph.node:
        x, out = n.input[0], n.output[0]
        if n.domain == CIRCA_DOMAIN and n.op_type == "ChannelRelu":
            mask = np.array(_attr(n, "mask"), dtype=np.float32).reshape(1, -1, 1, 1)
            m.graph.initializer.append(numpy_helper.from_array(mask, n.name + ".maskf"))
            nodes += [
                helper.make_node("Relu", [x], [n.name + "_r"]),
                helper.make_node("Sub", [n.name + "_r", x], [n.name + "_d"]),
                helper.make_node("Mul", [n.name + "_d", n.name + ".maskf"], [n.name + "_md"]),
                helper.make_node("Add", [x, n.name + "_md"], [out]),
            ]
        elif n.domain == CIRCA_DOMAIN and n.op_type == "Polynomial":
            c = [np.array(v, dtype=np.float32) for v in _attr(n, "coefficients")]
            for i, v in enumerate(c):
                m.graph.initializer.append(numpy_helper.from_array(v, "%s.c%d" % (n.name, i)))
            nodes += [
                helper.make_node("Mul", [x, n.name + ".c2"], [n.name + "_a"]),
                helper.make_node("Add", [n.name + "_a", n.name + ".c1"], [n.name + "_b"]),
                helper.make_node("Mul", [n.name + "_b", x], [n.name + "_e"]),
                helper.make_node("Add", [n.name + "_e", n.name + ".c0"], [out]),
            ]
        else:
            nodes.append(n)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    del m.opset_import[:]
    m.opset_import.extend([helper.make_opsetid("", 13)])
    for vi in list(m.graph.input) + list(m.graph.output):
        vi.type.tensor_type.shape.dim[0].dim_param = "N"
    del m.graph.value_info[:]
    return m


def ort_session(model, all_outputs=False):
    import onnxruntime as ort

    m = standard_ops(model)
    if all_outputs:
        known = {o.name for o in m.graph.output}
        for n in m.graph.node:
            for o in n.output:
                if o not in known:
                    m.graph.output.append(helper.make_empty_tensor_value_info(o))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = train_fashion.THREADS
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def ort_logits(sess, x, batch=1000):
    return np.concatenate([sess.run(["logits"], {"input": x[i : i + batch]})[0]
                           for i in range(0, len(x), batch)])


def ort_max_abs(model, x, batch=1000):
    """Largest |value| of every tensor of the exported graph over `x` (onnxruntime)."""
    sess = ort_session(model, all_outputs=True)
    names = [o.name for o in sess.get_outputs()]
    best = dict.fromkeys(names, 0.0)
    for i in range(0, len(x), batch):
        for name, v in zip(names, sess.run(names, {"input": x[i : i + batch]})):
            best[name] = max(best[name], float(np.abs(v).max()))
    # Report per node of the written graph (placeholder outputs keep their names).
    out = {}
    for n in model.graph.node:
        out[n.name] = {"op": n.op_type, "max_abs": best[n.output[0]]}
        if n.op_type in ("Relu", "ChannelRelu", "Polynomial"):
            out[n.name]["max_abs_input"] = best.get(n.input[0], float("nan"))
    return out


# --------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=train_fashion.DEFAULT_CACHE)
    ap.add_argument("--only", nargs="*", help="ONNX names to export (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(train_fashion.THREADS)
    os.makedirs(OUT_DIR, exist_ok=True)

    sub_img, sub_lab = fashion_data.load_subset()
    sub_x, sub_y = fashion_data.to_input(sub_img), sub_lab.astype(np.int64)
    te_img, te_lab = fashion_data.load_split("t10k")
    te_x, te_y = fashion_data.to_input(te_img), te_lab.astype(np.int64)
    assert np.array_equal(te_x[: len(sub_x)], sub_x)

    report_path = os.path.join(OUT_DIR, "report.json")
    report = {}
    if os.path.exists(report_path):
        with open(report_path) as f:
            report = json.load(f)
    names = args.only or list(MODELS)
    for name in names:
        ckpt = MODELS[name]
        model, info = train_fashion.load(args.cache, ckpt)
        model.eval()
        path = os.path.join(OUT_DIR, name + ".onnx")
        onx = export(model, path)
        ref = run_f64_batched(onx, sub_x)
        with torch.no_grad():
            pt_sub = train_fashion.predict(model, torch.from_numpy(sub_x)).numpy()
            pt_test = train_fashion.predict(model, torch.from_numpy(te_x)).numpy()
        sess = ort_session(onx)
        ort_sub = ort_logits(sess, sub_x)
        ort_test = ort_logits(sess, te_x)
        err_ort = float(np.abs(ort_sub - ref).max())
        err_pt = float(np.abs(pt_sub - ref).max())
        agree_ort = int((ort_sub.argmax(1) == ref.argmax(1)).sum())
        agree_pt = int((pt_sub.argmax(1) == ref.argmax(1)).sum())
        ok = err_ort <= LOGIT_TOLERANCE and err_pt <= LOGIT_TOLERANCE
        relus = model.relu_count()
        polys = sum(fashion_nets.site_relus(n) for n, a in model.sites().items() if a.mode == "poly")
        row = {
            "checkpoint": ckpt,
            "file_bytes": os.path.getsize(path),
            "relus": relus,
            "polynomial_units": polys,
            "macs": fashion_nets.macs(),
            "sites": train_fashion.act_config_summary(model),
            "f64_correct_subset_1000": int((ref.argmax(1) == sub_y).sum()),
            "pytorch_correct_subset_1000": int((pt_sub.argmax(1) == sub_y).sum()),
            "pytorch_correct_test_10000": int((pt_test.argmax(1) == te_y).sum()),
            "ort_correct_test_10000": int((ort_test.argmax(1) == te_y).sum()),
            "max_abs_logit_error_ort_vs_f64": err_ort,
            "max_abs_logit_error_pytorch_vs_f64": err_pt,
            "argmax_agree_ort_vs_f64_subset_1000": agree_ort,
            "argmax_agree_pytorch_vs_f64_subset_1000": agree_pt,
            "training": info,
            "reference_logits": ref[:REFERENCE_IMAGES].tolist(),
            "max_abs_test_10000": ort_max_abs(onx, te_x),
        }
        for n in SUBSET_COUNTS:
            row["f64_correct_subset_%d" % n] = int((ref[:n].argmax(1) == sub_y[:n]).sum())
        report[name] = row
        log("%-28s relus %6d  test %.2f %%  subset f64 %d/1000  |ort-f64| %.1e  |pt-f64| %.1e  "
            "argmax ort %d pt %d  %d B" % (
                name, relus, row["pytorch_correct_test_10000"] / 100.0,
                row["f64_correct_subset_1000"], err_ort, err_pt, agree_ort, agree_pt,
                row["file_bytes"]))
        if not ok:
            sys.exit("%s: logits disagree with the float64 reference" % name)

    with open(report_path, "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    # Only models whose ONNX file is in the repository (report.json keeps the others too).
    ordered = [n for n in MODELS if n in report and os.path.exists(os.path.join(OUT_DIR, n + ".onnx"))]
    with open(os.path.join(fashion_data.DATA_DIR, "fashion_reference_logits.csv"), "w") as f:
        f.write("model,index," + ",".join("l%d" % i for i in range(10)) + "\n")
        for name in ordered:
            for i, logits in enumerate(report[name]["reference_logits"]):
                f.write("%s,%d,%s\n" % (name, i, ",".join("%.9g" % v for v in logits)))
    with open(os.path.join(fashion_data.DATA_DIR, "fashion_models.csv"), "w") as f:
        cols = ["relus", "polynomial_units"]
        cols += ["f64_correct_subset_%d" % n for n in SUBSET_COUNTS + (1000,)]
        cols += ["pytorch_correct_subset_1000", "pytorch_correct_test_10000"]
        f.write("model," + ",".join(cols) + "\n")
        for name in ordered:
            f.write(name + "," + ",".join(str(report[name][c]) for c in cols) + "\n")
    log("wrote models/fashion/*.onnx, models/fashion/report.json, "
        "models/data/fashion_reference_logits.csv, models/data/fashion_models.csv")


if __name__ == "__main__":
    sys.exit(main())
