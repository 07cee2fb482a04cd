"""What SupernetGraph and AlphaEvolution cost a DARTS search: step time with and without them.

DARTS on the CPU preset (embedded digits), `alpha` events after EVERY step (the preset sends them
every 5th), so both views update as often as their throttle lets them: the worst case. The two
set-ups alternate, REPEATS times each, and the median step time of each is compared; the time
spent inside the views' callbacks is also measured directly, as a share of the run.

Target: the views cost under 5% of the training time.
    .venv/bin/python benchmarks/bench_darts_widgets.py [--steps 12] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from nasbench.data import load
from nasbench.methods import get_method
from nasbench.widgets import AlphaEvolution, SupernetGraph

TARGET = 0.05


def shown(view):
    """The view as if shown in a notebook: its browser-side widget exists, so every redraw also
    computes and sends a diff (here to a comm without a kernel)."""
    view.widget
    return view


class Timed:
    """Wraps a view: forwards each event and adds up the seconds spent in it."""

    def __init__(self, view):
        self.view, self.seconds = view, 0.0

    def __call__(self, event):
        start = time.perf_counter()
        self.view(event)
        self.seconds += time.perf_counter() - start


class StepClock:
    """Durations between consecutive `weights` steps (the arch step sits between them)."""

    def __init__(self):
        self.times = []

    def __call__(self, event):
        if event["type"] == "step" and event["phase"] == "weights":
            self.times.append(time.perf_counter())

    def durations(self, warmup=2):
        return [b - a for a, b in zip(self.times[warmup:], self.times[warmup + 1:])]


def run(data, steps, with_views):
    clock = StepClock()
    views = [Timed(shown(SupernetGraph(live=True))), Timed(shown(AlphaEvolution(live=True)))] if with_views else []
    search = get_method("darts")(None, data, preset="cpu", steps=steps, alpha_every=1, seed=0,
                                 progress=False, callbacks=[clock, *views])
    start = time.perf_counter()
    search.run()
    wall = time.perf_counter() - start
    return clock.durations(), sum(v.seconds for v in views), wall, sum(v.view.renders for v in views)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = load("digits")
    SupernetGraph(live=True), AlphaEvolution(live=True)  # pay the one-off widget import outside the timing
    plain, viewed, in_views, walls, renders = [], [], 0.0, 0.0, 0
    for _ in range(args.repeats):  # alternate, so load from other processes hits both alike
        plain += run(data, args.steps, False)[0]
        steps, seconds, wall, n = run(data, args.steps, True)
        viewed += steps
        in_views, walls, renders = in_views + seconds, walls + wall, renders + n
    a, b = statistics.median(plain), statistics.median(viewed)
    share = in_views / walls
    print(f"DARTS cpu preset, torch threads {torch.get_num_threads()}, {args.repeats} x {args.steps} steps each")
    print(f"median step: {a * 1000:.0f} ms without views, {b * 1000:.0f} ms with both views "
          f"(alpha every step, {renders / args.repeats:.0f} redraws a run)")
    print(f"step time ratio with/without: {b / a:.3f}  (overhead {b / a - 1:+.1%})")
    print(f"time inside the views' callbacks: {share:.2%} of the run "
          f"-> {'within' if share < TARGET else 'OVER'} the {TARGET:.0%} target")


if __name__ == "__main__":
    main()
