"""Single-Path NAS superkernels (Stamoulis et al., 2019; dstamoulis/single-path-nas, superkernel.py).

One 5x5, expansion-6 MBConv per layer holds every candidate of that layer: the 3x3 kernel is the
centre of the 5x5 one, expansion 3 is the first half of the expansion-6 channels. Which candidate a
layer is follows from thresholds on weight norms (paper eq. (2)-(4)):

    w_ring = w_5x5 - w_3x3                                   the outer ring of the 5x5 kernel
    d_5x5  = 1[ ||w_ring|| - t_5x5 >= 0 ]                    kernel 5 (1) or 3 (0)
    w_k    = w_3x3 + d_5x5 * w_ring
    d_100c = 1[ ||w_k[second half]|| - t_100c >= 0 ]         expansion 6 (1) or 3 (0)
    d_50c  = 1[ ||w_k[first half]||  - t_50c  >= 0 ]         the layer (1) or skip it (0)
    w      = d_50c * (w_k[first half] ++ d_100c * w_k[second half])

Only the depthwise kernel is masked, as in the official code: the masked channels of the
depthwise output are zero, so with BN without affine parameters (the search supernet's) nothing of
them reaches the projection, and the layer computes exactly the smaller candidate.

The indicator is hard in the forward pass and has the sigmoid's gradient in the backward pass
(straight-through): `indicator(x) = 1[x >= 0] - sigmoid(x).detach() + sigmoid(x)`. The thresholds
start at 0 (every layer starts as k5, e6) and are trained with the weights, on the same loss.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F


# The candidates one superkernel encodes, by the chain spaces' block names.
CANDIDATES = {"mbconv_k3_e3": (3, 3), "mbconv_k3_e6": (3, 6), "mbconv_k5_e3": (5, 3),
              "mbconv_k5_e6": (5, 6)}


def indicator(x: torch.Tensor) -> torch.Tensor:
    """1[x >= 0] forward, d sigmoid(x)/dx = s(1 - s) backward (official `Indicator`)."""
    s = torch.sigmoid(x)
    return (x >= 0).to(x.dtype) - s.detach() + s


def check_options(options: Sequence[str]) -> None:
    """A superkernel layer's options: the four MBConvs k3/k5 x e3/e6, and `skip` where allowed."""
    if sorted(set(options) - {"skip"}) != sorted(CANDIDATES) or len(set(options)) != len(options):
        raise ValueError(f"a superkernel encodes exactly {sorted(CANDIDATES)} (+ skip); "
                         f"this layer has {list(options)}")


def option_of(d5: bool, d100: bool, d50: bool) -> str:
    """The candidate that hard decisions select."""
    return "skip" if not d50 else f"mbconv_k{5 if d5 else 3}_e{6 if d100 else 3}"


def layer_runtime(d5, d100, d50, R: dict[str, float], form: str = "official"):
    """Runtime (ms) of one layer written as a function of its indicators (paper eq. (5)-(6)).

    official: as superkernel.py: the channel decisions interpolate the 5x5 runtimes and the kernel
              decision scales them by the ratio r = R(k3, e6) / R(k5, e6), so a k3, e3 layer costs
              R(k5, e3) * r, and skip costs 0 (the official table's 0.7 ms skip entry only flags
              that a layer may be skipped);
    lut:      every hard decision gives its own table entry (multilinear in the indicators)."""
    if form == "official":
        ratio = R["mbconv_k3_e6"] / R["mbconv_k5_e6"]
        channels = d50 * (R["mbconv_k5_e3"] + d100 * (R["mbconv_k5_e6"] - R["mbconv_k5_e3"]))
        return channels * ratio + channels * (1 - ratio) * d5
    if form == "lut":
        mbconv = ((1 - d5) * ((1 - d100) * R["mbconv_k3_e3"] + d100 * R["mbconv_k3_e6"])
                  + d5 * ((1 - d100) * R["mbconv_k5_e3"] + d100 * R["mbconv_k5_e6"]))
        return d50 * mbconv + (1 - d50) * R.get("skip", 0.0)
    raise ValueError(f"runtime form must be 'official' or 'lut', got {form!r}")


class SuperKernelMBConv(nn.Module):
    """MBConv 1x1 expand (6 C_in) -> 5x5 depthwise superkernel -> 1x1 project, BN without affine
    parameters: (B, C_in, H, W) -> (B, C_out, H/stride, W/stride). `skip`: the layer may be left
    out (stride 1, width kept)."""

    def __init__(self, C_in: int, C_out: int, stride: int, skip: bool = False):
        super().__init__()
        mid = 6 * C_in
        self.half = mid // 2                  # expansion 3 = channels [0, half)
        self.stride, self.skip = stride, skip
        self.residual = stride == 1 and C_in == C_out
        self.expand = nn.Sequential(nn.Conv2d(C_in, mid, 1, bias=False), nn.BatchNorm2d(mid, affine=False), nn.ReLU6())
        # official conv_kernel_initializer: N(0, 2 / fan_out), fan_out = 5 * 5 for a depthwise kernel
        self.weight = nn.Parameter(torch.randn(mid, 1, 5, 5) * math.sqrt(2.0 / 25))  # (mid, 1, 5, 5)
        self.bn = nn.BatchNorm2d(mid, affine=False)
        self.project = nn.Sequential(nn.Conv2d(mid, C_out, 1, bias=False), nn.BatchNorm2d(C_out, affine=False))
        self.t5x5 = nn.Parameter(torch.zeros(()))
        self.t100c = nn.Parameter(torch.zeros(()))
        self.t50c = nn.Parameter(torch.zeros(())) if skip else None
        ring = torch.ones(5, 5)
        ring[1:4, 1:4] = 0
        self.register_buffer("ring", ring, persistent=False)  # 1 on the outer ring of the 5x5
        self.d = {}                                            # this forward's indicators

    def decide(self, keep: float | None = None) -> torch.Tensor:
        """The masked depthwise kernel (mid, 1, 5, 5); sets `self.d` = {d5x5, d100c, d50c} and the
        norms. `keep`: during the official warm-up each indicator is kept with probability `keep`
        and scaled by 1 / keep (TF `dropout(indicator, keep_prob)`)."""
        w = self.weight
        w_ring, w_3x3 = w * self.ring, w * (1 - self.ring)
        drop = (torch.rand(3) < keep).float().div(keep).to(w.device) if keep is not None else None
        self.norms = {"ring": w_ring.norm()}
        d5 = indicator(self.norms["ring"] - self.t5x5)
        d5 = d5 * drop[0] if drop is not None else d5
        w_k = w_3x3 + d5 * w_ring                                  # eq. (3)
        first, second = w_k[: self.half], w_k[self.half:]
        self.norms.update(first=first.norm(), second=second.norm())
        d100 = indicator(self.norms["second"] - self.t100c)
        d100 = d100 * drop[1] if drop is not None else d100
        d50 = torch.ones((), device=w.device)
        if self.skip:  # "you cannot drop all layers": only where the layer may be skipped
            d50 = indicator(self.norms["first"] - self.t50c)
            d50 = d50 * drop[2] if drop is not None else d50
        self.d = {"d5x5": d5, "d100c": d100, "d50c": d50}
        return d50 * torch.cat([first, d100 * second])             # eq. (4)

    def option(self) -> str:
        """The candidate this forward's (hard) decisions selected."""
        return option_of(*(bool(self.d[k] > 0) for k in ("d5x5", "d100c", "d50c")))

    def probs(self) -> dict[str, float]:
        """Implied probabilities of the candidates: each indicator's sigmoid read as an independent
        Bernoulli (p = sigmoid(norm - t)), multiplied out. Needs a `decide()` before."""
        with torch.no_grad():
            p5 = float(torch.sigmoid(self.norms["ring"] - self.t5x5))
            p6 = float(torch.sigmoid(self.norms["second"] - self.t100c))
            keep = float(torch.sigmoid(self.norms["first"] - self.t50c)) if self.skip else 1.0
        out = {f"mbconv_k{k}_e{e}": keep * (p5 if k == 5 else 1 - p5) * (p6 if e == 6 else 1 - p6)
               for k, e in CANDIDATES.values()}
        return {**out, "skip": 1 - keep} if self.skip else out

    def forward(self, x: torch.Tensor, keep: float | None = None) -> torch.Tensor:
        kernel = self.decide(keep)
        h = self.expand(x)                                                         # (B, mid, H, W)
        h = F.relu6(self.bn(F.conv2d(h, kernel, None, self.stride, 2, groups=h.shape[1])))
        if not self.training:  # running BN statistics turn zeroed channels into offsets: re-zero them
            on = torch.ones(h.shape[1], device=h.device)
            on[self.half:] = float(self.d["d100c"] > 0)
            h = h * (on * float(self.d["d50c"] > 0)).view(1, -1, 1, 1)
        out = self.project(h)                                                      # (B, C_out, H', W')
        if not self.training and self.skip and not self.d["d50c"] > 0:
            out = torch.zeros_like(out)
        return x + out if self.residual else out


class SuperkernelNetwork(nn.Module):
    """A chain space's network (`nasbench.spaces.chain.ChainNetwork`: stem -> layers -> head) with
    one superkernel per searchable layer instead of one block per candidate."""

    def __init__(self, space, *, C: int = 16, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.space = space
        for options in space.options:
            check_options(options)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, space.stem_stride, 1, bias=False),
                                  nn.BatchNorm2d(C), nn.ReLU())
        self.layers = nn.ModuleList(SuperKernelMBConv(C_in, C_out, stride, "skip" in options)
                                    for (C_in, C_out, stride), options in zip(space.widths(C), space.options))
        C_last = space.widths(C)[-1][1]
        self.head = nn.Sequential(nn.Conv2d(C_last, 2 * C_last, 1, bias=False), nn.BatchNorm2d(2 * C_last),
                                  nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(2 * C_last, num_classes))

    def forward(self, x: torch.Tensor, keep: float | None = None) -> torch.Tensor:
        x = self.stem(x)                     # (B, C, H, W)
        for layer in self.layers:
            x = layer(x, keep)
        return self.head(x)                  # (B, num_classes)

    def thresholds(self) -> list[nn.Parameter]:
        return [t for layer in self.layers for t in (layer.t5x5, layer.t100c, layer.t50c) if t is not None]

    def choices(self) -> tuple[int, ...]:
        """The last forward's hard decisions, as option indices of the space."""
        return tuple(options.index(layer.option()) for layer, options in zip(self.layers, self.space.options))

    def probs(self) -> list[list[float]]:
        """Implied probabilities (`SuperKernelMBConv.probs`), one row per decision in the space's
        options order."""
        return [[layer.probs()[o] for o in options] for layer, options in zip(self.layers, self.space.options)]

    def decide(self) -> tuple[int, ...]:
        """The decisions of the current weights and thresholds (no forward pass, no drop-out)."""
        with torch.no_grad():
            for layer in self.layers:
                layer.decide()
        return self.choices()

    def runtime(self, lut: Sequence[Sequence[float]], base: float = 0.0, form: str = "official") -> torch.Tensor:
        """R = base + sum_l runtime_l(indicators_l) (ms) of the last forward's decisions,
        differentiable through the indicators (`layer_runtime`)."""
        total = torch.as_tensor(float(base), device=self.layers[0].weight.device)
        for layer, options, row in zip(self.layers, self.space.options, lut):
            R = dict(zip(options, (float(v) for v in row)))
            total = total + layer_runtime(layer.d["d5x5"], layer.d["d100c"], layer.d["d50c"], R, form)
        return total
