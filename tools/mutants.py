"""`make mutants`: mutation testing (mutmut 3) of one module of nasbench at a time, each with its own
test selection so that a run stays feasible on a laptop (one worker; hours for all three).

    python tools/mutants.py methods [--minutes 60]    # nasbench/methods, tests of the loops
    python tools/mutants.py supernet | evaluate

Each module runs in a scratch copy (build/mutants/<module>/: the committed tree plus a
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
    "methods": ["tests/test_loops.py", "tests/test_loop_events.py", "tests/test_optimisers.py",
                "tests/test_darts.py", "tests/test_hessian.py", "tests/test_after_darts.py",
                "tests/test_proxyless.py", "tests/test_fbnet.py", "tests/test_single_path.py",
                "tests/test_spos_fairnas.py", "tests/test_random_ws.py", "tests/test_oneshot.py",
                "tests/test_enas.py", "tests/test_smash.py", "tests/test_search_base.py",
                "tests/test_exercises.py", "tests/test_latency_aware.py"],
    "supernet": ["tests/test_superkernel.py", "tests/test_darts.py", "tests/test_after_darts.py",
                 "tests/test_smash.py", "tests/test_enas.py", "tests/test_loops.py"],
    "evaluate": ["tests/test_zero_cost.py", "tests/test_zero_cost_layers.py", "tests/test_latency.py",
                 "tests/test_latency_devices.py", "tests/test_cost.py", "tests/test_ranking.py",
                 "tests/test_evolution.py", "tests/test_hessian.py", "tests/test_oneshot.py",
                 "tests/test_chain_space.py", "tests/test_proxyless.py"],
}

# the update rules: every method file but the shared plumbing (base.py: checkpoints, events, config
# checks, tested by the resume and contract tests), which `--all-files` adds
MUTATE = {"methods": [f"nasbench/methods/{f.name}" for f in sorted((ROOT / "nasbench/methods").glob("*.py"))
                      if f.name not in ("base.py", "__init__.py")],
          "supernet": ["nasbench/supernet/*"], "evaluate": ["nasbench/evaluate/*"]}
# under mutmut every method is a trampoline, and a checkpoint holding a bound method (LambdaLR's
# lr_factor) no longer pickles: the tests that write checkpoints cannot run on mutants
DESELECT = "not cli_runs_on_the_cpu_preset and not resume and not checkpoint and not interrupt"


def mutmut_env() -> dict[str, str]:
    """The environment of a `mutmut` call: one torch thread, and no PYTHONPATH (mutmut sets the
    path to its mutants itself)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def scratch_copy(module: str) -> Path:
    """build/mutants/<module>/: the committed tree (HEAD: the package, the tests, the notebooks
    test_exercises reads), so edits in progress in the work tree never leak into a run."""
    where = ROOT / "build" / "mutants" / module
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD", "nasbench", "tests", "pyproject.toml", "notebooks/*.ipynb"],
                             cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    config = (f'\n[tool.mutmut]\nsource_paths = ["nasbench"]\nalso_copy = ["notebooks"]\n'
              f'only_mutate = {json.dumps(MUTATE[module])}\n'
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


# --recheck: the survivors of a finished run against the tests as they are now (new tests
# included), each mutant applied to a scratch copy of the tree and run against the loop tests of
# the methods built on the mutated file
RECHECK_TESTS = ["tests/test_loops.py", "tests/test_loop_events.py", "tests/test_optimisers.py"]


def apply_diff(source: str, diff: str) -> str | None:
    """`source` with mutmut's function-level diff applied (its lines are dedented): each hunk's
    old lines found at the indentation they have in the file, replaced by the new ones."""
    import re
    import textwrap
    hunks = re.split(r"^@@.*@@\n", diff.split("+++ ", 1)[1].split("\n", 1)[1], flags=re.M)[1:]
    for hunk in hunks:
        lines = hunk.rstrip("\n").split("\n")
        old = "\n".join(l[1:] for l in lines if l[:1] in (" ", "-")) + "\n"
        new = "\n".join(l[1:] for l in lines if l[:1] in (" ", "+")) + "\n"
        for indent in ("", "    ", "        "):
            o, n = textwrap.indent(old, indent), textwrap.indent(new, indent)
            o, n = o.replace(indent + "\n", "\n"), n.replace(indent + "\n", "\n")
            if source.count(o) == 1:
                source = source.replace(o, n)
                break
        else:
            return None
    return source


def recheck(module: str, names: list[str], minutes: float | None) -> dict:
    from nasbench.methods import METHODS, get_method
    where, run_dir = ROOT / "build" / "mutants" / module, ROOT / "build" / "recheck"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    files = subprocess.run(["git", "ls-files", "nasbench", "tests", "pyproject.toml"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        (run_dir / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, run_dir / f)
    for f in RECHECK_TESTS:
        shutil.copy2(ROOT / f, run_dir / f)
    env = {**os.environ, "PYTHONPATH": str(run_dir), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                *RECHECK_TESTS], cwd=run_dir, env=env, capture_output=True, text=True).stdout.split()
    t0, verdicts = time.time(), {}
    for name in names:
        if minutes is not None and time.time() - t0 > minutes * 60:
            break
        path = name.split(".x")[0].replace(".", "/") + ".py"           # nasbench/methods/enas.py
        stem = Path(path).stem
        users = [m for m, (target, _) in METHODS.items()
                 if any(c.__module__.endswith("." + stem) for c in get_method(m).__mro__)]
        keys = {k for m in users for k in (m, m.replace("-", "_"))}
        tests = [t for t in collected if "::" in t and any(k in t for k in keys)]
        diff = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=where, capture_output=True,
                              text=True).stdout
        original = (ROOT / path).read_text()
        mutated = apply_diff(original, diff) if diff.count("+++ ") == 1 else None
        if mutated is None or mutated == original or not tests:
            verdicts[name] = "not applied" if tests else "no loop test"
            continue
        (run_dir / path).write_text(mutated)
        try:
            r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                               cwd=run_dir, env=env, capture_output=True, text=True, timeout=600)
            verdicts[name] = {0: "survived", 1: "killed"}.get(r.returncode, f"error {r.returncode}")
            if r.returncode and os.environ.get("RECHECK_DEBUG"):
                print(r.stdout[-3000:], r.stderr[-2000:])
        except subprocess.TimeoutExpired:
            verdicts[name] = "timeout"
        finally:
            (run_dir / path).write_text(original)
        print(name, verdicts[name], flush=True)
    return verdicts


# functions that only report or check settings; every other function of a method file is part of
# its algorithm box (its update rule, schedule, sampler or derive rule)
REPORTING = {"validate", "__init__", "_run_start_fields", "log_probs", "log_genotype", "log_weight_norms",
             "log_state", "extra_state", "load_extra_state", "_log_correlations", "rank_every_cell", "check",
             "picked", "load_or_measure", "latency_info", "mean_entropy", "_np"}


def function_of(name: str) -> tuple[str, str]:
    """('enas.py', 'train_epoch') of a mutant name like nasbench.methods.enas.xǁEnasǁtrain_epoch__mutmut_2."""
    module, _, rest = name.partition(".x")
    function = rest.split("__mutmut_")[0]
    return module.rsplit(".", 1)[1] + ".py", function.split("ǁ")[-1] if "ǁ" in function else function[1:]


def score(summary: dict) -> dict:
    """Killed / checked per file and for the algorithm box vs reporting; a survivor the recheck
    killed counts as killed (by a test written after the run)."""
    recheck = summary.get("recheck", {})
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for name, status in summary.get("status", {}).items():
        if status == "not checked":
            continue
        file, fn = function_of(name)
        part = "reporting" if fn in REPORTING or fn.startswith("log_") else "algorithm"
        if status == "survived" and recheck.get(name) == "killed":
            status = "killed later"
        for key in ((file, part), ("all", part)):
            rows.setdefault(key, {})
            rows[key][status] = rows[key].get(status, 0) + 1
    return {f"{f} {p}": c for (f, p), c in sorted(rows.items())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("module", choices=sorted(TESTS))
    parser.add_argument("--minutes", type=float, default=None, help="stop after this long, keep what was measured")
    parser.add_argument("--all-files", action="store_true", help="mutate base.py / __init__.py too")
    parser.add_argument("--children", type=int, default=1, help="mutants tested at once (one core each)")
    parser.add_argument("--recheck", action="store_true",
                        help="re-run the survivors in build/mutants/<module>.json against today's loop tests")
    parser.add_argument("--only", default="", help="--recheck: only survivors whose name contains this")
    parser.add_argument("--more", nargs="*", default=None,
                        help="continue the run in the existing scratch copy with only these mutant patterns "
                             "(e.g. 'nasbench.methods.snas*')")
    parser.add_argument("--names", default=None,
                        help="a fresh run of only the mutants named in this file (one per line), e.g. "
                             "the survivors of an earlier run against today's tests")
    parser.add_argument("--sample", type=int, default=None,
                        help="a fresh run of N mutants drawn at random (seed 0) from all of the module's: an "
                             "unbiased estimate of its score when the whole run does not fit")
    parser.add_argument("--score", action="store_true", help="print the scores of build/mutants/<module>.json")
    parser.add_argument("--collect", action="store_true", help="only (re)write build/mutants/<module>.json "
                        "from the scratch copy's results (after a run that was stopped from outside)")
    args = parser.parse_args()
    if args.score:
        summary = json.loads((ROOT / "build" / "mutants" / f"{args.module}.json").read_text())
        for key, counts in score(summary).items():
            k = counts.get("killed", 0) + counts.get("killed later", 0)
            n = k + counts.get("survived", 0) + counts.get("timeout", 0) + counts.get("no tests", 0)
            print(f"{key:40s} {k:5d}/{n:5d} killed ({100 * k / max(n, 1):.0f}%)  {counts}")
        return
    if args.recheck:
        path = ROOT / "build" / "mutants" / f"{args.module}.json"
        summary = json.loads(path.read_text())
        # the algorithm box first, one file after the other in turn (a stopped recheck then has
        # touched every file), reporting functions last
        names = [n for n in summary["survived"] if args.only in n and n not in summary.get("recheck", {})]
        by_file: dict[str, list[str]] = {}
        for n in names:
            file, fn = function_of(n)
            reporting = fn in REPORTING or fn.startswith("log_")
            by_file.setdefault((reporting, file), []).append(n)
        names = []
        for reporting in (False, True):
            queues = [q for (r, _), q in sorted(by_file.items()) if r == reporting]
            while any(queues):
                names += [q.pop(0) for q in queues if q]
        summary["recheck"] = {**summary.get("recheck", {}), **recheck(args.module, names, args.minutes)}
        path.write_text(json.dumps(summary, indent=1) + "\n")
        print(json.dumps({v: list(summary["recheck"].values()).count(v) for v in set(summary["recheck"].values())}))
        return
    if args.all_files:
        MUTATE[args.module] = [f"nasbench/{args.module}/*"]
    if args.more is not None or args.collect:
        where = ROOT / "build" / "mutants" / args.module
    else:
        where = scratch_copy(args.module)
    if args.names:
        args.more = [n.strip() for n in Path(args.names).read_text().splitlines() if n.strip()]
    if args.sample:
        args.more = draw_sample(where, args.sample)
    env = mutmut_env()
    t0 = time.time()
    if args.collect:
        write_summary(args.module, where, None)
        return
    proc = subprocess.Popen([sys.executable, "-m", "mutmut", "run", "--max-children", str(args.children), *(args.more or [])],
                            cwd=where, env=env, start_new_session=True)
    try:
        proc.wait(timeout=None if args.minutes is None else args.minutes * 60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # mutmut ignores SIGINT
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    write_summary(args.module, where, round((time.time() - t0) / 60, 1))


def draw_sample(where: Path, n: int) -> list[str]:
    """n mutant names drawn uniformly (seed 0) from every mutant of the scratch copy: mutmut
    first generates the mutants and collects its test statistics (a run filtered to no mutant
    stops right after that), then the draw."""
    import random
    env = mutmut_env()
    subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", "1", "no-such-mutant"], cwd=where,
                   env=env, capture_output=True)
    names = sorted(n for names in results(where).values() for n in names)
    if not names:
        raise SystemExit("mutmut generated no mutants (see `mutmut run` in " + str(where) + ")")
    return sorted(random.Random(0).sample(names, min(n, len(names))))


def write_summary(module: str, where: Path, minutes: float | None) -> None:
    by_status = results(where)
    path = ROOT / "build" / "mutants" / f"{module}.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    summary = {"module": f"nasbench/{module}", "tests": TESTS[module],
               "minutes": minutes if minutes is not None else old.get("minutes"),
               "counts": {k: len(v) for k, v in sorted(by_status.items())},
               "survived": sorted(by_status.get("survived", [])),
               "status": {n: st for st, names in by_status.items() for n in names},
               "no tests": sorted(by_status.get("no tests", []))}
    path.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary["counts"]), "->", path)


if __name__ == "__main__":
    main()
