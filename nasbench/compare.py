"""Recorded runs side by side, judged by the ground truth: `nasbench compare DIR...`.

For every run directory: its method, space, seed and status; the architecture it returned, with
that architecture's stand-alone accuracy and rank among all cells of the space's ground-truth
table; the search's wall time and peak memory (when the run logged a `peak_memory_mb` metric);
and how well its shared-weight scores rank the architectures it evaluated (Kendall tau with a
bootstrap interval, top-k precision), next to the table's own ceiling (`Table.ceiling`). Runs
that failed, were interrupted, or cannot be read are listed with their status, never dropped.
"""
from __future__ import annotations

import html
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from nasbench.events import EventLogError, read_events, validate


@dataclass
class RunRow:
    """One run directory, as the comparison table shows it."""
    dir: str
    status: str                        # completed | interrupted | failed | unfinished | unreadable
    method: str = "?"
    space: str = "?"
    seed: int | None = None
    best: str | None = None
    truth: float | None = None         # stand-alone accuracy of `best` (table mean over seeds)
    rank: int | None = None            # its place among the table's architectures (1 = best)
    table_size: int | None = None
    wall: float | None = None
    steps: int | None = None
    peak_memory_mb: float | None = None
    n_eval: int = 0                    # evaluated architectures with a truth
    tau: tuple[float, float, float] | None = None      # Kendall tau, low, high
    top_k: float | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)


def rank_in_table(table, arch: str) -> int:
    """1 + the number of the table's architectures with a strictly higher mean accuracy (ties
    share the better place)."""
    truth = table.truth(arch)
    return 1 + sum(e.test_acc > truth for e in table.entries.values())


def load_run(run_dir: str | os.PathLike, n_boot: int = 500) -> RunRow:
    """The row of one run directory; a run that cannot be read becomes a row saying why."""
    from nasbench.bench import find_table
    from nasbench.evaluate.ranking import bootstrap, kendall_tau, top_k_precision

    run_dir = Path(run_dir)
    try:
        events = read_events(run_dir / "events.jsonl")
        problems = validate(events, complete=False)
        if problems:
            raise EventLogError(problems[0])
    except (EventLogError, OSError) as e:
        return RunRow(str(run_dir), "unreadable", error=str(e).splitlines()[0])
    if not events or events[0].get("type") != "run_start":
        return RunRow(str(run_dir), "unreadable", error="the log has no run_start")
    start, end = events[0], events[-1] if events[-1].get("type") == "run_end" else {}
    row = RunRow(str(run_dir), end.get("status", "unfinished"), method=start["method"],
                 space=start["space"]["name"], seed=start["seed"], best=end.get("best"),
                 wall=end.get("wall"), error=end.get("error"))
    steps = [e["step"] for e in events if e["type"] == "step"]
    row.steps = max(steps) + 1 if steps else 0
    memory = [e["value"] for e in events if e["type"] == "metric" and e["name"] == "peak_memory_mb"]
    row.peak_memory_mb = max(memory) if memory else None
    if row.best is None:  # an interrupted run without run_end: the last genotype it derived
        genotypes = [e["arch"] for e in events if e["type"] == "genotype"]
        row.best = genotypes[-1] if genotypes else None
    table = find_table(row.space, start.get("config", {}).get("data", {}))
    if table is not None:
        row.table_size = len(table)
        if row.best is not None and row.best in table:
            row.truth = table.truth(row.best)
            row.rank = rank_in_table(table, row.best)
        scored = {}
        for e in events:  # the last score of each evaluated architecture
            if e["type"] == "eval" and e["arch"] in table:
                scored[e["arch"]] = e["score"]
        row.n_eval = len(scored)
        row.extra["scored"] = scored
        row.extra["truth"] = {a: table.truth(a) for a in scored}
        if len(scored) >= 3:
            score = np.array(list(scored.values()))
            truth = np.array([table.truth(a) for a in scored])
            est = bootstrap(kendall_tau, score, truth, n_boot=n_boot)
            row.tau = (est.value, est.low, est.high)
            row.top_k = top_k_precision(score, truth, max(1, len(score) // 10))
    return row


def compare(dirs: Sequence[str | os.PathLike], n_boot: int = 500) -> list[RunRow]:
    """One row per run directory, in the order given."""
    return [load_run(d, n_boot=n_boot) for d in dirs]


def on_common_set(rows: Sequence[RunRow], n_boot: int = 500) -> list[RunRow]:
    """Judge every ranking on the same architectures: per seed, the architectures that every run
    of that seed with a ranking evaluated (a random search's candidates are a subset of what a
    one-shot or ENAS run scores); tau and top-k are recomputed on that set and `n_eval` becomes
    its size. Runs of a seed whose common set has fewer than 3 architectures keep their own."""
    from nasbench.evaluate.ranking import bootstrap, kendall_tau, top_k_precision
    for seed in dict.fromkeys(r.seed for r in rows):
        ranked = [r for r in rows if r.seed == seed and len(r.extra.get("scored", {})) >= 3]
        common = set.intersection(*(set(r.extra["scored"]) for r in ranked)) if ranked else set()
        if len(common) < 3:
            continue
        archs = sorted(common)
        for r in ranked:
            score = np.array([r.extra["scored"][a] for a in archs])
            truth = np.array([r.extra["truth"][a] for a in archs])
            est = bootstrap(kendall_tau, score, truth, n_boot=n_boot)
            r.tau, r.n_eval = (est.value, est.low, est.high), len(archs)
            r.top_k = top_k_precision(score, truth, max(1, len(archs) // 10))
    return list(rows)


def _fmt(value, spec: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


COLUMNS = ("run", "method", "seed", "status", "truth", "rank", "tau [95% CI]", "top-k", "n_eval",
           "wall (s)", "peak MB", "best")


def _cells(row: RunRow) -> list[str]:
    tau = (f"{row.tau[0]:.2f} [{row.tau[1]:.2f}, {row.tau[2]:.2f}]" if row.tau else "-")
    rank = f"{row.rank}/{row.table_size}" if row.rank else "-"
    return [Path(row.dir).name, row.method, _fmt(row.seed, "d"), row.status, _fmt(row.truth), rank, tau,
            _fmt(row.top_k, ".2f"), str(row.n_eval), _fmt(row.wall, ".1f"), _fmt(row.peak_memory_mb, ".0f"),
            row.best or (row.error or "-")]


def summarize(rows: Sequence[RunRow]) -> list[dict]:
    """Per method, over its completed runs (seeds): mean and std of truth, rank, tau and wall."""
    out = []
    for method in dict.fromkeys(r.method for r in rows):
        done = [r for r in rows if r.method == method and r.status == "completed"]
        stats = {"method": method, "runs": len([r for r in rows if r.method == method]), "completed": len(done)}
        for name, values in (("truth", [r.truth for r in done]), ("rank", [r.rank for r in done]),
                             ("tau", [r.tau[0] for r in done if r.tau]), ("wall", [r.wall for r in done])):
            values = [v for v in values if v is not None and np.isfinite(v)]
            stats[name] = float(np.mean(values)) if values else None
            stats[name + "_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
        out.append(stats)
    return out


def format_table(rows: Sequence[RunRow], ceiling: dict | None = None) -> str:
    """The comparison as fixed-width text (what `nasbench compare` prints)."""
    body = [list(COLUMNS)] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in body) for i in range(len(COLUMNS) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line[:-1], widths)) + "  " + line[-1] for line in body]
    lines.insert(1, "-" * len(lines[0]))
    for s in summarize(rows):
        if s["completed"] > 1:
            pm = lambda k, f=".3f": (f"{s[k]:{f}} ± {s[k + '_std']:{f}}" if s[k] is not None and s[k + "_std"] is not None
                                     else _fmt(s[k], f))
            lines.append(f"{s['method']}: {s['completed']}/{s['runs']} completed; truth {pm('truth')}, "
                         f"rank {pm('rank', '.1f')}, tau {pm('tau', '.2f')}, wall {pm('wall', '.1f')} s")
    if ceiling:
        lines.append(f"table ceiling: a single stand-alone seed ranks with tau {ceiling['tau_seed_vs_rest']:.2f} "
                     f"against the other seeds' mean ({ceiling['space']})")
    return "\n".join(lines)


def figure(rows: Sequence[RunRow], ceiling: dict | None = None):
    """Per method, over its completed runs: the stand-alone accuracy of the returned architecture,
    and the Kendall tau of the shared-weight ranking (with the table's ceiling as a line)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("truth of the returned architecture",
                                                         "Kendall tau of the shared-weight ranking"))
    for col, get in ((1, lambda r: r.truth), (2, lambda r: r.tau[0] if r.tau else None)):
        done = [r for r in rows if r.status == "completed" and get(r) is not None]
        fig.add_trace(go.Box(x=[r.method for r in done], y=[get(r) for r in done], boxpoints="all",
                             text=[html.escape(Path(r.dir).name) for r in done], showlegend=False,
                             marker_color="#1f77b4"), row=1, col=col)
    if ceiling:
        fig.add_hline(y=ceiling["tau_seed_vs_rest"], line_dash="dot", row=1, col=2,
                      annotation_text="one stand-alone seed", annotation_position="bottom right")
    fig.update_layout(height=420, margin=dict(t=50, l=50, r=20, b=40))
    return fig


def write_html(rows: Sequence[RunRow], path: str | os.PathLike, ceiling: dict | None = None) -> Path:
    """The table and its plot (`figure`) as one page that opens offline."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r)) + "</tr>" for r in rows)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>nasbench compare</title>"
            f"<style>body{{font-family:sans-serif}} td,th{{padding:2px 8px;text-align:left}}</style></head>"
            f"<body><h1>nasbench compare</h1><table><tr>{head}</tr>{body}</table>"
            f"{figure(rows, ceiling).to_html(full_html=False, include_plotlyjs=True)}</body></html>")
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def random_standalone(space_name: str, seconds: float, *, seed: int = 0, progress: bool = True) -> dict:
    """The baseline without weight sharing: train random architectures stand-alone (the table's
    own recipe, on its task) until `seconds` of training are spent, keep the best on validation.
    Returns the trained architectures and the pick, with the pick's table truth and rank."""
    import time

    import numpy as np
    from tqdm.auto import tqdm

    from nasbench.bench import SETTINGS, load_data, load_table
    from nasbench.evaluate.standalone import train_standalone

    table = load_table(space_name)
    data = load_data(space_name, seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(table))
    entries = list(table.entries.values())
    trained, start = [], time.perf_counter()
    bar = tqdm(total=round(seconds), desc="random search, stand-alone", unit="s", disable=not progress)
    for i in order:
        if time.perf_counter() - start >= seconds:
            break
        r = train_standalone(table.space, entries[i].choices, data, seed=seed, **SETTINGS[space_name]["train"])
        trained.append(r)
        bar.update(min(round(r.seconds), bar.total - bar.n))
    bar.close()
    best = max(trained, key=lambda r: r.valid_acc)
    return {"trained": len(trained), "seconds": time.perf_counter() - start, "best": best.arch,
            "truth": table.truth(best.arch), "rank": rank_in_table(table, best.arch)}


def run_methods(methods: Sequence[str], space: str, out: str | os.PathLike, *, seeds: Sequence[int] = (0,),
                steps: int | None = None, dataset: str = "digits-bench", settings: dict | None = None,
                backend: str = "process", progress: bool = True) -> list[RunRow]:
    """Run every method on the same space, data and budget (`steps` weight steps, CPU preset),
    one `nasbench run` process each, so that each run's peak resident memory is its own (less
    that of a process that only imports torch; Linux only); return their rows. `settings` maps a
    method to extra `--set` values. `backend="ray"` runs the searches as Ray tasks, one CPU each
    (all of a laptop's cores, or a cluster's at RAY_ADDRESS); the runs are the same processes,
    so they return the same architectures. A run that fails or is refused keeps its row (status
    `failed`, or `refused` with the error)."""
    from tqdm.auto import tqdm

    if backend not in ("process", "ray"):
        raise ValueError(f"backend must be process or ray, got {backend!r}")
    out = Path(out)
    baseline = _peak_rss_mb()
    jobs = [(method, space, seed, str(out / f"{method}-seed{seed}"), steps, dataset,
             (settings or {}).get(method, {})) for method in methods for seed in seeds]
    bar = tqdm(total=len(jobs), desc=f"{len(methods)} methods x {len(seeds)} seeds", disable=not progress)
    if backend == "ray":
        from nasbench.scale import ray_map
        results = ray_map(_search, jobs, lambda done, total: bar.update(done - bar.n))
    else:
        results = []
        for job in jobs:
            results.append(_search(*job))
            bar.update()
    bar.close()
    rows = []
    for (method, space, seed, run_dir, *_), (peak, stderr) in zip(jobs, results):
        if not (Path(run_dir) / "events.jsonl").exists():
            rows.append(RunRow(run_dir, "refused", method=method, space=space, seed=seed,
                               error=(stderr.strip().splitlines() or ["no output"])[-1]))
            continue
        row = load_run(run_dir)
        # above what an idle process with torch loaded holds
        row.peak_memory_mb = peak - baseline if peak is not None and baseline is not None else None
        rows.append(row)
    return rows


def _search(method: str, space: str, seed: int, run_dir: str, steps: int | None, dataset: str,
            settings: dict) -> tuple[float | None, str]:
    """One `nasbench run` in its own process: its peak resident memory (MB) and its stderr."""
    import subprocess

    cmd = [sys.executable, "-c", _MEASURED_RUN, "run", method, "--space", space, "--dataset", dataset,
           "--seed", str(seed), "--out", run_dir, "--force", "--quiet"]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    for key, value in settings.items():
        cmd += ["--set", f"{key}={value}"]
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(run_dir) / "stderr.txt", "w+") as err:
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=err)
        err.seek(0)
        lines = err.read().strip().splitlines()
    peak = [float(l.split()[1]) for l in lines if l.startswith("PEAK_MB ")]
    return (peak[0] if peak else None), "\n".join(l for l in lines if not l.startswith("PEAK_MB "))


# The methods of notebook 10, per table: those that search a cell, and those that search a chain.
CELL_METHODS = ("random", "oneshot", "darts", "enas", "gdas", "snas", "pc-darts", "nasp", "darts-minus")
CHAIN_METHODS = ("spos", "fairnas", "proxyless", "fbnet", "single-path")
SPACES = {"nb201": ("nb201-small", CELL_METHODS), "chain": ("chain-small", CHAIN_METHODS)}
RECORDING = "recording.json"
# The hardware-aware methods search against the Pixel 1 table Single-Path NAS published (the phone
# the papers targeted; nasbench.evaluate.latency_devices), not this machine's: on a CPU at 8x8
# pixels every layer's cost is mostly call overhead and a skip is the only saving, and there the
# latency pull outweighs ProxylessNAS' accuracy gradient, which one path a step leaves at noise for
# 150 steps (docs/methods.md; notebook 05 shows it on this machine's table). Phone tables also make
# the recording the same on every machine.
HARDWARE_SETTINGS = {m: {"latency_device": "pixel1"} for m in ("proxyless", "fbnet", "single-path")}


def with_defaults(settings: dict | None) -> dict:
    """Notebook 10's per-method settings: HARDWARE_SETTINGS, updated by `settings`."""
    merged = {m: dict(v) for m, v in HARDWARE_SETTINGS.items()}
    for m, v in (settings or {}).items():
        merged[m] = {**merged.get(m, {}), **v}
    return merged


@dataclass
class Recording:
    """Notebook 10's whole comparison: the rows of both tables (judged on their common sets), the
    stand-alone random-search baseline, the zero-cost proxies' rho, and how it was made."""
    rows: dict[str, list[RunRow]]          # "nb201" | "chain" -> rows
    baseline: list[dict]
    proxy_rho: dict[str, dict[str, list[float]]]
    settings: dict
    made: dict = field(default_factory=dict)


def record(out: str | os.PathLike, *, seeds: Sequence[int] = (0, 1, 2), steps: int = 150,
           settings: dict | None = None, proxy_seeds: Sequence[int] = (0, 1), proxy_archs: int | None = None,
           methods: dict[str, Sequence[str]] | None = None, backend: str = "process",
           progress: bool = True, command: str | None = None) -> Recording:
    """Run notebook 10's comparison into `out` and keep it as a recording: every search (as Ray
    tasks with `backend="ray"`), then the random-search baseline at the searches' median time, then
    the zero-cost proxies; the event logs stay (checkpoints are dropped) and `recording.json` holds
    the rest, with the table the logs give, so that a recording and its logs cannot disagree.
    `methods` maps "nb201"/"chain" to the methods to run (default: all of notebook 10's);
    `command` is what the recording says made it (default: this process's command line).
    `settings` (method -> `--set` values) update HARDWARE_SETTINGS."""
    import json
    import platform

    from nasbench.bench.build import versions
    from nasbench.evaluate import zero_cost

    out = Path(out)
    load_before = os.getloadavg()
    settings = with_defaults(settings)
    methods = {k: list(v) for k, v in (methods or {k: m for k, (_, m) in SPACES.items()}).items()}
    from nasbench.methods import METHODS
    rows = {}
    for key, names in methods.items():
        space = SPACES[key][0]
        rows[key] = run_methods([m for m in names if m in METHODS], space, out / key, seeds=seeds, steps=steps,
                                settings=settings, backend=backend, progress=progress)
    walls = [r.wall for r in rows.get("nb201", []) if r.status == "completed" and r.wall]
    budget = float(np.median(walls)) if walls else 5.0
    baseline = [dict(random_standalone("nb201-small", budget, seed=s, progress=progress), budget=budget)
                for s in seeds]
    proxy_rho: dict = {}
    for key in methods:
        table = SPACES[key][0]
        for seed in proxy_seeds:
            archs = None
            if proxy_archs:
                from nasbench.bench import load_table
                archs = [e.choices for e in list(load_table(table).entries.values())[:proxy_archs]]
            for proxy, r in zero_cost.rank_against_table(table, seed=seed, archs=archs, progress=progress).items():
                proxy_rho.setdefault(table, {}).setdefault(proxy, []).append(r["spearman"])
    for path in out.glob("*/*/checkpoint.pt"):
        path.unlink()                       # a recording keeps what the views and the table read
    if command is None:
        command = " ".join([Path(sys.executable).name, *sys.argv]) if sys.argv else ""
    made = {"command": command,
            "machine": platform.processor() or platform.machine(), "backend": backend, "versions": versions(),
            # the machine's load (1, 5, 15 min) before and after: wall times are only comparable at equal load
            "loadavg": [list(load_before), list(os.getloadavg())]}
    recording = Recording({k: on_common_set(v) for k, v in rows.items()}, baseline, proxy_rho,
                          {"seeds": list(seeds), "steps": steps, "settings": settings,
                           "proxy_seeds": list(proxy_seeds), "proxy_archs": proxy_archs, "methods": methods},
                          made)
    runs = {k: [{"dir": str(Path(r.dir).relative_to(out)), "peak_memory_mb": r.peak_memory_mb, **_judged(r)}
                for r in v] for k, v in recording.rows.items()}
    (out / RECORDING).write_text(json.dumps(
        {"settings": recording.settings, "made": made, "runs": runs, "baseline": baseline,
         "proxy_rho": proxy_rho}, indent=1, default=_jsonable) + "\n")
    return recording


def _judged(row: RunRow) -> dict:
    """What the table says of a run, as recording.json keeps it (to check against the log)."""
    return {"method": row.method, "seed": row.seed, "status": row.status, "best": row.best, "truth": row.truth,
            "rank": row.rank, "tau": None if row.tau is None else round(row.tau[0], 6), "n_eval": row.n_eval}


def _jsonable(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to recording.json")


def load_recording(path: str | os.PathLike, check: bool = True) -> Recording:
    """A recording made by `record`: its runs read again from their event logs (judged on each
    seed's common set, peak memory from the record). With `check`, every run must give the table
    recording.json wrote when it was made (a missing, edited or stale log is an error)."""
    import json

    path = Path(path)
    if not (path / RECORDING).exists():
        raise FileNotFoundError(f"{path} holds no {RECORDING}: make one with `make recordings` "
                                f"or nasbench.compare.record")
    data = json.loads((path / RECORDING).read_text())
    rows = {}
    for key, runs in data["runs"].items():
        rows[key] = on_common_set([load_run(path / run["dir"]) for run in runs])
        for row, run in zip(rows[key], runs):
            row.peak_memory_mb = run["peak_memory_mb"]
            if check:
                now = json.loads(json.dumps(_judged(row), default=_jsonable))
                wrote = {k: run[k] for k in now}
                if now != wrote:
                    diff = {k: (wrote[k], now[k]) for k in now if now[k] != wrote[k]}
                    raise ValueError(f"{path / run['dir']}: its log no longer gives what {RECORDING} "
                                     f"recorded (recorded, now): {diff}")
    return Recording(rows, data["baseline"], data["proxy_rho"], data["settings"], data["made"])


# `nasbench run ...`, then its own peak resident memory (Linux's VmHWM, which a new program starts
# afresh, unlike getrusage's maximum, which a child forked from a big process inherits)
_MEASURED_RUN = """
import sys
from nasbench.cli import main
rc = main(sys.argv[1:])
try:
    hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    print("PEAK_MB", int(hwm.split()[1]) / 1024, file=sys.stderr)
except OSError:
    pass
sys.exit(rc)
"""


def _peak_rss_mb() -> float | None:
    """The peak resident memory of a process that has only imported torch and the methods."""
    import subprocess
    code = ("import torch, nasbench.methods.base\n"
            "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1])")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        return int(out.split()[-1]) / 1024
    except (subprocess.CalledProcessError, ValueError, IndexError):
        return None


def check_recording(path: str | os.PathLike, out: str | os.PathLike, *, backend: str = "process",
                    progress: bool = True) -> list[str]:
    """Make the recording at `path` again in `out`, with the settings it was made with, and list
    every run whose returned architecture, rank or tau differs (empty: the recording is what its
    command produces on this machine)."""
    recorded = load_recording(path)
    s = recorded.settings
    again = record(out, seeds=s["seeds"], steps=s["steps"], settings=s["settings"], proxy_seeds=s["proxy_seeds"],
                   proxy_archs=s["proxy_archs"], methods=s["methods"], backend=backend, progress=progress)
    problems = []
    for key, rows in recorded.rows.items():
        for old, new in zip(rows, again.rows[key], strict=True):
            was, now = _judged(old), _judged(new)
            if was != now:
                problems.append(f"{key}/{Path(old.dir).name}: recorded {was}, made again {now}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m nasbench.compare record DIR`: notebook 10's comparison, recorded;
    `python -m nasbench.compare check DIR`: made again, and compared with the recording."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m nasbench.compare", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="run notebook 10's comparison (its default mode) and record it in DIR")
    rec.add_argument("dir")
    rec.add_argument("--backend", choices=("process", "ray"), default="process",
                     help="ray: the searches as Ray tasks, on every core (or the cluster at RAY_ADDRESS)")
    rec.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    rec.add_argument("--steps", type=int, default=150)
    chk = sub.add_parser("check", help="make the recording in DIR again (in a temporary directory) and "
                                       "list the runs that differ")
    chk.add_argument("dir")
    chk.add_argument("--backend", choices=("process", "ray"), default="process")
    args = parser.parse_args(argv)
    if args.command == "check":
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            problems = check_recording(args.dir, tmp, backend=args.backend)
        print("\n".join(problems) or f"{args.dir}: every run is what its command makes again")
        return 1 if problems else 0
    command = " ".join(["python -m nasbench.compare", *(argv if argv is not None else sys.argv[1:])])
    recording = record(args.dir, seeds=args.seeds, steps=args.steps, backend=args.backend, command=command)
    for key, rows in recording.rows.items():
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
