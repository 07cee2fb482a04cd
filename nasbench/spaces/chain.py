"""Chain spaces: a MobileNetV2 / ShuffleNetV2-style stack of searchable layers (SPOS, FairNAS,
ProxylessNAS).

The network is stem -> stages -> head. A stage is `n` layers of one width; its first layer may be
strided. Each layer is one decision: which candidate block (`nasbench.blocks`) it is. The `skip`
option (leave the layer out) exists only on stride-1 layers that keep the width, so every
architecture is a valid network.

A layout is data: `stages = ((width_multiplier, n_layers, first_stride), ...)`; the width of a
stage is `width_multiplier * C`, with `C` given when the network is built (so the CPU presets
shrink widths without changing the space). Depth is part of the space: `per_stage=` and `stages=`
(keep the first few stages) shrink it.

What surrounds the searchable layers is data too (`Macro`): the paper's stem and head. SPOS's
supernet (megvii-model/SinglePathOneShot src/Supernet/network.py): a stride-2 3x3 stem of 16,
a 1x1 head conv to 1024, dropout 0.1, a bias-free classifier, non-affine BN everywhere. The
released FairNAS models (xiaomi-automl/FairNAS models/FairNAS_{A,B,C}.py): a stride-2 3x3 stem
of 32, a fixed separable conv 32 -> 16, ReLU6, a 1x1 head conv to 1280, dropout 0.2.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import networkx as nx
import torch
from torch import nn

from nasbench.blocks import BLOCKS, MBCONV, SHUFFLE, UnknownBlock, build_block
from nasbench.spaces.base import Choices, Space
from nasbench.supernet.choice import ChoiceEdge, LayerChain, use_batch_statistics

Stage = tuple[float, int, int]  # (width multiplier of C, layers, stride of the first layer)

# SPOS (Guo et al. 2019): ShuffleNetV2 1.0x, 4 stages of 4/4/8/4 layers, widths 64/160/320/640
# for a 16-channel stem; every stage halves the resolution.
SHUFFLE_STAGES: tuple[Stage, ...] = ((4, 4, 2), (10, 4, 2), (20, 8, 2), (40, 4, 2))
# FairNAS: the released models' 19 searchable layers, widths x layers 32x2, 40x4, 80x4, 96x4,
# 192x4, 320x1 after the fixed separable conv to C=16 (models/FairNAS_A.py `mb_config`).
MBV2_STAGES: tuple[Stage, ...] = ((2, 2, 2), (2.5, 4, 2), (5, 4, 2), (6, 4, 1), (12, 4, 2), (20, 1, 1))
# chain-small: 3 stride-1 layers at width C, 5 options each = 125 architectures (a ground-truth
# table can train every one). Keep the name and the options stable.
SMALL_OPS = ["mbconv_k3_e3", "mbconv_k3_e6", "mbconv_k5_e3", "mbconv_k5_e6", "skip"]
SMALL_STAGES: tuple[Stage, ...] = ((1, 3, 1),)


@dataclass(frozen=True)
class Macro:
    """The fixed layers around the searchable ones (widths as multiples of C)."""
    stem: float = 1              # 3x3 conv to stem*C channels
    stem_stride: int = 1
    stem_sep: bool = False       # then a fixed separable 3x3 conv stem*C -> C (FairNAS)
    head: float | None = None    # 1x1 conv to head*C before pooling; None: twice the last width
    dropout: float = 0.0         # before the classifier
    bias: bool = True            # the classifier's bias
    relu6: bool = False          # ReLU6 in stem and head (MobileNetV2) instead of ReLU
    search_bn_everywhere: bool = False  # stem and head BN also lose their affine parameters in
                                        # the supernet (SPOS), not only the searchable blocks'


SPOS_MACRO = Macro(stem_stride=2, head=64, dropout=0.1, bias=False, search_bn_everywhere=True)
FAIRNAS_MACRO = Macro(stem=2, stem_stride=2, stem_sep=True, head=80, dropout=0.2, relu6=True)


def _width(C: int, multiplier: float) -> int:
    """Stage width: multiplier * C rounded to an even number (shuffle blocks split channels)."""
    return max(2, 2 * round(C * multiplier / 2))


class ChainSpace(Space):
    """`layer{i}` decisions, one per searchable layer, over candidate `ops` (block names)."""

    def __init__(self, ops: Sequence[str], stages: Sequence[Stage], *, stem_stride: int | None = None,
                 macro: Macro = Macro(), name: str = "chain"):
        for op in ops:
            if op not in BLOCKS:
                raise UnknownBlock(f"unknown block {op!r}; known blocks: {', '.join(BLOCKS)}")
        if not stages or any(n < 1 for _, n, _ in stages):
            raise ValueError(f"every stage needs at least one layer, got {list(stages)}")
        if stem_stride is not None:
            macro = dataclasses.replace(macro, stem_stride=stem_stride)
        self.ops, self.stages, self.macro = list(ops), [tuple(s) for s in stages], macro
        self.stem_stride = macro.stem_stride
        # (width multiplier in, width multiplier out, stride) of each searchable layer
        self.layout: list[tuple[float, float, int]] = []
        prev = 1
        for mult, n, stride in self.stages:
            for i in range(n):
                self.layout.append((prev, mult, stride if i == 0 else 1))
                prev = mult
        options = [[op for op in self.ops if op != "skip" or (s == 1 and a == b)]
                   for a, b, s in self.layout]
        super().__init__([f"layer{i}" for i in range(len(self.layout))], options)
        self.name = name

    def widths(self, C: int) -> list[tuple[int, int, int]]:
        """(C_in, C_out, stride) of every searchable layer for stem width C."""
        return [(_width(C, a), _width(C, b), s) for a, b, s in self.layout]

    def graph(self) -> nx.DiGraph:
        """A chain: input -> layer0 -> ... -> output; each layer node carries its decision, its
        stride and its width multiplier."""
        g = super().graph()
        for d, (_, mult, stride) in enumerate(self.layout):
            g.nodes[self.decisions[d]].update(stride=stride, width=mult)
        return g

    def build(self, choices: Sequence[int], *, C: int = 16, layers: int | None = None,
              num_classes: int = 10, in_channels: int = 3) -> "ChainNetwork":
        """The stand-alone network of `choices`. `layers` is accepted so generic code can pass
        the usual size arguments; a chain's depth is its decisions, so it is ignored."""
        return ChainNetwork(self, C=C, num_classes=num_classes, in_channels=in_channels,
                            choices=self.validate(choices))

    def supernet(self, *, C: int = 16, layers: int | None = None, num_classes: int = 10,
                 in_channels: int = 3, affine: bool = False,
                 track_running_stats: bool = True) -> "ChainNetwork":
        """Every candidate of every layer, BN without affine parameters (SPOS)."""
        return ChainNetwork(self, C=C, num_classes=num_classes, in_channels=in_channels,
                            affine=affine, track_running_stats=track_running_stats)


class ChainNetwork(LayerChain):
    """stem (3x3 conv; + separable conv for FairNAS) -> searchable layers -> 1x1 conv -> GAP ->
    (dropout) -> FC, as the space's `Macro` says.

    Stand-alone (`choices` given) it holds one block per layer. As a supernet it holds a
    `ChoiceEdge` per layer: `forward(x, choices=c)` runs exactly one block per layer (single
    path), `forward(x, weights=w)` mixes every block of layer d by `w[d]`."""

    def __init__(self, space: ChainSpace, *, C: int, num_classes: int, in_channels: int,
                 choices: Choices | None = None, affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.space, self.choices = space, choices
        affine = True if choices is not None else affine
        m = space.macro
        fixed_affine = affine if m.search_bn_everywhere else True  # BN of stem and head
        act = nn.ReLU6 if m.relu6 else nn.ReLU
        C_stem = _width(C, m.stem)
        stem = [nn.Conv2d(in_channels, C_stem, 3, m.stem_stride, 1, bias=False),
                nn.BatchNorm2d(C_stem, affine=fixed_affine), act()]
        if m.stem_sep:  # depthwise 3x3 -> BN -> ReLU6 -> pointwise to C -> BN (no activation)
            stem += [nn.Conv2d(C_stem, C_stem, 3, 1, 1, groups=C_stem, bias=False),
                     nn.BatchNorm2d(C_stem, affine=fixed_affine), act(),
                     nn.Conv2d(C_stem, _width(C, 1), 1, bias=False),
                     nn.BatchNorm2d(_width(C, 1), affine=fixed_affine)]
        self.stem = nn.Sequential(*stem)
        self.layers = nn.ModuleList()
        for d, (C_in, C_out, stride) in enumerate(space.widths(C)):
            build = lambda op, C_in=C_in, C_out=C_out, stride=stride: build_block(op, C_in, C_out, stride, affine)
            if choices is None:
                self.layers.append(ChoiceEdge(space.options[d], build))
            else:
                self.layers.append(build(space.options[d][choices[d]]))
        C_last = space.widths(C)[-1][1]
        C_head = 2 * C_last if m.head is None else _width(C, m.head)
        self.head = nn.Sequential(nn.Conv2d(C_last, C_head, 1, bias=False),
                                  nn.BatchNorm2d(C_head, affine=fixed_affine), act(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  *([nn.Dropout(m.dropout)] if m.dropout else []),
                                  nn.Linear(C_head, num_classes, bias=m.bias))
        if not track_running_stats:
            use_batch_statistics(self)


def _stages(base: Sequence[Stage], stages: int | None, per_stage: int | None) -> list[Stage]:
    kept = list(base)[: stages or len(base)]
    return [(m, per_stage or n, s) for m, n, s in kept]


def chain_small(**kw) -> ChainSpace:
    return ChainSpace(SMALL_OPS, SMALL_STAGES, name="chain-small", **kw)


def _spec(base: str, **args) -> str:
    """The space's name as a spec `get_space` re-creates, e.g. `chain-shuffle:per_stage=1`."""
    given = ",".join(f"{k}={v}" for k, v in args.items() if v)
    return f"{base}:{given}" if given else base


def _paper_chain(base: str, blocks: list[str], layout: Sequence[Stage], macro: Macro, *,
                 stages: int | None = None, per_stage: int | None = None, skip: int = 0,
                 stem_stride: int | None = None) -> ChainSpace:
    """A paper's chain (`layout` inside `macro`), optionally cut to `stages` x `per_stage` layers,
    with `skip`; `stem_stride=1` keeps the resolution of small images (the CPU presets)."""
    if stem_stride == macro.stem_stride:
        stem_stride = None
    return ChainSpace(blocks + (["skip"] if skip else []), _stages(layout, stages, per_stage),
                      stem_stride=stem_stride, macro=macro,
                      name=_spec(base, stages=stages, per_stage=per_stage, skip=skip, stem_stride=stem_stride))


def chain_shuffle(**kw) -> ChainSpace:
    return _paper_chain("chain-shuffle", SHUFFLE, SHUFFLE_STAGES, SPOS_MACRO, **kw)


def chain_mbv2(**kw) -> ChainSpace:
    return _paper_chain("chain-mbv2", MBCONV, MBV2_STAGES, FAIRNAS_MACRO, **kw)
