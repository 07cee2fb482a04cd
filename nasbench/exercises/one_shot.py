"""Exercises of notebooks/03_one_shot.ipynb: the path-drop probability, path dropout at a node,
and the symmetric KL."""
from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy import stats

from nasbench.evaluate.kl import symmetric_kl
from nasbench.methods.oneshot import drop_mask, drop_probability, never_drop_all


def drop_probability_reference(r: float, k: int) -> float:
    return drop_probability(r, k)


def check_drop_probability(drop) -> None:
    """The defining property, not the formula: with each of k paths dropped independently with
    the returned probability, all k are dropped with probability r (also checked by simulation)."""
    for r in (0.0, 0.1, 0.25, 0.5, 0.9):
        for k in (1, 2, 4, 7, 8):
            p = float(drop(r, k))
            assert 0.0 <= p <= 1.0, f"drop({r}, {k}) = {p} is not a probability"
            assert abs(p ** k - r) < 1e-9, (f"with k={k} paths each dropped with p={p:.4f}, all are "
                                            f"dropped with probability {p ** k:.4f}, not r={r}")
    rng = np.random.default_rng(0)
    p = float(drop(0.3, 4))
    all_dropped = (rng.random((20000, 4)) < p).all(axis=1).mean()
    assert abs(all_dropped - 0.3) < 0.02, f"simulated: all 4 dropped {all_dropped:.3f} of the time, not 0.3"


def symmetric_kl_reference(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p||q) + KL(q||p) per row of two arrays of probabilities (rows sum to 1)."""
    return symmetric_kl(torch.log(torch.as_tensor(p, dtype=torch.float64)),
                        torch.log(torch.as_tensor(q, dtype=torch.float64)), reduction="none").numpy()


def check_symmetric_kl(kl) -> None:
    """Against scipy's elementwise relative entropy, plus the two properties that matter here:
    zero for identical predictions, and symmetric."""
    from scipy.special import rel_entr, softmax
    rng = np.random.default_rng(1)
    p, q = softmax(rng.normal(size=(6, 10)), -1), softmax(2 * rng.normal(size=(6, 10)), -1)
    expected = rel_entr(p, q).sum(-1) + rel_entr(q, p).sum(-1)
    got = np.asarray(kl(p, q), dtype=float)
    assert got.shape == expected.shape, f"expected one value per row, shape {expected.shape}; got {got.shape}"
    assert np.allclose(got, expected, rtol=1e-6), f"rows differ from scipy: {got.round(4)} vs {expected.round(4)}"
    assert np.allclose(np.asarray(kl(p, p), dtype=float), 0.0, atol=1e-12), "KL of identical predictions must be 0"
    assert np.allclose(np.asarray(kl(q, p), dtype=float), got), "it must be symmetric"


# -- path dropout at one node -----------------------------------------------------------------------
def path_dropout_reference(k: int, r: float, rng: np.random.Generator) -> np.ndarray:
    """Which of a node's k incoming paths run this step (True = kept)."""
    return never_drop_all(drop_mask(k, r, rng), rng)


def _kept_set_probabilities(k: int, r: float) -> dict[tuple[bool, ...], float]:
    """The exact distribution of the kept set, by enumeration: each path dropped independently
    with p (p^k = r); the all-dropped outcome (probability r) becomes each single path alike."""
    p = r ** (1.0 / k)
    probs = {}
    for keep in itertools.product((False, True), repeat=k):
        if any(keep):
            n = sum(keep)
            probs[keep] = (1 - p) ** n * p ** (k - n) + (r / k if n == 1 else 0.0)
    return probs


def check_path_dropout(path_dropout) -> None:
    """Draws 6000 masks per (k, r) with your function and compares the frequency of every possible
    kept set with its exact probability (enumerated here, chi-square test)."""
    rng = np.random.default_rng(0)
    for k, r in ((1, 0.5), (2, 0.0), (2, 0.5), (3, 0.3), (4, 0.8)):
        probs = _kept_set_probabilities(k, r)
        counts = dict.fromkeys(probs, 0)
        for _ in range(6000):
            keep = np.asarray(path_dropout(k, r, rng))
            assert keep.shape == (k,) and keep.dtype == bool, f"return a boolean array of length k={k}"
            assert keep.any(), f"k={k}, r={r}: every path was dropped; a node must keep one"
            counts[tuple(bool(v) for v in keep)] += 1
        support = [s for s in probs if probs[s] > 0]
        assert all(counts[s] == 0 for s in probs if probs[s] == 0), f"k={k}, r={r}: a path was dropped with r = 0"
        if len(support) > 1:
            observed = [counts[s] for s in support]
            expected = [6000 * probs[s] for s in support]
            pvalue = stats.chisquare(observed, expected).pvalue
            worst = max(support, key=lambda s: abs(counts[s] - 6000 * probs[s]))
            assert pvalue > 1e-4, (f"k={k}, r={r}: the kept set {''.join('1' if v else '0' for v in worst)} came "
                                   f"{counts[worst]} times in 6000, expected about {6000 * probs[worst]:.0f}")
