"""Exercises of notebooks/08_single_path_nas.ipynb: the superkernel mask, the indicator with its
straight-through gradient, and a layer's three decisions from its weights and thresholds."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from nasbench.supernet.superkernel import indicator


def superkernel_reference(w: torch.Tensor, d5: float, d100: float, d50: float) -> torch.Tensor:
    """The kernel a superkernel layer runs, for hard decisions: w (mid, 1, 5, 5) ->
    d50 * (first half ++ d100 * second half) of (w_3x3 + d5 * w_ring)."""
    ring = torch.ones(5, 5, dtype=w.dtype)
    ring[1:4, 1:4] = 0
    w_k = w * (1 - ring) + d5 * w * ring
    half = w.shape[0] // 2
    return d50 * torch.cat([w_k[:half], d100 * w_k[half:]])


def check_superkernel(superkernel) -> None:
    """Against plain convolutions: ring off = a 3x3 convolution (padding 1) of the centre weights;
    second half off = the first half's channels only; layer off = nothing."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 1, 5, 5, generator=g)
    x = torch.randn(2, 8, 6, 6, generator=g)
    conv = lambda k, pad: F.conv2d(x, k, padding=pad, groups=8)  # noqa: E731
    full = superkernel(w.clone(), 1.0, 1.0, 1.0)
    assert full.shape == w.shape, f"the kernel keeps its shape {tuple(w.shape)}, got {tuple(full.shape)}"
    assert torch.allclose(full, w), "with every indicator 1 the kernel is the whole 5x5, expansion 6"
    k3 = superkernel(w.clone(), 0.0, 1.0, 1.0)
    assert torch.allclose(conv(k3, 2), conv(w[:, :, 1:4, 1:4], 1), atol=1e-5), \
        "with d5x5 = 0 the layer must compute a 3x3 convolution of the centre weights"
    e3 = superkernel(w.clone(), 1.0, 0.0, 1.0)
    assert torch.allclose(conv(e3, 2)[:, :4], F.conv2d(x[:, :4], w[:4], padding=2, groups=4), atol=1e-5), \
        "with d100c = 0 the first half of the channels is unchanged"
    assert float(conv(e3, 2)[:, 4:].abs().max()) == 0.0, "with d100c = 0 the second half of the channels is zero"
    both = superkernel(w.clone(), 0.0, 0.0, 1.0)
    assert torch.allclose(conv(both, 2), torch.cat([conv(w[:, :, 1:4, 1:4], 1)[:, :4], torch.zeros(2, 4, 6, 6)], 1),
                          atol=1e-5), "k3, e3: the centre 3x3 of the first half only"
    assert float(superkernel(w.clone(), 1.0, 1.0, 0.0).abs().max()) == 0.0, "with d50c = 0 the layer is skipped"


def indicator_reference(x: torch.Tensor) -> torch.Tensor:
    return indicator(x)


def check_indicator(fn) -> None:
    """Forward: 1[x >= 0] (to float rounding); backward: the sigmoid's derivative s(x)(1 - s(x)), by hand."""
    xs = [-3.0, -0.5, 0.0, 0.25, 2.0]
    for v in xs:
        x = torch.tensor(v, requires_grad=True)
        y = fn(x)
        assert abs(float(y.detach()) - (1.0 if v >= 0 else 0.0)) < 1e-6, f"forward at x={v} must be {1.0 if v >= 0 else 0.0}, got {float(y.detach()):.4f}"
        assert y.requires_grad, "the indicator must pass a gradient back (straight-through)"
        y.backward()
        s = 1 / (1 + math.exp(-v))
        assert x.grad is not None and abs(float(x.grad) - s * (1 - s)) < 1e-6, \
            f"gradient at x={v} must be s(x)(1-s(x)) = {s * (1 - s):.6f}, got {x.grad}"


# -- the decisions of one layer, from its weights and thresholds (paper eqs. 2-4) ---------------------
def decide_reference(w: torch.Tensor, t5: torch.Tensor, t100: torch.Tensor, t50: torch.Tensor) -> torch.Tensor:
    """The kernel a superkernel layer runs, its three indicators taken from norms and thresholds
    (`SuperKernelMBConv.decide`): d5 from the outer ring of w, then d100 and d50 from the second
    and first channel halves of w_k = w_3x3 + d5 w_ring."""
    ring = torch.ones(5, 5, dtype=w.dtype)
    ring[1:4, 1:4] = 0
    w_ring, w_3x3 = w * ring, w * (1 - ring)
    w_k = w_3x3 + indicator(w_ring.norm() - t5) * w_ring
    half = w.shape[0] // 2
    d100 = indicator(w_k[half:].norm() - t100)
    d50 = indicator(w_k[:half].norm() - t50)
    return d50 * torch.cat([w_k[:half], d100 * w_k[half:]])


def _decide_surrogate(w0: np.ndarray, t0: np.ndarray):
    """numpy: a smooth function of (w, t) whose value at (w0, t0) is the hard kernel and whose
    gradient there is the straight-through one: each indicator 1[x >= 0] replaced by its value at
    the base point plus sigmoid(x) - sigmoid(x at the base point)."""
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    ring = np.ones((5, 5))
    ring[1:4, 1:4] = 0
    half = w0.shape[0] // 2

    def kernel(w, t, base=None):
        x5 = np.linalg.norm(w * ring) - t[0]
        d5 = (float(base[0] >= 0) + sig(x5) - sig(base[0])) if base is not None else float(x5 >= 0)
        w_k = np.where(ring > 0, d5 * w, w)      # the ring scaled by d5, the 3x3 centre kept
        x100 = np.linalg.norm(w_k[half:]) - t[1]
        x50 = np.linalg.norm(w_k[:half]) - t[2]
        xs = [x5, x100, x50]
        if base is None:
            d100, d50 = float(x100 >= 0), float(x50 >= 0)
        else:
            d100 = float(base[1] >= 0) + sig(x100) - sig(base[1])
            d50 = float(base[2] >= 0) + sig(x50) - sig(base[2])
        return d50 * np.concatenate([w_k[:half], d100 * w_k[half:]]), xs
    hard, base = kernel(w0, t0)
    return hard, lambda w, t: kernel(w, t, base)[0]


def check_decide(decide) -> None:
    """On random kernels with thresholds on both sides of their norms: the value against the hard
    decisions computed in numpy, and the gradients of sum(kernel * C) with respect to the three
    thresholds and the weights against central finite differences of a numpy function that has
    the straight-through gradient (each indicator's value frozen, its sigmoid's slope kept)."""
    rng = np.random.default_rng(0)
    ring = np.ones((5, 5))
    ring[1:4, 1:4] = 0
    seen = set()
    for case in range(12):
        w0 = rng.normal(size=(6, 1, 5, 5))
        n_ring = np.linalg.norm(w0 * ring)
        t0 = np.array([n_ring + rng.choice([-1, 1]) * rng.uniform(0.1, 1.0), 0.0, 0.0])
        # the halves' thresholds near their norms (either side), so every layer kind turns up
        w_k = w0 * (1 - ring) + float(n_ring >= t0[0]) * w0 * ring
        t0[1] = np.linalg.norm(w_k[3:]) + rng.choice([-1, 1]) * rng.uniform(0.1, 1.0)
        t0[2] = np.linalg.norm(w_k[:3]) + rng.choice([-1, 1]) * rng.uniform(0.1, 1.0)
        hard, surrogate = _decide_surrogate(w0, t0)
        C = rng.normal(size=w0.shape)
        w = torch.tensor(w0, requires_grad=True)
        t = [torch.tensor(v, requires_grad=True) for v in t0]
        got = decide(w, *t)
        assert isinstance(got, torch.Tensor) and got.shape == w.shape, f"return a kernel of shape {tuple(w.shape)}"
        d = (n_ring >= t0[0], np.linalg.norm(w_k[3:]) >= t0[1], np.linalg.norm(w_k[:3]) >= t0[2])
        seen.add(d)
        assert np.allclose(got.detach().numpy(), hard, atol=1e-9), \
            f"case {case} (d5, d100, d50 = {tuple(int(v) for v in d)}): the kernel's value is not the hard decisions' kernel"
        assert got.requires_grad, "no gradient reaches the thresholds and weights (straight-through)"
        (got * torch.tensor(C)).sum().backward()
        h = 1e-6
        for i, name in enumerate(("t5", "t100", "t50")):
            e = np.eye(3)[i] * h
            fd = ((surrogate(w0, t0 + e) * C).sum() - (surrogate(w0, t0 - e) * C).sum()) / (2 * h)
            g = 0.0 if t[i].grad is None else float(t[i].grad)
            assert abs(g - fd) < 1e-5 * max(1.0, abs(fd)), \
                f"case {case} (d5, d100, d50 = {tuple(int(v) for v in d)}): dL/d{name} is {g:.5f}, expected {fd:.5f}"
        for _ in range(2):
            v = rng.normal(size=w0.shape)
            fd = ((surrogate(w0 + h * v, t0) * C).sum() - (surrogate(w0 - h * v, t0) * C).sum()) / (2 * h)
            g = float((w.grad.numpy() * v).sum()) if w.grad is not None else 0.0
            assert abs(g - fd) < 1e-5 * max(1.0, abs(fd)), \
                f"case {case}: the gradient with respect to the weights is wrong (directional derivative {g:.5f}, expected {fd:.5f})"
    assert len(seen) >= 4, "internal: the random cases should cover several layer kinds"
