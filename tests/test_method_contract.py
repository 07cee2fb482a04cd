"""Every registered method (read from METHODS when the tests run, so methods added later are held
to it too) keeps the run contract: the same seed gives the same events (timings aside). A real
SIGINT to `nasbench run` then `--resume` is proven in test_resume_proof.py (the interrupted log,
its exit code, the state resumed from, the steps run, the final events); this file keeps the
paused child it and test_onednn.py start."""
import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nasbench.cli import main
from nasbench.events import read_events, validate
from nasbench.methods import METHODS, get_method

ROOT = Path(__file__).resolve().parents[1]

# the smallest settings, applied where a method has the field: 2 epochs of 2 steps
TINY = {"C": 4, "layers": 1, "n_train": 64, "batch_size": 16, "ghost_batch": 8,
        "n_candidates": 3, "eval_batches": 1, "n_top": 1, "kl_examples": 16, "population": 3,
        "generations": 1, "parents": 2, "mutations": 1, "crossovers": 1, "recal_batches": 1,
        "warmup_epochs": 1,
        # hardware-aware methods: a batch-1 latency table, quiet enough to be cached on a loaded
        # machine (the batch-256 default can stay noisy there, and an uncached table is measured
        # again by the second run); this test is about the loop, latency.py's tests the table
        "latency_batch": 1}
# where a method cannot take the smallest value (PC-DARTS: C/K even on the DARTS cell)
TINY_FOR = {"pc-darts": {"C": 8}}

# `nasbench run`, paused (sleeping) at its first weight step after the first checkpoint, so the
# SIGINT always lands inside the second epoch
PAUSED_RUN = """
import signal, sys, time
from pathlib import Path
# Ctrl-C as in a terminal, even when the suite was started in the background (a shell starts
# background jobs with SIGINT ignored, and Python then never raises KeyboardInterrupt)
signal.signal(signal.SIGINT, signal.default_int_handler)
from nasbench.methods import base
out = Path(sys.argv[sys.argv.index("--out") + 1])
log_step = base.Search.log_step
def pausing(self, *args, **kwargs):
    log_step(self, *args, **kwargs)
    if (out / "checkpoint.pt").exists() and not getattr(self, "_paused", False):
        self._paused = True
        print("PAUSED", file=sys.stderr, flush=True)
        time.sleep(120)
base.Search.log_step = pausing
from nasbench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def interrupt(args, env=None) -> tuple[int, str]:
    """`nasbench run ARGS` paused in its second epoch, then SIGINT: (exit status, its stderr)."""
    env = env or {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", PAUSED_RUN, *args], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert line.strip() == "PAUSED", line + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        # (a loaded 2-core machine once took over 60 s here; an ignored SIGINT would instead end
        # the 120 s pause and finish the run, and fail on its exit status)
        rest = proc.communicate(timeout=240)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, rest


def args_for(name, out):
    fields = {f.name for f in dataclasses.fields(get_method(name).Config)}
    tiny = {**TINY, **TINY_FOR.get(name, {})}
    sets = [a for k, v in tiny.items() if k in fields for a in ("--set", f"{k}={v}")]
    return ["run", name, "--epochs", "2", "--seed", "3", "--out", str(out), "--quiet", *sets]


def strip_times(events):
    return [{k: v for k, v in e.items() if k not in ("t", "wall")} for e in events]


@pytest.fixture(scope="module", params=sorted(METHODS))
def uninterrupted(request, tmp_path_factory):
    name = request.param
    out = tmp_path_factory.mktemp(name) / "full"
    assert main(args_for(name, out)) == 0
    return name, read_events(out / "events.jsonl")


def test_same_seed_same_events(uninterrupted, tmp_path):
    name, events = uninterrupted
    assert main(args_for(name, tmp_path / "again")) == 0
    again = strip_times(read_events(tmp_path / "again" / "events.jsonl"))
    assert again == strip_times(events)
    assert validate(events) == [] and sum(e["type"] == "step" for e in events) >= 4
