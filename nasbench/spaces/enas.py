"""ENAS micro search space (Pham et al., ICML 2018, Sec. 2.3; melodyguan/enas src/cifar10/micro_child.py).

A cell has two inputs (nodes 0 and 1: the outputs of the two previous cells) and B nodes
(`nodes`, 5 in the paper), numbered 2 .. B+1. Node i picks two inputs among the nodes before it
and one op for each, and sums the two results:

    node_i = op_x(node_{x}) + op_y(node_{y}),   x, y in {0, ..., i-1}

The ops: separable conv 3x3 and 5x5, average pool 3x3, max pool 3x3, identity (`skip_connect`),
in the official code's order. Every node that no other node takes as an input (a *loose end*;
in the official code this includes an unused cell input) is concatenated into the cell's output,
which a 1x1 conv brings back to C channels. A normal cell and a reduction cell have their own
decisions: per cell and node `x_in, x_op, y_in, y_op` (the official `arc` order), normal first.

All children share one set of weights: the supernet holds, as in the official code, its own
weights for every (node, slot x/y, input, op), and `forward(x, choices=...)` runs one child.
The network (the official search child): stem 3x3 conv to 3C channels, `layers` normal cells and
two reduction cells (at layers//3 and 2*(layers//3)+1, each after a factorized reduction that
doubles C; no ReLU before it), ReLU, global average pooling, dropout, a linear map without bias.
A cell's first input gets a ReLU-1x1 conv-BN only when its width is not the cell's (or a
factorized reduction when its resolution is twice the cell's), as `_maybe_calibrate_size`.
"""
from __future__ import annotations

import math
from typing import Sequence

import networkx as nx
import torch
from torch import nn

from nasbench.ops import FactorizedReduce, ReLUConvBN, build_op
from nasbench.spaces.base import Choices, Space
from nasbench.supernet.choice import check_path_arguments, use_batch_statistics

ENAS_OPS = ["sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "skip_connect"]
CELLS = ("normal", "reduce")
SLOTS = ("x", "y")


class EnasSpace(Space):
    """Normal and reduction cells of `nodes` nodes. Decisions `normal:2.x_in`, `normal:2.x_op`,
    `normal:2.y_in`, `normal:2.y_op`, ..., then `reduce:...`; an input decision of node i has
    options "0" .. str(i-1) (0 and 1 are the cell's inputs)."""

    def __init__(self, nodes: int = 5, ops: Sequence[str] = ENAS_OPS, name: str | None = None):
        if nodes < 1:
            raise ValueError(f"an ENAS cell needs at least 1 node, got nodes={nodes}")
        ops = [ops] if isinstance(ops, str) else list(ops)
        if len(ops) < 2:
            raise ValueError(f"an ENAS cell needs at least 2 ops to choose from, got {ops}")
        for op in ops:
            build_op(op, 4)  # raises UnknownOp early
        self.nodes, self.ops = nodes, ops
        decisions, options = [], []
        for cell in CELLS:
            for i in range(2, nodes + 2):
                for slot in SLOTS:
                    decisions += [f"{cell}:{i}.{slot}_in", f"{cell}:{i}.{slot}_op"]
                    options += [[str(j) for j in range(i)], list(ops)]
        super().__init__(decisions, options)
        self.name = name or f"enas-b{nodes}"

    # -- structure ---------------------------------------------------------------------------
    def decision(self, cell: int, i: int, slot: int, what: str) -> int:
        """Index of the decision `what` ("in" or "op") of slot x (0) / y (1) of node i in `cell`."""
        return (cell * self.nodes + (i - 2)) * 4 + 2 * slot + (what == "op")

    def is_input(self, d: int) -> bool:
        """True for an input decision, False for an op decision."""
        return d % 2 == 0

    def cell_nodes(self, choices: Sequence[int], cell: int) -> list[tuple[int, int, int, int]]:
        """Node by node of `cell`: (x, x_op, y, y_op), the official code's arc."""
        c = self.validate(choices)
        return [tuple(c[self.decision(cell, i, 0, "in"):self.decision(cell, i, 0, "in") + 4])
                for i in range(2, self.nodes + 2)]

    def loose_ends(self, choices: Sequence[int], cell: int) -> list[int]:
        """The nodes (0 .. B+1) no node of `cell` takes as an input: the cell's output concatenates
        them (as in the official code, an unused cell input is one of them)."""
        used = {j for x, _, y, _ in self.cell_nodes(choices, cell) for j in (x, y)}
        return [j for j in range(self.nodes + 2) if j not in used]

    def arc(self, choices: Sequence[int]) -> tuple[str, str]:
        """The official code's `normal_arc` and `reduce_arc` strings (`--child_fixed_arc`)."""
        return tuple(" ".join(str(v) for node in self.cell_nodes(choices, cell) for v in node)
                     for cell in range(len(CELLS)))

    def describe_cell(self, choices: Sequence[int], cell: int = 0) -> str:
        """A readable cell: `2 = sep_conv_3x3(0) + max_pool_3x3(1); ...; out = concat(2, 5)`."""
        parts = [f"{i} = {self.ops[xo]}({x}) + {self.ops[yo]}({y})"
                 for i, (x, xo, y, yo) in enumerate(self.cell_nodes(choices, cell), start=2)]
        return "; ".join(parts) + f"; out = concat({', '.join(map(str, self.loose_ends(choices, cell)))})"

    @property
    def size(self) -> int:
        return math.prod((i * len(self.ops)) ** 2 for i in range(2, self.nodes + 2)) ** 2

    def graph(self) -> nx.DiGraph:
        """Per cell: inputs `cell:0`, `cell:1`, nodes `cell:i`, and per node two op slots
        `cell:i.x`, `cell:i.y` (nodes carrying the op decision); an edge from every earlier node
        into a slot carries the slot's input decision and, as `option`, which choice it is; every
        node feeds `cell:out` (the concat of the loose ends)."""
        g = nx.DiGraph()
        for cell, name in enumerate(CELLS):
            for n, label in enumerate(("c_{k-2}", "c_{k-1}")):
                g.add_node(f"{name}:{n}", kind="input", label=label, cell=name)
            for i in range(2, self.nodes + 2):
                for slot, s in enumerate(SLOTS):
                    d_in, d_op = self.decision(cell, i, slot, "in"), self.decision(cell, i, slot, "op")
                    g.add_node(f"{name}:{i}.{s}", kind="choice", label=s, cell=name, decision=d_op)
                    for j in range(i):
                        g.add_edge(f"{name}:{j}", f"{name}:{i}.{s}", decision=d_in, option=j,
                                   name=self.decisions[d_in])
                g.add_node(f"{name}:{i}", kind="node", label=str(i), cell=name)
                for s in SLOTS:
                    g.add_edge(f"{name}:{i}.{s}", f"{name}:{i}", kind="sum")
            g.add_node(f"{name}:out", kind="output", label="c_{k}", cell=name)
            for j in range(self.nodes + 2):
                g.add_edge(f"{name}:{j}", f"{name}:out", kind="concat if unused")
        return g

    # -- networks ----------------------------------------------------------------------------
    def build(self, choices: Sequence[int], *, C: int = 20, layers: int = 6, num_classes: int = 10,
              in_channels: int = 3, keep_prob: float = 0.9) -> "EnasNetwork":
        return EnasNetwork(self, C=C, layers=layers, num_classes=num_classes, in_channels=in_channels,
                           keep_prob=keep_prob, choices=self.validate(choices))

    def supernet(self, *, C: int = 20, layers: int = 6, num_classes: int = 10, in_channels: int = 3,
                 keep_prob: float = 0.9, track_running_stats: bool = False, aux_head: bool = False,
                 image_size: int = 32) -> "EnasNetwork":
        """The shared weights. BN normalises with each batch's statistics by default: the
        official search child runs every BN with is_training=True, for training and rewards."""
        return EnasNetwork(self, C=C, layers=layers, num_classes=num_classes, in_channels=in_channels,
                           keep_prob=keep_prob, track_running_stats=track_running_stats, aux_head=aux_head,
                           image_size=image_size)


def truncated_he(w: torch.Tensor, fan_in: int) -> None:
    """TF 1.x keras he_normal (the official create_weight): a normal of std sqrt(2 / fan_in)
    truncated at two standard deviations."""
    std = math.sqrt(2.0 / fan_in)
    nn.init.trunc_normal_(w, std=std, a=-2 * std, b=2 * std)


def he_normal(module: nn.Module) -> None:
    """he_normal on every conv and linear weight of `module`, fan_in as TF counts it for a
    [kh, kw, in, out] kernel: kernel area x input channels (a depthwise kernel [k, k, C, 1]
    included, where PyTorch's own count would leave out C)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            truncated_he(m.weight, m.weight[0].numel() * getattr(m, "groups", 1))
    if isinstance(module, Cell):
        truncated_he(module.final_w, module.final_w[0].numel())


class Branch(nn.Module):
    """One slot (x or y) of node i: an op applied to one earlier node. The supernet owns a copy
    of every op for every possible input j (official: weights indexed by `prev_cell`);
    a stand-alone child owns only its own."""

    def __init__(self, ops: list[str], i: int, C: int, fixed: tuple[int, int] | None):
        super().__init__()
        self.i = i  # node i has i possible inputs (the official num_possible_inputs)
        pairs = [fixed] if fixed is not None else [(j, k) for j in range(i) for k in range(len(ops))]
        # ENAS' convolutions carry their own BN scale/offset (affine); pools and identity have no weights
        self.ops = nn.ModuleDict({f"{j}_{k}": build_op(ops[k], C, 1, affine=True) for j, k in pairs})

    def forward(self, states: list[torch.Tensor], j: int, k: int) -> torch.Tensor:
        return self.ops[f"{j}_{k}"](states[j])


class Cell(nn.Module):
    """One ENAS cell (official `_enas_layer`): calibrate the two inputs to C channels and the
    same size, build the B nodes, concatenate the loose ends, ReLU -> 1x1 conv -> BN."""

    def __init__(self, space: EnasSpace, cell: int, C_pp: int, C_p: int, C: int, pp_reduced: bool,
                 choices: Choices | None):
        super().__init__()
        self.space, self.cell, self.choices, self.C = space, cell, choices, C
        # official _maybe_calibrate_size: a ReLU-1x1 conv-BN only where the width differs
        self.calibrate_0 = (FactorizedReduce(C_pp, C) if pp_reduced else
                            ReLUConvBN(C_pp, C, 1, 1, 0) if C_pp != C else nn.Identity())
        self.calibrate_1 = ReLUConvBN(C_p, C, 1, 1, 0) if C_p != C else nn.Identity()
        arcs = space.cell_nodes(choices, cell) if choices is not None else None
        self.branches = nn.ModuleList(
            Branch(space.ops, i, C, None if arcs is None else tuple(arcs[i - 2][2 * s:2 * s + 2]))
            for i in range(2, space.nodes + 2) for s in range(2))
        # official `final_conv`: one C x C block of weights per node, the loose ends' gathered
        self.final_w = nn.Parameter(torch.empty(C, (space.nodes + 2) * C, 1, 1))
        self.final_bn = nn.BatchNorm2d(C)
        he_normal(self)
        if choices is None:
            # the shared weights are stacked over the possible inputs, [inputs, weights of one],
            # so TF's he_normal takes fan_in = the number of possible inputs
            for branch in self.branches:
                for m in branch.modules():
                    if isinstance(m, nn.Conv2d):
                        truncated_he(m.weight, branch.i)
            truncated_he(self.final_w, space.nodes + 2)

    def forward(self, s0, s1, choices):
        states = [self.calibrate_0(s0), self.calibrate_1(s1)]          # 2 x (B, C, H, W)
        for i, (x, x_op, y, y_op) in enumerate(self.space.cell_nodes(choices, self.cell), start=2):
            bx, by = self.branches[2 * (i - 2)], self.branches[2 * (i - 2) + 1]
            states.append(bx(states, x, x_op) + by(states, y, y_op))    # node_i = op_x(x) + op_y(y)
        loose = self.space.loose_ends(choices, self.cell)
        out = torch.cat([states[j] for j in loose], dim=1)              # (B, len(loose) * C, H, W)
        w = torch.cat([self.final_w[:, j * self.C:(j + 1) * self.C] for j in loose], dim=1)
        return self.final_bn(nn.functional.conv2d(torch.relu(out), w))  # (B, C, H, W)


class AuxHead(nn.Module):
    """The official auxiliary head (micro_child `aux_head`, training only): ReLU, 5x5 average
    pool of stride 3 (no padding), 1x1 conv to 128 + BN + ReLU, a conv over the whole remaining
    map to 768 + BN + ReLU, global average pool, a linear map without bias. On maps smaller than
    5x5 (8x8 digits) the pool covers the whole map instead."""

    def __init__(self, C: int, hw: int, num_classes: int):
        super().__init__()
        k = min(5, hw)
        out = (hw - k) // 3 + 1
        self.pool = nn.AvgPool2d(k, 3)
        self.body = nn.Sequential(nn.Conv2d(C, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
                                  nn.Conv2d(128, 768, out, bias=False), nn.BatchNorm2d(768), nn.ReLU())
        self.classifier = nn.Linear(768, num_classes, bias=False)
        he_normal(self)

    def forward(self, x):                                              # x: (B, C, hw, hw)
        return self.classifier(self.body(self.pool(torch.relu(x))).mean((2, 3)))


class EnasNetwork(nn.Module):
    """The official micro search child: stem -> (normal cells, reduction cell) x 2 -> normal
    cells -> ReLU -> GAP -> dropout -> FC."""

    def __init__(self, space: EnasSpace, *, C: int, layers: int, num_classes: int, in_channels: int,
                 keep_prob: float = 0.9, choices: Choices | None = None, track_running_stats: bool = True,
                 aux_head: bool = False, image_size: int = 32):
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        if C % 2:
            raise ValueError(f"C must be even (factorized reduction halves it), got {C}")
        self.space, self.choices = space, choices
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 3 * C, 3, padding=1, bias=False), nn.BatchNorm2d(3 * C))
        pool_distance = layers // 3
        self.pool_layers = [pool_distance, 2 * pool_distance + 1]      # official: reductions here
        self.cells, self.reductions = nn.ModuleList(), nn.ModuleDict()
        C_pp, C_p, pp_reduced = 3 * C, 3 * C, False
        for layer in range(layers + 2):
            reduce = layer in self.pool_layers
            if reduce:
                C *= 2
                self.reductions[str(layer)] = FactorizedReduce(C_p, C, relu=False)  # official: no ReLU
                C_pp, C_p, pp_reduced = C_p, C, True              # inputs: the last output, it reduced
            self.cells.append(Cell(space, int(reduce), C_pp, C_p, C, pp_reduced, choices))
            C_pp, C_p, pp_reduced = C_p, C, False
        # official aux_head_indices = [pool_layers[-1] + 1]: after the cell that follows the last
        # reduction; its logits (training only) go into the loss as + 0.4 * CE
        self.aux_layer = self.pool_layers[-1] + 1 if aux_head and self.pool_layers[-1] + 1 < len(self.cells) else None
        self.aux_head = (AuxHead(C, max(image_size // 4, 1), num_classes) if self.aux_layer is not None
                         else None)
        self.aux_logits = None
        self.dropout = nn.Dropout(1.0 - keep_prob)
        self.classifier = nn.Linear(C, num_classes, bias=False)          # official: x @ w, no bias
        for m in [self.stem, self.classifier, *self.reductions.values()]:
            he_normal(m)
        if not track_running_stats:
            use_batch_statistics(self)

    def forward(self, x, choices: Sequence[int] | None = None, weights=None):
        if weights is not None:
            raise ValueError("the ENAS supernet runs one child at a time: pass choices=, not weights=")
        check_path_arguments(self.choices, choices, weights)
        choices = self.choices if self.choices is not None else self.space.validate(choices)
        x = self.stem(x)                                                 # (B, 3C, H, W)
        s0 = s1 = x
        for layer, cell in enumerate(self.cells):
            if str(layer) in self.reductions:
                s0, s1 = s1, self.reductions[str(layer)](s1)             # halve H, W; double C
            s0, s1 = s1, cell(s0, s1, choices)
            if layer == self.aux_layer:
                self.aux_logits = self.aux_head(s1) if self.training else None
        x = torch.relu(s1).mean((2, 3))                                  # (B, C_last)
        return self.classifier(self.dropout(x))                          # (B, num_classes)
