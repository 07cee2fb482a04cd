"""Synthetic event streams at the papers' scale, for the screenshots in docs/views.md (made by
docs/make_screenshots.py) and for trying a view without training anything."""
from __future__ import annotations

import numpy as np

from nasbench.events import make_event
from nasbench.ops import PARAMETER_FREE
from nasbench.spaces import get_space


def start(space, method="synthetic", config=None):
    return make_event("run_start", 0, method=method, dataset="cifar10", seed=0, config=config or {},
                      space=space.describe())


def end(t, best=""):
    return make_event("run_end", t, status="completed", best=best, wall=float(t))


def alpha_run(space_name="darts", steps=300, seed=0, collapse=0.6):
    """alpha drifting from uniform; parameter-free ops gain on some decisions (the collapse),
    one op sharpens on the others; step and genotype events along."""
    space = get_space(space_name)
    rng = np.random.default_rng(seed)
    events = [start(space, "darts")]
    logits = [np.zeros(len(o)) for o in space.options]
    target = []
    for d, opts in enumerate(space.options):
        free = [k for k, o in enumerate(opts) if o in PARAMETER_FREE and o != "none"]
        target.append(rng.choice(free) if free and rng.random() < collapse else rng.integers(len(opts)))
    for t in range(1, steps + 1):
        for d, row in enumerate(logits):
            row += rng.normal(0, 0.04, len(row))
            row[target[d]] += 0.012 * (1 + d % 3)
        probs = [list(np.exp(r) / np.exp(r).sum()) for r in logits]
        events.append(make_event("step", t, step=t, epoch=t // 50, phase="weights",
                                 loss=2.3 * np.exp(-t / 150) + 0.3 + rng.normal(0, 0.05),
                                 acc=min(0.95, 0.1 + t / 400 + rng.normal(0, 0.02))))
        events.append(make_event("alpha", t, step=t, probs=probs))
        if t % 10 == 0:
            choices = [int(np.argmax(p)) for p in probs]
            events.append(make_event("genotype", t, step=t, arch=space.encode(choices), choices=choices))
    events.append(end(steps + 1))
    return events


def sample_run(space_name="chain-shuffle", steps=400, fair=False, seed=0):
    """SPOS (one uniform path per step) or FairNAS (m paths per step, each option once per layer)."""
    space = get_space(space_name)
    rng = np.random.default_rng(seed)
    events = [start(space, "fairnas" if fair else "spos")]
    m = len(space.options[0])
    for t in range(steps):
        if fair:
            perms = np.stack([rng.permutation(len(o)) for o in space.options])  # (layers, m)
            paths = [list(map(int, perms[:, j])) for j in range(m)]
        else:
            paths = [[int(rng.integers(len(o))) for o in space.options]]
        for path in paths:
            events.append(make_event("sample", t, step=t, choices=path, arch=space.encode(path), purpose="train"))
        events.append(make_event("step", t, step=t, epoch=0, phase="weights", loss=2.0 * np.exp(-t / 200) + 0.2))
    events.append(end(steps))
    return events


def board_run(steps=400, seed=0):
    """Two phases and metrics of very different scales (drop rate, Kendall tau, temperature)."""
    rng = np.random.default_rng(seed)
    events = [start(get_space("nb201"), "oneshot")]
    for t in range(steps):
        for phase, scale in (("weights", 1.0), ("arch", 1.2)):
            events.append(make_event("step", t, step=t, epoch=t // 50, phase=phase,
                                     loss=scale * (2.2 * np.exp(-t / 120) + 0.4) + rng.normal(0, 0.08),
                                     acc=min(0.97, 0.1 + 0.8 * (1 - np.exp(-t / 120)) + rng.normal(0, 0.03))))
        if t % 10 == 0:
            events.append(make_event("metric", t, step=t, name="drop_rate", value=0.5 * t / steps))
            events.append(make_event("metric", t, step=t, name="temperature", value=5.0 * 0.99 ** t))
        if t % 50 == 49:
            events.append(make_event("metric", t, step=t, name="kendall_tau", value=0.2 + 0.5 * t / steps))
    events.append(end(steps))
    return events


def eval_run(n=60, seed=0, generations=6):
    """eval events with a stand-alone truth, KL and a cost, over generations (SPOS' evolution)."""
    space = get_space("nb201")
    rng = np.random.default_rng(seed)
    events = [start(space, "spos")]
    for i in range(n):
        choices = space.sample(rng)
        truth = float(np.clip(0.6 + 0.3 * rng.random(), 0, 1))
        score = float(truth + rng.normal(0, 0.05))
        events.append(make_event("eval", i, arch=space.encode(choices), choices=list(choices), score=score,
                                 metric="valid_acc_oneshot", kl=float(max(0.01, 1 - truth + rng.normal(0, 0.05))),
                                 truth=truth, generation=i * generations // n,
                                 flops=float(50 + 250 * rng.random())))
    events.append(end(n))
    return events


def controller_run(updates=400, seed=0):
    """ENAS' controller on its 40-decision space (5 nodes x 2 inputs + 2 ops, two cells): the
    policy sharpens decision by decision; reward above a baseline that follows it."""
    space = get_space("enas")
    rng = np.random.default_rng(seed)
    events = [start(space, "enas")]
    logits = [np.zeros(len(o)) for o in space.options]
    favourite = [int(rng.integers(len(o))) for o in space.options]
    speed = rng.uniform(0.002, 0.03, len(space.options))
    baseline = 0.1
    for t in range(1, updates + 1):
        for d, row in enumerate(logits):
            row += rng.normal(0, 0.02, len(row))
            row[favourite[d]] += speed[d]
        probs = [np.exp(r) / np.exp(r).sum() for r in logits]
        reward = 0.1 + 0.7 * (1 - np.exp(-t / 150)) + rng.normal(0, 0.04)
        baseline = 0.95 * baseline + 0.05 * reward
        entropy = float(sum(-(p * np.log(p)).sum() for p in probs))
        events.append(make_event("step", t, step=t, epoch=t // 50, phase="controller", loss=-reward))
        for name, value in (("reward", reward), ("baseline", baseline), ("advantage", reward - baseline),
                            ("entropy", entropy)):
            events.append(make_event("metric", t, step=t, name=name, value=float(value)))
        events.append(make_event("alpha", t, step=t, probs=[list(map(float, p)) for p in probs]))
    events.append(end(updates + 1))
    return events


def latency_run(space_name="proxyless", steps=300, target=0.8, seed=0):
    """A hardware-aware search on ProxylessNAS' 21-layer chain: expected latency falling to its
    target as the latency term bites, the two loss terms, and the measured table (ms)."""
    space = get_space(space_name)
    rng = np.random.default_rng(seed)
    lut = [[0.0 if o in ("zero", "skip", "skip_connect") else
            round(float(0.01 * (1 + d % 5) * (1 + k) + rng.uniform(0, 0.01)), 4)
            for k, o in enumerate(opts)] for d, opts in enumerate(space.options)]
    start_ms = float(sum(np.mean(row) for row in lut))
    info = {"lut": lut, "spread": [[0.0] * len(r) for r in lut], "base_ms": 0.2, "options": space.options,
            "target_ms": round(target * start_ms, 4), "bounds": [], "device": "cpu", "device_name": "synthetic",
            "threads": 1}
    events = [start(space, "proxyless", config={"lut": info})]
    for t in range(1, steps + 1):
        expected = start_ms * (target + (1 - target) * np.exp(-t / 60)) + rng.normal(0, 0.005)
        task = 2.3 * np.exp(-t / 120) + 0.6 + rng.normal(0, 0.05)
        events.append(make_event("step", t, step=t, epoch=t // 50, phase="arch", loss=task))
        for name, value in (("expected_latency_ms", expected), ("task_loss", task),
                            ("latency_loss", 0.3 * max(0.0, expected / info["target_ms"] - 1) + 0.02)):
            events.append(make_event("metric", t, step=t, name=name, value=float(value)))
    events.append(end(steps + 1))
    return events


def memory_run(samples=30, seed=0):
    """SMASH on its full space (3 blocks of memory banks): sampled architectures' reads and
    writes, and the generated weights' norms per op settling as the hypernet trains."""
    space = get_space("smash")
    rng = np.random.default_rng(seed)
    events = [start(space, "smash")]
    ops = [d[: d.index(".", d.index(".") + 1)] for d in space.decisions if d.endswith(".convs")]
    scale = {op: rng.uniform(0.5, 2.0) for op in ops}
    for t in range(1, samples + 1):
        choices = space.sample(rng)
        events.append(make_event("sample", t, step=t, choices=list(choices), arch=space.encode(choices),
                                 purpose="train"))
        for op in ops:
            value = scale[op] * (1 + 2 * np.exp(-t / 8)) + rng.normal(0, 0.05)
            events.append(make_event("metric", t, step=t, name=f"wnorm/{op}", value=float(value)))
    events.append(end(samples + 1))
    return events
