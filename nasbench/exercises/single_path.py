"""Exercises of notebooks/08_single_path_nas.ipynb: the superkernel mask, and the indicator with
its straight-through gradient."""
from __future__ import annotations

import math

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
