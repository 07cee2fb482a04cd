"""The Single-Path NAS search space (Stamoulis et al. 2019, Fig. 2; dstamoulis/single-path-nas
nas-search/supernet_macro.py `single_path_search`): the MnasNet / MobileNetV2 backbone with 20
searchable MBConv layers, each k3/k5 x e3/e6, and skip on every layer but the first of a stage.

    official blocks (repeats, kernel, stride, expansion, in -> out):
        r1_k3_s11_e1_i32_o16 (fixed)
        r4 s22 i16_o24 | r4 s22 i24_o40 | r4 s22 i40_o80 | r4 s11 i80_o96 | r4 s22 i96_o192   (searched)
        r1_k3_s11_e6_i192_o320 (fixed), then a 1x1 conv to 1280, pooling, FC

As a chain space (`nasbench.spaces.chain.ChainSpace`) with a 16-channel stem the searched stages
are widths 24/40/80/96/192 = (1.5, 2.5, 5, 6, 12) x C, 4 layers each. The fixed first and last
blocks and the 1280-wide head are not part of the chain network (its head is a 1x1 conv to twice
the last width), as for `chain-mbv2`.
"""
from __future__ import annotations

from nasbench.spaces.chain import ChainSpace, Stage, _spec, _stages

SINGLEPATH_OPS = ["mbconv_k3_e3", "mbconv_k3_e6", "mbconv_k5_e3", "mbconv_k5_e6", "skip"]
SINGLEPATH_STAGES: tuple[Stage, ...] = ((1.5, 4, 2), (2.5, 4, 2), (5, 4, 2), (6, 4, 1), (12, 4, 2))


def chain_singlepath(*, stages: int | None = None, per_stage: int | None = None,
                     stem_stride: int = 1) -> ChainSpace:
    """The Single-Path NAS chain, optionally cut to `stages` x `per_stage` layers."""
    return ChainSpace(SINGLEPATH_OPS, _stages(SINGLEPATH_STAGES, stages, per_stage), stem_stride=stem_stride,
                      name=_spec("chain-singlepath", stages=stages, per_stage=per_stage,
                                 stem_stride=stem_stride if stem_stride != 1 else None))
