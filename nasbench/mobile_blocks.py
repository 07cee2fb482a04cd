"""Candidate blocks of the mobile spaces (`nasbench.spaces.mobile`) that `nasbench.blocks` lacks.

    zero              ProxylessNAS's Zero op inside a residual block: the block adds nothing to its
                      shortcut, so the layer is the identity (only where stride 1, width kept)
    mbconv_k3_e1      ProxylessNAS's fixed first block: depthwise 3x3 + 1x1 linear projection, no
                      expansion conv (MBInvertedConvLayer with expand_ratio 1)
    ir_k{3,5}_e{1,3,6}  FBNet's inverted residual (IRFBlock): 1x1 conv to e*C_in, BN, ReLU; kxk
                      depthwise (stride), BN, ReLU; 1x1 linear conv, BN; identity shortcut when
                      the shape is kept. Unlike ProxylessNAS, e=1 keeps its 1x1 expansion conv.
    ir_k{3,5}_s2      the same with e=1 and both 1x1 convs grouped (2 groups), a channel shuffle
                      after the first (FBNet's group-conv candidates)
    skip (FBNet)      identity where the shape is kept; elsewhere a strided 1x1 conv, BN, ReLU
                      (FBNet's builder: "skip" is Identity(C_in, C_out, stride))

Every block is `MOBILE_BLOCKS[name](C_in, C_out, stride, affine)`, like `nasbench.blocks.BLOCKS`,
whose MobileNetV2 blocks (`mbconv_k{3,5,7}_e{3,6}`) the mobile spaces reuse.
"""
from __future__ import annotations

import torch
from torch import nn

from nasbench.blocks import BLOCKS, MBCONV
from nasbench.ops import GuardedConv2d


class Zero(nn.Identity):
    """ProxylessNAS's Zero op plus the block's identity shortcut: the layer is skipped."""

    def __init__(self, C_in, C_out, stride, affine=True):
        super().__init__()
        if stride != 1 or C_in != C_out:
            raise ValueError(f"zero needs stride 1 and an unchanged width, got stride {stride}, "
                             f"{C_in} -> {C_out} channels")


class SepConv(nn.Module):
    """MBConv with expansion 1 (ProxylessNAS's first block): dw kxk, BN, ReLU6, 1x1, BN."""

    def __init__(self, C_in, C_out, kernel, stride, affine=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.Conv2d(C_in, C_in, kernel, stride, kernel // 2, groups=C_in, bias=False),
            nn.BatchNorm2d(C_in, affine=affine), nn.ReLU6(),
            nn.Conv2d(C_in, C_out, 1, bias=False), nn.BatchNorm2d(C_out, affine=affine))

    def forward(self, x):
        return self.op(x)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, g*n, H, W) -> (B, n*g, H, W): channel i of group j moves to position i*g + j."""
    B, C, H, W = x.shape
    return x.view(B, groups, C // groups, H, W).transpose(1, 2).reshape(B, C, H, W)


class IRFBlock(nn.Module):
    """FBNet's inverted residual: (B, C_in, H, W) -> (B, C_out, H/stride, W/stride)."""

    def __init__(self, C_in, C_out, kernel, expansion, stride, affine=True, groups=1):
        super().__init__()
        mid = C_in * expansion
        if C_in % groups or C_out % groups:
            raise ValueError(f"a {groups}-group block needs widths divisible by {groups}, got {C_in} -> {C_out}")
        self.groups = groups
        self.residual = stride == 1 and C_in == C_out
        self.pw = nn.Sequential(nn.Conv2d(C_in, mid, 1, groups=groups, bias=False),
                                nn.BatchNorm2d(mid, affine=affine), nn.ReLU())
        self.dw = nn.Sequential(nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False),
                                nn.BatchNorm2d(mid, affine=affine), nn.ReLU())
        self.pwl = nn.Sequential(nn.Conv2d(mid, C_out, 1, groups=groups, bias=False),
                                 nn.BatchNorm2d(C_out, affine=affine))

    def forward(self, x):
        y = self.pw(x)
        if self.groups > 1:
            y = channel_shuffle(y, self.groups)  # let the two groups of the next 1x1 see each other
        y = self.pwl(self.dw(y))
        return x + y if self.residual else y


class FBNetSkip(nn.Module):
    """FBNet's skip: the identity, or a strided 1x1 conv + BN + ReLU where the shape changes."""

    def __init__(self, C_in, C_out, stride, affine=True):
        super().__init__()
        self.proj = None if stride == 1 and C_in == C_out else nn.Sequential(
            GuardedConv2d(C_in, C_out, 1, stride, bias=False), nn.BatchNorm2d(C_out, affine=affine), nn.ReLU())

    def forward(self, x):
        return x if self.proj is None else self.proj(x)


# FBNet (Wu et al. 2019) Table 2: the nine candidates of every searchable layer
FBNET = ["ir_k3_e1", "ir_k3_s2", "ir_k3_e3", "ir_k3_e6", "ir_k5_e1", "ir_k5_s2", "ir_k5_e3", "ir_k5_e6", "skip"]
# ProxylessNAS: six MBConvs, plus zero where stride 1 and the width is kept
PROXYLESS = list(MBCONV)

MOBILE_BLOCKS = {
    **{name: BLOCKS[name] for name in MBCONV},
    "zero": Zero,
    "mbconv_k3_e1": lambda C_in, C_out, stride, affine: SepConv(C_in, C_out, 3, stride, affine),
    **{f"ir_k{k}_e{e}": (lambda C_in, C_out, stride, affine, k=k, e=e:
                         IRFBlock(C_in, C_out, k, e, stride, affine))
       for k in (3, 5) for e in (1, 3, 6)},
    **{f"ir_k{k}_s2": (lambda C_in, C_out, stride, affine, k=k:
                       IRFBlock(C_in, C_out, k, 1, stride, affine, groups=2))
       for k in (3, 5)},
    "skip": FBNetSkip,
}
