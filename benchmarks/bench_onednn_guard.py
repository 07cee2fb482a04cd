"""What the oneDNN guard costs: seconds per search step of DARTS, PC-DARTS, ENAS and SPOS with
the guard and without it (the loader's old channels-last digits, plain strided 1x1 convs), in one
run (docs/onednn.md).

Each (method, mode) runs in a process of its own, the modes alternating, `--repeats` times; a
step is the time between consecutive `weights` step events (median, after two warm-up steps).
Without the guard a process may die on an AVX2-only CPU: that is the bug, and the row says so.
Run it alone on an idle machine; the ratio is what to read.

    .venv/bin/python benchmarks/bench_onednn_guard.py [--steps 20] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

METHODS = ["darts", "pc-darts", "enas", "spos"]

ONE = """
import json, statistics, sys, torch
sys.path.insert(0, {here!r})
from bench_darts_widgets import StepClock
from nasbench.methods import get_method
from nasbench.ops import GuardedConv2d
name, guarded, steps = sys.argv[1], sys.argv[2] == "on", int(sys.argv[3])
torch.set_num_threads(1)
GuardedConv2d.enabled = guarded
clock = StepClock()
search = get_method(name)(preset="cpu", steps=steps, seed=0, progress=False, callbacks=[clock])
if not guarded:  # the loader's old layout: strides (C*H*W, 1, W*C, C), read as channels-last
    for split in (search.data.train, search.data.valid):
        n, c, h, w = split.x.shape
        split.x = torch.empty_strided(split.x.shape, (c * h * w, 1, w * c, c)).copy_(split.x)
if name == "pc-darts":
    search.config.warmup_epochs = 0  # time the architecture step too
search.run()
print(json.dumps(statistics.median(clock.durations())))
"""


def measure(name: str, mode: str, steps: int) -> float | str:
    code = ONE.format(here=os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", code, name, mode, str(steps)],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        return f"crashed ({proc.returncode})"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--methods", nargs="*", default=METHODS)
    args = parser.parse_args()
    from nasbench.onednn import describe
    for key, value in describe().items():
        print(f"{key}: {value}")
    print(f"\n{'method':10s} {'without guard':>14s} {'with guard':>11s} {'ratio':>6s}   (ms per step, median of runs)")
    for name in args.methods:
        times = {"off": [], "on": []}
        for _ in range(args.repeats):
            for mode in ("off", "on"):
                times[mode].append(measure(name, mode, args.steps))
        row = {}
        for mode, values in times.items():
            numbers = [v for v in values if isinstance(v, float)]
            row[mode] = statistics.median(numbers) * 1e3 if len(numbers) == len(values) else None
        fmt = lambda ms, mode: f"{ms:.1f}" if ms is not None else next(v for v in times[mode] if isinstance(v, str))  # noqa: E731
        ratio = f"{row['on'] / row['off']:.3f}" if row["on"] and row["off"] else "-"
        print(f"{name:10s} {fmt(row['off'], 'off'):>14s} {fmt(row['on'], 'on'):>11s} {ratio:>6s}")


if __name__ == "__main__":
    main()
