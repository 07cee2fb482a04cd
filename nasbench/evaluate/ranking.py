"""How well a cheap score ranks architectures: Kendall tau, Spearman rho, top-k precision, each
with a bootstrap confidence interval.

`score` is what a search measured (one-shot accuracy, minus the KL, ...), `truth` the stand-alone
accuracy of the same architectures. Ties are handled as scipy does (tau-b, average ranks), so a
score that cannot tell two architectures apart is neither rewarded nor punished for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats

Metric = Callable[[np.ndarray, np.ndarray], float]


def _pair(score: Sequence[float], truth: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(score, dtype=float), np.asarray(truth, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"score and truth must be 1-D and of the same length, got {x.shape} and {y.shape}")
    return x, y


def _correlation(test, score, truth) -> float:
    x, y = _pair(score, truth)
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")  # a constant side has no order to compare
    return float(test(x, y).statistic)


def kendall_tau(score: Sequence[float], truth: Sequence[float]) -> float:
    """Kendall's tau-b (scipy.stats.kendalltau): over all pairs i < j,
    (concordant - discordant) / sqrt((n0 - ties_score)(n0 - ties_truth)).
    NaN when either side is constant."""
    return _correlation(stats.kendalltau, score, truth)


def spearman_rho(score: Sequence[float], truth: Sequence[float]) -> float:
    """Spearman's rho (scipy.stats.spearmanr): the Pearson correlation of the average ranks.
    NaN when either side is constant."""
    return _correlation(stats.spearmanr, score, truth)


def top_k_precision(score: Sequence[float], truth: Sequence[float], k: int) -> float:
    """Share of the k best architectures by `score` that are among the k best by `truth`.

    Ties at the k-th place of `truth` count in the architecture's favour (any architecture as
    good as the k-th best is a top-k one); ties in `score` are broken by position."""
    x, y = _pair(score, truth)
    if not 1 <= k <= len(x):
        raise ValueError(f"k must be in 1..{len(x)}, got {k}")
    picked = np.argsort(-x, kind="stable")[:k]
    threshold = np.sort(y)[::-1][k - 1]
    return float(np.mean(y[picked] >= threshold))


@dataclass
class Estimate:
    """A statistic with its bootstrap confidence interval."""
    value: float
    low: float
    high: float
    level: float = 0.95

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap(metric: Metric, score: Sequence[float], truth: Sequence[float], *, n_boot: int = 1000,
              level: float = 0.95, seed: int = 0) -> Estimate:
    """`metric(score, truth)` and its percentile bootstrap interval: resample the architectures
    with replacement `n_boot` times (resamples where the metric is undefined are dropped)."""
    x, y = _pair(score, truth)
    value = metric(x, y)
    if len(x) < 3:
        return Estimate(value, float("nan"), float("nan"), level)
    rng = np.random.default_rng(seed)
    samples = np.array([metric(x[idx], y[idx])
                        for idx in rng.integers(len(x), size=(n_boot, len(x)))])
    samples = samples[np.isfinite(samples)]
    if len(samples) == 0:
        return Estimate(value, float("nan"), float("nan"), level)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Estimate(value, float(low), float(high), level)


def rank_report(score: Sequence[float], truth: Sequence[float], *, k: int | None = None,
                n_boot: int = 1000, seed: int = 0) -> dict[str, Estimate]:
    """Kendall tau, Spearman rho and top-k precision (k = a tenth of the architectures, at least
    1) with their intervals."""
    x, _ = _pair(score, truth)
    k = k or max(1, len(x) // 10)
    top_k = lambda a, b: top_k_precision(a, b, min(k, len(a)))
    return {"kendall_tau": bootstrap(kendall_tau, score, truth, n_boot=n_boot, seed=seed),
            "spearman_rho": bootstrap(spearman_rho, score, truth, n_boot=n_boot, seed=seed),
            f"top_{k}_precision": bootstrap(top_k, score, truth, n_boot=n_boot, seed=seed)}
