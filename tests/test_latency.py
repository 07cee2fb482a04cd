"""The latency model: the LUT's algebra against brute force, the cache, the CLI, and (loosely) that
the LUT sum predicts the measured latency of whole networks. No timing assertions."""
import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch

from nasbench.cli import main
from nasbench.evaluate import latency as lat
from nasbench.evaluate.latency import LatencyTable, latency_table, measure_latency_table, measure_model
from nasbench.spaces import get_space


def _table(space="chain-small", seed=0) -> LatencyTable:
    """A made-up table (no timing) with the shape of `space`."""
    space = get_space(space)
    rng = np.random.default_rng(seed)
    lut = [[float(v) for v in rng.uniform(0.1, 2.0, len(o))] for o in space.options]
    return LatencyTable(space=space.name, device="cpu", threads=1, torch_version=torch.__version__,
                        batch_size=1, lut=lut, spread=[[0.0] * len(r) for r in lut], base_ms=0.7)


def test_expected_latency_is_the_mean_over_every_architecture():
    space, table = get_space("chain-small"), _table()
    logits = [torch.randn(len(o)) for o in space.options]
    probs = [torch.softmax(a, 0) for a in logits]
    brute = 0.0  # E[LAT] by enumerating all 125 architectures and their probabilities
    for choices in itertools.product(*(range(len(o)) for o in space.options)):
        p_arch = float(np.prod([probs[d][c] for d, c in enumerate(choices)]))
        brute += p_arch * (table.base_ms + sum(table.lut[d][c] for d, c in enumerate(choices)))
    assert float(table.expected(probs)) == pytest.approx(brute, rel=1e-5)


def test_expected_latency_gradient_is_the_table():
    table = _table()
    probs = [torch.full((len(r),), 1.0 / len(r), requires_grad=True) for r in table.lut]
    table.expected(probs).backward()
    for p, row in zip(probs, table.lut):
        assert torch.allclose(p.grad, torch.tensor(row), atol=1e-6)


def test_predict_of_one_hot_is_expected_and_round_trips(tmp_path):
    table = _table()
    choices = (1, 4, 0)
    one_hot = [torch.nn.functional.one_hot(torch.tensor(c), len(r)).float() for c, r in zip(choices, table.lut)]
    hand = 0.7 + table.lut[0][1] + table.lut[1][4] + table.lut[2][0]
    assert table.predict(choices) == pytest.approx(hand)
    assert float(table.expected(one_hot)) == pytest.approx(hand, rel=1e-6)
    assert LatencyTable.from_dict(table.to_dict()) == table
    assert LatencyTable.load(table.save(tmp_path / "t.json")) == table


def test_measured_table_has_the_space_shape_and_is_cached(tmp_path, monkeypatch):
    space = get_space("chain-small")
    kw = dict(input_shape=(1, 8, 8), C=4, num_classes=10, warmup=1, repeats=3, progress=False)
    # the table counts as quiet whatever the machine's load: this test is about the cache, the
    # rule that keeps a noisy table out of it is pinned on scripted times below
    measure = lat.measure_latency_table
    monkeypatch.setattr(lat, "measure_latency_table", lambda *a, **k: replace(measure(*a, **k), noisy=0))
    table = latency_table(space, cache_dir=tmp_path, **kw)
    assert [len(r) for r in table.lut] == [len(o) for o in space.options]
    assert all(v > 0 for r in table.lut for v in r) and table.base_ms > 0
    assert table.threads == torch.get_num_threads() and table.options == space.options
    # the second call reads the cache: measuring again would fail here
    monkeypatch.setattr(lat, "measure_latency_table", lambda *a, **k: pytest.fail("measured again"))
    assert latency_table(space, cache_dir=tmp_path, **kw) == table
    # another size is another key
    key = dict(device="cpu", batch_size=1, input_shape=(1, 8, 8), num_classes=10, in_channels=1,
               timing_warmup=1, timing_repeats=3)
    same = lat.cache_path(lat.cache_key(space.name, C=4, **key), tmp_path)
    other = lat.cache_path(lat.cache_key(space.name, C=8, **key), tmp_path)
    assert other != same and same.exists()
    careful = lat.cache_path(lat.cache_key(space.name, C=4, **{**key, "timing_repeats": 30}), tmp_path)
    assert careful != same  # more repeats: another measurement


def test_measure_model_gives_a_median_and_spread():
    median, spread = measure_model(torch.nn.Conv2d(3, 8, 3), (1, 3, 16, 16), warmup=1, repeats=5)
    assert median > 0 and spread >= 0


def test_sampled_fit_compares_the_lut_sum_with_whole_networks_timed_together(monkeypatch):
    """The fit's arithmetic on a scripted stopwatch: every whole network takes exactly twice its
    LUT prediction, so r = 1 and the mean relative error is |p - 2p| / 2p = 0.5. How well the
    LUT predicts real networks on this machine depends on its load: benchmarks/bench_latency_fit.py
    measures it."""
    space = get_space("chain-mbv2:stages=2,per_stage=2,skip=1")
    table = measure_latency_table(space, input_shape=(1, 8, 8), C=4, num_classes=10, warmup=1,
                                  repeats=3, progress=False)
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(6)]          # what sampled_fit draws with seed 1
    twice = [2 * table.predict(c) / 1e3 for c in archs]    # seconds

    def stopwatch(jobs, warmup, repeats, on_round=lambda: None):
        assert len(jobs) == len(archs)                     # every network in one interleaved pass
        return [[t] * repeats for t in twice]

    monkeypatch.setattr(lat, "_interleaved_times", stopwatch)
    fit = lat.sampled_fit(table, space, n=6, seed=1, warmup=1, repeats=4)
    assert fit["choices"] == [list(c) for c in archs]
    assert fit["measured"] == pytest.approx([2 * p for p in fit["predicted"]])
    assert fit["pearson_r"] == pytest.approx(1.0) and fit["mean_rel_error"] == pytest.approx(0.5)


def test_cli_build_and_show(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASBENCH_CACHE", str(tmp_path))
    args = ["chain-small", "--C", "4", "--repeats", "3", "--warmup", "1"]
    assert main(["latency", "show", *args]) == 2  # nothing cached yet: one-line error
    assert "nasbench latency build" in capsys.readouterr().err
    assert main(["latency", "build", *args, "--quiet"]) == 0
    assert "chain-small: 3 layers" in capsys.readouterr().out
    assert main(["latency", "show", *args]) == 0
    out = capsys.readouterr().out
    assert "layer2:" in out and "mbconv_k5_e6=" in out
    assert main(["latency", "build", "no-such-space"]) == 2
    assert "unknown space" in capsys.readouterr().err


@pytest.mark.parametrize("spec", ["chain-shuffle:stages=2,per_stage=2", "chain-mbv2:stages=2,per_stage=1,skip=1",
                                  "proxyless:stages=2,per_stage=2,stem_stride=1",
                                  "fbnet:stages=2,per_stage=2,stem_stride=1"])
def test_every_chain_and_mobile_space_has_a_table(spec):
    space = get_space(spec)
    table = measure_latency_table(space, input_shape=(1, 8, 8), C=8, warmup=1, repeats=2, progress=False)
    assert [len(r) for r in table.lut] == [len(o) for o in space.options]
    assert all(v >= 0 for r in table.lut for v in r) and table.base_ms > 0
    choices = space.sample(np.random.default_rng(0))
    assert table.predict(choices) == pytest.approx(table.base_ms + sum(r[c] for r, c in zip(table.lut, choices)))


def _scripted_times(noisy_calls: int):
    """A stand-in for the stopwatch: every job takes 1 ms (+-1%), except the first job of the
    first measurement, whose calls alternate 1 ms / 5 ms for its first `noisy_calls`
    measurements (inter-quartile range 4 ms on a 1-3 ms median: a loaded machine)."""
    state = {"first": None, "calls": 0}

    def fake(jobs, warmup, repeats, on_round=lambda: None):
        if state["first"] is None:
            state["first"] = jobs[0][0]
        out = []
        for f, _ in jobs:
            if f is state["first"] and state["calls"] < noisy_calls:
                out.append([1e-3 if k % 2 else 5e-3 for k in range(repeats)])
            else:
                out.append([1e-3 * (1 + 0.01 * (k % 3)) for k in range(repeats)])
        if any(f is state["first"] for f, _ in jobs):
            state["calls"] += 1
        return out
    return fake


@pytest.mark.parametrize("noisy_calls, remeasured, noisy", [(1, 1, 0), (99, 1, 1)])
def test_a_noisy_entry_is_measured_again_and_a_table_left_noisy_is_not_cached(noisy_calls, remeasured, noisy,
                                                                               tmp_path, monkeypatch):
    monkeypatch.setattr(lat, "_interleaved_times", _scripted_times(noisy_calls))
    space = get_space("chain-small")
    kw = dict(input_shape=(1, 8, 8), C=4, num_classes=10, warmup=1, repeats=8, progress=False)
    if noisy:
        with pytest.warns(UserWarning, match="not cached"):
            table = latency_table(space, cache_dir=tmp_path, **kw)
    else:
        table = latency_table(space, cache_dir=tmp_path, **kw)
    assert (table.remeasured, table.noisy) == (remeasured, noisy)
    # the spread is recorded: 4 ms for the entry left noisy, the quiet one's (< 0.1 ms) otherwise
    assert table.spread[0][0] == pytest.approx(4.0 if noisy else 0.02, abs=0.015)
    assert bool(list(tmp_path.glob("*.json"))) is (not noisy)


def test_tables_are_timed_with_torch_utils_benchmark(monkeypatch):
    """Every timed call goes through torch.utils.benchmark.Timer (no hand-written stopwatch)."""
    import torch.utils.benchmark as bench
    made = []

    class Spy(bench.Timer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)

    monkeypatch.setattr(bench, "Timer", Spy)
    measure_latency_table("chain-small", input_shape=(1, 8, 8), C=4, warmup=0, repeats=2, progress=False)
    n_options = sum(len(o) for o in get_space("chain-small").options)
    assert len(made) == n_options + 2  # every candidate, the skeleton (base), the empty call


def test_the_cpu_is_named_by_its_cpuinfo_model_name(monkeypatch):
    """A table records the CPU it was measured on: the text after the first ':' of /proc/cpuinfo's
    `model name` line (tab and spaces stripped)."""
    from pathlib import Path
    real = Path.read_text
    fake = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Fake CPU @ 2.00GHz: rev 3\n"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: fake if str(self) == "/proc/cpuinfo" else real(self, *a, **k))
    assert lat.device_name(torch.device("cpu")) == "Fake CPU @ 2.00GHz: rev 3"
