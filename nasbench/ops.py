"""Candidate operations of the cell spaces.

`OPS[name](C, stride, affine)` builds one candidate: C channels in and out, spatial size divided
by `stride`. The names follow NAS-Bench-201 (`nor_conv_3x3`, ...) and DARTS (`sep_conv_3x3`, ...),
so a genotype from either paper reads the same here. Search networks build ops with
`affine=False` (DARTS, SPOS: the architecture weights, not BN, should scale each op); stand-alone
networks use `affine=True`.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


class UnknownOp(ValueError):
    """An op name that is not in `OPS`."""


class GuardedConv2d(nn.Conv2d):
    """nn.Conv2d that never hands oneDNN a strided 1x1 convolution.

    On CPUs with AVX2 and no AVX-512, torch 2.14's oneDNN (`brgconv_strided:avx2`) writes out of
    bounds in the backward pass of a 1x1, stride-2 convolution on channels-last tensors with few
    channels, and the process dies or its numbers go wrong (docs/onednn.md). A 1x1 convolution with
    stride s and no padding reads only every s-th pixel, so it equals a stride-1 convolution of
    x[:, :, ::s, ::s]: the same values and gradients, through a kernel without the bug. Any other
    shape runs as nn.Conv2d. Same parameters and state_dict keys as nn.Conv2d.
    """

    enabled = True  # False only to measure the guard (benchmarks/bench_onednn_guard.py)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.enabled and self.kernel_size == (1, 1) and self.stride != (1, 1) and self.padding == (0, 0):
            s_h, s_w = self.stride
            return F.conv2d(x[:, :, ::s_h, ::s_w], self.weight, self.bias, 1, 0, self.dilation, self.groups)
        return super().forward(x)


class ReLUConvBN(nn.Module):
    """ReLU -> Conv -> BN, the NAS-Bench-201 / DARTS convolution unit."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, dilation=1, affine=True, bias=False):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            GuardedConv2d(C_in, C_out, kernel_size, stride, padding, dilation=dilation, bias=bias),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    """ReLU -> depthwise dilated conv -> pointwise conv -> BN (DARTS dil_conv_*)."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, dilation, affine=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride, padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x):
        return self.op(x)


class SepConv(nn.Module):
    """Two stacked DilConvs with dilation 1 (DARTS sep_conv_*: the separable conv applied twice)."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, affine=True):
        super().__init__()
        self.op = nn.Sequential(
            DilConv(C_in, C_in, kernel_size, stride, padding, 1, affine),
            DilConv(C_in, C_out, kernel_size, 1, padding, 1, affine),
        )

    def forward(self, x):
        return self.op(x)


class Conv7x1_1x7(nn.Module):
    """ReLU -> 1x7 conv -> 7x1 conv -> BN (the factorised 7x7 of Bender et al. 2018)."""

    def __init__(self, C, stride, affine=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C, C, (1, 7), stride=(1, stride), padding=(0, 3), bias=False),
            nn.Conv2d(C, C, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False),
            nn.BatchNorm2d(C, affine=affine),
        )

    def forward(self, x):
        return self.op(x)


class Zero(nn.Module):
    """The `none` op: outputs zeros of the right shape (an absent edge)."""

    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset 1x1 convs (DARTS' skip_connect at stride 2)."""

    def __init__(self, C_in, C_out, affine=True, relu=True):
        super().__init__()
        assert C_out % 2 == 0, "FactorizedReduce needs an even number of output channels"
        self.relu = nn.ReLU(inplace=False) if relu else nn.Identity()  # ENAS between stages: none
        self.conv_1 = GuardedConv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = GuardedConv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x):
        x = self.relu(x)
        shifted = x[:, :, 1:, 1:] if x.size(2) > 1 and x.size(3) > 1 else x
        a = self.conv_1(x)
        b = self.conv_2(shifted)
        if b.shape[2:] != a.shape[2:]:  # odd sizes: pad the shifted branch back to a's size
            b = nn.functional.pad(b, (0, a.size(3) - b.size(3), 0, a.size(2) - b.size(2)))
        return self.bn(torch.cat([a, b], dim=1))


def _pool(kind: str, C: int, stride: int, affine: bool, bn: bool) -> nn.Module:
    pool = (nn.MaxPool2d(3, stride, padding=1) if kind == "max"
            else nn.AvgPool2d(3, stride, padding=1, count_include_pad=False))
    # DARTS follows parameter-free pools with a non-affine BN in the search network, so their
    # output scale is comparable with the convolutions' (quark0/darts model_search.py).
    return nn.Sequential(pool, nn.BatchNorm2d(C, affine=False)) if bn else pool


OpFactory = Callable[[int, int, bool], nn.Module]

OPS: dict[str, OpFactory] = {
    # shared by NAS-Bench-201 and DARTS
    "none": lambda C, stride, affine: Zero(stride),
    "skip_connect": lambda C, stride, affine: nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine),
    "avg_pool_3x3": lambda C, stride, affine: _pool("avg", C, stride, affine, bn=not affine),
    "max_pool_3x3": lambda C, stride, affine: _pool("max", C, stride, affine, bn=not affine),
    # NAS-Bench-201
    "nor_conv_1x1": lambda C, stride, affine: ReLUConvBN(C, C, 1, stride, 0, affine=affine),
    "nor_conv_3x3": lambda C, stride, affine: ReLUConvBN(C, C, 3, stride, 1, affine=affine),
    # DARTS
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine),
    # Bender et al. 2018
    "sep_conv_7x7": lambda C, stride, affine: SepConv(C, C, 7, stride, 3, affine),
    "conv_7x1_1x7": lambda C, stride, affine: Conv7x1_1x7(C, stride, affine),
}

# Ops with no trainable weights: DARTS' collapse shows as these taking over the genotype.
PARAMETER_FREE = frozenset({"none", "skip_connect", "avg_pool_3x3", "max_pool_3x3"})


def build_op(name: str, C: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """Build the candidate op `name` with C channels (see `OPS`)."""
    if name not in OPS:
        raise UnknownOp(f"unknown op {name!r}; known ops: {', '.join(OPS)}")
    return OPS[name](C, stride, affine)
