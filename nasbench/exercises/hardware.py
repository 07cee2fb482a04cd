"""Exercises of notebooks/05_proxylessnas.ipynb and 06_fbnet.ipynb: the expected latency of a
distribution over architectures, ProxylessNAS's BinaryConnect gradient and two-path rescaling,
FBNet's Gumbel-softmax and its latency-aware loss."""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np
import torch

from nasbench.methods.proxyless import binary_connect_grad


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
    """Your Gumbel-softmax with the uniform noise u given: hand-worked cases at tau = 1 and tau = 2,
    random rows at several temperatures against numpy, rows summing to one, argmax frequencies
    equal to softmax(theta) (the Gumbel-max trick), one-hot at low tau."""
    u = torch.tensor([math.exp(-1), math.exp(-math.e)])   # g = -log(-log u) = (0, -1)
    # theta = 0, tau = 1: softmax(0, -1) = (0.7311, 0.2689)
    out = gumbel_softmax(torch.zeros(2), 1.0, u)
    assert isinstance(out, torch.Tensor) and out.shape == (2,), "return one mask of the same shape as theta"
    assert torch.allclose(out, torch.tensor([0.7311, 0.2689]), atol=1e-4), \
        f"hand-worked case (tau = 1): expected (0.7311, 0.2689), got {[round(float(v), 4) for v in out]}"
    # theta = (1, 0), tau = 2: softmax((1 + 0) / 2, (0 - 1) / 2) = softmax(0.5, -0.5) = (0.7311, 0.2689);
    # the temperature divides the noise too (softmax(1/2 + 0, 0 - 1) would be (0.8176, 0.1824))
    out = gumbel_softmax(torch.tensor([1.0, 0.0]), 2.0, u)
    assert torch.allclose(out, torch.tensor([0.7311, 0.2689]), atol=1e-4), \
        f"hand-worked case (theta = (1, 0), tau = 2): expected (0.7311, 0.2689), got {[round(float(v), 4) for v in out]}"
    rng = np.random.default_rng(0)
    for tau in (0.3, 2.0, 5.0):
        th, uu = rng.normal(size=(4, 6)), rng.uniform(1e-6, 1 - 1e-6, size=(4, 6))
        z = (th - np.log(-np.log(uu))) / tau
        want = np.exp(z - z.max(1, keepdims=True))
        want /= want.sum(1, keepdims=True)
        got = gumbel_softmax(torch.tensor(th), tau, torch.tensor(uu))
        assert np.allclose(np.asarray(got.detach(), dtype=float), want, atol=1e-6), \
            f"at tau = {tau} your masks differ from softmax((theta + g) / tau) on random rows"
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


# -- ProxylessNAS: the BinaryConnect gradient of alpha (eq. 4) ----------------------------------
def binary_connect_grad_reference(alpha: torch.Tensor, gate_grad: torch.Tensor) -> torch.Tensor:
    return binary_connect_grad(gate_grad, torch.softmax(alpha, 0))


def check_binary_connect_grad(bc_grad) -> None:
    """Your dL/dalpha from dL/dg against central finite differences of sum_j dL/dg_j softmax(alpha)_j
    (numpy), for the two paths of the paper's mode and for a whole layer of six; then a whole
    layer by brute force: with a loss linear in the layer's output the estimate must be exactly
    the gradient of the expected loss over the sampled path."""
    rng = np.random.default_rng(0)

    def softmax(a):
        e = np.exp(a - a.max())
        return e / e.sum()
    for n in (2, 2, 6, 6):
        a, dg = rng.normal(size=n), rng.normal(size=n)
        got = bc_grad(torch.tensor(a), torch.tensor(dg))
        assert isinstance(got, torch.Tensor) and got.shape == (n,), f"return a tensor of shape ({n},)"
        h = 1e-6
        fd = np.array([(dg @ softmax(a + h * e) - dg @ softmax(a - h * e)) / (2 * h) for e in np.eye(n)])
        assert np.allclose(got.detach().numpy(), fd, atol=1e-7), \
            f"{n} paths: got {np.round(got.detach().numpy(), 4)}, finite differences give {np.round(fd, 4)}"
    # a layer of 4 paths with outputs o_j (8 numbers each) and L(y) = c . y: dL/dg_j = c . o_j, and
    # E_{j ~ softmax(alpha)}[L(o_j)] is enumerated exactly; its alpha-gradient by finite differences
    a, o, c = rng.normal(size=4), rng.normal(size=(4, 8)), rng.normal(size=8)
    expected_loss = lambda a: softmax(a) @ (o @ c)                                       # noqa: E731
    fd = np.array([(expected_loss(a + 1e-6 * e) - expected_loss(a - 1e-6 * e)) / 2e-6 for e in np.eye(4)])
    got = bc_grad(torch.tensor(a), torch.tensor(o @ c)).detach().numpy()
    assert np.allclose(got, fd, atol=1e-7), "not the gradient of the expected loss over the sampled path"


# -- FBNet: the latency-aware loss (eq. 2 with LAT of eq. 6) ---------------------------------------
def fbnet_loss_reference(ce: torch.Tensor, masks, lut, base: float, unit_ms: float,
                         alpha: float = 0.2, beta: float = 0.6) -> torch.Tensor:
    """CE * alpha * (log LAT)^beta, LAT = base + sum_l sum_i m_li lut_li in ms, its log taken in
    units of `unit_ms` (`FBNet.loss`)."""
    lat = base + sum((m * torch.tensor(row, dtype=m.dtype)).sum() for m, row in zip(masks, lut))
    return ce * alpha * torch.log(lat / unit_ms) ** beta


def check_fbnet_loss(fbnet_loss) -> None:
    """A case worked by hand, the same network in other units, and the gradients with respect to the
    masks and to CE against central finite differences of your own loss's value."""
    # one layer, mask (0.25, 0.75), table (1.0, 3.0) ms, base 0.5 ms: LAT = 0.5 + 0.25 + 2.25 = 3 ms
    # = 300 units of 10 us; log 300 = 5.7038, ^0.6 = 2.8426; loss = 2.0 * 0.2 * 2.8426 = 1.1370
    ce = torch.tensor(2.0, dtype=torch.float64)
    m = [torch.tensor([0.25, 0.75], dtype=torch.float64)]
    got = fbnet_loss(ce, m, [[1.0, 3.0]], 0.5, 0.01)
    assert isinstance(got, torch.Tensor) and got.dim() == 0, "return a scalar tensor"
    assert abs(float(got) - 2.0 * 0.2 * math.log(300) ** 0.6) < 1e-9, \
        f"hand-worked case (LAT = 3 ms in units of 10 us, CE = 2): expected 1.1370, got {float(got):.4f}"
    in_ms = fbnet_loss(ce, m, [[1.0, 3.0]], 0.5, 1.0, alpha=0.5, beta=1.0)
    assert abs(float(in_ms) - 2.0 * 0.5 * math.log(3.0)) < 1e-9, \
        f"the same network in ms, alpha = 0.5, beta = 1: expected {2 * 0.5 * math.log(3):.4f}, got {float(in_ms):.4f}"
    rng = np.random.default_rng(2)
    lut = [rng.uniform(0.2, 2.0, n).tolist() for n in (3, 4)]
    masks = [torch.softmax(torch.tensor(rng.normal(size=n)), 0).requires_grad_() for n in (3, 4)]
    ce = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    loss = fbnet_loss(ce, masks, lut, 0.7, 0.01)
    assert loss.requires_grad, "no gradient reaches the masks and CE"
    loss.backward()
    value = lambda c, ms: float(fbnet_loss(torch.tensor(c, dtype=torch.float64), ms, lut, 0.7, 0.01).detach())  # noqa: E731
    h = 1e-6
    fixed = [m.detach() for m in masks]
    assert abs(float(ce.grad) - (value(1.3 + h, fixed) - value(1.3 - h, fixed)) / (2 * h)) < 1e-6, "dL/dCE is wrong"
    for layer, mask in enumerate(masks):
        for i in range(len(mask)):
            shifted = lambda s: [m.detach() + (s * h * torch.eye(len(m), dtype=m.dtype)[i] if j == layer else 0)  # noqa: E731
                                 for j, m in enumerate(masks)]
            fd = (value(1.3, shifted(1)) - value(1.3, shifted(-1))) / (2 * h)
            assert abs(float(mask.grad[i]) - fd) < 1e-6, f"dL/dm of layer {layer}, block {i} is wrong"
