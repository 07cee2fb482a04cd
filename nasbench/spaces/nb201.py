"""NAS-Bench-201-style cell space (Dong & Yang, ICLR 2020).

A cell is a DAG of `nodes` feature maps: node 0 is the cell input, node j is the sum of one op on
every earlier node, and the last node is the output. Each edge i -> j is a decision over
`none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3`. With 4 nodes there are 6 edges
and 5^6 = 15625 cells; with 3 nodes, 3 edges and 125 cells (small enough to train every one).

The network stacks the same cell `layers` times in three stages (C, 2C, 4C channels), with a
residual block halving the resolution between stages, as in the NAS-Bench-201 macro skeleton.

The search cell's ops are NAS-Bench-201's (AutoDL-Projects `cell_operations.py`,
`cell_searchs/search_cells.py`), not DARTS': no BN after the pooling, and a bias on the convs
whose BN has no affine parameters (the supernet's); stand-alone cells (affine BN) have neither.
"""
from __future__ import annotations

from typing import Sequence

import networkx as nx
import torch
from torch import nn

from nasbench.ops import build_op, ReLUConvBN
from nasbench.spaces.base import Choices, InvalidArchitecture, Space
from nasbench.supernet.choice import ChoiceEdge, check_path_arguments, use_batch_statistics

NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def nb201_op(name: str, C: int, affine: bool) -> nn.Module:
    """One candidate of an NB201 cell (stride 1) as AutoDL-Projects builds it: `nor_conv_k`
    with `bias=not affine`, pools without a BN; the other ops as `nasbench.ops` builds them."""
    if name in ("nor_conv_1x1", "nor_conv_3x3"):
        k = int(name[-1])
        return ReLUConvBN(C, C, k, 1, k // 2, affine=affine, bias=not affine)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, 1, padding=1, count_include_pad=False)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, 1, padding=1)
    return build_op(name, C, 1, affine)


class NB201Space(Space):
    """Cells of `nodes` nodes; decisions are the edges `j<-i`, ordered as in NAS-Bench-201 strings."""

    def __init__(self, nodes: int = 4, ops: Sequence[str] = NB201_OPS, name: str | None = None):
        if nodes < 2:
            raise ValueError(f"an NB201 cell needs at least 2 nodes, got {nodes}")
        ops = [ops] if isinstance(ops, str) else list(ops)
        if len(ops) < 2:
            raise ValueError(f"an NB201 cell needs at least 2 ops to choose from, got {ops}")
        for op in ops:
            build_op(op, 4)  # raises UnknownOp early
        self.nodes = nodes
        self.edges = [(i, j) for j in range(1, nodes) for i in range(j)]
        super().__init__([f"{j}<-{i}" for i, j in self.edges], [list(ops)] * len(self.edges))
        self.name = name or f"nb201-n{nodes}"

    def encode(self, choices: Sequence[int]) -> str:
        """NAS-Bench-201 string, e.g. `|nor_conv_3x3~0|+|skip_connect~0|none~1|`."""
        ops = self.ops_of(choices)
        groups, k = [], 0
        for j in range(1, self.nodes):
            groups.append("|" + "|".join(f"{ops[k + i]}~{i}" for i in range(j)) + "|")
            k += j
        return "+".join(groups)

    def decode(self, arch: str) -> Choices:
        if not isinstance(arch, str):
            raise InvalidArchitecture(f"{self.name}: architecture must be a string, got {type(arch).__name__}")
        groups = arch.split("+")
        if len(groups) != self.nodes - 1:
            raise InvalidArchitecture(
                f"{self.name}: malformed architecture string {arch!r}: expected {self.nodes - 1} "
                f"'+'-separated nodes, got {len(groups)}")
        choices = []
        for j, group in enumerate(groups, start=1):
            items = group.strip("|").split("|")
            if not (group.startswith("|") and group.endswith("|")) or len(items) != j:
                raise InvalidArchitecture(
                    f"{self.name}: malformed architecture string {arch!r} at node {j} ({group!r})")
            for i, item in enumerate(items):
                op, _, src = item.partition("~")
                if src != str(i) or op not in self.options[0]:
                    raise InvalidArchitecture(
                        f"{self.name}: malformed architecture string {arch!r}: {item!r} is not "
                        f"'<op>~{i}' with op in {self.options[0]}")
                choices.append(self.options[0].index(op))
        return tuple(choices)

    def graph(self) -> nx.DiGraph:
        """Nodes 0..nodes-1 of the cell; edge i -> j carries its decision index and name."""
        g = nx.DiGraph()
        for n in range(self.nodes):
            kind = "input" if n == 0 else "output" if n == self.nodes - 1 else "node"
            g.add_node(str(n), kind=kind, label=str(n))
        for d, (i, j) in enumerate(self.edges):
            g.add_edge(str(i), str(j), decision=d, name=self.decisions[d])
        return g

    def build(self, choices: Sequence[int], *, C: int = 16, layers: int = 15, num_classes: int = 10,
              in_channels: int = 3) -> "NB201Network":
        return NB201Network(self, C=C, layers=layers, num_classes=num_classes,
                            in_channels=in_channels, choices=self.validate(choices))

    def supernet(self, *, C: int = 16, layers: int = 15, num_classes: int = 10, in_channels: int = 3,
                 affine: bool = False, track_running_stats: bool = True, edge=None) -> "NB201Network":
        """`edge(names, build, C)` replaces ChoiceEdge for other mixing rules (`nasbench.supernet.mixed`)."""
        return NB201Network(self, C=C, layers=layers, num_classes=num_classes, in_channels=in_channels,
                            affine=affine, track_running_stats=track_running_stats, edge=edge)


class Cell(nn.Module):
    """One cell. With `choices` it holds only the chosen ops (stand-alone); without, every
    candidate of every edge (supernet)."""

    def __init__(self, space: NB201Space, C: int, choices: Choices | None, affine: bool, edge=None):
        super().__init__()
        self.space, self.choices = space, choices
        if choices is None:
            build = lambda op, c=C: nb201_op(op, c, affine)  # noqa: E731 (one builder for every edge kind)
            self.edges = nn.ModuleList(ChoiceEdge(opts, build) if edge is None else edge(opts, build, C)
                                       for opts in space.options)
        else:
            self.edges = nn.ModuleList(
                nb201_op(opts[c], C, affine) for opts, c in zip(space.options, choices))

    def forward(self, x, choices=None, weights=None):
        states = [x]
        k = 0
        for j in range(1, self.space.nodes):
            node = 0
            for i in range(j):
                edge = self.edges[k]
                if self.choices is not None:
                    if self.space.options[k][self.choices[k]] != "none":
                        node = node + edge(states[i])
                elif choices is not None:
                    if edge.names[choices[k]] != "none":  # an absent edge adds nothing: skip it
                        node = node + edge(states[i], choice=choices[k])
                else:
                    node = node + edge(states[i], weights=weights[k])
                k += 1
            states.append(node if torch.is_tensor(node) else torch.zeros_like(x))
        return states[-1]


class ResidualReduce(nn.Module):
    """The residual block between stages: 3x3 stride 2 then 3x3, plus avg-pool + 1x1 shortcut."""

    def __init__(self, C_in, C_out, affine=True):
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, 2, 1, affine=affine)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1, affine=affine)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2, ceil_mode=True), nn.Conv2d(C_in, C_out, 1, bias=False))

    def forward(self, x):
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """stem -> cells (C) -> reduce -> cells (2C) -> reduce -> cells (4C) -> BN-ReLU -> GAP -> FC."""

    def __init__(self, space: NB201Space, *, C: int, layers: int, num_classes: int, in_channels: int,
                 choices: Choices | None = None, affine: bool = True, track_running_stats: bool = True,
                 edge=None):
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        self.space, self.choices = space, choices
        affine = True if choices is not None else affine
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        per_stage = [layers // 3 + (1 if s < layers % 3 else 0) for s in range(3)]
        self.layers = nn.ModuleList()
        C_prev = C
        for s, n in enumerate(per_stage):
            C_s = C * 2 ** s
            if s > 0:
                self.layers.append(ResidualReduce(C_prev, C_s))
            self.layers.extend(Cell(space, C_s, choices, affine, edge) for _ in range(n))
            C_prev = C_s
        self.head = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=False),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(C_prev, num_classes))
        if not track_running_stats:
            use_batch_statistics(self)

    def forward(self, x, choices: Sequence[int] | None = None,
                weights: Sequence[torch.Tensor] | None = None):
        check_path_arguments(self.choices, choices, weights)
        x = self.stem(x)  # (B, C, H, W)
        for layer in self.layers:
            x = layer(x, choices, weights) if isinstance(layer, Cell) else layer(x)
        return self.head(x)  # (B, num_classes)
