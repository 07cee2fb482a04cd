"""What one student's notebook costs a shared machine: wall time, CPU seconds and peak memory of
each notebook, run top to bottom in its own Jupyter kernel (nbclient, as Run All does).

    .venv/bin/python benchmarks/bench_notebooks.py                 # all twelve, default mode
    .venv/bin/python benchmarks/bench_notebooks.py --smoke         # NASBENCH_SMOKE=1
    .venv/bin/python benchmarks/bench_notebooks.py 00_tour 07_spos --out runs/bench.json

The kernel runs this interpreter, with this process's environment (set OMP_NUM_THREADS=1 as a hub
would), from a fresh temporary folder. Measured over the kernel's process tree with psutil:

- wall s: from the kernel being ready to the last cell's reply (kernel start-up is apart);
- CPU s: user + system seconds of the kernel and of every descendant (those still running at
  the end, and through the rusage of whoever reaped them, those that ended): what a per-student
  CPU quota has to cover;
- peak RSS: the largest sum of resident memory over the tree, sampled every --interval seconds
  and after every cell, and on Linux the kernel's own high-water mark (VmHWM, not sampled), which
  the sampled peak can only undershoot;
- end USS: memory no other process shares, at the end (RSS counts the pages of torch's
  libraries, which every kernel on a hub maps from one copy).

CPU seconds and memory do not depend much on what else runs on the machine; wall time does, so
the JSON records the load average before and after each notebook.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
KERNEL = "nasbench-bench"
MB = 2**20


class TreeMonitor:
    """Samples a process and its descendants: summed RSS (peak kept) and CPU seconds."""

    def __init__(self, pid: int, interval: float):
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self.start_rss = None
        self.cpu_s = 0.0
        self.samples = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self.sample()
        self.start_rss = self.peak_rss
        self._thread.start()

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self):
        with self._lock:
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            rss, cpu = 0, 0.0
            for p in procs:
                try:
                    with p.oneshot():
                        rss += p.memory_info().rss
                        t = p.cpu_times()
                except psutil.NoSuchProcess:
                    continue  # ended between listing and reading
                # A process that ended is in the children_* of the live one that reaped it, and
                # no longer in the tree: each CPU second is counted once.
                cpu += t.user + t.system + t.children_user + t.children_system
            self.peak_rss = max(self.peak_rss, rss)
            self.cpu_s = cpu
            self.samples += 1

    def finish(self) -> dict:
        """The last sample (call while the kernel is still alive), then stop sampling."""
        self.sample()
        self._stop.set()
        # Memory no other process could share (USS), at the end: RSS less the pages of torch's
        # and Python's libraries, which thirty kernels on one hub hold once.
        uss = 0
        for p in [self.root, *self.root.children(recursive=True)]:
            try:
                uss += p.memory_full_info().uss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        hwm = None
        status = Path(f"/proc/{self.root.pid}/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
        return {
            "cpu_s": round(self.cpu_s, 2),
            "peak_rss_mb": round(self.peak_rss / MB),
            "kernel_hwm_mb": None if hwm is None else round(hwm / MB),
            "start_rss_mb": round(self.start_rss / MB),
            "end_uss_mb": round(uss / MB),
            "samples": self.samples,
        }


def kernelspec(root: Path) -> None:
    """A kernel that runs this interpreter, found first through JUPYTER_PATH."""
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "nasbench benchmark", "language": "python",
    }))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(root),
                                                               os.environ.get("JUPYTER_PATH")]))


def run_notebook(path: Path, interval: float, timeout: int) -> dict:
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="bench-nb-") as cwd:
        (Path(cwd) / "recorded").symlink_to(NOTEBOOKS / "recorded")   # the runs 03, 04, 10 and 11 replay
        client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL,
                                resources={"metadata": {"path": cwd}})
        state: dict = {}

        def started(**_):
            state["monitor"] = TreeMonitor(client.km.provisioner.pid, interval)
            state["monitor"].start()
            state["t0"] = time.perf_counter()

        last = max(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip())

        def cell_done(cell_index, **_):   # after the cell's reply
            state["monitor"].sample()
            if cell_index == last:   # the kernel is still alive here
                state["wall_s"] = round(time.perf_counter() - state["t0"], 1)
                state["result"] = state["monitor"].finish()

        client.on_notebook_start = started
        client.on_cell_executed = cell_done
        load_before = os.getloadavg()[0]
        t = time.perf_counter()
        error = None
        try:
            client.execute()
        except Exception as e:   # a failing notebook is reported, the others still run
            error = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
        total = time.perf_counter() - t
    result = state.get("result") or (state["monitor"].finish() if "monitor" in state else {})
    return {
        "notebook": path.stem,
        "wall_s": state.get("wall_s"),
        "with_kernel_start_s": round(total, 1),
        **result,
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "error": error,
    }


def table(rows: list[dict], mode: str) -> str:
    head = ("| notebook | mode | wall s | CPU s | CPU/wall | peak RSS MB | kernel HWM MB | "
            "end USS MB | load |")
    lines = [head, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if r.get("error"):
            lines.append(f"| `{r['notebook']}` | {mode} | failed: {r['error']} |")
            continue
        ratio = r["cpu_s"] / r["wall_s"] if r["wall_s"] else float("nan")
        lines.append(
            f"| `{r['notebook']}` | {mode} | {r['wall_s']} | {r['cpu_s']} | {ratio:.2f} | "
            f"{r['peak_rss_mb']} | {r['kernel_hwm_mb']} | {r['end_uss_mb']} | "
            f"{r['load_before']}-{r['load_after']} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="names such as 00_tour (default: all)")
    parser.add_argument("--smoke", action="store_true", help="run with NASBENCH_SMOKE=1")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between samples")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "notebooks.json")
    args = parser.parse_args(argv)

    paths = ([NOTEBOOKS / f"{n.removesuffix('.ipynb')}.ipynb" for n in args.notebooks]
             or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
    if args.smoke:
        os.environ["NASBENCH_SMOKE"] = "1"
    else:
        os.environ.pop("NASBENCH_SMOKE", None)
    mode = "smoke" if args.smoke else "default"

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-jupyter-") as jupyter:
        kernelspec(Path(jupyter))
        for path in paths:
            print(f"== {path.stem} ({mode})", flush=True)
            rows.append(run_notebook(path, args.interval, args.timeout))
            print(json.dumps(rows[-1]), flush=True)

    print(table(rows, mode))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "mode": mode,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor(), "python": platform.python_version(),
                    "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)},
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        "notebooks": rows,
    }, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
