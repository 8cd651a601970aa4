#!/usr/bin/env python3
"""Train the Fashion-MNIST models of circa-rs (run once by whoever regenerates them; never CI).

    /opt/torchenv/bin/python models/train_fashion.py STAGE [--cache DIR]

Stages, in order (each reads the checkpoints of the stages before it from the cache and
writes its own; a stage whose checkpoint exists is skipped unless --force is given):

    base         ResNet-8 with ReLUs, trained from scratch
    teacher      the base model's logits on the training set (and its mirror image), for
                 knowledge distillation
    criticality  DeepReDuce ReLU criticality: per stage, the base network with ReLUs only in
                 that stage, fine-tuned with distillation, and its test accuracy
    reduce       the DeepReDuce models (culled / thinned stages), fine-tuned with distillation
    poly         every ReLU replaced by a degree-2 polynomial, gradually, with distillation
                 and a range penalty
    extend       a second distillation round for two of the reduced models (EXTEND)
    all          every stage above

Checkpoints (state dict + activation configuration + log) go to --cache (default
/work/wt/models-cache, outside the repository); export_fashion.py turns them into ONNX.
Fixed seeds, two threads (torch.set_num_threads(2)), OMP_WAIT_POLICY=PASSIVE (spinning
OpenMP threads are 3-4x slower on a shared machine).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import fashion_data  # noqa: E402
from fashion_nets import SITES, STAGES, ResNet8, site_relus  # noqa: E402

THREADS = 2
SEED = 20251203
BATCH = 128
DEFAULT_CACHE = "/work/wt/models-cache"

# ----- hyper-parameters (one place) -----
BASE_EPOCHS = 14
BASE_LR = 0.1
WEIGHT_DECAY = 5e-4
WARMUP_STEPS = 300
KD_T = 4.0
KD_ALPHA = 0.9
FT_LR = 0.02
CRIT_STEPS = 160
REDUCE_STEPS = 470
EXTEND = ("drd_thinch", "drd_cull1_thinch")
EXTEND_STEPS = 940
POLY_STEPS_PER_STAGE = 235
POLY_FINAL_STEPS = 470
POLY_LR = 0.01
POLY_COEF_LR = 0.002
POLY_RANGE_BOUND = 6.0
POLY_RANGE_WEIGHT = 0.05


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


# --------------------------------------------------------------------------- data


class Data:
    def __init__(self, limit=None):
        tr_x, tr_y = fashion_data.load_split("train")
        te_x, te_y = fashion_data.load_split("t10k")
        if limit is not None:
            tr_x, tr_y, te_x, te_y = tr_x[:limit], tr_y[:limit], te_x[:limit], te_y[:limit]
        self.train_x = torch.from_numpy(fashion_data.to_input(tr_x))
        self.train_y = torch.from_numpy(tr_y.astype(np.int64))
        self.test_x = torch.from_numpy(fashion_data.to_input(te_x))
        self.test_y = torch.from_numpy(te_y.astype(np.int64))


def crop_flip(x, gen):
    """Random 28x28 crop of the image zero-padded by 2, and a random horizontal flip."""
    b = x.shape[0]
    padded = F.pad(x, (2, 2, 2, 2))
    oy = torch.randint(0, 5, (b,), generator=gen)
    ox = torch.randint(0, 5, (b,), generator=gen)
    ar = torch.arange(28)
    iy = (oy[:, None] + ar)[:, :, None]
    ix = (ox[:, None] + ar)[:, None, :]
    out = padded[torch.arange(b)[:, None, None], 0, iy, ix].unsqueeze(1)
    flip = torch.rand(b, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def batches(n, steps, gen):
    """`steps` index batches of BATCH, epoch by epoch (a fresh permutation each epoch)."""
    done = 0
    while done < steps:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - BATCH + 1, BATCH):
            if done == steps:
                return
            yield perm[i : i + BATCH]
            done += 1


@torch.no_grad()
def predict(model, x, batch=1000):
    model.eval()
    return torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)])


def accuracy(model, x, y):
    return (predict(model, x).argmax(1) == y).double().mean().item()


# --------------------------------------------------------------------------- training


def param_groups(model, lr, coef_lr=None):
    decay, no_decay, coef = [], [], []
    for name, p in model.named_parameters():
        if name.endswith(".coef"):
            coef.append(p)
        elif p.ndim > 1:
            decay.append(p)
        else:
            no_decay.append(p)
    groups = [
        {"params": decay, "weight_decay": WEIGHT_DECAY, "lr": lr},
        {"params": no_decay, "weight_decay": 0.0, "lr": lr},
    ]
    if coef_lr is not None:
        groups.append({"params": coef, "weight_decay": 0.0, "lr": coef_lr})
    return groups


def cosine(step, steps, warmup):
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * t))


def kd_loss(logits, y, teacher):
    ce = F.cross_entropy(logits, y)
    if teacher is None:
        return ce
    kl = F.kl_div(
        F.log_softmax(logits / KD_T, 1), F.log_softmax(teacher / KD_T, 1),
        reduction="batchmean", log_target=True,
    )
    return KD_ALPHA * KD_T * KD_T * kl + (1.0 - KD_ALPHA) * ce


def train(model, data, steps, lr, seed, teacher=None, warmup=0, coef_lr=None,
          penalty_weight=0.0, on_step=None, label=""):
    """SGD (Nesterov, momentum 0.9), cosine learning rate. Without a teacher: random crop
    and flip, cross-entropy. With `teacher` ([2, N, 10] logits of the unflipped and
    flipped training images): random flip, distillation loss."""
    # Coefficients are trained by the polynomial stage only (else they get no gradient).
    opt = torch.optim.SGD(param_groups(model, lr, coef_lr), lr=lr, momentum=0.9, nesterov=True)
    base_lrs = [g["lr"] for g in opt.param_groups]
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    run_loss, run_pen = 0.0, 0.0
    for step, idx in enumerate(batches(len(data.train_x), steps, gen)):
        if on_step is not None:
            on_step(step)
        scale = cosine(step, steps, warmup)
        for g, b in zip(opt.param_groups, base_lrs):
            g["lr"] = b * scale
        model.train()
        x, y = data.train_x[idx], data.train_y[idx]
        t = None
        if teacher is None:
            x = crop_flip(x, gen)
        else:
            flip = torch.rand(len(idx), generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            t = torch.where(flip[:, None], teacher[1][idx], teacher[0][idx])
        loss = kd_loss(model(x), y, t)
        pen = model.take_penalty()
        if pen is not None and penalty_weight > 0:
            loss = loss + penalty_weight * pen
            run_pen += pen.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        run_loss += loss.item()
        if (step + 1) % 100 == 0 or step + 1 == steps:
            log("%s step %d/%d loss %.4f penalty %.4f (%.0f s)" % (
                label, step + 1, steps, run_loss / 100, run_pen / 100, time.time() - t0))
            run_loss, run_pen = 0.0, 0.0
    return time.time() - t0


# --------------------------------------------------------------------------- checkpoints


def act_config(model):
    cfg = {}
    for name, a in model.sites().items():
        cfg[name] = {"mode": a.mode, "mask": [int(v) for v in a.mask.tolist()],
                     "blend": a.blend}
    return cfg


def apply_config(model, cfg):
    for name, a in model.sites().items():
        c = cfg[name]
        a.mode = c["mode"]
        a.mask.copy_(torch.tensor(c["mask"], dtype=torch.float32))
        a.blend = c["blend"]


def save(cache, name, model, info):
    path = os.path.join(cache, name + ".pt")
    torch.save({"state": model.state_dict(), "acts": act_config(model), "info": info}, path)
    with open(os.path.join(cache, name + ".json"), "w") as f:
        json.dump(info, f, indent=1, sort_keys=True)
    log("saved %s: %s" % (path, json.dumps(info, sort_keys=True)))


def load(cache, name):
    ck = torch.load(os.path.join(cache, name + ".pt"), weights_only=True)
    model = ResNet8()
    model.load_state_dict(ck["state"])
    apply_config(model, ck["acts"])
    return model, ck["info"]


FORCE = False


def exists(cache, name):
    return not FORCE and os.path.exists(os.path.join(cache, name + ".pt"))


# --------------------------------------------------------------------------- stages


def stage_base(data, cache):
    if exists(cache, "base"):
        return
    torch.manual_seed(SEED)
    model = ResNet8()
    steps = max(BASE_EPOCHS * (len(data.train_x) // BATCH), 20)
    secs = train(model, data, steps, BASE_LR, SEED + 1, warmup=WARMUP_STEPS, label="base")
    acc = accuracy(model, data.test_x, data.test_y)
    save(cache, "base", model, {"test_acc": acc, "relus": model.relu_count(),
                                "train_seconds": secs, "steps": steps})


def stage_teacher(data, cache):
    if not FORCE and os.path.exists(os.path.join(cache, "teacher.pt")):
        return
    model, _ = load(cache, "base")
    logits = torch.stack([predict(model, data.train_x), predict(model, data.train_x.flip(3))])
    torch.save(logits, os.path.join(cache, "teacher.pt"))
    acc = (logits[0].argmax(1) == data.train_y).double().mean().item()
    log("teacher logits %s, train accuracy %.4f" % (tuple(logits.shape), acc))


def load_teacher(cache):
    return torch.load(os.path.join(cache, "teacher.pt"), weights_only=True)


def set_sites(model, modes):
    """modes: site name -> "relu" | "identity" | "mask" (sites not named keep theirs)."""
    for name, mode in modes.items():
        model.sites()[name].mode = mode


def stage_sites(stage):
    return [n for n, (st, _, _) in SITES.items() if st == stage]


def finetune(data, cache, name, model, steps, seed, extra=None):
    teacher = load_teacher(cache)
    secs = train(model, data, steps, FT_LR, seed, teacher=teacher, label=name)
    info = {"test_acc": accuracy(model, data.test_x, data.test_y), "relus": model.relu_count(),
            "train_seconds": secs, "steps": steps, "sites": act_config_summary(model)}
    info.update(extra or {})
    save(cache, name, model, info)
    return info


def act_config_summary(model):
    out = {}
    for name, a in model.sites().items():
        out[name] = a.mode if a.mode != "mask" else "mask %d/%d" % (int(a.mask.sum()), a.mask.numel())
    return out


def stage_criticality(data, cache):
    """DeepReDuce's criticality: the network with ReLUs in one stage only (the others
    identity), here fine-tuned from the base weights with distillation for CRIT_STEPS steps
    instead of trained from scratch; "none" is the all-linear network."""
    results = {}
    for i, stage in enumerate(STAGES + ("none",)):
        name = "crit_%s" % stage
        if exists(cache, name):
            _, info = load(cache, name)
        else:
            model, _ = load(cache, "base")
            set_sites(model, {n: ("relu" if SITES[n][0] == stage else "identity") for n in SITES})
            info = finetune(data, cache, name, model, CRIT_STEPS, SEED + 100 + i)
        results[stage] = {"test_acc": info["test_acc"], "relus": info["relus"]}
    with open(os.path.join(cache, "criticality.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    for stage, r in results.items():
        log("criticality %-5s relus %6d  test accuracy %.4f" % (stage, r["relus"], r["test_acc"]))


def criticality_order(cache):
    """Stages from least to most critical (by the accuracy of the ReLUs-only-here network)."""
    with open(os.path.join(cache, "criticality.json")) as f:
        crit = json.load(f)
    return sorted(STAGES, key=lambda s: crit[s]["test_acc"])


@torch.no_grad()
def channel_masks(model, data, keep=0.5, images=2048):
    """Per site, 1 for the `keep` fraction of channels whose ReLU changes its input most
    (largest mean of max(-x, 0) at the ReLU's input over the first `images` training
    images), 0 for the others."""
    stats = {}
    hooks = []
    for name, a in model.sites().items():
        def hook(mod, inp, out, name=name):
            stats[name] = F.relu(-inp[0]).mean((0, 2, 3))
        hooks.append(a.register_forward_hook(hook))
    model.eval()
    model(data.train_x[:images])
    for h in hooks:
        h.remove()
    masks = {}
    for name, v in stats.items():
        k = int(round(keep * v.numel()))
        top = torch.topk(v, k).indices
        m = torch.zeros_like(v)
        m[top] = 1.0
        masks[name] = m
    return masks


def reduce_plans(order):
    """The DeepReDuce candidates from the criticality order (least critical first)."""
    cull1, cull2 = order[:1], order[:2]
    inner = [n for n in SITES if n.endswith(".act1")]  # first ReLU of each block
    # Trained in this order (the most informative first).
    plans = {
        "thinch": {"cull": [], "thin_channels": list(STAGES), "thin_layers": []},
        "cull1_thinch": {"cull": cull1, "thin_channels": [s for s in STAGES if s not in cull1],
                         "thin_layers": []},
        "cull2": {"cull": cull2, "thin_channels": [], "thin_layers": []},
        "cull2_thinlayer": {"cull": cull2, "thin_channels": [],
                            "thin_layers": [n for n in inner if SITES[n][0] not in cull2]},
        "only1": {"cull": order[:3], "thin_channels": [], "thin_layers": []},
        "cull1": {"cull": cull1, "thin_channels": [], "thin_layers": []},
    }
    return plans


def stage_reduce(data, cache):
    order = criticality_order(cache)
    log("criticality order (least critical first): %s" % " ".join(order))
    base, _ = load(cache, "base")
    masks = channel_masks(base, data)
    for i, (name, plan) in enumerate(reduce_plans(order).items()):
        name = "drd_" + name
        if exists(cache, name):
            continue
        if name == "drd_only1":
            # The criticality run of the most critical stage, trained further.
            model, _ = load(cache, "crit_%s" % order[-1])
        else:
            model, _ = load(cache, "base")
        for site, a in model.sites().items():
            stage = SITES[site][0]
            if stage in plan["cull"] or site in plan["thin_layers"]:
                a.mode = "identity"
            elif stage in plan["thin_channels"]:
                a.mode = "mask"
                a.mask.copy_(masks[site])
        finetune(data, cache, name, model, REDUCE_STEPS, SEED + 200 + i,
                 extra={"plan": plan, "criticality_order": order})


def stage_extend(data, cache):
    """A second distillation round for the models meant to reach 2x fewer ReLUs at <= 1 pp:
    EXTEND_STEPS more steps (a fresh cosine schedule) from their `reduce` checkpoint."""
    for i, name in enumerate(EXTEND):
        out = name + "_long"
        if exists(cache, out):
            continue
        model, info = load(cache, name)
        finetune(data, cache, out, model, EXTEND_STEPS, SEED + 400 + i,
                 extra={"plan": info["plan"], "criticality_order": info["criticality_order"],
                        "continued_from": name, "steps_before": info["steps"]})


@torch.no_grad()
def fit_relu_poly(model, data, site, images=1024):
    """Least-squares c0 + c1 x + c2 x^2 ~ ReLU(x) over the site's inputs on training images."""
    a = model.sites()[site]
    got = []
    h = a.register_forward_hook(lambda mod, inp, out: got.append(inp[0].flatten()))
    model.eval()
    model(data.train_x[:images])
    h.remove()
    x = got[0].double()
    x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED))[:200_000]]
    design = torch.stack([torch.ones_like(x), x, x * x], 1)
    coef = torch.linalg.lstsq(design, F.relu(x)[:, None]).solution[:, 0]
    return coef.float()


def stage_poly(data, cache):
    """Gradual replacement, stage by stage from the input: each stage's ReLUs become a
    polynomial fitted to their current inputs, blended in over the first half of the
    stage's POLY_STEPS_PER_STAGE steps, trained with distillation and the range penalty;
    then POLY_FINAL_STEPS with every activation polynomial."""
    if exists(cache, "poly"):
        return
    model, _ = load(cache, "base")
    teacher = load_teacher(cache)
    for a in model.sites().values():
        a.range_bound = POLY_RANGE_BOUND
    total = 0.0
    fits = {}
    for i, stage in enumerate(STAGES):
        sites = stage_sites(stage)
        for site in sites:
            a = model.sites()[site]
            a.coef.data.copy_(fit_relu_poly(model, data, site))
            fits[site] = [float(c) for c in a.coef]
            a.mode = "blend"
            a.blend = 0.0
        half = POLY_STEPS_PER_STAGE // 2

        def ramp(step, sites=sites, half=half):
            for site in sites:
                model.sites()[site].blend = min(1.0, (step + 1) / half)

        total += train(model, data, POLY_STEPS_PER_STAGE, POLY_LR, SEED + 300 + i,
                       teacher=teacher, coef_lr=POLY_COEF_LR, penalty_weight=POLY_RANGE_WEIGHT,
                       on_step=ramp, label="poly %s" % stage)
        for site in sites:
            model.sites()[site].mode = "poly"
            model.sites()[site].blend = 1.0
        log("poly after %s: test accuracy %.4f" % (stage, accuracy(model, data.test_x, data.test_y)))
    total += train(model, data, POLY_FINAL_STEPS, POLY_LR, SEED + 310, teacher=teacher,
                   coef_lr=POLY_COEF_LR, penalty_weight=POLY_RANGE_WEIGHT, label="poly final")
    for a in model.sites().values():
        a.range_bound = None
        a.track_max = True
        a.last_max_abs = 0.0
    acc = accuracy(model, data.test_x, data.test_y)
    info = {"test_acc": acc, "relus": model.relu_count(), "train_seconds": total,
            "steps": 4 * POLY_STEPS_PER_STAGE + POLY_FINAL_STEPS, "initial_fits": fits,
            "coefficients": {n: [float(c) for c in a.coef] for n, a in model.sites().items()},
            "max_abs_preact_test": {n: a.last_max_abs for n, a in model.sites().items()},
            "range_bound": POLY_RANGE_BOUND, "range_weight": POLY_RANGE_WEIGHT}
    for a in model.sites().values():
        a.track_max = False
    save(cache, "poly", model, info)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["base", "teacher", "criticality", "reduce", "poly", "extend",
                                      "all"])
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    ap.add_argument("--force", action="store_true", help="retrain even if checkpoints exist")
    ap.add_argument("--smoke", action="store_true",
                    help="a few steps per stage (a test of the script, not of the models)")
    args = ap.parse_args()
    global FORCE, BASE_EPOCHS, CRIT_STEPS, REDUCE_STEPS, POLY_STEPS_PER_STAGE, POLY_FINAL_STEPS
    global EXTEND_STEPS
    FORCE = args.force
    if args.smoke:
        BASE_EPOCHS, CRIT_STEPS, REDUCE_STEPS = 0, 4, 4
        POLY_STEPS_PER_STAGE, POLY_FINAL_STEPS, EXTEND_STEPS = 4, 4, 4
    torch.set_num_threads(THREADS)
    os.makedirs(args.cache, exist_ok=True)
    data = Data(2048 if args.smoke else None)
    stages = {"base": stage_base, "teacher": stage_teacher, "criticality": stage_criticality,
              "reduce": stage_reduce, "poly": stage_poly, "extend": stage_extend}
    order = list(stages) if args.stage == "all" else [args.stage]
    for s in order:
        t0 = time.time()
        stages[s](data, args.cache)
        log("stage %s done in %.0f s" % (s, time.time() - t0))


if __name__ == "__main__":
    sys.exit(main())
