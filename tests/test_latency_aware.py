"""What the hardware-aware methods share (nasbench/methods/latency_aware.py): the reference
latency LAT_ref and the final genotype's predicted latency, checked against a made-up table
whose sums are done by hand here."""
import pytest
import torch

from nasbench import data as datasets
from nasbench.evaluate.latency import LatencyTable
from nasbench.methods.latency_aware import resolve_target
from nasbench.methods.proxyless import ProxylessNAS
from nasbench.spaces import get_space

SPACE = "proxyless:stages=2,per_stage=2,stem_stride=1"


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """LUT[l][k] = 0.1 (k + 1) + 0.01 l ms, base 0.5 ms."""
    space = get_space(SPACE)
    lut = [[0.1 * (k + 1) + 0.01 * l for k in range(len(opts))] for l, opts in enumerate(space.options)]
    t = LatencyTable(space=space.name, device="cpu", threads=1, torch_version=torch.__version__, batch_size=1,
                     lut=lut, spread=[[0.0] * len(r) for r in lut], base_ms=0.5, options=space.options)
    return str(t.save(tmp_path_factory.mktemp("lut") / "lut.json")), lut


def bounds_by_hand(lut):
    return 0.5 + sum(min(r) for r in lut), 0.5 + sum(max(r) for r in lut)


def test_lat_ref_is_target_ms_if_given_else_that_fraction_from_the_fastest_to_the_slowest(table):
    path, lut = table
    t = LatencyTable.load(path)
    lo, hi = bounds_by_hand(lut)
    assert hi - lo > 1.0
    assert resolve_target(t, None, 0.25) == pytest.approx(lo + 0.25 * (hi - lo), rel=1e-12)
    assert resolve_target(t, None, 0.0) == pytest.approx(lo, rel=1e-12)
    assert resolve_target(t, 7, 0.25) == 7.0 and isinstance(resolve_target(t, 7, 0.25), float)


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", n_train=256)


def _search(digits, path, **kw):
    s = ProxylessNAS(SPACE, digits, progress=False, epochs=4, warmup_epochs=1, batch_size=32,
                     latency_table=path, **kw)
    s._seed_everything()
    s.setup()
    return s


def test_a_run_takes_its_lat_ref_from_target_ms_or_target(digits, table):
    path, lut = table
    lo, hi = bounds_by_hand(lut)
    assert _search(digits, path, target_ms=1.234).ref_ms == 1.234
    assert _search(digits, path, target=0.75).ref_ms == pytest.approx(lo + 0.75 * (hi - lo), rel=1e-12)


def test_the_final_genotype_is_the_most_likely_path_with_its_predicted_latency(digits, table):
    """finish(): per layer the most likely option, and the metric predicted_latency_ms = base +
    sum_l LUT[l][choice_l] of that genotype, summed here."""
    path, lut = table
    s = _search(digits, path)
    with torch.no_grad():
        for l, a in enumerate(s.alpha):
            a.zero_()
            a[(l + 1) % len(a)] = 2.0
    s.finish()
    want = [(l + 1) % len(r) for l, r in enumerate(lut)]
    assert list(s.best) == want
    (metric,) = [e for e in s.events if e["type"] == "metric" and e["name"] == "predicted_latency_ms"]
    assert metric["value"] == pytest.approx(0.5 + sum(r[k] for r, k in zip(lut, want)), rel=1e-9)
