"""Candidate blocks of the chain spaces (one searchable layer = one of these).

Unlike the cell ops of `nasbench.ops`, a block may change the width and the resolution:
`BLOCKS[name](C_in, C_out, stride, affine)`.

    mbconv_k{3,5,7}_e{3,6}   MobileNetV2 inverted residual (Sandler et al. 2018): 1x1 expand to
                             e*C_in, kxk depthwise (stride), 1x1 linear project; identity shortcut
                             when the shape is kept (ProxylessNAS, FairNAS candidates)
    shuffle_k{3,5,7}         ShuffleNetV2 unit (Ma et al. 2018) with a kxk depthwise conv (SPOS)
    shuffle_xception         ShuffleNetV2 unit whose branch is three depthwise-3x3 + 1x1 pairs (SPOS)
    skip                     the identity: the layer is left out (only where stride 1, width kept)

Search networks build blocks with `affine=False` (SPOS: BN without learned scale in the supernet).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from nasbench.ops import UnknownOp


class UnknownBlock(UnknownOp):
    """A block name that is not in `BLOCKS`."""


def _bn(C: int, affine: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(C, affine=affine)


def _pw(C_in: int, C_out: int) -> nn.Conv2d:
    return nn.Conv2d(C_in, C_out, 1, bias=False)


def _dw(C: int, kernel: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(C, C, kernel, stride, kernel // 2, groups=C, bias=False)


class MBConv(nn.Module):
    """Inverted residual: (B, C_in, H, W) -> (B, C_out, H/stride, W/stride)."""

    def __init__(self, C_in, C_out, kernel, expansion, stride, affine=True):
        super().__init__()
        mid = C_in * expansion
        self.residual = stride == 1 and C_in == C_out
        self.op = nn.Sequential(
            _pw(C_in, mid), _bn(mid, affine), nn.ReLU6(),
            _dw(mid, kernel, stride), _bn(mid, affine), nn.ReLU6(),
            _pw(mid, C_out), _bn(C_out, affine),  # linear bottleneck: no activation
        )

    def forward(self, x):
        return x + self.op(x) if self.residual else self.op(x)


def channel_split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Even and odd channels: ShuffleNetV2's channel shuffle of the previous unit's concat, fused
    with this unit's channel split (as SPOS does it)."""
    return x[:, 0::2], x[:, 1::2]


class ShuffleBlock(nn.Module):
    """ShuffleNetV2 unit. Stride 1: half of the channels pass through untouched, the other half go
    through the branch. Stride 2: a depthwise-strided projection of the whole input runs beside the
    branch. Output = concat(passed-on, branch), (B, C_out, H/stride, W/stride)."""

    def __init__(self, C_in, C_out, kernel, stride, affine=True, xception=False):
        super().__init__()
        if C_in % 2 and stride == 1:
            raise ValueError(f"a stride-1 shuffle block needs an even input width, got {C_in}")
        self.stride = stride
        inp = C_in // 2 if stride == 1 else C_in  # what the branch reads
        out = C_out - inp                         # what it adds to the passed-on channels
        if out <= 0:
            raise ValueError(f"a shuffle block from {C_in} to {C_out} channels leaves its branch "
                             f"no output channels")
        mid = C_out // 2  # SPOS: the branch's middle width is half the output width
        if xception:
            self.branch = nn.Sequential(
                _dw(inp, 3, stride), _bn(inp, affine), _pw(inp, mid), _bn(mid, affine), nn.ReLU(),
                _dw(mid, 3, 1), _bn(mid, affine), _pw(mid, mid), _bn(mid, affine), nn.ReLU(),
                _dw(mid, 3, 1), _bn(mid, affine), _pw(mid, out), _bn(out, affine), nn.ReLU(),
            )
        else:
            self.branch = nn.Sequential(
                _pw(inp, mid), _bn(mid, affine), nn.ReLU(),
                _dw(mid, kernel, stride), _bn(mid, affine),
                _pw(mid, out), _bn(out, affine), nn.ReLU(),
            )
        if stride == 2:
            self.proj = nn.Sequential(_dw(C_in, kernel, 2), _bn(C_in, affine),
                                      _pw(C_in, C_in), _bn(C_in, affine), nn.ReLU())

    def forward(self, x):
        if self.stride == 1:
            passed, x = channel_split(x)
            return torch.cat([passed, self.branch(x)], 1)
        return torch.cat([self.proj(x), self.branch(x)], 1)


def _skip(C_in, C_out, stride, affine):
    if stride != 1 or C_in != C_out:
        raise ValueError(f"skip needs stride 1 and an unchanged width, got stride {stride}, "
                         f"{C_in} -> {C_out} channels")
    return nn.Identity()


BlockFactory = Callable[[int, int, int, bool], nn.Module]

BLOCKS: dict[str, BlockFactory] = {
    **{f"mbconv_k{k}_e{e}": (lambda C_in, C_out, stride, affine, k=k, e=e:
                             MBConv(C_in, C_out, k, e, stride, affine))
       for k in (3, 5, 7) for e in (3, 6)},
    **{f"shuffle_k{k}": (lambda C_in, C_out, stride, affine, k=k:
                         ShuffleBlock(C_in, C_out, k, stride, affine))
       for k in (3, 5, 7)},
    "shuffle_xception": lambda C_in, C_out, stride, affine:
        ShuffleBlock(C_in, C_out, 3, stride, affine, xception=True),
    "skip": _skip,
}

MBCONV = [f"mbconv_k{k}_e{e}" for k in (3, 5, 7) for e in (3, 6)]   # FairNAS / ProxylessNAS
SHUFFLE = ["shuffle_k3", "shuffle_k5", "shuffle_k7", "shuffle_xception"]  # SPOS


def build_block(name: str, C_in: int, C_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """Build the candidate block `name` (see `BLOCKS`)."""
    if name not in BLOCKS:
        raise UnknownBlock(f"unknown block {name!r}; known blocks: {', '.join(BLOCKS)}")
    return BLOCKS[name](C_in, C_out, stride, affine)
