"""`make mutants`: mutation testing (mutmut 3) of one module of nasbench at a time, each with its own
test selection so that a run stays feasible on a laptop (one worker; hours for all three).

    python tools/mutants.py methods [--minutes 60]    # nasbench/methods, tests of the loops
    python tools/mutants.py supernet | evaluate

Each module runs in a scratch copy (build/mutants/<module>/: the tracked files plus a
[tool.mutmut] section naming the module and its tests), so the repository's own pyproject and
tree stay untouched. mutmut 3 then runs, for every mutant, only the selected tests that called the
mutated function, and stops at the first failing one. At the end (or when --minutes is up: the
run is stopped and what was measured is kept) the counts per status and the surviving mutants are
written to build/mutants/<module>.json; docs/testing.md records them."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = {
    "methods": ["tests/test_loops.py", "tests/test_darts.py", "tests/test_after_darts.py",
                "tests/test_proxyless.py", "tests/test_fbnet.py", "tests/test_single_path.py",
                "tests/test_spos_fairnas.py", "tests/test_random_ws.py", "tests/test_oneshot.py"],
    "supernet": ["tests/test_superkernel.py", "tests/test_darts.py", "tests/test_after_darts.py",
                 "tests/test_smash.py", "tests/test_enas.py", "tests/test_loops.py"],
    "evaluate": ["tests/test_zero_cost.py", "tests/test_latency.py", "tests/test_cost.py",
                 "tests/test_ranking.py", "tests/test_evolution.py"],
}

# the update rules: every method file but the shared plumbing (base.py: checkpoints, events, config
# checks, tested by the resume and contract tests), which `--all-files` adds
MUTATE = {"methods": [f"nasbench/methods/{f.name}" for f in sorted((ROOT / "nasbench/methods").glob("*.py"))
                      if f.name not in ("base.py", "__init__.py")],
          "supernet": ["nasbench/supernet/*"], "evaluate": ["nasbench/evaluate/*"]}
# under mutmut every method is a trampoline, and a checkpoint holding a bound method (LambdaLR's
# lr_factor) no longer pickles: the tests that write checkpoints cannot run on mutants
DESELECT = "not cli_runs_on_the_cpu_preset and not resume and not checkpoint and not interrupt"


def scratch_copy(module: str) -> Path:
    where = ROOT / "build" / "mutants" / module
    if where.exists():
        shutil.rmtree(where)
    files = subprocess.run(["git", "ls-files", "nasbench", "tests", "pyproject.toml"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        (where / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, where / f)
    config = (f'\n[tool.mutmut]\nsource_paths = ["nasbench"]\nonly_mutate = {json.dumps(MUTATE[module])}\n'
              f"pytest_add_cli_args_test_selection = {json.dumps(TESTS[module])}\n"
              f"pytest_add_cli_args = {json.dumps(['-p', 'no:cacheprovider', '-q', '-k', DESELECT])}\n")
    with open(where / "pyproject.toml", "a") as f:
        f.write(config)
    return where


def results(where: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=where,
                         capture_output=True, text=True).stdout
    by_status: dict[str, list[str]] = {}
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            by_status.setdefault(status, []).append(name)
    return by_status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("module", choices=sorted(TESTS))
    parser.add_argument("--minutes", type=float, default=None, help="stop after this long, keep what was measured")
    parser.add_argument("--all-files", action="store_true", help="mutate base.py / __init__.py too")
    args = parser.parse_args()
    if args.all_files:
        MUTATE[args.module] = [f"nasbench/{args.module}/*"]
    where = scratch_copy(args.module)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # mutmut sets the path itself
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "mutmut", "run", "--max-children", "1"], cwd=where, env=env,
                            start_new_session=True)
    try:
        proc.wait(timeout=None if args.minutes is None else args.minutes * 60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    by_status = results(where)
    summary = {"module": f"nasbench/{args.module}", "tests": TESTS[args.module],
               "minutes": round((time.time() - t0) / 60, 1),
               "counts": {k: len(v) for k, v in sorted(by_status.items())},
               "survived": sorted(by_status.get("survived", [])),
               "no tests": sorted(by_status.get("no tests", []))}
    path = ROOT / "build" / "mutants" / f"{args.module}.json"
    path.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary["counts"]), "->", path)


if __name__ == "__main__":
    main()
