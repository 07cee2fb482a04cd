"""Exercises of notebooks/03_one_shot.ipynb: the path-drop probability and the symmetric KL."""
from __future__ import annotations

import numpy as np
import torch

from nasbench.evaluate.kl import symmetric_kl
from nasbench.methods.oneshot import drop_probability


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
