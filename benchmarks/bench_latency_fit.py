"""Does the latency table predict whole networks? The LUT sum base + sum_l LUT[l][c_l] against
the measured median latency of 20 sampled networks, per space: Pearson r and mean relative error
(one run; both measured here, interleaved, on one thread by default).

    .venv/bin/python benchmarks/bench_latency_fit.py [--n 20] [--repeats 30] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import torch

from nasbench.evaluate.latency import measure_latency_table, sampled_fit

CASES = [  # (space, input shape, C): the CPU presets' spaces on digits, and two larger settings
    ("chain-small", (1, 8, 8), 8),
    ("proxyless:stages=2,per_stage=3,stem_stride=1", (1, 8, 8), 8),
    ("fbnet:stages=3,per_stage=2,stem_stride=1", (1, 8, 8), 8),
    ("chain-mbv2:per_stage=2,skip=1", (3, 32, 32), 16),
    ("proxyless:stages=4,stem_stride=1", (3, 32, 32), 32),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'space':<48} {'input':>10} {'pearson_r':>9} {'mean_rel_err':>12} {'range ms':>14} {'s':>5}")
    for space, shape, C in CASES:
        t = time.perf_counter()
        table = measure_latency_table(space, input_shape=shape, C=C, repeats=args.repeats, progress=False)
        fit = sampled_fit(table, space, args.n, repeats=args.repeats)
        lo, hi = min(fit["measured"]), max(fit["measured"])
        print(f"{space:<48} {'x'.join(map(str, shape)):>10} {fit['pearson_r']:>9.3f} "
              f"{fit['mean_rel_error']:>12.3f} {lo:>6.2f}..{hi:<6.2f} {time.perf_counter() - t:>5.0f}")


if __name__ == "__main__":
    main()
