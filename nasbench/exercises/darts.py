"""Exercises of notebooks/04_darts.ipynb: the mixed op (DARTS eq. 2) and the genotype rule."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from nasbench.ops import build_op
from nasbench.spaces.darts import DARTS_OPS, DartsSpace
from nasbench.supernet import ChoiceEdge


def mixed_op_reference(x: torch.Tensor, alpha: torch.Tensor, ops: Sequence[nn.Module]) -> torch.Tensor:
    weights = torch.softmax(alpha, dim=-1)
    return sum(w * op(x) for w, op in zip(weights, ops))


def check_mixed_op(mixed_op) -> None:
    """Your mixed op against the library's ChoiceEdge on random inputs and alphas, and on an
    alpha so peaked that the mixture must equal its one op; gradients must reach alpha."""
    torch.manual_seed(0)
    edge = ChoiceEdge(DARTS_OPS, lambda op: build_op(op, 4, 1, affine=False)).train()
    x = torch.randn(3, 4, 6, 6)
    for _ in range(3):
        alpha = torch.randn(len(DARTS_OPS), requires_grad=True)
        yours = mixed_op(x, alpha, list(edge.candidates))
        assert isinstance(yours, torch.Tensor), "return a tensor"
        assert yours.shape == x.shape, f"expected shape {tuple(x.shape)}, got {tuple(yours.shape)}"
        library = edge(x, weights=torch.softmax(alpha, -1))
        assert torch.allclose(yours, library, atol=1e-5), "not sum_k softmax(alpha)_k * op_k(x)"
        yours.sum().backward()
        assert alpha.grad is not None and alpha.grad.abs().sum() > 0, "no gradient reaches alpha"
    peaked = torch.full((len(DARTS_OPS),), -30.0)
    peaked[4] = 30.0  # all the weight on sep_conv_3x3
    assert torch.allclose(mixed_op(x, peaked, list(edge.candidates)), edge.candidates[4](x), atol=1e-5), \
        "with all the weight on one op the mixture must be that op"


def derive_cell_reference(weights: Sequence[Sequence[float]], steps: int = 4) -> list[tuple[str, int]]:
    """(op, input) pairs, two per intermediate node, in the order of the DARTS code."""
    genotype, start = [], 0
    for i in range(2, steps + 2):  # node i has inputs 0 .. i-1: edges start .. start+i-1
        rows = [np.asarray(weights[start + j], dtype=float) for j in range(i)]
        best = [max(range(1, len(r)), key=lambda k: r[k]) for r in rows]  # skip "none" (index 0)
        strongest = sorted(range(i), key=lambda j: -rows[j][best[j]])[:2]
        genotype += [(DARTS_OPS[best[j]], j) for j in strongest]
        start += i
    return genotype


def check_derive_cell(derive_cell) -> None:
    """Your rule against the library's `DartsSpace.derive` on random alpha tables (peaked and
    flat), compared as sets of (op, input) per node."""
    space = DartsSpace(steps=4)
    rng = np.random.default_rng(0)
    n = len(space.edges)  # 14 edges per cell
    for concentration in (0.3, 1.0, 5.0):
        table = rng.dirichlet(np.full(8, concentration), size=2 * n)
        choices = space.derive(table)
        for cell in (0, 1):
            yours = derive_cell(table[cell * n:(cell + 1) * n].tolist())
            assert len(yours) == 8, f"expected 8 (op, input) pairs (2 per node), got {len(yours)}"
            expected = [(DARTS_OPS[choices[cell * n + k]], j) for k, (j, _) in enumerate(space.edges)
                        if choices[cell * n + k] != space.none]
            for node in range(4):
                got, want = set(map(tuple, yours[2 * node:2 * node + 2])), set(expected[2 * node:2 * node + 2])
                assert got == want, f"node {node + 2}: you chose {sorted(got)}, the rule gives {sorted(want)}"
