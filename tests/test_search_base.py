"""The search base through random search with weight sharing: determinism, interrupts, NaN,
checkpoints and resume, callbacks, configuration errors."""
import json

import numpy as np
import pytest
import torch

from nasbench import data as datasets
from nasbench.events import read_events, validate
from nasbench.methods import ConfigError, get_method, make_config
from nasbench.methods.random_ws import RandomSearchWS, RandomWSConfig

TINY = dict(epochs=2, C=4, layers=1, batch_size=32, n_candidates=4, eval_batches=1, n_top=2)


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", n_train=256, seed=0)


def run(digits, out=None, callbacks=(), seed=0, **kw):
    search = RandomSearchWS("nb201-small", digits, seed=seed, out=out, callbacks=callbacks,
                            progress=False, device="cpu", **{**TINY, **kw})
    return search, search.run()


def strip_times(events):
    return [{k: v for k, v in e.items() if k not in ("t", "wall")} for e in events]


def test_same_seed_same_events_other_seed_other_events(digits):
    _, a = run(digits)
    _, b = run(digits)
    _, c = run(digits, seed=1)
    assert a.status == "completed" and validate(a.events) == []
    assert strip_times(a.events) == strip_times(b.events)
    assert strip_times(a.events) != strip_times(c.events)


def test_events_follow_the_algorithm(digits):
    search, result = run(digits)
    kinds = [e["type"] for e in result.events]
    steps = search.steps_per_epoch * TINY["epochs"]
    assert kinds.count("sample") == kinds.count("step") == steps == result.steps
    evals = [e for e in result.events if e["type"] == "eval"]
    partial = [e for e in evals if e["metric"] == "valid_acc_shared_partial"]
    full = [e for e in evals if e["metric"] == "valid_acc_shared"]
    assert len(partial) == TINY["n_candidates"] and len(full) == TINY["n_top"]
    # the top-n re-scored are the n best partial scores, and the result is the best full score
    top = sorted(partial, key=lambda e: -e["score"])[: TINY["n_top"]]
    assert [e["arch"] for e in full] == [e["arch"] for e in top]
    assert result.best == max(full, key=lambda e: e["score"])["arch"]
    # sampled paths are uniform over the space: every decision sees more than one option
    choices = np.array([e["choices"] for e in result.events if e["type"] == "sample"])
    assert all(len(set(col)) > 1 for col in choices.T)


def test_only_the_sampled_path_is_updated(digits):
    """With unsampled="none" the weights of candidates off the sampled path stay bit-identical
    through a step (the official mode, which moves them, is tested in test_random_ws.py)."""
    search = RandomSearchWS("nb201-small", digits, progress=False, device="cpu", unsampled="none", **TINY)
    search._seed_everything()
    search.setup()
    before = {k: v.clone() for k, v in search.supernet.state_dict().items()}
    samples = []
    search.callbacks.append(lambda e: samples.append(e["choices"]) if e["type"] == "sample" else None)
    search.config.steps = 1
    search.train_epoch(0)
    assert len(samples) == 1
    chosen = samples[0]
    after = search.supernet.state_dict()
    for name, value in after.items():
        if ".candidates." in name:
            edge, cand = int(name.split(".edges.")[1].split(".")[0]), int(name.split(".candidates.")[1].split(".")[0])
            if cand != chosen[edge]:
                assert torch.equal(before[name], value), name


def test_interrupt_keeps_the_log_and_the_best_so_far(digits, tmp_path):
    seen = []

    def stop_during_selection(event):
        seen.append(event)
        if event["type"] == "eval" and sum(e["type"] == "eval" for e in seen) == 3:
            raise KeyboardInterrupt

    _, result = run(digits, out=tmp_path, callbacks=[stop_during_selection])
    assert result.status == "interrupted"
    events = read_events(tmp_path / "events.jsonl")
    assert validate(events) == []
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "interrupted"
    evals = [e for e in events if e["type"] == "eval"]
    assert result.best == max(evals, key=lambda e: e["score"])["arch"] == events[-1]["best"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["best"] == result.best


def test_non_finite_loss_fails_the_run_with_a_clear_message(digits, tmp_path):
    class Exploding(RandomSearchWS):
        def train_epoch(self, epoch):
            for x, y in self.batches():
                self.log_step("weights", torch.tensor(float("nan")))

    search = Exploding("nb201-small", digits, out=tmp_path, progress=False, device="cpu", **TINY)
    result = search.run()
    assert result.status == "failed"
    assert "loss became nan at step 0" in result.error
    events = read_events(tmp_path / "events.jsonl")
    assert validate(events) == [] and events[-1]["status"] == "failed"


def test_a_huge_learning_rate_ends_as_failed_not_as_a_crash(digits):
    _, result = run(digits, lr=1e30, grad_clip=1e30)
    assert result.status == "failed" and "loss became" in result.error


def test_resume_after_an_interrupt_gives_the_uninterrupted_run(digits, tmp_path):
    _, full = run(digits, out=tmp_path / "full")
    stop_at = full.steps - 2  # inside the last epoch, after the first checkpoint

    def stop(event):
        if event["type"] == "step" and event["step"] == stop_at:
            raise KeyboardInterrupt

    _, cut = run(digits, out=tmp_path / "cut", callbacks=[stop])
    assert cut.status == "interrupted" and (tmp_path / "cut" / "checkpoint.pt").exists()
    replayed = []
    search = RandomSearchWS("nb201-small", digits, out=tmp_path / "cut", resume=True, progress=False,
                            device="cpu", callbacks=[replayed.append], **TINY)
    resumed = search.run()
    assert resumed.status == "completed"
    events = read_events(tmp_path / "cut" / "events.jsonl")
    assert strip_times(events) == strip_times(full.events)
    assert len(replayed) == len(events), "a view attached on resume sees the whole run"
    assert resumed.best == full.best


def test_callbacks_get_every_event(digits):
    got = []
    _, result = run(digits, callbacks=[got.append], epochs=1)
    assert got == result.events


@pytest.mark.parametrize("overrides, message", [
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"epochs": -3}, "epochs must be a positive integer"),
    ({"steps": 0}, "steps must be a positive integer"),
    ({"bogus": 1}, "unknown setting 'bogus'"),
    ({"batch_size": 100_000}, "larger than the training split"),
])
def test_bad_settings_are_named(digits, overrides, message):
    with pytest.raises(ConfigError, match=message):
        RandomSearchWS("nb201-small", digits, progress=False, **overrides)


def test_presets_and_devices():
    assert make_config(RandomWSConfig, "paper").epochs == 150
    assert make_config(RandomWSConfig, "cpu").epochs < 150
    with pytest.raises(ConfigError, match="unknown preset"):
        make_config(RandomWSConfig, "gpu-cluster")
    with pytest.raises(ConfigError, match="unknown device"):
        get_method("random")("nb201-small", "digits", device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA"):
            get_method("random")("nb201-small", "digits", device="cuda")


def test_steps_cap_the_run(digits):
    _, result = run(digits, steps=3)
    assert result.steps == 3
    assert sum(e["type"] == "step" for e in result.events) == 3


def test_a_later_stage_extends_the_same_valid_log(digits, tmp_path):
    search, first = run(digits, out=tmp_path, epochs=1)
    assert first.status == "completed"

    def stage():  # e.g. SPOS's evolution run again after training
        for choices in [(3, 3, 3), (1, 1, 1)]:
            search.log_eval(choices, 0.99 if choices == (3, 3, 3) else 0.1, "valid_acc_shared")
        search.log_genotype((3, 3, 3))
        return "stage result"

    second, value = search.extend(stage)
    assert value == "stage result" and second.status == "completed"
    events = read_events(tmp_path / "events.jsonl")
    assert validate(events) == [], "exactly one run_end, at the end"
    assert strip_times(events) == strip_times(search.events)
    assert events[-1]["best"] == search.space.encode((3, 3, 3)) == second.best
    assert [e["type"] for e in events[-4:]] == ["eval", "eval", "genotype", "run_end"]
    assert events[-2]["type"] == "genotype" and events[-1]["type"] == "run_end"
    assert json.loads((tmp_path / "summary.json").read_text())["best"] == second.best
    assert all(b["t"] >= a["t"] for a, b in zip(events, events[1:]))
    with pytest.raises(RuntimeError, match="call run"):
        RandomSearchWS("nb201-small", digits, progress=False, **TINY).extend(stage)
