"""Building and verifying a ground-truth table: every (architecture, seed) trial trained stand-alone.

Trials are independent, so they run in parallel: a local process pool by default (one torch
thread per worker, so workers do not fight over cores), or Ray (`backend="ray"`) to spread a
bigger table over a cluster. Each trial is deterministic given its seed on a given machine and
library version, which the table records, so `verify` can retrain a few and compare.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from nasbench.bench import SEEDS, SETTINGS, Table, spread_and_noise, table_path

Trial = tuple[str, tuple[int, ...], int, dict]   # (space name, choices, seed, setting)


@lru_cache(maxsize=4)
def _data(data_json: str):
    from nasbench import data as datasets
    kwargs = json.loads(data_json)
    return datasets.load(kwargs.pop("name"), seed=0, **kwargs)   # the task is fixed: data seed 0


def run_trial(space_name: str, choices: Sequence[int], seed: int, setting: dict) -> dict:
    """Train one architecture with one seed on one thread; return its measurements."""
    import torch
    from nasbench.evaluate import train_standalone
    from nasbench.spaces import get_space
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        space = get_space(space_name)
        data = _data(json.dumps(setting["data"], sort_keys=True))
        r = train_standalone(space, choices, data, seed=seed, **setting["train"])
    finally:
        torch.set_num_threads(threads)
    return {"arch": r.arch, "choices": list(space.validate(choices)), "seed": seed,
            "test_acc": r.test_acc, "valid_acc": r.valid_acc, "train_acc": r.train_acc,
            "params": r.params, "flops": r.flops, "seconds": round(r.seconds, 3)}


def _star(trial: Trial) -> dict:
    return run_trial(*trial)


def _pool_init() -> None:
    import torch
    torch.set_num_threads(1)


def run_trials(trials: list[Trial], workers: int = 1, backend: str = "process",
               progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Run every trial; results in the order of `trials`."""
    if backend == "ray":
        from nasbench.scale import ray_map
        return ray_map(_star, [(t,) for t in trials], progress)
    if backend != "process":
        raise ValueError(f"backend must be process or ray, got {backend!r}")
    results: list[dict] = []
    if workers <= 1:
        for trial in trials:
            results.append(_star(trial))
            if progress:
                progress(len(results), len(trials))
        return results
    import multiprocessing
    # spawn: a fresh interpreter per worker (fork after torch has started threads can hang)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_pool_init) as pool:
        for result in pool.map(_star, trials, chunksize=1):
            results.append(result)
            if progress:
                progress(len(results), len(trials))
    return results


def versions() -> dict:
    """Library versions that decide the numbers in a table."""
    import numpy
    import sklearn
    import torch
    import nasbench
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__, "nasbench": getattr(nasbench, "__version__", "?"),
            "platform": platform.platform()}


def build_table(space_name: str, *, seeds: Sequence[int] = SEEDS, setting: dict | None = None,
                workers: int | None = None, backend: str = "process", limit: int | None = None,
                out: str | Path | None = None, command: str | None = None,
                progress: Callable[[int, int], None] | None = None) -> Table:
    """Train every architecture of `space_name` (the first `limit` when given) with every seed;
    write the table to `out` (default: the shipped `tables/<space>.json`) and return it."""
    from nasbench.spaces import get_space
    setting = setting or SETTINGS.get(space_name)
    if setting is None:
        raise ValueError(f"no bench setting for {space_name!r}; known: {', '.join(SETTINGS)}")
    space = get_space(space_name)
    archs = list(space.enumerate())[:limit]
    trials = [(space_name, choices, int(seed), setting) for choices in archs for seed in seeds]
    workers = workers or max(1, (os.cpu_count() or 1))
    start = time.time()
    results = run_trials(trials, workers, backend, progress)
    wall = time.time() - start
    table: dict = {}
    for r in results:
        entry = table.setdefault(r["arch"], {"choices": r["choices"], "params": r["params"], "flops": r["flops"],
                                             "test_acc": [], "valid_acc": [], "train_acc": [], "seconds": []})
        for key in ("test_acc", "valid_acc", "train_acc", "seconds"):
            entry[key].append(r[key])
    record = {
        "space": space_name, "setting": setting, "seeds": [int(s) for s in seeds],
        "record": {"command": command or f"nasbench bench build {space_name} --seeds "
                                         f"{','.join(map(str, seeds))} --workers {workers}"
                                         + (" --ray" if backend == "ray" else ""),
                   "versions": versions(), "backend": backend, "workers": workers,
                   "built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   "wall_seconds": round(wall, 1), "trials": len(trials),
                   "trial_seconds_mean": round(float(np.mean([r["seconds"] for r in results])), 3)},
        "summary": {k: v if not isinstance(v, float) or math.isfinite(v) else None   # JSON has no NaN
                    for k, v in spread_and_noise([e["test_acc"] for e in table.values()]).items()},
        "archs": table,
    }
    path = Path(out) if out is not None else table_path(space_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return Table(record)


def verify(table: Table, n: int = 5, *, seed: int = 0, new_seeds: bool = False, workers: int = 1,
           backend: str = "process") -> dict:
    """Retrain `n` random architectures of `table` and measure how far they land from it.

    Each is retrained with the table's first seed (a reproduction: training is deterministic on
    one thread, so it must land exactly on the table), or with a seed the table never used
    (`new_seeds`: it should land within the seed noise). The distance of each is
    |retrained - table| in units of the table's noise (mean std over seeds). A reproduction
    passes only at distance 0 for every architecture (anything else means this machine or these
    library versions do not reproduce the table); a fresh seed, Gaussian around the mean of 3
    seeds, lands ~1.0 noise units away on average, so it passes at a mean distance <= 2."""
    rng = np.random.default_rng(seed)
    picked = [table.rank()[i] for i in sorted(rng.choice(len(table), size=min(n, len(table)), replace=False))]
    trial_seed = (max(table.seeds) + 1 + seed) if new_seeds else table.seeds[0]
    trials = [(table.space_name, e.choices, trial_seed, table.setting) for e in picked]
    results = run_trials(trials, workers, backend)
    noise = table.summary["noise"]
    if not noise or not math.isfinite(noise):   # no working architecture: pool every one
        noise = float(np.mean([e.test_std for e in table.entries.values()])) or 1e-12
    rows = []
    for e, r in zip(picked, results):
        reference = e.test_accs[0] if not new_seeds else e.test_acc
        rows.append({"arch": e.arch, "table": reference, "table_mean": e.test_acc, "table_std": e.test_std,
                     "retrained": r["test_acc"], "distance": abs(r["test_acc"] - reference) / noise})
    distances = [row["distance"] for row in rows]
    return {"seed": trial_seed, "new_seeds": new_seeds, "noise": noise, "rows": rows,
            "mean_distance": float(np.mean(distances)), "max_distance": float(np.max(distances)),
            "within_spread": bool(np.mean(distances) <= 2.0 if new_seeds else max(distances) == 0.0)}


def command_line() -> str:
    """The command that is running, as typed (recorded in the table)."""
    argv = list(sys.argv)
    argv[0] = "nasbench" if Path(argv[0]).name in ("nasbench", "__main__.py", "cli.py") else argv[0]
    return " ".join(shlex.quote(a) for a in argv)
