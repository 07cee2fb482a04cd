"""A resume that is proven, for every registered method: after a real SIGINT in the second epoch
and `nasbench run ... --resume`, the resumed process

- trains only the epochs after the checkpoint (its train_epoch never sees epoch 0) and emits
  exactly the `step` events the uninterrupted run had after it (counted as they are emitted);
- starts that epoch from the state the uninterrupted run had at the same point: every tracked
  module, optimiser and scheduler, the method's extra state, and all five RNG states, compared
  element by element with a fingerprint taken from the uninterrupted run (not from the file);
- ends with the uninterrupted run's events.

A resume that ignored the checkpoint and reran from step 0 would still end with the same events
(the run is deterministic); the first two checks are what catch it."""
import copy
import random

import numpy as np
import pytest
import torch

from nasbench.cli import EXIT_RUN_FAILED, main
from nasbench.events import read_events, validate
from nasbench.methods import METHODS, base, get_method
from test_method_contract import args_for, interrupt, strip_times


def fingerprint(search) -> dict:
    """Everything the next epoch depends on, copied."""
    return copy.deepcopy({
        "tracked": {k: v.state_dict() for k, v in search._tracked.items()},
        "extra": search.extra_state(), "step": search.step,
        "torch": torch.get_rng_state(), "generator": search.generator.get_state(),
        "numpy": search.rng.bit_generator.state, "python": random.getstate(),
        "numpy_global": base._plain(np.random.get_state()),
    })


def equal(a, b, where="") -> list[str]:
    """Paths where the nested structures a and b differ (tensors compared exactly)."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        ok = torch.is_tensor(a) and torch.is_tensor(b) and a.shape == b.shape and torch.equal(a, b)
        return [] if ok else [where]
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where} keys"]
        return [d for k in a for d in equal(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where} length"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in equal(x, y, f"{where}[{i}]")]
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return [] if np.array_equal(a, b) else [where]
    return [] if a == b else [where]


def watch(monkeypatch, name):
    """Record (epoch, fingerprint) at the start of every train_epoch and count emitted steps."""
    seen = {"epochs": [], "steps": 0}
    cls = get_method(name)
    train_epoch = cls.train_epoch

    def spy(self, epoch):
        seen["epochs"].append((epoch, fingerprint(self)))
        return train_epoch(self, epoch)
    monkeypatch.setattr(cls, "train_epoch", spy)
    emit = base.Search.emit

    def counting(self, type, **fields):
        seen["steps"] += type == "step"
        return emit(self, type, **fields)
    monkeypatch.setattr(base.Search, "emit", counting)
    return seen


@pytest.mark.parametrize("name", sorted(METHODS))
def test_resume_runs_only_the_rest_from_the_checkpoint_state(name, tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        full = watch(m, name)
        assert main(args_for(name, tmp_path / "full")) == 0
    events = read_events(tmp_path / "full" / "events.jsonl")
    assert [e for e, _ in full["epochs"]] == [0, 1]
    at_epoch_1 = full["epochs"][1][1]

    out = tmp_path / "cut"
    returncode, rest = interrupt(args_for(name, out))
    assert returncode == EXIT_RUN_FAILED, rest
    assert "run interrupted" in rest and "Traceback" not in rest, rest
    cut = read_events(out / "events.jsonl")
    assert validate(cut) == [] and cut[-1]["type"] == "run_end" and cut[-1]["status"] == "interrupted"
    saved = torch.load(out / "checkpoint.pt", weights_only=True)
    assert saved["next_epoch"] == 1 and saved["step"] == at_epoch_1["step"]
    assert equal(saved["tracked"], at_epoch_1["tracked"]) == [], "the checkpoint holds other weights"

    with monkeypatch.context() as m:
        resumed = watch(m, name)
        assert main([*args_for(name, out), "--resume"]) == 0
    assert [e for e, _ in resumed["epochs"]] == [1], "the resumed process trained other epochs"
    assert equal(resumed["epochs"][0][1], at_epoch_1) == [], "resumed from another state"
    remaining = sum(e["type"] == "step" and e["epoch"] >= 1 for e in events)
    assert resumed["steps"] == remaining > 0
    assert strip_times(read_events(out / "events.jsonl")) == strip_times(events)
