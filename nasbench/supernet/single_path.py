"""Single-path supernets: what one path costs, without building it.

In a chain supernet (`nasbench.spaces.chain`) layer d is decision d and every candidate of a layer
sees the same input size, so the cost of a path is additive:

    cost(choices) = base + sum_d table[d][choices[d]]

`PathCost` measures `base` and `table` once (FLOPs of each candidate block at its layer's input
size, or its parameters); SPOS uses it for FLOPs-balanced sampling and for the evolution's budget.
"""
from __future__ import annotations

from typing import Sequence

from torch import nn

from nasbench.evaluate.cost import count_flops, count_params
from nasbench.supernet.choice import ChoiceEdge


class PathCost:
    """FLOPs (multiply-adds) or parameters of any path of a single-path supernet whose i-th
    ChoiceEdge is decision i, as `base + sum_d table[d][c_d]`. Parameters are the supernet's own:
    a search supernet's BN has no affine weights, so pass `space.supernet(affine=True)` to count
    a stand-alone network's parameters."""

    def __init__(self, supernet: nn.Module, input_shape: Sequence[int], kind: str = "flops"):
        if kind not in ("flops", "params"):
            raise ValueError(f"kind must be 'flops' or 'params', got {kind!r}")
        self.kind = kind
        edges = [m for m in supernet.modules() if isinstance(m, ChoiceEdge)]
        shapes: list[tuple[int, ...]] = []
        hooks = [e.register_forward_pre_hook(lambda m, args: shapes.append(tuple(args[0].shape[1:])))
                 for e in edges]
        first = tuple(0 for _ in edges)
        try:
            total = count_flops(supernet, tuple(input_shape), lambda x: supernet(x, choices=first))
        finally:
            for h in hooks:
                h.remove()
        if len(shapes) != len(edges):
            raise ValueError("PathCost needs a supernet that runs each ChoiceEdge once per path")
        self.table = [[self._cost(op, shape) for op in e.candidates] for e, shape in zip(edges, shapes)]
        if kind == "flops":
            self.base = total - sum(row[0] for row in self.table)
        else:  # everything outside the choice layers is always there
            self.base = count_params(supernet) - sum(sum(row) for row in self.table)

    def _cost(self, op: nn.Module, shape: tuple[int, ...]) -> int:
        if not any(True for _ in op.parameters()):
            return 0  # skip: no convs, no weights
        return count_flops(op, shape) if self.kind == "flops" else count_params(op)

    def __call__(self, choices: Sequence[int]) -> int:
        return int(self.base + sum(row[c] for row, c in zip(self.table, choices)))

    @property
    def bounds(self) -> tuple[int, int]:
        """The cheapest and the most expensive path (cost is additive, so per-layer min / max)."""
        return (int(self.base + sum(min(r) for r in self.table)),
                int(self.base + sum(max(r) for r in self.table)))

