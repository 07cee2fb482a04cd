"""`nasbench latency build|show SPACE`: measure a space's latency table on this machine, print it."""
from __future__ import annotations

import argparse
import sys

from nasbench.errors import CLIError


def _sizes(args) -> dict:
    from nasbench import data as datasets
    try:
        d = datasets.load(args.dataset, n_train=64 if args.dataset == "digits" else None)
    except (ValueError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None
    if args.C <= 0 or args.batch_size <= 0:
        raise CLIError("--C and --batch-size must be positive integers")
    return {"input_shape": list(d.shape), "C": args.C, "num_classes": d.num_classes,
            "batch_size": args.batch_size, "device": args.device}


def cmd_build(args) -> int:
    from nasbench.evaluate.latency import latency_table, sampled_fit
    if args.repeats <= 0 or args.warmup < 0:
        raise CLIError("--repeats must be positive and --warmup not negative")
    table = latency_table(args.space, rebuild=True, warmup=args.warmup, repeats=args.repeats,
                          progress=not args.quiet, **_sizes(args))
    lo, hi = table.bounds
    print(f"{table.space}: {len(table.lut)} layers, base {table.base_ms:.3f} ms, networks "
          f"{lo:.3f} .. {hi:.3f} ms on {table.device} ({table.device_name}), {table.threads} thread(s)")
    if args.check:
        fit = sampled_fit(table, args.space, args.check, progress=not args.quiet)
        print(f"{args.check} sampled networks: pearson_r = {fit['pearson_r']:.3f}, mean relative "
              f"error = {fit['mean_rel_error']:.3f}")
    return 0


def cmd_show(args) -> int:
    from nasbench.evaluate.latency import LatencyTable, cache_key, cache_path
    from nasbench.spaces import get_space
    if args.file:
        table = LatencyTable.load(args.file)
    else:
        sizes = _sizes(args)
        device = sizes.pop("device")
        device = "cpu" if device == "auto" else device
        path = cache_path(cache_key(get_space(args.space).name, device=device, **sizes,
                                    in_channels=sizes["input_shape"][0], timing_warmup=args.warmup,
                                    timing_repeats=args.repeats))
        if not path.exists():
            import torch
            raise CLIError(f"no latency table of {args.space} for these settings ({torch.get_num_threads()} "
                        f"thread(s), C={args.C}, {args.dataset}) on this machine; "
                        f"measure it with: nasbench latency build {args.space}")
        table = LatencyTable.load(path)
    print(table.describe())
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `latency` (with build / show) to the `nasbench` sub-commands."""
    latency = sub.add_parser("latency", help="latency tables of this machine: build, show")
    commands = latency.add_subparsers(dest="latency_command", required=True)
    for name, helptext in (("build", "measure every candidate of every layer (replaces the cached table)"),
                           ("show", "print the cached table")):
        p = commands.add_parser(name, help=helptext)
        p.add_argument("space", help="a chain space, e.g. chain-small, chain-mbv2:per_stage=1, proxyless, fbnet")
        p.add_argument("--dataset", default="digits", help="sets the input size and classes (default digits)")
        p.add_argument("--C", type=int, default=8, help="stem width of the network (default 8)")
        p.add_argument("--batch-size", type=int, default=1)
        p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
        p.add_argument("--warmup", type=int, default=10)
        p.add_argument("--repeats", type=int, default=30)
        if name == "build":
            p.add_argument("--check", type=int, default=0, metavar="N",
                           help="also time N sampled whole networks against the table's prediction")
            p.add_argument("--quiet", action="store_true", help="no progress bar")
            p.set_defaults(func=cmd_build)
        else:
            p.add_argument("--file", default=None, help="a table file instead of the cache")
            p.set_defaults(func=cmd_show)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="nasbench")
    add_parser(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args()
    sys.exit(ns.func(ns))
