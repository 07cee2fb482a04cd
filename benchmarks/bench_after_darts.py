"""Seconds per search step and peak memory of GDAS, SNAS, PC-DARTS, NASP and DARTS- against
DARTS (first order), on the same cell, network and batch, in one run.

A search step is everything one training batch costs: the architecture step and the weight step
(SNAS: its single joint step), timed between consecutive `weights` step events (median, after
two warm-up steps). Memory on the CPU is the peak of the activations autograd keeps for backward
(tensors saved by the forward passes, each storage counted once while alive), which is what
partial channels and single paths shrink; on CUDA also torch.cuda.max_memory_allocated.
PC-DARTS runs without its warm-up here so that its step includes the architecture step.

    .venv/bin/python benchmarks/bench_after_darts.py [--space darts] [--steps 12] [--C 8]
"""
from __future__ import annotations

import argparse
import statistics

import torch

from nasbench.data import load
from nasbench.evaluate.memory import SavedActivations
from nasbench.methods import get_method

from bench_darts_widgets import StepClock  # durations between weight steps (this folder)

METHODS = [("darts", {"order": 1}), ("gdas", {}), ("snas", {}), ("pc-darts", {"warmup_epochs": 0}),
           ("nasp", {}), ("darts-minus", {})]


def measure(name, overrides, args, data):
    clock, memory = StepClock(), SavedActivations()
    search = get_method(name)(args.space, data, preset="cpu", steps=args.steps, C=args.C,
                              layers=args.layers, batch_size=args.batch_size, seed=0,
                              progress=False, callbacks=[clock], device=args.device, **overrides)
    if search.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with memory:
        search.run()
    cuda = torch.cuda.max_memory_allocated() if search.device.type == "cuda" else None
    return statistics.median(clock.durations()), memory.peak, cuda


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="darts")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--C", type=int, default=8)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load("digits", seed=0)
    rows = {name: measure(name, overrides, args, data) for name, overrides in METHODS}
    base_s, base_m, base_c = rows["darts"]
    print(f"{args.space}, C={args.C}, {args.layers} cells, batch {args.batch_size}, "
          f"{torch.get_num_threads()} thread, device {args.device}")
    print(f"{'method':<12} {'s/step':>8} {'x DARTS-1st':>11} {'saved MB':>9} {'x DARTS-1st':>11}"
          + ("   cuda MB   x" if base_c else ""))
    for name, (s, m, c) in rows.items():
        line = f"{name:<12} {s:8.3f} {s / base_s:11.2f} {m / 2**20:9.1f} {m / base_m:11.2f}"
        if base_c:
            line += f" {c / 2**20:9.1f} {c / base_c:5.2f}"
        print(line)


if __name__ == "__main__":
    main()
