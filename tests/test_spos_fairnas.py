"""SPOS and FairNAS: sampling fairness from the event log, what a single-path step touches, and
FairNAS's accumulated gradient against independently computed single-path gradients."""
import copy
from collections import Counter

import numpy as np
import pytest
import torch
from scipy import stats

from nasbench import data as datasets
from nasbench.events import validate
from nasbench.methods import ConfigError, get_method, make_config
from nasbench.methods.spos import OFFICIAL_BINS, OFFICIAL_SPACE_FLOPS
from nasbench.methods.fairnas import strict_fair_paths
from nasbench.spaces import get_space

TINY = dict(C=4, batch_size=16, population=3, generations=1, parents=2, mutations=1, crossovers=1,
            recal_batches=1, progress=False)


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", n_train=200, seed=0)  # 100 train / 100 valid images


def counts_by_step(events, space):
    """{step: Counter((layer, choice))} from the `sample` events alone."""
    out = {}
    for e in events:
        if e["type"] == "sample":
            out.setdefault(e["step"], Counter()).update(enumerate(e["choices"]))
    return out


def gap(counts, space):
    """Most minus least updated candidate over every (layer, choice)."""
    values = [counts[(d, k)] for d, o in enumerate(space.options) for k in range(len(o))]
    return max(values) - min(values)


def test_fairnas_counts_are_equal_after_every_step(digits):
    run = get_method("fairnas")("chain-small", digits, steps=5, **TINY).run()
    assert run.status == "completed" and not validate(run.events)
    space = get_space("chain-small")
    per_step = counts_by_step(run.events, space)
    assert sorted(per_step) == list(range(5))
    total = Counter()
    for step in range(5):
        assert sum(per_step[step].values()) == 5 * 3          # m = 5 paths of 3 layers each
        total.update(per_step[step])
        assert gap(total, space) == 0 and total[(0, 0)] == step + 1


def test_spos_counts_are_unequal_over_few_steps(digits):
    run = get_method("spos")("chain-small", digits, steps=5, **TINY).run()
    space = get_space("chain-small")
    per_step = counts_by_step(run.events, space)
    assert [sum(c.values()) for c in per_step.values()] == [3] * 5  # one path per step
    assert gap(sum(per_step.values(), Counter()), space) > 0


def test_spos_counts_are_uniform_over_many_steps(digits):
    """Chi-square goodness of fit of the per-layer counts in the `sample` events of a 600-step run
    (a tiny network: only the sampling matters here)."""
    run = get_method("spos")("chain-small", digits, steps=600, **{**TINY, "C": 2, "batch_size": 4}).run()
    paths = np.array([e["choices"] for e in run.events if e["type"] == "sample"])  # (600, 3)
    assert paths.shape == (600, 3)
    for d in range(3):
        assert stats.chisquare(np.bincount(paths[:, d], minlength=5)).pvalue > 1e-3
    pairs = np.bincount(paths[:, 0] * 5 + paths[:, 1], minlength=25)  # layers drawn independently
    assert stats.chisquare(pairs).pvalue > 1e-3


def test_scaled_flops_bins_make_sampling_uniform_over_flops(digits):
    """flops_sampler="scaled": the 7 official bins moved onto this space's FLOPs range; each bin
    is drawn about equally often, which uniform paths are not (their FLOPs pile up in the middle)."""
    spos = get_method("spos")("chain-small", digits, flops_sampler="scaled", **TINY)
    spos._seed_everything()
    spos.setup()
    bins = spos.flops_bins()
    lo, hi = spos.flops.bounds
    a, b = OFFICIAL_SPACE_FLOPS
    assert len(bins) == 7 and bins[0][0] == pytest.approx(lo + (290e6 - a) / (b - a) * (hi - lo))
    assert bins[-1][1] == pytest.approx(lo + (360e6 - a) / (b - a) * (hi - lo))

    def bin_counts(paths):
        flops = np.array([spos.flops(p) for p in paths])
        return np.array([np.sum((flops >= l) & (flops <= r)) for l, r in bins])

    balanced = bin_counts(spos.sample_path() for _ in range(1400))
    uniform = bin_counts(spos.space.sample(spos.rng) for _ in range(1400))
    assert stats.chisquare(balanced).pvalue > 1e-3, balanced
    assert stats.chisquare(uniform).pvalue < 1e-6, uniform


def test_the_paper_preset_is_the_official_code(digits):
    """train.py: 150,000 iterations, bins 290-360 MFLOPs in steps of 10M on a 224x224 input."""
    config = make_config(get_method("spos").Config, "paper")
    assert config.steps == 150_000 and config.flops_sampler == "official"
    assert OFFICIAL_BINS == [(290e6, 300e6), (300e6, 310e6), (310e6, 320e6), (320e6, 330e6),
                             (330e6, 340e6), (340e6, 350e6), (350e6, 360e6)]
    assert make_config(get_method("fairnas").Config, "paper").steps is None
    with pytest.raises(ConfigError, match="flops_sampler"):
        make_config(get_method("spos").Config, "cpu", flops_sampler="bins")


def test_official_bins_on_the_official_space(digits):
    """On chain-shuffle (C=16) the official sampler draws every bin about equally often, its
    paths' FLOPs counted on 3x224x224; the space's cheapest and dearest paths there are the
    frame `scaled` uses."""
    spos = get_method("spos")("chain-shuffle", digits, preset="paper", **{**TINY, "C": 16})
    spos._seed_everything()
    cost = spos.bin_cost
    assert cost.bounds == OFFICIAL_SPACE_FLOPS
    flops = np.array([cost(spos.sample_path()) for _ in range(700)])
    counts = np.array([np.sum((flops >= l) & (flops <= r)) for l, r in OFFICIAL_BINS])
    assert counts.sum() == 700 and stats.chisquare(counts).pvalue > 1e-3, counts


def test_strict_fair_paths_cover_every_choice_once():
    space = get_space("chain-mbv2:per_stage=1")
    rng = np.random.default_rng(0)
    seen_orders = set()
    for _ in range(20):
        paths = strict_fair_paths(space, rng)
        assert len(paths) == 6
        for d in range(len(space.decisions)):
            assert sorted(p[d] for p in paths) == list(range(6))
        seen_orders.add(tuple(paths[0]))
    assert len(seen_orders) > 1  # the permutations are random, not a fixed schedule


class StepWatcher:
    """A callback that snapshots the supernet (and its optimizer) at the first `sample` event of a
    step, i.e. before that step's forward passes, and hands (before, paths) to `check` at the
    `step` event that follows the optimizer step."""

    def __init__(self, check):
        self.check, self.method, self.before, self.paths = check, None, None, []

    def __call__(self, event):
        if event["type"] == "sample":
            if not self.paths:
                self.before = {n: p.detach().clone() for n, p in self.method.supernet.named_parameters()}
                self.state = copy.deepcopy(self.method.supernet.state_dict())
            self.paths.append(tuple(event["choices"]))
        elif event["type"] == "step":
            self.check(self, event["step"])
            self.paths = []


def test_spos_step_leaves_unsampled_blocks_bit_identical(digits):
    """Momentum and weight decay included: after a few steps most blocks hold momentum buffers,
    yet a block off the current path does not move at all."""
    checked = []

    def check(w, step):
        (path,) = w.paths
        params = dict(w.method.supernet.named_parameters())
        buffers = w.method.optimizer.state
        for name, p in params.items():
            if not name.startswith("layers."):
                continue
            layer, block = int(name.split(".")[1]), int(name.split(".")[3])
            if block == path[layer]:
                assert not torch.equal(p, w.before[name]), name
            else:
                assert torch.equal(p, w.before[name]), name
                if step >= 5 and "momentum_buffer" in buffers.get(p, {}):
                    checked.append(name)

    watcher = StepWatcher(check)
    spos = get_method("spos")("chain-small", digits, steps=12, callbacks=[watcher], **TINY)
    watcher.method = spos
    assert spos.config.momentum > 0 and spos.config.weight_decay > 0
    assert spos.run().status == "completed"
    assert checked  # some unsampled blocks had momentum and still did not move


def record_batches(method, into):
    """Wrap `method.batches` so that every training batch it hands out is appended to `into`."""
    real = method.batches

    def recording(*args):
        for x, y in real(*args):
            into.append((x, y))
            yield x, y
    method.batches = recording


def test_fairnas_gradient_is_the_sum_of_single_path_gradients(digits):
    batches = []
    results = []

    def check(w, step):
        if step > 1:
            return
        x, y = batches[-1]
        net = copy.deepcopy(w.method.supernet)
        net.load_state_dict(w.state)          # the weights before this step
        expected = {n: torch.zeros_like(p) for n, p in net.named_parameters()}
        for path in w.paths:                  # each path on its own, from scratch
            net.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(net(x, choices=path), y)
            loss.backward()
            for n, p in net.named_parameters():
                if p.grad is not None:
                    expected[n] += p.grad
        for n, p in w.method.supernet.named_parameters():
            torch.testing.assert_close(p.grad, expected[n], rtol=1e-4, atol=1e-6)
        results.append(step)

    watcher = StepWatcher(check)
    fair = get_method("fairnas")("chain-small", digits, steps=2, callbacks=[watcher], **TINY)
    watcher.method = fair
    record_batches(fair, batches)
    assert fair.config.label_smoothing == 0.0  # the reference above uses plain cross-entropy
    assert fair.run().status == "completed"
    assert results == [0, 1]


def test_fairnas_updates_every_block_every_step(digits):
    def check(w, step):
        for name, p in w.method.supernet.named_parameters():
            assert not torch.equal(p, w.before[name]), name

    watcher = StepWatcher(check)
    fair = get_method("fairnas")("chain-small", digits, steps=3, callbacks=[watcher], **TINY)
    watcher.method = fair
    assert fair.run().status == "completed"


def test_fairnas_refuses_layers_with_different_choice_counts(digits):
    run = get_method("fairnas")("chain-mbv2:skip=1,per_stage=2,stages=2", digits, steps=1, **TINY)
    with pytest.raises(Exception, match="same number of choices"):
        run.run()


@pytest.mark.parametrize("name", ["spos", "fairnas"])
def test_cli_runs_on_the_cpu_preset(name, tmp_path, capsys):
    from nasbench.cli import main
    from nasbench.events import read_events
    out = tmp_path / name
    argv = ["run", name, "--steps", "2", "--quiet", "--out", str(out), "--set", "population=2",
            "--set", "generations=2", "--set", "recal_batches=1", "--set", "C=4"]
    assert main(argv) == 0
    events = read_events(out / "events.jsonl")
    assert not validate(events)
    assert events[0]["config"]["preset"] == "cpu"
    evals = [e for e in events if e["type"] == "eval"]
    assert {e["generation"] for e in evals} == {0, 1} and all("flops" in e for e in evals)


# -- what the second mutation run left open: the loss, the search settings, BN recalibration --------
def test_spos_step_loss_is_label_smoothed_cross_entropy(digits):
    """The official train.py's CrossEntropyLabelSmooth(0.1): each step's loss is
    -(1 - eps) log p_y - eps / K sum_k log p_k, averaged over the batch, written out here from
    the path's logits at the weights before the step."""
    batches, losses = [], []

    def check(w, step):
        (path,) = w.paths
        x, y = batches[-1]
        net = copy.deepcopy(w.method.supernet)
        net.load_state_dict(w.state)
        with torch.no_grad():
            logp = torch.log_softmax(net(x, choices=path), 1)           # (B, K)
        eps = 0.1
        by_hand = -((1 - eps) * logp[torch.arange(len(y)), y] + eps * logp.mean(1)).mean()
        losses.append((float(by_hand), step))

    watcher = StepWatcher(check)
    spos = get_method("spos")("chain-small", digits, steps=2, callbacks=[watcher], **{**TINY, "generations": 0})
    watcher.method = spos
    record_batches(spos, batches)
    assert spos.config.label_smoothing == 0.1
    events = spos.run().events
    logged = [e["loss"] for e in events if e["type"] == "step"]
    assert logged == pytest.approx([loss for loss, _ in losses], rel=1e-5) and len(logged) == 2


def test_one_generation_is_a_search(digits):
    """generations=1: the first population is scored and the best of it is returned."""
    run = get_method("spos")("chain-small", digits, steps=2, **TINY).run()
    evals = [e for e in run.events if e["type"] == "eval"]
    assert [e["generation"] for e in evals] == [0, 0, 0]          # population 3
    assert {e["metric"] for e in evals} == {"valid_acc_shared"}
    best = max(evals, key=lambda e: e["score"])
    assert run.best_choices == best["choices"]
    (top,) = [e["value"] for e in run.events if e["type"] == "metric" and e["name"] == "best_valid_acc_shared"]
    assert top == best["score"]
    assert [e["type"] for e in run.events[-3:]] == ["genotype", "metric", "run_end"]


def test_search_settings_and_the_flops_budget_reach_the_evolution(digits, monkeypatch):
    """Every search setting goes to `evolve` as set (none left at evolve's own defaults), with the
    budget lo + fraction * (hi - lo) over the FLOPs of every path of the space, counted here."""
    import nasbench.methods.spos as spos_module
    from nasbench.evaluate.cost import count_flops
    space = get_space("chain-small")
    flops = [count_flops(space.build(c, C=4, in_channels=1), (1, 8, 8)) for c in space.enumerate()]
    lo, hi = min(flops), max(flops)
    calls, real = [], spos_module.evolve

    def spy(*args, **kw):
        calls.append(kw)
        return real(*args, **kw)
    monkeypatch.setattr(spos_module, "evolve", spy)
    settings = dict(population=4, generations=2, parents=2, mutations=3, crossovers=2, mutation_prob=0.3,
                    flops_budget=0.4)
    run = get_method("spos")("chain-small", digits, steps=1, **{**TINY, **settings}).run()
    (kw,) = calls
    assert {k: kw.get(k) for k in settings if k != "flops_budget"} == {k: v for k, v in settings.items()
                                                                      if k != "flops_budget"}
    assert kw["budget"] == pytest.approx(lo + 0.4 * (hi - lo))
    evals = [e for e in run.events if e["type"] == "eval"]
    assert {e["generation"] for e in evals} == {0, 1}
    assert all(e["flops"] <= lo + 0.4 * (hi - lo) for e in evals)


def test_a_candidates_score_reestimates_bn_on_shuffled_training_batches(digits):
    """score(path) re-estimates BN for the path (the statistics the supernet holds do not
    matter), on training batches shuffled by the run's generator (the same generator state: the
    same statistics; another state: other ones); recalibrate=False scores with the statistics as
    they are and leaves them alone."""
    spos = get_method("spos")("chain-small", digits, steps=3, **{**TINY, "generations": 0, "recal_batches": 2})
    spos.run()
    path = (1, 3, 0)
    bn = [m for m in spos.supernet.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    stats = lambda: torch.cat([m.running_mean for m in bn] + [m.running_var for m in bn]).clone()  # noqa: E731
    state = spos.generator.get_state()
    first = spos.score(path)
    estimated = stats()
    with torch.no_grad():                                   # stale statistics, far off
        for m in bn:
            m.running_mean.add_(5.0)
            m.running_var.mul_(10.0)
    spos.generator.set_state(state)
    assert spos.score(path) == first
    assert torch.equal(stats(), estimated)
    spos.score(path)                                        # the generator has moved on
    assert not torch.equal(stats(), estimated)
    with torch.no_grad():
        for m in bn:
            m.running_mean.add_(5.0)
    held = stats()
    spos.score(path, recalibrate=False)
    assert torch.equal(stats(), held)


def test_search_again_after_the_run_extends_the_same_log(digits):
    """Train only (generations=0), then `search(generations=1, population=2)`: the overrides are
    used, and the log stays one valid run whose run_end comes after the new generation."""
    spos = get_method("spos")("chain-small", digits, steps=2, **{**TINY, "generations": 0})
    first = spos.run()
    assert not [e for e in first.events if e["type"] == "eval"]
    result = spos.search(generations=1, population=2)
    events = spos.events
    assert not validate(events)
    evals = [e for e in events if e["type"] == "eval"]
    assert [e["generation"] for e in evals] == [0, 0]
    assert result.best_score == max(e["score"] for e in evals)
    assert [e["type"] for e in events[-3:]] == ["genotype", "metric", "run_end"]
    assert events[-1]["best"] == events[-3]["arch"]


def test_a_search_stopped_by_ctrl_c_returns_the_best_scored_so_far(digits):
    """Stopped in generation 3, the run returns the best candidate of generations 0-2, the first
    of equal scores (scripted scores: 0.5 in generation 0, 0.7 in 1, 0.7 again and less in 2)."""
    spos = get_method("spos")("chain-small", digits, steps=1, **{**TINY, "generations": 4, "parents": 3,
                                                                  "mutations": 2, "crossovers": 1})
    scores = iter([0.1, 0.5, 0.2, 0.3, 0.7, 0.1, 0.7, 0.2, 0.3, 0.0, 0.0, 0.0])
    spos.score = lambda choices: next(scores)
    evals = []

    def stop(event):
        if event["type"] == "eval":
            if event["generation"] == 3:
                raise KeyboardInterrupt
            evals.append(event)
    spos.callbacks.append(stop)
    result = spos.run()
    assert result.status == "interrupted" and len(evals) == 9
    assert result.best_choices == evals[4]["choices"]      # 0.7, generation 1


def test_flops_bins_include_their_edges_and_allow_500_draws_before_falling_back(digits, monkeypatch):
    """train.py `get_uniform_sample_cand`: a path is taken for bin [l, r] when l <= FLOPs <= r; after
    500 uniform paths outside the bin, one more uniform path is returned (stubbed bin and costs)."""
    spos = get_method("spos")("chain-small", digits, flops_sampler="scaled", **TINY)
    spos._seed_everything()
    spos.setup()
    draws, real = [], spos.space.sample
    monkeypatch.setattr(spos.space, "sample", lambda rng: (draws.append(1), real(rng))[1])
    spos.flops_bins = lambda: [(10.0, 20.0)]
    for edge in (10.0, 20.0):
        monkeypatch.setattr(type(spos), "bin_cost", property(lambda self, edge=edge: lambda path: edge))
        draws.clear()
        spos.sample_path()
        assert len(draws) == 1, edge
    monkeypatch.setattr(type(spos), "bin_cost", property(lambda self: lambda path: 5.0))
    draws.clear()
    spos.sample_path()
    assert len(draws) == 501
