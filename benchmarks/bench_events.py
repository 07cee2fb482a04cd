"""Overhead of the event machinery on a search: random search with weight sharing on digits,
run bare, with the JSONL recorder, and with the recorder plus a live TrainingBoard (headless
figure, same redraw code as in a notebook). Prints the median wall time of each and the ratios.

    .venv/bin/python benchmarks/bench_events.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from nasbench import data
from nasbench.methods import get_method
from nasbench.widgets import TrainingBoard

SETTINGS = dict(epochs=6, C=8, layers=3, batch_size=32, n_candidates=5, eval_batches=1, n_top=1)


def one_run(digits, mode: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = tmp if mode != "bare" else None
        callbacks = [TrainingBoard(live=False, min_interval=0.0)] if mode == "board" else []
        search = get_method("random")("nb201", digits, out=out, callbacks=callbacks, progress=False,
                                      **SETTINGS)
        start = time.perf_counter()
        search.run()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    digits = data.load("digits")
    modes = ["bare", "recorder", "board"]
    times = {m: [] for m in modes}
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits every mode alike
        for m in modes:
            times[m].append(one_run(digits, m))
    median = {m: statistics.median(t) for m, t in times.items()}
    print(f"random search, {SETTINGS['epochs']} epochs on digits, median of {args.repeats}:")
    for m in modes:
        print(f"  {m:<9} {median[m]:7.2f} s   x{median[m] / median['bare']:.3f} of bare")
    print("note: the board redraws on every event here (min_interval=0), the worst case")


if __name__ == "__main__":
    main()
