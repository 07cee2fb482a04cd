"""The layer-wise mobile spaces of the hardware-aware methods: ProxylessNAS's MobileNetV2 backbone
and FBNet's macro layout. Like the chain spaces, a network is stem -> searchable layers -> head,
and each layer is one decision over candidate blocks (`nasbench.mobile_blocks`).

    proxyless  Cai et al. 2019 (mit-han-lab/proxylessnas search/imagenet_arch_search.py): stem 3x3
               conv 32 stride 2, a fixed MBConv (k3, e1) to 16, then 21 searchable layers in stages
               of widths 24/40/80/96/192/320, 4/4/4/4/4/1 layers, first strides 2/2/2/1/2/1; each
               layer: 6 MBConvs {3,5,7} x {3,6}, plus `zero` where stride 1 and the width is kept
               (the first layer of a stage has none); 1x1 conv to 1280, pool, classifier.
    fbnet      Wu et al. 2019 Table 1: stem 3x3 conv 16 stride 2, 22 searchable layers in stages
               of widths 16/24/32/64/112/184/352, 1/4/4/4/4/4/1 layers, first strides
               1/2/2/2/1/2/1; each layer: the nine FBNet candidates (skip included everywhere:
               a strided 1x1 conv where the shape changes); 1x1 conv to 1504, pool, classifier.

Widths scale with the stem width `C` given when a network is built (C=32 / C=16 is the paper's
ProxylessNAS / FBNet), rounded to even numbers (the 2-group blocks need them). A spec may cut the
depth (`stages=3`: the first three stages, `per_stage=2`: at most two layers each) and the stem's
stride (`stem_stride=1` for 8x8 or 32x32 images), e.g. `proxyless:stages=3,per_stage=2,stem_stride=1`.
"""
from __future__ import annotations

from typing import Sequence

import networkx as nx
import torch
from torch import nn

from nasbench.blocks import UnknownBlock
from nasbench.mobile_blocks import FBNET, MOBILE_BLOCKS, PROXYLESS
from nasbench.spaces.base import Choices, Space
from nasbench.supernet.choice import ChoiceEdge, LayerChain, use_batch_statistics

Stage = tuple[int, int, int]  # (width at the paper's scale, layers, stride of the first layer)

PROXYLESS_STAGES: tuple[Stage, ...] = ((24, 4, 2), (40, 4, 2), (80, 4, 2), (96, 4, 1), (192, 4, 2), (320, 1, 1))
FBNET_STAGES: tuple[Stage, ...] = ((16, 1, 1), (24, 4, 2), (32, 4, 2), (64, 4, 2), (112, 4, 1), (184, 4, 2), (352, 1, 1))


def _even(width: float) -> int:
    return max(2, 2 * round(width / 2))


class MobileSpace(Space):
    """`layer{i}` decisions over candidate `ops`; `skip_op` ("zero" or None) is offered only where
    stride 1 and the width is kept; `anywhere` ops ("skip" in FBNet) in every layer."""

    def __init__(self, ops: Sequence[str], stages: Sequence[Stage], *, stem: int, stem_stride: int,
                 head: int, first: tuple[str, int] | None = None, skip_op: str | None = None,
                 name: str = "mobile"):
        for op in [*ops, *([skip_op] if skip_op else []), *([first[0]] if first else [])]:
            if op not in MOBILE_BLOCKS:
                raise UnknownBlock(f"unknown block {op!r}; known blocks: {', '.join(MOBILE_BLOCKS)}")
        if not stages or any(n < 1 for _, n, _ in stages):
            raise ValueError(f"every stage needs at least one layer, got {list(stages)}")
        self.ops, self.stages = list(ops), [tuple(s) for s in stages]
        self.stem, self.stem_stride, self.head, self.first = stem, stem_stride, head, first
        # (width in, width out, stride) of each searchable layer at the paper's scale
        self.layout: list[tuple[int, int, int]] = []
        prev = first[1] if first else stem
        for width, n, stride in self.stages:
            for i in range(n):
                self.layout.append((prev, width, stride if i == 0 else 1))
                prev = width
        options = [self.ops + ([skip_op] if skip_op and s == 1 and a == b else []) for a, b, s in self.layout]
        super().__init__([f"layer{i}" for i in range(len(self.layout))], options)
        self.name = name

    def scale(self, C: int) -> float:
        return C / self.stem

    def widths(self, C: int) -> list[tuple[int, int, int]]:
        """(C_in, C_out, stride) of every searchable layer for stem width C."""
        k = self.scale(C)
        return [(_even(a * k), _even(b * k), s) for a, b, s in self.layout]

    def graph(self) -> nx.DiGraph:
        g = super().graph()
        for d, (_, width, stride) in enumerate(self.layout):
            g.nodes[self.decisions[d]].update(stride=stride, width=width)
        return g

    def build(self, choices: Sequence[int], *, C: int | None = None, layers: int | None = None,
              num_classes: int = 10, in_channels: int = 3) -> "MobileNetwork":
        """The stand-alone network of `choices` (`layers` ignored: depth is the decisions)."""
        return MobileNetwork(self, C=C or self.stem, num_classes=num_classes, in_channels=in_channels,
                             choices=self.validate(choices))

    def supernet(self, *, C: int | None = None, layers: int | None = None, num_classes: int = 10,
                 in_channels: int = 3, affine: bool = False,
                 track_running_stats: bool = True) -> "MobileNetwork":
        """Every candidate of every layer (a `ChoiceEdge` each), BN without affine parameters."""
        return MobileNetwork(self, C=C or self.stem, num_classes=num_classes, in_channels=in_channels,
                             affine=affine, track_running_stats=track_running_stats)


class MobileNetwork(LayerChain):
    """stem (3x3 conv [+ fixed first block]) -> searchable layers -> 1x1 conv -> GAP -> FC.

    The same face as `ChainNetwork`: `stem`, `layers` (ChoiceEdges in a supernet), `head`;
    `forward(x, choices=c)` runs one block per layer, `forward(x, weights=w)` mixes them."""

    def __init__(self, space: MobileSpace, *, C: int, num_classes: int, in_channels: int,
                 choices: Choices | None = None, affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.space, self.choices = space, choices
        affine = True if choices is not None else affine
        k = space.scale(C)
        stem = _even(space.stem * k)
        parts = [nn.Conv2d(in_channels, stem, 3, space.stem_stride, 1, bias=False),
                 nn.BatchNorm2d(stem, affine=affine), nn.ReLU6()]
        if space.first:
            op, width = space.first
            parts.append(MOBILE_BLOCKS[op](stem, _even(width * k), 1, affine))
        self.stem = nn.Sequential(*parts)
        self.layers = nn.ModuleList()
        for d, (C_in, C_out, stride) in enumerate(space.widths(C)):
            build = lambda op, C_in=C_in, C_out=C_out, stride=stride: MOBILE_BLOCKS[op](C_in, C_out, stride, affine)
            if choices is None:
                self.layers.append(ChoiceEdge(space.options[d], build))
            else:
                self.layers.append(build(space.options[d][choices[d]]))
        C_last, head = space.widths(C)[-1][1], _even(space.head * k)
        self.head = nn.Sequential(nn.Conv2d(C_last, head, 1, bias=False), nn.BatchNorm2d(head, affine=affine),
                                  nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(head, num_classes))
        if not track_running_stats:
            use_batch_statistics(self)


def _cut(base: Sequence[Stage], stages: int | None, per_stage: int | None) -> list[Stage]:
    return [(w, min(n, per_stage) if per_stage else n, s) for w, n, s in list(base)[: stages or len(base)]]


def _spec(base: str, **args) -> str:
    given = ",".join(f"{k}={v}" for k, v in args.items() if v is not None)
    return f"{base}:{given}" if given else base


def proxyless(*, stages: int | None = None, per_stage: int | None = None, stem_stride: int | None = None,
              ops: Sequence[str] | None = None) -> MobileSpace:
    """ProxylessNAS's MobileNetV2 space (21 layers; see the module docstring)."""
    ops = [ops] if isinstance(ops, str) else ops
    return MobileSpace(list(ops or PROXYLESS), _cut(PROXYLESS_STAGES, stages, per_stage), stem=32,
                       stem_stride=stem_stride or 2, head=1280, first=("mbconv_k3_e1", 16), skip_op="zero",
                       name=_spec("proxyless", stages=stages, per_stage=per_stage, stem_stride=stem_stride,
                                  ops="+".join(ops) if ops else None))


def fbnet(*, stages: int | None = None, per_stage: int | None = None, stem_stride: int | None = None,
          ops: Sequence[str] | None = None) -> MobileSpace:
    """FBNet's layer-wise space (22 layers x 9 candidates; see the module docstring)."""
    ops = [ops] if isinstance(ops, str) else ops
    return MobileSpace(list(ops or FBNET), _cut(FBNET_STAGES, stages, per_stage), stem=16,
                       stem_stride=stem_stride or 2, head=1504,
                       name=_spec("fbnet", stages=stages, per_stage=per_stage, stem_stride=stem_stride,
                                  ops="+".join(ops) if ops else None))
