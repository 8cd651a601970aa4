#!/usr/bin/env python3
"""Exports a small PyTorch ResNet with *dyadic* parameters for circa-nn's residual tests
(`circa-nn/tests/residual.rs`).

Usage (from the repository root; needs torch, onnx, onnxruntime, numpy, e.g. /opt/torchenv):

    /opt/torchenv/bin/python models/residual_fixtures.py

The network is plain PyTorch: conv/BN stem, a 2x2 max pool followed by a ReLU, a basic block
with an identity skip (ReLU after the residual Add), a basic block with a 1x1 projection whose
residual sum goes through a 2x2 average pool and then a ReLU, global average pooling and a
Linear layer (exported without constant folding, so BatchNormalization reaches the importer).
Its parameters are chosen so that the fixed-point pipeline at `f = 10` never rounds:

* convolution and Linear weights are sparse integers in {-1, 0, 1};
* BatchNorm has `eps = 0`, running variance 1 and `gamma` in {1, 2} (stem) or 1, so the folded weights stay
  integers; `beta` and the running mean are multiples of 1/64 (folded biases too);
* inputs are multiples of 1/32 in [-1, 1]; the two average pools add 2 + 2 fractional bits.

Every intermediate value then has at most 10 fractional bits, so each rescale is exact (local
share truncation of a multiple of 2^f is exact, absent a wrap) and the private exact run must
reproduce the fixed-point reference bit for bit. Pre-activations take values in (-1/16, 0)
(the default Circa fault band), so the Circa variant faults often enough to measure.

Outputs in `circa-nn/tests/fixtures/residual/`: `resnet_dyadic.onnx` (legacy exporter, opset
13), `resnet_dyadic.inputs.txt` (one input per line, C x H x W) and
`resnet_dyadic.ort.txt` (onnxruntime's logits, one line per input). The script checks that
onnxruntime agrees with torch and that the activations stay small (|x| <= MAX_ABS), so local
truncation wraps (probability |x| / p per element) stay negligible.
"""

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
OUT = os.path.join(HERE, "..", "circa-nn", "tests", "fixtures", "residual")
SEED = 20261203
INPUTS = 24
MAX_ABS = 24.0
SHAPE = (3, 8, 8)


def dyadic_conv(conv, gen, nonzero=2):
    """Each output channel gets `nonzero` weights of +-1 at random positions."""
    with torch.no_grad():
        w = torch.zeros_like(conv.weight)
        flat = w.view(w.shape[0], -1)
        for o in range(flat.shape[0]):
            idx = torch.randperm(flat.shape[1], generator=gen)[:nonzero]
            signs = torch.randint(0, 2, (nonzero,), generator=gen) * 2 - 1
            flat[o, idx] = signs.float()
        conv.weight.copy_(w)
        if conv.bias is not None:
            conv.bias.copy_(torch.randint(-16, 17, conv.bias.shape, generator=gen) / 64.0)


def dyadic_bn(gen, channels, gamma_max=1):
    bn = nn.BatchNorm2d(channels, eps=0.0)
    with torch.no_grad():
        bn.weight.copy_(torch.randint(1, gamma_max + 1, (channels,), generator=gen).float())
        bn.bias.copy_(torch.randint(-16, 17, (channels,), generator=gen) / 64.0)
        bn.running_mean.copy_(torch.randint(-16, 17, (channels,), generator=gen) / 64.0)
        bn.running_var.fill_(1.0)
    return bn


class Block(nn.Module):
    def __init__(self, gen, cin, cout, stride, last_relu=True):
        super().__init__()
        self.last_relu = last_relu
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = dyadic_bn(gen, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = dyadic_bn(gen, cout)
        dyadic_conv(self.conv1, gen)
        dyadic_conv(self.conv2, gen)
        self.proj = None
        if stride != 1 or cin != cout:
            conv = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
            dyadic_conv(conv, gen, nonzero=1)
            self.proj = nn.Sequential(conv, dyadic_bn(gen, cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        skip = x if self.proj is None else self.proj(x)
        return F.relu(y + skip) if self.last_relu else y + skip


class ResNet(nn.Module):
    def __init__(self, gen):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1, bias=True)
        dyadic_conv(self.stem, gen, nonzero=3)
        self.bn = dyadic_bn(gen, 6, gamma_max=2)
        self.pool1 = nn.MaxPool2d(2)
        self.block1 = Block(gen, 6, 6, 1)
        self.block2 = Block(gen, 6, 8, 1, last_relu=False)
        self.pool2 = nn.AvgPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randint(-1, 2, self.fc.weight.shape, generator=gen).float())
            self.fc.bias.zero_()

    def forward(self, x):
        x = F.relu(self.pool1(self.bn(self.stem(x))))  # ReLU after MaxPool: 6x4x4
        x = self.block2(self.block1(x))  # 8x4x4, block2 without its last ReLU
        x = F.relu(self.pool2(x))  # ReLU after AvgPool (of a residual sum): 8x2x2
        return self.fc(torch.flatten(self.gap(x), 1))


def fmt(values):
    return " ".join("%.9g" % v for v in np.asarray(values, dtype=np.float64).ravel())


def largest_activation(model, x):
    worst = [float(x.abs().max())]

    def hook(_module, _inputs, output):
        worst.append(float(output.abs().max()))

    handles = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return max(worst)


def main():
    warnings.filterwarnings("ignore")
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(SEED)
    model = ResNet(gen).eval()
    inputs = [
        (torch.randint(-32, 33, (1,) + SHAPE, generator=gen) / 32.0) for _ in range(INPUTS)
    ]
    worst = max(largest_activation(model, x) for x in inputs)
    if worst > MAX_ABS:
        sys.exit(f"activations reach {worst}, above {MAX_ABS}")
    path = os.path.join(OUT, "resnet_dyadic.onnx")
    torch.onnx.export(
        model,
        (inputs[0],),
        path,
        dynamo=False,
        opset_version=13,
        do_constant_folding=False,
        input_names=["input"],
        output_names=["logits"],
    )
    onnx.checker.check_model(path)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    lines = []
    for x in inputs:
        got = session.run(None, {"input": x.numpy()})[0]
        with torch.no_grad():
            want = model(x).numpy()
        if not np.allclose(got, want, atol=1e-5, rtol=1e-4):
            sys.exit(f"onnxruntime disagrees with torch: {got} vs {want}")
        lines.append(fmt(got))
    with open(os.path.join(OUT, "resnet_dyadic.inputs.txt"), "w") as f:
        f.write("\n".join(fmt(x) for x in inputs) + "\n")
    with open(os.path.join(OUT, "resnet_dyadic.ort.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    ops = [n.op_type for n in onnx.load(path).graph.node]
    print(f"resnet_dyadic: largest |activation| {worst}, nodes {ops}", file=sys.stderr)


if __name__ == "__main__":
    main()
