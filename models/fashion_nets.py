"""The Fashion-MNIST ResNet and its activation sites.

ResNet-8 for 28x28x1 (He et al.'s basic blocks, CIFAR layout with one block per stage):

    stem   Conv 1->16 3x3 - BN - act                                   16x28x28
    s1     block 16->16, stride 1: Conv-BN-act-Conv-BN + x, act         16x28x28
    s2     block 16->32, stride 2: Conv-BN-act-Conv-BN + (1x1 Conv-BN)(x), act   32x14x14
    s3     block 32->64, stride 2: same                                  64x7x7
    head   AveragePool 7x7 (global) - Flatten - Gemm 64->10

Every `act` is an `Act` module (a "site"): ReLU, identity (ReLU removed), per-channel ReLU
(DeepReDuce thinning by channel) or a degree-2 polynomial. There are 7 sites in 4 stages;
each site's ReLU count is its output size (12,544 / 12,544 + 12,544 / 6,272 + 6,272 /
3,136 + 3,136 = 56,448 in total).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

WIDTHS = (16, 32, 64)
STAGES = ("stem", "s1", "s2", "s3")
# Site name -> (stage, channels, height = width).
SITES = {
    "stem.act": ("stem", 16, 28),
    "s1.act1": ("s1", 16, 28),
    "s1.act2": ("s1", 16, 28),
    "s2.act1": ("s2", 32, 14),
    "s2.act2": ("s2", 32, 14),
    "s3.act1": ("s3", 64, 7),
    "s3.act2": ("s3", 64, 7),
}
# Least-squares degree-2 fit of ReLU on [-3, 3] under a uniform weight (c0, c1, c2); only a
# starting point, every site refits it to its own pre-activation distribution.
RELU_FIT = (0.28125, 0.5, 0.15625)


def site_relus(name):
    _, c, h = SITES[name]
    return c * h * h


class Act(nn.Module):
    """One activation site.

    mode: "relu"; "identity"; "mask" (ReLU on channels where `mask` is 1, identity elsewhere);
    "poly" (c0 + c1 x + c2 x^2); "blend" ((1 - t) ReLU(x) + t poly(x), gradual replacement).
    With `range_bound` set, each forward adds mean(relu(|x| - bound)^2) to `penalty`.
    In export mode every non-identity site emits a plain Relu node (a placeholder that
    export_fashion.py rewrites into the ai.circa node the mode stands for).
    """

    def __init__(self, channels):
        super().__init__()
        self.mode = "relu"
        self.register_buffer("mask", torch.ones(channels))
        self.coef = nn.Parameter(torch.tensor(RELU_FIT, dtype=torch.float32))
        self.blend = 0.0
        self.range_bound = None
        self.penalty = None
        self.export_placeholder = False
        self.last_max_abs = 0.0
        self.track_max = False

    def poly(self, x):
        c0, c1, c2 = self.coef[0], self.coef[1], self.coef[2]
        return c0 + x * (c1 + c2 * x)

    def forward(self, x):
        if self.track_max:
            self.last_max_abs = max(self.last_max_abs, float(x.detach().abs().max()))
        if self.range_bound is not None and self.training and self.mode in ("poly", "blend"):
            term = F.relu(x.abs() - self.range_bound).square().mean()
            self.penalty = term if self.penalty is None else self.penalty + term
        if self.mode == "identity":
            return x
        if self.export_placeholder:
            return torch.relu(x)
        if self.mode == "relu":
            return F.relu(x)
        if self.mode == "mask":
            m = self.mask.view(1, -1, 1, 1)
            return x + m * (F.relu(x) - x)
        if self.mode == "poly":
            return self.poly(x)
        if self.mode == "blend":
            return (1.0 - self.blend) * F.relu(x) + self.blend * self.poly(x)
        raise ValueError("unknown activation mode %r" % self.mode)

    def relus(self, hw):
        if self.mode == "relu":
            return self.mask.numel() * hw
        if self.mode == "mask":
            return int(self.mask.sum().item()) * hw
        return 0


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = Act(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout)
            )
        self.act2 = Act(cout)

    def forward(self, x):
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.shortcut is None else self.shortcut(x)
        return self.act2(y + s)


class Stem(nn.Module):
    def __init__(self, cout):
        super().__init__()
        self.conv = nn.Conv2d(1, cout, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = Act(cout)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class ResNet8(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        w1, w2, w3 = WIDTHS
        self.stem = Stem(w1)
        self.s1 = Block(w1, w1, 1)
        self.s2 = Block(w1, w2, 2)
        self.s3 = Block(w2, w3, 2)
        self.fc = nn.Linear(w3, classes)

    def forward(self, x):
        x = self.s3(self.s2(self.s1(self.stem(x))))
        # 7x7 average pool over the whole 7x7 map: exported as AveragePool + Flatten.
        x = F.avg_pool2d(x, 7)
        return self.fc(torch.flatten(x, 1))

    def sites(self):
        """Site name -> Act, in forward order."""
        return {name: self.get_submodule(name) for name in SITES}

    def relu_count(self):
        return sum(a.relus(SITES[n][2] ** 2) for n, a in self.sites().items())

    def take_penalty(self):
        total = None
        for a in self.sites().values():
            if a.penalty is not None:
                total = a.penalty if total is None else total + a.penalty
                a.penalty = None
        return total


def macs():
    """Multiply-accumulates per image of the linear layers (BN folded, pools excluded)."""
    w1, w2, w3 = WIDTHS
    conv = lambda cin, cout, k, hw: cin * cout * k * k * hw * hw  # noqa: E731
    total = conv(1, w1, 3, 28)
    total += 2 * conv(w1, w1, 3, 28)
    total += conv(w1, w2, 3, 14) + conv(w2, w2, 3, 14) + conv(w1, w2, 1, 14)
    total += conv(w2, w3, 3, 7) + conv(w3, w3, 3, 7) + conv(w2, w3, 1, 7)
    return total + w3 * 10
