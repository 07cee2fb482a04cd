"""Supernet step time of SPOS (one path a step) and FairNAS (m paths a step), per image.

Both methods train the same space on the same data with the same batch size; a step's time is
the gap between consecutive `step` events (sampling, forward, backward and the optimizer step).
A stand-alone network of one path is timed the same way, as the floor a single-path step can
reach. The set-ups alternate, REPEATS times each, and medians are compared:

    FairNAS / SPOS per step   expected about m (m forward + backward passes, one optimizer step)
    SPOS / stand-alone        the cost of weight sharing for one path (expected about 1)

    .venv/bin/python benchmarks/bench_single_path.py [--space chain-mbv2:stages=2,per_stage=2]
        [--steps 20] [--repeats 3] [--device cpu] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

from nasbench.data import load
from nasbench.methods import get_method
from nasbench.spaces import get_space


class StepClock:
    def __init__(self):
        self.times = []

    def __call__(self, event):
        if event["type"] == "step":
            self.times.append(time.perf_counter())

    def durations(self, warmup=2):
        return [b - a for a, b in zip(self.times[warmup:], self.times[warmup + 1:])]


def method_step(name, space, data, steps, batch, C, device):
    clock = StepClock()
    get_method(name)(space, data, steps=steps + 3, batch_size=batch, C=C, generations=0, device=device,
                     callbacks=[clock], progress=False).run()
    return statistics.median(clock.durations())


def standalone_step(space, data, steps, batch, C, device):
    choices = space.sample(np.random.default_rng(0))
    net = space.build(choices, C=C, num_classes=data.num_classes, in_channels=data.shape[0]).to(device)
    opt = torch.optim.SGD(net.parameters(), 0.1, momentum=0.9)
    times = []
    batches = data.train.batches(batch, generator=torch.Generator().manual_seed(0), drop_last=True)
    for _, (x, y) in zip(range(steps + 3), batches):
        x, y = x.to(device), y.to(device)
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter())
    return statistics.median(b - a for a, b in zip(times[2:], times[3:]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", default="chain-mbv2:stages=2,per_stage=2")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--C", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: steadier on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    space, data = get_space(args.space), load("digits", seed=0)
    m = len(space.options[0])
    runs = {"spos": [], "fairnas": [], "standalone": []}
    for _ in range(args.repeats):  # alternate, so a noisy neighbour hits all set-ups alike
        for name in ("spos", "fairnas"):
            runs[name].append(method_step(name, space, data, args.steps, args.batch, args.C, args.device))
        runs["standalone"].append(standalone_step(space, data, args.steps, args.batch, args.C, args.device))
    t = {k: statistics.median(v) for k, v in runs.items()}
    per_image = {k: v / args.batch * 1e6 for k, v in t.items()}
    print(f"{space.name} (m={m} choices/layer), batch {args.batch}, C={args.C}, {args.device}, "
          f"{torch.get_num_threads()} threads; median of {args.repeats} x {args.steps} steps")
    for k in ("standalone", "spos", "fairnas"):
        print(f"  {k:<10} {t[k] * 1e3:8.1f} ms/step  {per_image[k]:8.1f} us/image")
    print(f"  FairNAS / SPOS per step: {t['fairnas'] / t['spos']:.2f} (m = {m}); per path: "
          f"{t['fairnas'] / t['spos'] / m:.2f}")
    print(f"  SPOS / stand-alone per step: {t['spos'] / t['standalone']:.2f}")


if __name__ == "__main__":
    main()
