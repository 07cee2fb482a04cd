"""The tracker: a foreign loop's values become schema events, bad ones are refused in one line
before anything is written, and the `with` block ends the log whatever happens."""
import json
import math

import numpy as np
import pytest
import torch

from nasbench.events import read_events, validate
from nasbench.spaces import get_space
from nasbench.tracker import Tracker, TrackerError

SPACE = {"layer0": ["conv", "skip"], "layer1": ["conv", "pool", "skip"]}


def test_a_loop_writes_a_valid_log_and_summary(tmp_path):
    seen = []
    with Tracker(tmp_path / "run", space=SPACE, method="mine", config={"lr": 0.1, "path": tmp_path},
                 callbacks=[seen.append]) as run:
        run.sample(0, [1, 2])
        run.step(0, torch.tensor(2.5), acc=np.float32(0.25), lr=0.1)
        run.alpha(0, [[0.3, 0.7], [0.2, 0.3, 0.5]], logits=False)
        run.metric(0, "entropy", 0.9)
        run.genotype(0, {"layer0": "skip", "layer1": 0})
        run.eval([0, 1], 0.5, "valid_acc", step=0, truth=0.6)
    events = read_events(tmp_path / "run" / "events.jsonl")
    assert validate(events) == [] and events == seen
    assert [e["type"] for e in events] == ["run_start", "sample", "step", "alpha", "metric", "genotype",
                                           "eval", "run_end"]
    assert events[1]["arch"] == "layer0=skip,layer1=skip" and events[5]["choices"] == [1, 0]
    assert events[2]["loss"] == 2.5 and events[2]["acc"] == 0.25
    assert events[0]["config"]["path"] == str(tmp_path)  # odd config values become strings
    assert events[-1]["status"] == "completed" and events[-1]["best"] == "layer0=skip,layer1=conv"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["best_choices"] == [1, 0] and summary["steps"] == 1


def test_logits_are_softmaxed_per_row_probabilities_kept():
    got = []
    run = Tracker(None, space=SPACE, callbacks=[got.append])
    rows = [torch.tensor([0.0, math.log(3)], dtype=torch.float64), torch.tensor([1.0, 2.0, 3.0])]
    run.alpha(0, rows, logits=True)  # ragged: a list of 1-D tensors
    e = [math.exp(1), math.exp(2), math.exp(3)]
    assert got[-1]["probs"] == [[0.25, 0.75], [round(v / sum(e), 6) for v in e]]  # by hand
    run.alpha(1, [np.array([0.25, 0.75]), [0.2, 0.3, 0.5]], logits=False)
    assert got[-1]["probs"] == [[0.25, 0.75], [0.2, 0.3, 0.5]]


def test_one_hot_masks_index_lists_and_dicts_give_the_same_path():
    got = []
    run = Tracker(None, space=SPACE, callbacks=[got.append])
    run.sample(0, [[0, 1], [0, 0, 1]])
    run.sample(1, [torch.tensor([False, True]), torch.tensor([False, False, True])])
    run.sample(2, torch.tensor([1, 2]))
    run.sample(3, {"layer1": "skip", "layer0": "skip"})
    assert [e["choices"] for e in got[1:]] == [[1, 2]] * 4


def test_a_2d_tensor_of_darts_alphas_fits_our_darts_space():
    got = []
    run = Tracker(None, space="darts", callbacks=[got.append])
    normal, reduce = torch.randn(14, 8), torch.randn(14, 8)
    run.alpha(0, torch.cat([normal, reduce]), logits=True)
    expected = torch.softmax(torch.cat([normal, reduce]), dim=-1)
    assert np.allclose(got[-1]["probs"], expected.numpy(), atol=1e-6)
    assert got[0]["space"] == get_space("darts").describe()


@pytest.mark.parametrize("call, words", [
    (lambda r: r.alpha(0, [[0.5, 0.5], [0.5, 0.5]], logits=False), "row 1 (layer1) has 2 values"),
    (lambda r: r.alpha(0, [[0.5, 0.5]], logits=True), "one row per decision (2), got 1 rows"),
    (lambda r: r.alpha(0, [[2.0, 1.0], [1.0, 1.0, 1.0]], logits=False), "pass logits=True"),
    (lambda r: r.alpha(0, [[0.5, float("nan")], [1.0, 1.0, 1.0]], logits=True), "not a finite number"),
    (lambda r: r.alpha(0, [[0.5, 0.5], [0.2, 0.3, 0.5]], logits=None), "say what alpha holds"),
    (lambda r: r.sample(0, [0, 3]), "choice 3 for decision 'layer1'"),
    (lambda r: r.sample(0, [0]), "one choice per decision: 2, got 1"),
    (lambda r: r.sample(0, [[1, 1], [0, 0, 1]]), "not one-hot"),
    (lambda r: r.sample(0, {"layer0": "conv", "layer1": "conv3x3"}), "unknown option 'conv3x3'"),
    (lambda r: r.sample(0, {"layer0": 0, "layer9": 0}), "unknown decision 'layer9'"),
    (lambda r: r.sample(0, [0, 1], purpose="warmup"), "purpose must be one of"),
    (lambda r: r.step(0, float("inf")), "the weights loss at step 0 is inf"),
    (lambda r: r.step(-1, 1.0), "step must be a non-negative integer"),
    (lambda r: r.metric(0, "reward", torch.tensor(float("nan"))), "metric 'reward' is nan"),
    (lambda r: r.eval([0, 0], 0.5, "acc", rank=3), "eval has no field 'rank'"),
])
def test_bad_values_get_one_line_errors_and_leave_the_log_valid(tmp_path, call, words):
    run = Tracker(tmp_path / "run", space=SPACE)
    with pytest.raises(TrackerError) as error:
        call(run)
    assert words in str(error.value) and "\n" not in str(error.value), str(error.value)
    run.end()
    assert validate(read_events(tmp_path / "run" / "events.jsonl")) == []


@pytest.mark.parametrize("space, words", [
    ({}, "one option list per decision"),
    ({"a": []}, "non-empty list of distinct strings"),
    ({"a": ["x", "x"]}, "distinct strings"),
    (42, "describe the space"),
])
def test_bad_spaces_are_named(space, words):
    with pytest.raises(TrackerError, match=words):
        Tracker(None, space=space)


def test_an_exception_ends_the_log_as_failed_and_goes_on(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with Tracker(tmp_path / "run", space=SPACE) as run:
            run.step(0, 1.0)
            1 / 0
    events = read_events(tmp_path / "run" / "events.jsonl")
    assert validate(events) == []
    assert events[-1]["status"] == "failed" and events[-1]["error"] == "ZeroDivisionError: division by zero"


def test_ctrl_c_ends_the_log_as_interrupted_with_the_best_so_far(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with Tracker(tmp_path / "run.jsonl", space=SPACE) as run:
            run.genotype(3, [1, 1])
            raise KeyboardInterrupt
    events = read_events(tmp_path / "run.jsonl")
    assert validate(events) == [] and events[-1]["status"] == "interrupted"
    assert events[-1]["best"] == "layer0=skip,layer1=pool"
    with pytest.raises(TrackerError, match="the run has ended"):
        run.step(4, 1.0)


def test_an_existing_log_is_not_overwritten_silently(tmp_path):
    Tracker(tmp_path / "run", space=SPACE).end()
    with pytest.raises(TrackerError, match="already holds a run"):
        Tracker(tmp_path / "run", space=SPACE)
    Tracker(tmp_path / "run", space=SPACE, overwrite=True).end()


def test_it_needs_nothing_else_of_nasbench(tmp_path):
    """The foreign SPOS example, run whole: afterwards no nasbench module but the tracker and the
    event schema was ever imported (no Search base, spaces, data or views)."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    code = ("import runpy, sys\n"
            f"sys.argv = ['foreign_spos.py', '--out', {str(tmp_path / 'run')!r}, '--steps', '3', '--paths', '2']\n"
            "runpy.run_path('examples/foreign_spos.py', run_name='__main__')\n"
            "print(sorted(m for m in sys.modules if m.startswith('nasbench')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "['nasbench', 'nasbench.events', 'nasbench.tracker']"
    assert validate(read_events(tmp_path / "run" / "events.jsonl")) == []
