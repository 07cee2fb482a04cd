"""What the live views cost the browser: bytes over the kernel websocket, JS heap and Run All time
per notebook, measured in JupyterLab in chromium, before (the code at --before: every view a Plotly
FigureWidget carrying its own plotly.js) and after (this tree), in one run.

Targets (issue 8), 04_darts Run All in default mode: at most 8 MB over the websocket, JS heap under
120 MB; the saved notebook at most 2 MB. "heap MB" is JSHeapUsedSize sampled every 0.5 s: it counts
garbage chromium has not collected yet; "kept MB" is the heap right after a collection (at the end,
or every N s with --collect-every N, which also lowers the sampled peak: measure the two apart). The views' share of training time is measured by
bench_darts_widgets.py (target < 5%).

    .venv/bin/python benchmarks/bench_views.py                       # every notebook, smoke mode
    .venv/bin/python benchmarks/bench_views.py --default 04_darts    # one notebook, default mode
    .venv/bin/python benchmarks/bench_views.py --before 97e38db       # the "before" commit
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
import lab_driver  # noqa: E402

TARGET_BYTES, TARGET_HEAP, TARGET_SAVED = 8e6, 120, 2e6
BEFORE = "97e38db"   # the last commit before issue 8's machinery


def measure(code: Path, notebooks: list[str], smoke: bool, out: Path, keep: Path | None = None,
            collect_every: float | None = None) -> list[dict]:
    """Run each notebook in a lab whose kernels import nasbench from `code`."""
    from playwright.sync_api import sync_playwright
    root = out / "notebooks"
    root.mkdir(parents=True)
    for name in notebooks:   # with a kernelspec (older notebooks lacked one: a dialog would block)
        nb = json.loads((code / "notebooks" / f"{name}.ipynb").read_text())
        nb["metadata"]["kernelspec"] = lab_driver.KERNELSPEC
        (root / f"{name}.ipynb").write_text(json.dumps(nb))
    if (code / "notebooks" / "recorded").is_dir():   # the recorded runs 04, 10 and 11 replay
        shutil.copytree(code / "notebooks" / "recorded", root / "recorded")
    env = {"PYTHONPATH": str(code), "NASBENCH_SMOKE": "1" if smoke else "0"}
    rows = []
    with lab_driver.jupyter_lab(root, out, env=env) as (base, token), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=lab_driver.CHROMIUM, args=lab_driver.ARGS)
        for name in notebooks:
            run = lab_driver.run_notebook(browser, base, token, f"{name}.ipynb", timeout=900, save=True,
                                          collect_every=collect_every)
            rows.append({"notebook": name, "finished": run.finished, "errors": len(run.errors),
                         "mb": run.ws_bytes / 1e6, "largest_mb": run.largest_frame / 1e6,
                         "heap_peak": run.heap_peak, "heap_end": run.heap_end, "heap_live": run.heap_live, "seconds": run.seconds,
                         "saved_mb": (root / f"{name}.ipynb").stat().st_size / 1e6, "figures": len(run.plots),
                         "plotly_from": run.plotly_from})
            print(json.dumps(rows[-1]), flush=True)
            if keep is not None:   # the saved notebook, to see what its size is made of
                keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(root / f"{name}.ipynb", keep / f"{name}.ipynb")
        browser.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--default", nargs="*", default=None,
                        help="notebooks (stems) to run in default mode instead of every notebook in smoke mode")
    parser.add_argument("--before", default=BEFORE, help="git revision measured as 'before' ('' to skip)")
    parser.add_argument("--collect-every", type=float, default=None,
                        help="force a garbage collection every N seconds and report the heap kept after them "
                             "(heap_live); the sampled peak then no longer counts uncollected garbage")
    parser.add_argument("--keep", type=Path, default=None, help="copy the saved notebooks (after) into this folder")
    args = parser.parse_args()
    smoke = args.default is None
    notebooks = args.default or sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results = {}
        if args.before:
            old = tmp / "before"
            old.mkdir()
            archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before, "nasbench", "notebooks"],
                                     check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            have = [n for n in notebooks if (old / "notebooks" / f"{n}.ipynb").exists()]
            results["before"] = measure(old, have, smoke, tmp / "run-before")
        results["after"] = measure(REPO, notebooks, smoke, tmp / "run-after", keep=args.keep,
                                   collect_every=args.collect_every)
    mode = "smoke" if smoke else "default"
    print(f"\n{'notebook':14} {'':6} {'MB ws':>7} {'largest':>8} {'heap MB':>8} {'kept MB':>8} {'saved MB':>9} "
          f"{'Run All s':>10}  ({mode} mode)")
    for name in notebooks:
        for when in ("before", "after"):
            row = next((r for r in results.get(when, []) if r["notebook"] == name), None)
            if row:
                print(f"{name:14} {when:6} {row['mb']:7.2f} {row['largest_mb']:8.2f} {row['heap_peak']:8.0f} "
                      f"{row.get('heap_live', row['heap_end']):8.0f} {row['saved_mb']:9.2f} {row['seconds']:10.0f}"
                      + ("" if row["finished"] else "  (unfinished)"))
        before = next((r for r in results.get("before", []) if r["notebook"] == name), None)
        after = next(r for r in results["after"] if r["notebook"] == name)
        if before:
            print(f"{name:14} ratio  {after['mb'] / max(before['mb'], 1e-9):7.2f} (after / before, websocket bytes)")
    print(f"targets (04_darts, default mode): <= {TARGET_BYTES / 1e6:.0f} MB websocket, heap < {TARGET_HEAP} MB, "
          f"saved <= {TARGET_SAVED / 1e6:.0f} MB")
    out = REPO / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"views_{mode}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
