"""Why ProxylessNAS's one-path supernet stays near chance at notebook 10's shared budget
(chain-small, digits-bench, 150 weight steps, CPU preset), variant by variant (issue 21).

Each row runs the ProxylessNAS search with one thing changed and prints the mean weight loss
(the label-smoothed CE of the weight steps) over the first and the last 25 steps; ln 10 = 2.30 is
chance. The candidates checked: the schedule (warm-up cosine, then a fresh one), label smoothing,
the learning rate, the batch, non-affine BN (the official supernet's BN is affine), the
architecture steps, and the one-path sampling itself (uniform over 5, over 2, one fixed path).

    preset          the CPU preset as notebook 10 runs it
    no-arch         no architecture steps, paths uniform over the 5 candidates
    const-lr        lr 0.05 every step (no warm-up cosine, no search cosine)
    no-smoothing    label_smoothing 0
    lr-0.5          lr and warmup_lr 0.5, no architecture steps
    batch-256       batch 256 (the paper's), epochs scaled to keep 150 steps, no architecture steps
    affine-bn       the supernet's BN with affine parameters, as the official MBInvertedConvLayer
    two-mbconvs     paths uniform over k3e3 and k5e6 only, no architecture steps
    fixed-path      always k5e6 in every layer (no sampling), no architecture steps

    .venv/bin/python benchmarks/bench_proxyless_supernet.py [--seed 0] [--only ROW ...]

Measured (seed 0, one thread): preset 2.28, no-arch 2.28, const-lr 2.21, no-smoothing 2.26,
lr-0.5 2.04, batch-256 2.27, affine-bn 2.28, two-mbconvs 2.12, fixed-path 1.57: only sampling
fewer paths moves it. One path a step trains each candidate on about a fifth of the steps (~30 of
150), and a fixed path in the same supernet and schedule needs ~50-75 steps to leave chance.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from nasbench.methods.proxyless import ProxylessNAS

UNIFORM = "uniform"


def run(row: str, seed: int) -> tuple[float, float]:
    overrides, paths = {}, None     # paths: None (the method's own sampling), UNIFORM, or the candidates kept
    if row == "no-smoothing":
        overrides = {"label_smoothing": 0.0}
    elif row == "lr-0.5":
        overrides, paths = {"lr": 0.5, "warmup_lr": 0.5}, UNIFORM
    elif row == "batch-256":
        overrides, paths = {"batch_size": 256, "epochs": 75, "warmup_epochs": 19}, UNIFORM  # 2 steps an epoch
    elif row == "no-arch":
        paths = UNIFORM
    elif row == "two-mbconvs":
        paths = [0, 3]
    elif row == "fixed-path":
        paths = [3]
    search = ProxylessNAS("chain-small", data="digits-bench", seed=seed, steps=150, progress=False,
                          latency_device="pixel1", **overrides)
    if paths is not None:  # weights only: no architecture steps
        options = range(5) if paths == UNIFORM else paths
        search.sample_path = lambda: [int(search.rng.choice(list(options))) for _ in search.space.decisions]
        search.arch_step = lambda x, y: 0.0
    if row == "const-lr":
        search.lr_at = lambda epoch, batch: search.config.lr
    if row == "affine-bn":
        setup = search.setup

        def affine_setup():
            setup()
            c = search.config
            search.supernet = search.space.supernet(**search.net_kwargs(), affine=True).to(search.device)
            search.optimizer = torch.optim.SGD(search.supernet.parameters(), c.lr, momentum=c.momentum,
                                               nesterov=True, weight_decay=c.weight_decay)
            search.track(supernet=search.supernet, optimizer=search.optimizer)
        search.setup = affine_setup
    search.run()
    loss = [e["loss"] for e in search.events if e["type"] == "step" and e["phase"] == "weights"]
    return float(np.mean(loss[:25])), float(np.mean(loss[-25:]))


ROWS = ("preset", "no-arch", "const-lr", "no-smoothing", "lr-0.5", "batch-256", "affine-bn", "two-mbconvs",
        "fixed-path")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="+", choices=ROWS, default=list(ROWS))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print(f"{'variant':<14} first 25  last 25   (weight loss; chance 2.30)")
    for row in args.only:
        first, last = run(row, args.seed)
        print(f"{row:<14} {first:8.3f} {last:8.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
