#!/usr/bin/env python3
"""Exports small random-weight PyTorch models the way users export them, for circa-nn's tests.

Usage (from the repository root; needs torch, onnx, onnxscript, onnxruntime and numpy, e.g. the
venv at /opt/torchenv):

    /opt/torchenv/bin/python models/torch_fixtures.py

Eight model families, written as plain PyTorch (no custom operators, no exporter internals):

* `cnn_flatten`, `cnn_nn_flatten`, `cnn_view`: Conv/BatchNorm/ReLU/MaxPool/AvgPool trunk, then
  `torch.flatten(x, 1)`, `nn.Flatten()` or `x.view(x.size(0), -1)`, then Linear/ReLU/Linear;
* `resnet`: two residual blocks (one with a strided 1x1 projection) and `nn.AdaptiveAvgPool2d(1)`;
* `mlp`: Linear/BatchNorm1d/ReLU/Dropout/Linear/ReLU/Linear on a flat input;
* `partial_relu_slice`: DeepReDuce-style partial ReLUs as `torch.cat([relu(y[:, :k]), y[:, k:]])`;
* `partial_relu_where`: partial ReLUs as `torch.where(mask, relu(y), y)` with a constant mask;
* `polynomial`: `a*y*y + b*y + c` with Python floats and Horner's form with scalar parameters,
  and `z + 0.05 * z.pow(2)`.

Each is exported six ways (the exporter configurations of the import table in
`circa-nn/README.md`):

* `legacy13`, `legacy20`: `torch.onnx.export(..., dynamo=False, opset_version=13 / 20)`;
* `legacy13_dynbatch`: the same at opset 13 with `dynamic_axes` marking the batch dimension
  (what many tutorials do; it adds `Shape`/`Gather`/`Unsqueeze`/`Concat` chains);
* `dynamo`: the default `torch.onnx.export(...)` (dynamo, its default opset, weights in an
  external `.onnx.data` file next to the model);
* `dynamo_inline`: the same with `external_data=False`;
* `dynamo_dynbatch`: the default with a dynamic batch dimension (`dynamic_shapes`).

Outputs in `circa-nn/tests/fixtures/torch/`: `FAMILY.EXPORTER.onnx` (and, for the dynamo
exports with external data, `FAMILY.EXPORTER.onnx.data`), `FAMILY.inputs.txt` (one input per
line, `%.9g`, C x H x W order) and `FAMILY.EXPORTER.ort.txt` (onnxruntime's logits for each
input, one line each). The last Linear layer is scaled and its bias zeroed so that the class
depends on the input; inputs are drawn from a seeded generator and kept only when the torch
model's two largest logits differ by at least `MARGIN` (preferring classes not chosen yet), so
that argmax comparisons test the import, not a near tie. The script checks that onnxruntime agrees with torch on every export.
"""

import logging
import os
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "circa-nn", "tests", "fixtures", "torch")
INPUTS = 4
MARGIN = 0.05
SEED = 20260513


def randomize_bn(bn):
    """Running statistics and affine parameters away from the identity, so folding matters."""
    with torch.no_grad():
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)


class Cnn(nn.Module):
    """Conv/BN/ReLU/MaxPool, Conv/ReLU/AvgPool, flatten (three ways), Linear/ReLU/Linear."""

    def __init__(self, flatten):
        super().__init__()
        self.flatten_kind = flatten
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(6 * 2 * 2, 8)
        self.fc2 = nn.Linear(8, 5)
        randomize_bn(self.bn1)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.avg_pool2d(F.relu(self.conv2(x)), 2)
        if self.flatten_kind == "torch":
            x = torch.flatten(x, 1)
        elif self.flatten_kind == "module":
            x = self.flatten(x)
        else:
            x = x.view(x.size(0), -1)
        return self.fc2(F.relu(self.fc1(x)))


class Block(nn.Module):
    """A ResNet basic block; a strided 1x1 projection when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )
            randomize_bn(self.proj[1])
        randomize_bn(self.bn1)
        randomize_bn(self.bn2)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        skip = x if self.proj is None else self.proj(x)
        return F.relu(y + skip)


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.block1 = Block(4, 4, 1)
        self.block2 = Block(4, 8, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)
        randomize_bn(self.bn)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.block2(self.block1(x))
        return self.fc(torch.flatten(self.pool(x), 1))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(12, 16),
            nn.BatchNorm1d(16),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(16, 8),
            nn.ReLU(),
            nn.Linear(8, 5),
        )
        randomize_bn(self.net[1])

    def forward(self, x):
        return self.net(x)


class PartialReluSlice(nn.Module):
    """ReLU on the first 2 of 6 channels, then on the channels from 3 on."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.fc = nn.Linear(6 * 4 * 4, 5)

    def forward(self, x):
        y = self.conv1(x)
        y = torch.cat([F.relu(y[:, :2]), y[:, 2:]], dim=1)
        y = self.conv2(F.avg_pool2d(y, 2))
        y = torch.cat([y[:, :3], F.relu(y[:, 3:])], dim=1)
        return self.fc(torch.flatten(y, 1))


class PartialReluWhere(nn.Module):
    """ReLU where a constant boolean mask (per channel, then per feature) says so."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.fc1 = nn.Linear(6 * 4 * 4, 8)
        self.fc2 = nn.Linear(8, 5)
        mask = torch.tensor([True, False, True, True, False, False])
        self.register_buffer("channel_mask", mask.view(1, 6, 1, 1))
        self.register_buffer("feature_mask", torch.arange(8) % 3 != 1)

    def forward(self, x):
        y = self.conv(x)
        y = torch.where(self.channel_mask, F.relu(y), y)
        z = self.fc1(torch.flatten(F.avg_pool2d(y, 2), 1))
        z = torch.where(self.feature_mask, F.relu(z), z)
        return self.fc2(z)


class Polynomial(nn.Module):
    """Degree-2 polynomial activations: Python-float coefficients, parameters in Horner form,
    and `pow`."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc1 = nn.Linear(4 * 4 * 4, 8)
        self.fc2 = nn.Linear(8, 5)
        self.a = nn.Parameter(torch.tensor([0.15]))
        self.b = nn.Parameter(torch.tensor([0.6]))
        self.c = nn.Parameter(torch.tensor([0.1]))

    def forward(self, x):
        y = self.conv1(x)
        y = 0.1 * y * y + 0.5 * y + 0.2
        y = self.conv2(y)
        y = (self.a * y + self.b) * y + self.c
        z = self.fc1(torch.flatten(F.avg_pool2d(y, 2), 1))
        z = z + 0.05 * z.pow(2)
        return self.fc2(z)


FAMILIES = {
    "cnn_flatten": (lambda: Cnn("torch"), (3, 8, 8)),
    "cnn_nn_flatten": (lambda: Cnn("module"), (3, 8, 8)),
    "cnn_view": (lambda: Cnn("view"), (3, 8, 8)),
    "resnet": (ResNet, (3, 8, 8)),
    "mlp": (Mlp, (12,)),
    "partial_relu_slice": (PartialReluSlice, (3, 8, 8)),
    "partial_relu_where": (PartialReluWhere, (3, 8, 8)),
    "polynomial": (Polynomial, (3, 8, 8)),
}

NAMES = dict(input_names=["input"], output_names=["logits"])
DYNAMIC_AXES = {"input": {0: "batch"}, "logits": {0: "batch"}}

EXPORTERS = {
    "legacy13": dict(dynamo=False, opset_version=13, **NAMES),
    "legacy20": dict(dynamo=False, opset_version=20, **NAMES),
    "legacy13_dynbatch": dict(
        dynamo=False, opset_version=13, dynamic_axes=DYNAMIC_AXES, **NAMES
    ),
    "dynamo": dict(**NAMES),
    "dynamo_inline": dict(external_data=False, **NAMES),
    "dynamo_dynbatch": dict(dynamic_shapes=({0: torch.export.Dim("batch")},), **NAMES),
}


def fmt(values):
    return " ".join("%.9g" % v for v in np.asarray(values, dtype=np.float64).ravel())


def spread_logits(model):
    """Scales the last Linear layer and zeroes its bias: at random initialisation the bias
    decides the class of almost every input, which would make argmax checks weak."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(4.0)
        last.bias.zero_()


def pick_inputs(model, shape, gen):
    """`INPUTS` inputs whose torch logits have a top-2 margin of at least `MARGIN`, preferring
    inputs of classes not chosen yet (for the first 500 candidates)."""
    chosen, classes = [], set()
    for attempt in range(2000):
        x = torch.randn((1,) + shape, generator=gen)
        with torch.no_grad():
            logits = model(x)[0]
        top = logits.sort(descending=True).values
        cls = int(logits.argmax())
        if float(top[0] - top[1]) >= MARGIN and (cls not in classes or attempt >= 500):
            chosen.append(x)
            classes.add(cls)
        if len(chosen) == INPUTS:
            return chosen
    sys.exit("could not find inputs with a clear argmax")


def remove_outputs(stem):
    for suffix in (".onnx", ".onnx.data", ".ort.txt"):
        path = os.path.join(OUT, stem + suffix)
        if os.path.exists(path):
            os.remove(path)


def export(family, exporter, model, inputs):
    stem = f"{family}.{exporter}"
    remove_outputs(stem)
    path = os.path.join(OUT, stem + ".onnx")
    # A batch of 2 lets torch.export keep the dynamic batch dimension symbolic.
    example = torch.cat(inputs[:2]) if exporter == "dynamo_dynbatch" else inputs[0]
    torch.onnx.export(model, (example,), path, **EXPORTERS[exporter])
    onnx.checker.check_model(path)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    lines = []
    for x in inputs:
        got = session.run(None, {"input": x.numpy()})[0]
        with torch.no_grad():
            want = model(x).numpy()
        if not np.allclose(got, want, atol=1e-5, rtol=1e-4):
            sys.exit(f"{stem}: onnxruntime disagrees with torch: {got} vs {want}")
        lines.append(fmt(got))
    with open(os.path.join(OUT, stem + ".ort.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    os.makedirs(OUT, exist_ok=True)
    for index, (family, (make, shape)) in enumerate(FAMILIES.items()):
        torch.manual_seed(SEED + index)
        model = make().eval()
        spread_logits(model)
        gen = torch.Generator().manual_seed(SEED + 100 + index)
        inputs = pick_inputs(model, shape, gen)
        with open(os.path.join(OUT, family + ".inputs.txt"), "w") as f:
            f.write("\n".join(fmt(x) for x in inputs) + "\n")
        for exporter in EXPORTERS:
            export(family, exporter, model, inputs)
            print(f"{family}.{exporter}", file=sys.stderr)


if __name__ == "__main__":
    main()
