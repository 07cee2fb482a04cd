"""Ground-truth tables and One-Shot: how long things take, against their targets.

1. One stand-alone trial of each table's setting on ONE thread (target: 1-3 s, so a 125 x 3
   table builds in minutes on 2 cores), next to the mean the table recorded when it was built.
2. Retraining from the shipped tables (`nasbench bench verify`): with the table's first seed,
   a reproduction, exact only on the CPU kernels that built it (an AVX2 machine sums in
   another order than an AVX-512 one); with fresh seeds, how far in units of the table's seed
   noise they land (within the spread: a mean distance of at most 2).
3. One One-Shot weight step (two ghost batches, every path that survived dropout) against one
   random-search weight step (a single path) on the same supernet and data: the price of
   training the full model.

Run: `make bench` (or `.venv/bin/python benchmarks/bench_ground_truth.py`).
"""
import time

import torch

from nasbench import bench
from nasbench.bench.build import run_trial, verify
from nasbench.methods import get_method

torch.set_num_threads(1)


def trial_times():
    print("stand-alone trial, one thread (target 1-3 s):")
    for name in bench.available():
        table = bench.load_table(name)
        ranked = table.rank()
        picks = [ranked[0], ranked[len(ranked) // 2]]
        run_trial(name, picks[0].choices, 0, table.setting)   # warm-up: data set, kernels
        times = []
        for entry in picks:
            start = time.perf_counter()
            run_trial(name, entry.choices, 0, table.setting)
            times.append(time.perf_counter() - start)
        mean = sum(times) / len(times)
        recorded = table.record["record"]["trial_seconds_mean"]
        verdict = "ok" if 1.0 <= mean <= 3.0 else ("faster than needed" if mean < 1.0 else "TOO SLOW")
        print(f"  {name:<12} {mean:5.2f} s per trial ({verdict}); table built at {recorded:.2f} s "
              f"(training only, 2 workers): ratio {mean / recorded:.2f}")


def retrain_against_the_tables(n: int = 5):
    print("retrained against the shipped tables (distance in units of the table's seed noise):")
    for name in bench.available():
        table = bench.load_table(name)
        same = verify(table, n, seed=1)
        fresh = verify(table, n, seed=2, new_seeds=True)
        print(f"  {name:<12} same seed: max distance {same['max_distance']:.2f} "
              f"({'reproduced' if same['within_spread'] else 'NOT reproduced on this CPU'}); "
              f"fresh seed: mean distance {fresh['mean_distance']:.2f} "
              f"({'within' if fresh['within_spread'] else 'OUTSIDE'} the spread)")


def step_time(method: str, steps: int = 6, **overrides) -> float:
    """Seconds per weight step of `method` on nb201-small (after two warm-up steps)."""
    search = get_method(method)("nb201-small", "digits-bench", seed=0, progress=False, **overrides)
    search._seed_everything()
    search.setup()
    search.config.steps = 2
    search.train_epoch(0)                           # warm-up: lazy initialisation, first kernels
    search.config.steps = 2 + steps
    start = time.perf_counter()
    search.train_epoch(0)
    return (time.perf_counter() - start) / (search.step - 2)


def one_shot_step():
    oneshot = step_time("oneshot", drop_rate=0.1)
    single = step_time("random", batch_size=64)
    print(f"weight step on nb201-small, batch 64: one-shot {oneshot * 1e3:.0f} ms, single path "
          f"{single * 1e3:.0f} ms: ratio {oneshot / single:.1f}")


if __name__ == "__main__":
    trial_times()
    retrain_against_the_tables()
    one_shot_step()
