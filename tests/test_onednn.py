"""The oneDNN guard (docs/onednn.md): no method reaches the corrupting kernel, on any CPU.

torch 2.14.1's oneDNN corrupts the heap in the backward pass of 1x1, stride-2 convolutions on
channels-last tensors when it runs its AVX2 kernels. `DNNL_MAX_CPU_ISA=AVX2` makes oneDNN pick
those kernels on any CPU that has AVX2 (conftest.py sets it for the whole suite), so the CPUs
that crash for students are what these tests run on, whatever CPU CI happens to have.

- The raw repro still corrupts (when a torch upgrade fixes it, a test says the guard can go).
- GuardedConv2d gives nn.Conv2d's values and gradients, in every layout.
- The canary: every registered method at tiny sizes, in a subprocess of its own, through the
  library's data path and backward pass, with every strided 1x1 convolution that reaches ATen
  recorded: a native crash or such a convolution fails the test that names the method, with the
  process's stderr.
- DARTS at C=2, interrupted by SIGINT and resumed, gives the uninterrupted run's events.
"""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from nasbench import data as datasets
from nasbench.events import read_events
from nasbench.methods import METHODS, ConfigError, get_method
from nasbench.ops import GuardedConv2d

ROOT = Path(__file__).resolve().parents[1]
HAS_AVX2 = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")
ENV = {**os.environ, "DNNL_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

RAW_REPRO = """
import torch
conv = torch.nn.Conv2d(4, 2, 1, stride=2, bias=False)
for _ in range(300):
    x = torch.randn(32, 4, 8, 8).contiguous(memory_format=torch.channels_last).requires_grad_()
    conv(torch.relu(x)).sum().backward()
"""


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.mark.skipif(not HAS_AVX2, reason="oneDNN's AVX2 kernels need an AVX2 CPU")
def test_the_raw_repro_still_corrupts_so_the_guard_is_still_needed():
    """If this fails, the installed torch no longer crashes on the issue's ten lines: check the
    numbers too, then the guard (GuardedConv2d, the NCHW data) and this test can go."""
    runs = [subprocess.run([sys.executable, "-c", RAW_REPRO], env=ENV, capture_output=True,
                           text=True, timeout=300) for _ in range(3)]
    crashed = [r for r in runs if r.returncode != 0]
    assert crashed, (f"torch {torch.__version__} ran the raw repro 3 times without a crash under "
                     f"DNNL_MAX_CPU_ISA=AVX2: the oneDNN bug may be fixed (docs/onednn.md)")
    assert crashed[0].returncode < 0 or crashed[0].returncode >= 128, tail(crashed[0].stderr)


@pytest.mark.parametrize("stride", [2, 3])
@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("channels_last", [False, True])
def test_guarded_conv_gives_nn_conv_values_and_gradients(stride, size, channels_last):
    torch.manual_seed(size * stride)
    conv = nn.Conv2d(3, 5, 1, stride, bias=True)
    guarded = GuardedConv2d(3, 5, 1, stride, bias=True)
    guarded.load_state_dict(conv.state_dict())  # same parameters, same keys
    x = torch.randn(4, 3, size, size)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def run(module):
        xi = x.clone().requires_grad_()
        y = module(xi)
        (y * torch.arange(y.numel()).reshape(y.shape).sin()).sum().backward()
        return y, xi.grad, module.weight.grad, module.bias.grad

    got = run(guarded)
    # the reference: nn.Conv2d with oneDNN off (the plain im2col convolution). With oneDNN on,
    # this very conv is the corrupting kernel under the suite's AVX2 cap.
    with torch.backends.mkldnn.flags(enabled=False):
        want = run(conv)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs", [{}, {"size": 16, "noise": 0.1}, {"n_train": 100}])
def test_loaded_data_have_plain_nchw_strides(kwargs):
    """Digits are one-channel: a stride of 0 on that axis reads as channels-last to torch, and
    every convolution of the run would then be channels-last."""
    ds = datasets.load("digits", **kwargs)
    for split in (ds.train, ds.valid, ds.test):
        n, c, h, w = split.x.shape
        assert split.x.stride() == (c * h * w, h * w, w, 1)
        x, _ = next(split.batches(8))
        assert x.stride() == (c * h * w, h * w, w, 1)


# -- the canary ------------------------------------------------------------------------------
CANARY = """
import json, sys
from nasbench.methods import get_method
from nasbench.onednn import StridedPointwiseWatch
name, space, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
search = get_method(name)(space, progress=False, **settings)
with StridedPointwiseWatch() as watch:
    result = search.run()
print(json.dumps({"status": result.status, "steps": result.steps, "strided_1x1": watch.found[:5],
                  "n_strided_1x1": len(watch.found)}))
"""
CELL_SPACES = ("darts", "nb201")
# tiny: 8x8 digits, batches of 32 (the crash's shape), a few steps, C=2 where the method allows
TINY = {"C": 2, "layers": 3, "batch_size": 32, "n_train": 192, "steps": 4, "epochs": 2,
        "ghost_batch": 16, "n_candidates": 2, "eval_batches": 1, "n_top": 1, "kl_examples": 16,
        "population": 3, "generations": 1, "parents": 2, "mutations": 1, "crossovers": 1,
        "recal_batches": 1, "warmup_epochs": 1}
TINY_FOR = {"pc-darts": {"C": 8}}  # C/K channels per edge, K=4, even on the DARTS cell


def canary_cases():
    """(method, space, settings) for every registered method: both cell spaces where the method
    searches cells, its CPU space otherwise; first and second order where it has both."""
    for name in sorted(METHODS):
        cls = get_method(name)
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        settings = {k: v for k, v in {**TINY, **TINY_FOR.get(name, {})}.items() if k in fields}
        default = cls.default_space if isinstance(cls.default_space, str) else cls.default_space["cpu"]
        can = cls.spaces or CELL_SPACES  # (an empty `spaces`: the method searches any space)
        spaces = [s for s in CELL_SPACES if s in can] if default.split(":")[0] in CELL_SPACES else [default]
        orders = [None]
        if "order" in fields:
            orders = []
            for order in (1, 2):
                try:
                    cls.Config(**{**settings, "order": order}).validate()
                    orders.append(order)
                except ConfigError:
                    pass
        for space in spaces:
            for order in orders:
                extra = {} if order is None else {"order": order}
                label = f"{name}-{space}" + (f"-order{order}" if order else "")
                yield pytest.param(name, space, {**settings, **extra}, id=label)


@pytest.mark.slow
@pytest.mark.parametrize("name,space,settings", list(canary_cases()))
def test_canary_method_never_reaches_the_corrupting_kernel(name, space, settings):
    proc = subprocess.run([sys.executable, "-c", CANARY, name, space, json.dumps(settings)],
                          env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (f"{name} on {space} died with exit status {proc.returncode} "
                                  f"(negative: killed by that signal); its stderr:\n{tail(proc.stderr)}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["status"] == "completed" and report["steps"] > 0, report
    assert report["n_strided_1x1"] == 0, (f"{name} on {space} ran {report['n_strided_1x1']} strided "
                                          f"1x1 convolutions outside GuardedConv2d: {report['strided_1x1']}")


def test_the_canary_covers_every_registered_method():
    assert {case.values[0] for case in canary_cases()} == set(METHODS)


@pytest.mark.slow
def test_darts_at_c2_interrupted_and_resumed_gives_the_uninterrupted_events(tmp_path):
    """The issue's corruption changed the fifth event's loss of a resumed DARTS run (C=2, 3
    cells); with the guard the resumed log equals the uninterrupted one, event for event."""
    from test_method_contract import interrupt, strip_times

    args = ["run", "darts", "--epochs", "2", "--seed", "3", "--quiet", "--set", "C=2",
            "--set", "layers=3", "--set", "n_train=128", "--set", "batch_size=32"]
    cli = [sys.executable, "-m", "nasbench.cli"]
    full, cut = tmp_path / "full", tmp_path / "cut"
    done = subprocess.run([*cli, *args, "--out", str(full)], env=ENV, cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, tail(done.stderr)
    returncode, rest = interrupt([*args, "--out", str(cut)], ENV)
    assert returncode > 0 and "run interrupted" in rest, tail(rest)
    assert read_events(cut / "events.jsonl")[-1]["status"] == "interrupted"
    resumed = subprocess.run([*cli, *args, "--out", str(cut), "--resume"], env=ENV, cwd=ROOT,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, tail(resumed.stderr)
    events = strip_times(read_events(full / "events.jsonl"))
    assert strip_times(read_events(cut / "events.jsonl")) == events
    assert sum(e["type"] == "step" for e in events) >= 8
