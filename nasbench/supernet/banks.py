"""The memory-bank wiring SMASH's two networks share (the stand-alone `MainNet` of
nasbench.spaces.smash and the hypernet-driven `SmashNet` of nasbench.supernet.hypernet): the 2x2
conv layout of an op, its 'same' padding, and how an op's output is added to the banks it writes.
Plain functions on duck-typed ops (`reads`, `writes`, `width`), so neither network module needs
the other."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

if TYPE_CHECKING:
    from nasbench.spaces.smash import Op, SmashSpace


def combine(pattern: str, conv: Sequence, x: torch.Tensor) -> torch.Tensor:
    """The 2x2 op layout (layers.py SMASHLayer.forward): conv0 (-> conv1) plus conv2 (-> conv3)."""
    a = conv[0](x)
    if pattern[1] == "1":
        a = conv[1](a)
    if pattern[2] == "1":
        b = conv[2](x)
        a = a + (conv[3](b) if pattern[3] == "1" else b)
    return a


def conv_padding(kernel: Sequence[int], dilation: Sequence[int]) -> tuple[int, int]:
    """'Same' padding of a dilated kernel, per dimension (layers.py SMASHC2D)."""
    return tuple((k + (k - 1) * (d - 1)) // 2 for k, d in zip(kernel, dilation))


def written_banks(space: SmashSpace, b: int, ops: Sequence[Op]) -> int:
    """Banks a block ends with: its input banks plus every bank its ops allocated."""
    return max([space.in_banks[b]] + [max(op.writes) + 1 for op in ops])


def write_banks(banks: list, op: Op, out: torch.Tensor, N: int) -> None:
    """Add the j-th written bank's chunk of `out` (chunk j mod G/N, SMASH.py forward)."""
    chunks = op.width // N
    for j, m in enumerate(op.writes):
        piece = out[:, (j % chunks) * N:(j % chunks + 1) * N]
        banks[m] = piece if banks[m] is None else banks[m] + piece
