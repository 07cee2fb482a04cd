"""`nasbench run|report|compare|list|validate|lab`: the run contract of docs/events.md on the command line.

Bad input ends with a one-line error and a non-zero exit code, never a traceback
(set NASBENCH_DEBUG=1 to see one).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from nasbench.errors import CLIError

EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 1


def _known_errors() -> tuple[type[BaseException], ...]:
    from nasbench.data import DatasetNotFound, UnknownDataset
    from nasbench.events import EventLogError
    from nasbench.methods import ConfigError, UnknownMethod
    from nasbench.ops import UnknownOp
    from nasbench.spaces import InvalidArchitecture, UnknownSpace
    return (CLIError, ConfigError, UnknownMethod, UnknownSpace, UnknownDataset, DatasetNotFound,
            UnknownOp, InvalidArchitecture, EventLogError, FileNotFoundError)


# -- commands -------------------------------------------------------------------------------
def cmd_run(args) -> int:
    from nasbench.methods import get_method, parse_setting
    method = get_method(args.method)
    overrides = {}
    for item in args.set:
        key, eq, value = item.partition("=")
        if not eq:
            raise CLIError(f"--set expects key=value, got {item!r}")
        overrides[key] = parse_setting(method.Config, key, value)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.steps is not None:
        overrides["steps"] = args.steps
    for name in ("epochs", "steps"):
        if name in overrides and overrides[name] is not None and overrides[name] <= 0:
            raise CLIError(f"--{name} must be a positive integer, got {overrides[name]}")
    out = Path(args.out)
    if (out / "events.jsonl").exists() and not (args.resume or args.force):
        raise CLIError(f"{out} already holds a run; use --resume to continue it or --force to overwrite")
    search = method(args.space, args.dataset, preset=args.preset, seed=args.seed, device=args.device,
                    out=out, progress=not args.quiet, resume=args.resume, **overrides)
    result = search.run()
    if result.status == "completed":
        print(f"{args.method}: best {result.best} ({result.steps} steps, {result.wall:.1f} s) -> {out}")
        return 0
    print(f"nasbench: run {result.status}: {result.error or 'stopped by the user'} (log kept in {out})",
          file=sys.stderr)
    return EXIT_RUN_FAILED


def cmd_report(args) -> int:
    from nasbench.report import write_report
    path = write_report(args.dir)
    print(path)
    return 0


def cmd_validate(args) -> int:
    from nasbench.events import read_events, validate
    path = Path(args.path)
    path = path / "events.jsonl" if path.is_dir() else path
    problems = validate(read_events(path), complete=not args.partial)
    for p in problems:
        print(p)
    if problems:
        raise CLIError(f"{path}: {len(problems)} problem(s); first: {problems[0]}")
    print(f"{path}: valid")
    return 0


def cmd_compare(args) -> int:
    from nasbench.bench import NoTable, load_table
    from nasbench.compare import compare, format_table, write_html
    dirs = [Path(d) for d in args.dirs]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise CLIError(f"not a run directory: {missing[0]}")
    rows = compare(dirs)
    ceiling = None
    for row in rows:
        try:
            ceiling = load_table(row.space).ceiling() if row.truth is not None else None
        except NoTable:
            continue
        if ceiling:
            break
    print(format_table(rows, ceiling))
    if args.html:
        print(write_html(rows, args.html, ceiling))
    return 0


def cmd_list(args) -> int:
    from nasbench.data import DATASETS
    from nasbench.methods import METHODS
    from nasbench.spaces import SPACES
    from nasbench.bench import BENCH_DATA_NAME
    bench_data = {BENCH_DATA_NAME: "the task of the space's ground-truth table (noisy digits); "
                                   "eval events then carry `truth`"}
    for title, table in (("methods", {k: v[1] for k, v in METHODS.items()}),
                         ("spaces", {k: v[1] for k, v in SPACES.items()}),
                         ("datasets", {**DATASETS, **bench_data})):
        print(f"{title}:")
        for name, text in table.items():
            print(f"  {name:<16} {text}")
    return 0


def cmd_lab(args) -> int:
    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    if not notebooks.is_dir():
        raise CLIError(f"no notebooks folder at {notebooks} (run from a source checkout)")
    return subprocess.call([sys.executable, "-m", "jupyter", "lab", str(notebooks), *args.jupyter_args])


# -- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from nasbench.methods import METHODS
    parser = argparse.ArgumentParser(prog="nasbench", description="one-shot NAS workbench")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a search; writes OUT/events.jsonl and OUT/summary.json")
    run.add_argument("method", help=f"one of: {', '.join(METHODS)}")
    run.add_argument("--space", default=None, help="search space (default: the method's own)")
    run.add_argument("--dataset", default="digits", help="data set (default: embedded digits)")
    budget = run.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, default=None)
    budget.add_argument("--steps", type=int, default=None, help="stop after N weight steps")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default="auto", help="auto, cpu or cuda")
    run.add_argument("--preset", default="cpu", help="cpu (scaled down, default) or paper")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override one setting of the method's config")
    run.add_argument("--out", required=True, help="run directory")
    run.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    run.add_argument("--force", action="store_true", help="overwrite a run already in OUT")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", help="write DIR/report.html from DIR/events.jsonl")
    report.add_argument("dir")
    report.set_defaults(func=cmd_report)

    val = sub.add_parser("validate", help="check an event log against the schema")
    val.add_argument("path", help="a run directory or an events.jsonl file")
    val.add_argument("--partial", action="store_true", help="accept a log without run_end")
    val.set_defaults(func=cmd_validate)

    cmp = sub.add_parser("compare", help="recorded runs side by side, judged by the ground-truth table")
    cmp.add_argument("dirs", nargs="+", help="run directories")
    cmp.add_argument("--html", default=None, metavar="FILE", help="also write the table and its plot")
    cmp.set_defaults(func=cmd_compare)

    lst = sub.add_parser("list", help="list methods, spaces and data sets")
    lst.set_defaults(func=cmd_list)

    lab = sub.add_parser("lab", help="open JupyterLab on the notebooks")
    lab.add_argument("jupyter_args", nargs=argparse.REMAINDER)
    lab.set_defaults(func=cmd_lab)

    from nasbench.bench.cli import add_parser as add_bench_parser
    add_bench_parser(sub)  # `nasbench bench build|verify|show` (ground-truth tables)
    from nasbench.evaluate.latency_cli import add_parser as add_latency_parser
    add_latency_parser(sub)  # `nasbench latency build|show` (latency tables of this machine)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except _known_errors() as e:
        if os.environ.get("NASBENCH_DEBUG"):
            raise
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"nasbench: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:  # a bug: still one line, with a way to see more
        if os.environ.get("NASBENCH_DEBUG"):
            raise
        print(f"nasbench: error: {type(e).__name__}: {e} (set NASBENCH_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return EXIT_RUN_FAILED


if __name__ == "__main__":
    sys.exit(main())
