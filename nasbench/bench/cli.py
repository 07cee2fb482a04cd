"""`nasbench bench build|verify|show`: rebuild a ground-truth table, check it, print it."""
from __future__ import annotations

import argparse
import sys

from nasbench.errors import CLIError


def _table(args):
    from nasbench.bench import NoTable, Table, load_table
    try:
        return Table.load(args.table) if args.table else load_table(args.space)
    except (NoTable, FileNotFoundError) as e:
        raise CLIError(str(e)) from None


def _progress(quiet: bool):
    if quiet:
        return None
    from tqdm.auto import tqdm
    bar = None

    def update(done, total):
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="trials", unit="trial", leave=False)
        bar.n = done
        bar.refresh()
        if done == total:
            bar.close()
    return update


def cmd_build(args) -> int:
    from nasbench.bench import SETTINGS
    from nasbench.bench.build import build_table, command_line
    if args.space not in SETTINGS:
        raise CLIError(f"no bench setting for {args.space!r}; choose one of: {', '.join(SETTINGS)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise CLIError(f"--seeds expects comma-separated integers, got {args.seeds!r}") from None
    table = build_table(args.space, seeds=seeds, workers=args.workers, backend="ray" if args.ray else "process",
                        limit=args.limit, out=args.out, command=command_line(), progress=_progress(args.quiet))
    s = table.summary
    print(f"{args.space}: {len(table)} architectures x {len(seeds)} seeds in "
          f"{table.record['record']['wall_seconds']:.0f} s; spread {s['spread']:.4f} vs noise "
          f"{s['noise']:.4f} (ratio {s['ratio']:.1f})")
    return 0


def cmd_verify(args) -> int:
    from nasbench.bench.build import verify
    table = _table(args)
    report = verify(table, args.n, seed=args.seed, new_seeds=args.new_seeds, workers=args.workers)
    for row in report["rows"]:
        print(f"  {row['arch']:<60.60} table {row['table']:.4f}  retrained {row['retrained']:.4f}  "
              f"({row['distance']:.2f} x noise)")
    verdict = "within" if report["within_spread"] else "OUTSIDE"
    print(f"{table.space_name}: mean distance {report['mean_distance']:.2f} x the table's noise "
          f"({report['noise']:.4f}): {verdict} the table's spread")
    return 0 if report["within_spread"] else 1


def cmd_show(args) -> int:
    table = _table(args)
    s = table.summary
    print(f"{table.space_name}: {len(table)} architectures, seeds {table.seeds}; built by: "
          f"{table.record['record']['command']}")
    print(f"  spread {s['spread']:.4f} (IQR {s['iqr']:.4f}) vs seed noise {s['noise']:.4f}: "
          f"ratio {s['ratio']:.1f}; {s['broken']} broken")
    c = table.ceiling()
    print(f"  ceiling: one seed vs the mean of the others ranks with Kendall tau "
          f"{c['tau_seed_vs_rest']:.2f} ({c['tau_seed_vs_rest_working']:.2f} among working cells); "
          f"two single seeds {c['tau_between_seeds']:.2f}")
    for e in table.rank()[: args.top]:
        print(f"  {e.test_acc:.4f} +- {e.test_std:.4f}  {e.params:>7d} params  {e.arch}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `bench` (with build / verify / show) to the `nasbench` sub-commands."""
    bench = sub.add_parser("bench", help="ground-truth tables: build, verify, show")
    commands = bench.add_subparsers(dest="bench_command", required=True)

    build = commands.add_parser("build", help="train every architecture of a small space (rebuilds its table)")
    build.add_argument("space", help="nb201-small or chain-small")
    build.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2)")
    build.add_argument("--workers", type=int, default=None, help="parallel trials (default: one per core)")
    build.add_argument("--ray", action="store_true", help="run trials on Ray (a cluster via RAY_ADDRESS)")
    build.add_argument("--limit", type=int, default=None, help="only the first N architectures")
    build.add_argument("--out", default=None, help="table file (default: the one shipped in the package)")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.set_defaults(func=cmd_build)

    for name, helptext in (("verify", "retrain a few random architectures and compare with the table"),
                           ("show", "print a table's summary and its best architectures")):
        p = commands.add_parser(name, help=helptext)
        p.add_argument("space", nargs="?", default="nb201-small")
        p.add_argument("--table", default=None, help="a table file instead of the shipped one")
        if name == "verify":
            p.add_argument("-n", type=int, default=5, help="architectures to retrain (default 5)")
            p.add_argument("--seed", type=int, default=0, help="picks the architectures")
            p.add_argument("--new-seeds", action="store_true", help="retrain with seeds the table never used")
            p.add_argument("--workers", type=int, default=1)
            p.set_defaults(func=cmd_verify)
        else:
            p.add_argument("--top", type=int, default=10)
            p.set_defaults(func=cmd_show)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="nasbench")
    add_parser(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args()
    sys.exit(ns.func(ns))
