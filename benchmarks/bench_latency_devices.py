"""Hardware-aware search on every latency device, at notebook 10's shared budget.

Two parts (each can be run alone):

  overhead   this machine's chain-small table at batch 1 and at `--batch` images: at batch 1
             every MBConv costs about the same (per-call overhead); at a large batch the
             kernel and expansion decide. Prints both tables and the ratio k3e3 / k5e6.
  runs       ProxylessNAS and FBNet (and Single-Path NAS with --single-path) on chain-small,
             digits-bench, 150 weight steps, seeds 0 1 2, CPU presets, once per device
             ("this", "pixel1", "proxyless-mobile"): each pick with its truth, its rank among the
             125 networks, whether it is skip-only, and its distance to the device's Pareto front
             (how much accuracy the front offers at the pick's latency or less).

    python benchmarks/bench_latency_devices.py [overhead|runs|all] [--out DIR] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def overhead(batch: int) -> None:
    from nasbench.evaluate.latency import measure_latency_table

    for b in (1, batch):
        t = measure_latency_table("chain-small", batch_size=b, input_shape=(1, 8, 8), C=8, num_classes=10,
                                  repeats=30, progress=False)
        print(t.describe())
        ratio = [row[0] / row[3] for row in t.lut]
        print(f"batch {b}: k3e3 / k5e6 per layer {[round(r, 2) for r in ratio]}; noisy entries {t.noisy}\n")


def judge(run_dir: Path, device: str) -> dict:
    """The pick of a run against the device's front (truth from the ground-truth table)."""
    from nasbench.bench import load_table
    from nasbench.compare import load_run
    from nasbench.events import read_events
    from nasbench.widgets.pareto import device_latency_table, pareto_front

    row = load_run(run_dir, n_boot=10)
    start = read_events(run_dir / "events.jsonl")[0]
    table = device_latency_table(device, like=start["config"].get("lut") or start["config"].get("latency"))
    truth = load_table("chain-small")
    entries = list(truth.entries.values())
    lat = [table.predict(e.choices) for e in entries]
    acc = [e.test_acc for e in entries]
    front = [entries[i].arch for i in pareto_front(lat, acc)]
    pick = truth.entries[row.best] if row.best in truth else None
    gap = None
    if pick is not None:
        mine = table.predict(pick.choices)
        gap = max(a for a, l in zip(acc, lat) if l <= mine + 1e-9) - pick.test_acc
    return {"best": row.best, "truth": row.truth, "rank": row.rank, "skip_only": row.best is not None and
            all(part.endswith("=skip") for part in row.best.split(",")), "on_front": row.best in front,
            "gap_to_front": gap, "wall": row.wall}


def runs(out: Path, seeds, methods, steps: int = 150) -> list[dict]:
    from nasbench.compare import run_methods

    from nasbench.evaluate.latency import latency_table
    from nasbench.methods.latency_aware import MEASURE_BATCH

    # this machine's table once (cached unless the machine is too loaded), the same for every run
    this = latency_table("chain-small", input_shape=(1, 8, 8), C=8, num_classes=10, batch_size=MEASURE_BATCH,
                         progress=False).save(out / "this-table.json")
    results = []
    for device in ("pixel1", "proxyless-mobile", "this"):
        settings = {m: ({"latency_table": str(this)} if device == "this" else {"latency_device": device})
                    for m in methods}
        began = time.perf_counter()
        rows = run_methods(methods, "chain-small", out / device, seeds=seeds, steps=steps, settings=settings,
                           progress=False)
        for r in rows:
            result = {"device": device, "method": r.method, "seed": r.seed, "status": r.status,
                      **(judge(Path(r.dir), device) if r.status == "completed" else {"error": r.error})}
            results.append(result)
            print(json.dumps(result), flush=True)
        print(f"# {device}: {time.perf_counter() - began:.0f} s", flush=True)
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", nargs="?", default="all", choices=("overhead", "runs", "all"))
    p.add_argument("--out", default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--single-path", action="store_true")
    args = p.parse_args(argv)
    if args.part in ("overhead", "all"):
        overhead(args.batch)
    if args.part in ("runs", "all"):
        methods = ["proxyless", "fbnet"] + (["single-path"] if args.single_path else [])
        out = Path(args.out or tempfile.mkdtemp(prefix="latency-devices-"))
        results = runs(out, args.seeds, methods)
        bad = [r for r in results if r["method"] in ("proxyless", "fbnet") and r.get("skip_only", True)]
        print(f"{len(results) - len(bad)}/{len(results)} runs returned a network with an MBConv; "
              f"{sum(bool(r.get('on_front')) for r in results)} on the front; logs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
