"""Exercises of notebooks/05_proxylessnas.ipynb and 06_fbnet.ipynb: the expected latency of a
distribution over architectures, ProxylessNAS's two-path rescaling, FBNet's Gumbel-softmax."""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np
import torch


# -- expected latency (ProxylessNAS eq. (5), FBNet eq. (6) with the mask's expectation) ------
def expected_latency_reference(probs: Sequence[torch.Tensor], lut: Sequence[Sequence[float]],
                               base: float) -> torch.Tensor:
    return base + sum((p * torch.tensor(row, dtype=p.dtype)).sum() for p, row in zip(probs, lut))


def check_expected_latency(expected_latency) -> None:
    """Your E[LAT] against the brute-force mean over every architecture of a small random table
    (each weighted by its probability), and the gradient against the table itself."""
    rng = np.random.default_rng(0)
    sizes = [3, 4, 2]
    lut = [rng.uniform(0.1, 3.0, n).round(3).tolist() for n in sizes]
    base = 0.75
    probs = [torch.softmax(torch.tensor(rng.normal(size=n)), 0).requires_grad_() for n in sizes]
    brute = sum(math.prod(float(probs[d][c].detach()) for d, c in enumerate(arch))
                * (base + sum(lut[d][c] for d, c in enumerate(arch)))
                for arch in itertools.product(*(range(n) for n in sizes)))
    yours = expected_latency(probs, lut, base)
    assert isinstance(yours, torch.Tensor), "return a tensor (so the loss can differentiate it)"
    assert abs(float(yours.detach()) - brute) < 1e-6, f"E[LAT] should be {brute:.4f}, got {float(yours.detach()):.4f}"
    yours.backward()
    for d, (p, row) in enumerate(zip(probs, lut)):
        assert p.grad is not None, f"no gradient reaches the probabilities of layer {d}"
        assert torch.allclose(p.grad, torch.tensor(row, dtype=p.dtype)), \
            f"dE[LAT]/dp of layer {d} should be its row of the table"


# -- ProxylessNAS: the two-path rescaling ---------------------------------------------------
def rescale_reference(alpha: torch.Tensor, pair: Sequence[int], old: torch.Tensor) -> torch.Tensor:
    alpha = alpha.clone()
    offset = math.log(sum(math.exp(float(a)) for a in alpha[list(pair)]) / sum(math.exp(float(a)) for a in old))
    alpha[list(pair)] -= offset
    return alpha


def check_rescale(rescale) -> None:
    """Your rescaling on a hand-worked case, then on random ones: after it, softmax(alpha) of the
    paths outside the pair equals its value before the update."""
    # hand-worked: alpha = (0, 0, 0); the pair (0, 1) was updated from (0, 0) to (1, 0):
    # offset = log((e + 1) / 2) = 0.6201, so alpha becomes (0.3799, -0.6201, 0)
    out = rescale(torch.tensor([1.0, 0.0, 0.0]), [0, 1], torch.tensor([0.0, 0.0]))
    assert isinstance(out, torch.Tensor) and out.shape == (3,), "return the whole alpha vector"
    assert torch.allclose(out, torch.tensor([1 - 0.62011, -0.62011, 0.0]), atol=1e-4), \
        f"hand-worked case: expected (0.3799, -0.6201, 0), got {[round(float(v), 4) for v in out]}"
    rng = np.random.default_rng(1)
    for _ in range(5):
        before = torch.tensor(rng.normal(size=6))
        pair = [int(i) for i in rng.choice(6, 2, replace=False)]
        after_step = before.clone()
        after_step[pair] += torch.tensor(rng.normal(size=2))
        out = rescale(after_step, pair, before[pair].clone())
        others = [i for i in range(6) if i not in pair]
        assert torch.allclose(torch.softmax(out, 0)[others], torch.softmax(before, 0)[others], atol=1e-9), \
            "the probabilities of the paths outside the pair changed"
        assert torch.allclose(out[pair[0]] - out[pair[1]], after_step[pair[0]] - after_step[pair[1]]), \
            "the update itself (the difference within the pair) must survive"


# -- FBNet: Gumbel-softmax with given uniform noise -------------------------------------------
def gumbel_softmax_reference(theta: torch.Tensor, tau: float, u: torch.Tensor) -> torch.Tensor:
    g = -torch.log(-torch.log(u))
    return torch.softmax((theta + g) / tau, -1)


def check_gumbel_softmax(gumbel_softmax) -> None:
    """Your Gumbel-softmax with the uniform noise u given: a hand-worked case, rows summing to
    one, argmax frequencies equal to softmax(theta) (the Gumbel-max trick), one-hot at low tau."""
    # u = (e^-1, e^-e): g = -log(-log u) = (0, -1); tau = 1, theta = 0: softmax(0, -1) = (0.7311, 0.2689)
    out = gumbel_softmax(torch.zeros(2), 1.0, torch.tensor([math.exp(-1), math.exp(-math.e)]))
    assert isinstance(out, torch.Tensor) and out.shape == (2,), "return one mask of the same shape as theta"
    assert torch.allclose(out, torch.tensor([0.7311, 0.2689]), atol=1e-4), \
        f"hand-worked case: expected (0.7311, 0.2689), got {[round(float(v), 4) for v in out]}"
    theta = torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    u = torch.rand(20000, 3, generator=g, dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
    soft = gumbel_softmax(theta.expand(20000, 3), 1.0, u)
    assert torch.allclose(soft.sum(-1), torch.ones(20000, dtype=soft.dtype)), "each mask must sum to 1"
    freq = torch.bincount(soft.argmax(-1), minlength=3).double() / 20000
    assert torch.allclose(freq, torch.softmax(theta, 0), atol=0.015), \
        f"argmax frequencies {freq.tolist()} should follow softmax(theta)"
    cold = gumbel_softmax(theta.expand(20000, 3), 0.01, u)
    assert float(cold.max(-1).values.mean()) > 0.99, "at tau = 0.01 the masks should be (nearly) one-hot"
