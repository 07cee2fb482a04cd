"""Ranking metrics against scipy (the independent reference), ties included; KL against rel_entr."""
import itertools
import math

import numpy as np
import pytest
import torch
from scipy import special, stats

from nasbench.evaluate.kl import symmetric_kl
from nasbench.evaluate.ranking import (bootstrap, kendall_tau, rank_report, spearman_rho,
                                       top_k_precision)


def _cases():
    rng = np.random.default_rng(7)
    yield "continuous", rng.normal(size=40), rng.normal(size=40)
    x = rng.normal(size=60)
    yield "correlated", x, x + 0.5 * rng.normal(size=60)
    yield "ties in both", rng.integers(0, 4, size=50).astype(float), rng.integers(0, 3, size=50).astype(float)
    yield "ties in truth", rng.normal(size=30), np.round(rng.normal(size=30))
    yield "reversed", np.arange(10.0), -np.arange(10.0)
    yield "small", np.array([1.0, 2.0, 2.0]), np.array([3.0, 1.0, 2.0])


CASES = list(_cases())


@pytest.mark.parametrize("name,x,y", CASES, ids=[c[0] for c in CASES])
def test_kendall_tau_matches_scipy_tau_b(name, x, y):
    assert kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)


@pytest.mark.parametrize("name,x,y", CASES, ids=[c[0] for c in CASES])
def test_spearman_rho_matches_scipy(name, x, y):
    assert spearman_rho(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


def test_constant_side_gives_nan_like_scipy():
    x, y = np.ones(5), np.arange(5.0)
    assert math.isnan(kendall_tau(x, y)) and math.isnan(spearman_rho(x, y))


def test_top_k_precision_by_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n, k = 12, int(rng.integers(1, 12))
        x, y = rng.normal(size=n), rng.normal(size=n)
        best_by_truth = set(sorted(range(n), key=lambda i: -y[i])[:k])
        best_by_score = sorted(range(n), key=lambda i: -x[i])[:k]
        assert top_k_precision(x, y, k) == pytest.approx(len(best_by_truth & set(best_by_score)) / k)


def test_top_k_precision_hand_case_with_a_tie_at_the_cut():
    score = [0.9, 0.8, 0.1, 0.2]
    truth = [0.5, 0.7, 0.7, 0.1]   # top-2 by truth: items 1 and 2 (0.7 each); item 0 is not
    assert top_k_precision(score, truth, 2) == 0.5
    assert top_k_precision(score, truth, 1) == 0.0   # item 0 first by score, 0.5 < 0.7


def test_bootstrap_interval_covers_value_and_narrows_with_more_data():
    rng = np.random.default_rng(0)
    widths = []
    for n in (20, 400):
        x = rng.normal(size=n)
        y = x + rng.normal(size=n)
        est = bootstrap(kendall_tau, x, y, n_boot=300, seed=1)
        assert est.low <= est.value <= est.high
        widths.append(est.high - est.low)
    assert widths[1] < widths[0] / 2


def test_bootstrap_percentiles_by_hand():
    """The interval is the percentile interval of the metric over index resamples drawn by
    numpy's integers(n, size=(n_boot, n)) with the given seed: recompute it independently."""
    x, y = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 0.0]), np.array([2.0, 1.0, 4.0, 3.0, 6.0, 0.0])
    est = bootstrap(spearman_rho, x, y, n_boot=200, seed=5)
    idx = np.random.default_rng(5).integers(6, size=(200, 6))
    values = [stats.spearmanr(x[i], y[i]).statistic for i in idx]
    values = np.array([v for v in values if np.isfinite(v)])
    assert (est.low, est.high) == pytest.approx(tuple(np.percentile(values, [2.5, 97.5])))


def test_rank_report_fields():
    x = np.arange(20.0)
    report = rank_report(x, x, n_boot=50)
    assert set(report) == {"kendall_tau", "spearman_rho", "top_2_precision"}
    assert all(r.value == pytest.approx(1.0) for r in report.values())


# -- symmetric KL ---------------------------------------------------------------------------
def test_symmetric_kl_matches_rel_entr():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(8, 10, generator=g), torch.randn(8, 10, generator=g) * 2
    p, q = special.softmax(a.numpy().astype(np.float64), -1), special.softmax(b.numpy().astype(np.float64), -1)
    expected = (special.rel_entr(p, q).sum(-1) + special.rel_entr(q, p).sum(-1))
    got = symmetric_kl(a, b, reduction="none").numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert float(symmetric_kl(a, b)) == pytest.approx(expected.mean(), rel=1e-6)
    assert float(symmetric_kl(a, b, reduction="sum")) == pytest.approx(expected.sum(), rel=1e-6)


def test_symmetric_kl_hand_case_and_identity():
    # p = (1/2, 1/2), q = (1/4, 3/4): (1/4) ln 2 + (-1/4) ln(2/3)
    p, q = torch.log(torch.tensor([[0.5, 0.5]])), torch.log(torch.tensor([[0.25, 0.75]]))
    assert float(symmetric_kl(p, q)) == pytest.approx(0.25 * math.log(2) - 0.25 * math.log(2 / 3))
    logits = torch.randn(5, 7)
    assert float(symmetric_kl(logits, logits)) == 0.0
    assert float(symmetric_kl(logits, logits + 3.0)) == pytest.approx(0.0, abs=1e-12)  # same softmax
    assert float(symmetric_kl(p, q)) == pytest.approx(float(symmetric_kl(q, p)))


def test_two_points_have_a_rank_correlation_of_plus_or_minus_one():
    """The smallest ranking there is: two candidates in the truth's order give tau = rho = 1, in
    the reverse order -1 (scipy's values); one candidate has no order (nan)."""
    assert kendall_tau([0.1, 0.2], [0.5, 0.9]) == stats.kendalltau([0.1, 0.2], [0.5, 0.9]).statistic == 1.0
    assert spearman_rho([0.2, 0.1], [0.5, 0.9]) == pytest.approx(-1.0)
    assert math.isnan(kendall_tau([0.1], [0.5]))
