"""benchmarks/bench_notebooks.py's monitor: peak memory and CPU seconds of a process tree, checked
against what the processes themselves say they used."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "bench_notebooks", REPO_ROOT / "benchmarks" / "bench_notebooks.py")
bench_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_notebooks)

HELD_MB = 300

# A child that touches HELD_MB MiB, holds them while it burns a second of CPU, then reports its
# own CPU seconds and exits. Its parent waits for it (reaping it), reports its own CPU seconds
# and waits on stdin for the test to take the last sample.
CHILD = f"""
import time
block = bytearray({HELD_MB} * 2**20)
block[::4096] = b"1" * len(range(0, len(block), 4096))   # touch every page: resident
start = time.process_time()
while time.process_time() - start < 1.0:
    pass
time.sleep(0.5)
print(time.process_time())
"""
PARENT = f"""
import json, subprocess, sys, time
child = subprocess.run([sys.executable, "-c", {CHILD!r}], capture_output=True, text=True)
print(json.dumps({{"child": float(child.stdout), "parent": time.process_time()}}), flush=True)
sys.stdin.readline()
"""


def test_monitor_counts_a_reaped_child_once_and_sees_its_memory():
    proc = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        monitor = bench_notebooks.TreeMonitor(proc.pid, interval=0.05)
        monitor.start()
        said = json.loads(proc.stdout.readline())   # the child has ended and been reaped
        result = monitor.finish()
    finally:
        proc.communicate("\n", timeout=60)
    # The child was sampled while it ran and again, after its end, in its parent's rusage:
    # counted once, the total is what the two processes report, not the child's twice.
    assert abs(result["cpu_s"] - (said["child"] + said["parent"])) < 0.3, (result, said)
    # The tree's peak holds the child's block (the parent alone is a few MB).
    assert HELD_MB <= result["peak_rss_mb"] < HELD_MB + 100, result


def test_a_notebook_runs_where_it_finds_the_recorded_runs(tmp_path, monkeypatch):
    """Notebooks 03, 04, 10 and 11 replay `recorded/...` from their folder; the benchmark runs
    each in a scratch folder, which must hold them too (it once did not, and those four failed)."""
    import nbformat
    monkeypatch.setenv("JUPYTER_PATH", "")
    bench_notebooks.kernelspec(tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import os\nassert os.path.isfile('recorded/collapse/darts-seed0/events.jsonl')\nprint('found')")]
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    row = bench_notebooks.run_notebook(path, interval=0.5, timeout=120)
    assert row["error"] is None, row["error"]
