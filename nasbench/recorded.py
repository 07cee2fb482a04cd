"""Single runs a notebook replays by default, because running them live would take most of its
five minutes (notebook 10's whole comparison has its own recording: `nasbench.compare.record`).

Each entry of `RUNS` is the search a notebook would run; `make recordings` makes every one with
`record` into `notebooks/recorded/<name>/` (its event log and summary, no checkpoint), and the
notebook reads it with `replay` into the same views a live run feeds, or runs `search(name)`
itself when its RERUN switch is on. `python -m nasbench.recorded check` makes every recording
again in a temporary directory and lists the runs whose events differ."""
from __future__ import annotations

import os
import sys
from pathlib import Path

# 04 §6 and 11 §5: DARTS on NAS-Bench-201's cell in a 15-cell supernet, alpha pushed hard (04 says
# why), over three seeds, for DARTS, DARTS- and DARTS-ES, with the collapse watched by its own
# signal: the dominant Hessian eigenvalue of L_val in alpha, every 3 steps (30 measurements in 10
# epochs). DARTS-ES keeps RobustDARTS' window 5, delta 4 and factor 1.3 (in measurements) and starts
# at measurement 6, a fifth of the run as RobustDARTS' 10 of 50 epochs. About 6 minutes a run on
# one core. `notebooks` names the notebooks that replay a run.
COLLAPSE = dict(C=4, layers=15, arch_lr=0.3, arch_steps=6, hessian_every=3)
COLLAPSE_METHODS = {"darts": ("darts", {}), "darts-minus": ("darts-minus", {}),
                    "darts-es": ("darts", {"early_stop": True, "es_start": 6})}
RUNS = {}
for _label, (_method, _extra) in COLLAPSE_METHODS.items():
    for _seed in (0, 1, 2):
        RUNS[f"collapse/{_label}-seed{_seed}"] = dict(
            method=_method, space="nb201", dataset="digits", seed=_seed, epochs=10, settings={**COLLAPSE, **_extra},
            notebooks=("04_darts", "11_after_darts") if _label == "darts" else ("11_after_darts",))
# 03 §6: Bender et al.'s claim that the path-dropout rate r changes the ranking, as a sweep: the
# one-shot model of 03 (nb201-small, digits-bench, the CPU preset's 10 epochs, all 125 cells
# scored) at five rates over three seeds. About 35 s a run on one core.
DROPOUT_RATES = (0.0, 0.25, 0.5, 0.75, 0.9)
for _rate in DROPOUT_RATES:
    for _seed in (0, 1, 2):
        RUNS[f"dropout/r{_rate:.2f}-seed{_seed}"] = dict(
            method="oneshot", space="nb201-small", dataset="digits-bench", seed=_seed, epochs=10,
            settings={"drop_rate": _rate, "n_candidates": 125}, notebooks=("03_one_shot",))
ROOT = Path(__file__).resolve().parents[1] / "notebooks" / "recorded"


def search(name: str, **kwargs):
    """The search of recording `name`, ready to run (`kwargs`: callbacks, progress, out, or
    settings that override the recorded ones, e.g. a smaller network)."""
    from nasbench.methods import get_method
    spec = RUNS[name]
    settings = {**spec["settings"], **kwargs}
    return get_method(spec["method"])(spec["space"], spec["dataset"], seed=spec["seed"],
                                      epochs=settings.pop("epochs", spec["epochs"]), **settings)


def record(name: str, root: str | os.PathLike = ROOT, progress: bool = True) -> Path:
    """Run recording `name` into root/name and keep what a replay reads."""
    out = Path(root) / name
    result = search(name, out=out, progress=progress).run()
    if result.status != "completed":
        raise RuntimeError(f"{name}: the run {result.status}: {result.error}")
    (out / "checkpoint.pt").unlink(missing_ok=True)
    return out


def events(name: str, root: str | os.PathLike = ROOT) -> list[dict]:
    from nasbench.events import read_events
    return read_events(Path(root) / name / "events.jsonl")


def collapse(label: str, seed: int, root: str | os.PathLike = ROOT, log: list[dict] | None = None) -> dict:
    """What recording `collapse/<label>-seed<seed>` (or the events `log` of such a run) shows,
    in the one measure notebooks 04 and 11 share: the **parameter-free share** of the genotype
    the search returns (skips and pools among the ops it keeps, `none` left out, as CollapseView
    draws it over the run), with the eigenvalue's first and highest values and DARTS-ES' stop."""
    from nasbench.methods.darts import parameter_free
    from nasbench.spaces import get_space
    log = log if log is not None else events(f"collapse/{label}-seed{seed}", root)
    start, end = log[0], log[-1]
    space = get_space(start["space"]["name"])
    free = parameter_free(space, space.decode(end["best"]))
    eig = [e["value"] for e in log if e["type"] == "metric" and e["name"] == "hessian_eigenvalue"]
    stop = [int(e["value"]) for e in log if e["type"] == "metric" and e["name"] == "early_stop"]
    return {"method": label, "seed": seed, "best": end["best"], "share": sum(free) / max(len(free), 1),
            "free": sum(free), "kept": len(free), "eig_first": eig[0] if eig else None,
            "eig_max": max(eig) if eig else None, "eig_last": eig[-1] if eig else None,
            "stop": stop[0] if stop else None,
            "steps": max((e["step"] for e in log if e["type"] == "step"), default=-1) + 1}


def same_run(a: list[dict], b: list[dict]) -> list[str]:
    """Where two logs of the same search differ, leaving out what a rerun changes anyway (times,
    run ids, measured seconds and memory)."""
    volatile = {"t", "wall", "run_id", "seconds"}
    timed = {"step_seconds", "peak_memory_mb", "seconds_per_step"}
    keep = lambda log: [{k: v for k, v in e.items() if k not in volatile} for e in log
                        if not (e.get("type") == "metric" and e.get("name") in timed)]
    a, b = keep(a), keep(b)
    problems = [f"event {i}: {x} != {y}" for i, (x, y) in enumerate(zip(a, b)) if x != y][:3]
    if len(a) != len(b):
        problems.append(f"{len(a)} events != {len(b)} events")
    return problems


def main(argv: list[str] | None = None) -> int:
    """`python -m nasbench.recorded record|check [NAME...]`"""
    import argparse
    import tempfile
    parser = argparse.ArgumentParser(prog="python -m nasbench.recorded", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("record", "check"))
    parser.add_argument("names", nargs="*", help=f"default: all of {', '.join(RUNS)}")
    args = parser.parse_args(argv)
    names = args.names or list(RUNS)
    failed = 0
    for name in names:
        if args.command == "record":
            print(f"{name}: recorded in {record(name)}")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            record(name, tmp)
            problems = same_run(events(name), events(name, tmp))
        print(f"{name}: " + ("; ".join(problems) if problems else "the recording is what its search makes again"))
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
