"""DARTS cell space (Liu et al., ICLR 2019; quark0/darts cnn/model_search.py, genotypes.py).

A cell has two input nodes (the outputs of the two previous cells, c_{k-2} and c_{k-1}) and
`steps` intermediate nodes; node i (numbered 2.. after the inputs) is the sum of one op on each
earlier node, and the cell's output c_k concatenates the intermediate nodes. Each edge j -> i is a
decision over the 8 DARTS ops. A normal cell (stride 1) and a reduction cell (stride 2 on the
edges from the inputs) each have their own edges, so the decisions are the normal edges, then the
reduction edges: 2 x 14 = 28 for the paper's 4 steps.

The supernet mixes every op on every edge (`forward(x, weights=...)`, DARTS eq. (2)). A DARTS
*genotype* keeps, per intermediate node, two incoming edges with one non-`none` op each (the other
edges are `none`): that is what `sample` draws, `derive` reads off alpha, and `build` trains.

The network: stem (3x3 conv, 3C channels) -> `layers` cells, reduction cells at layers//3 and
2*layers//3 (doubling the channels) -> global average pooling -> linear. Each cell first maps its
two inputs to C channels (ReLU-1x1 conv-BN, or FactorizedReduce when the previous cell halved the
resolution).
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import networkx as nx
import numpy as np
import torch
from torch import nn

from nasbench.ops import FactorizedReduce, ReLUConvBN, build_op
from nasbench.spaces.base import Choices, InvalidArchitecture, Space
from nasbench.supernet.choice import ChoiceEdge, check_path_arguments, use_batch_statistics

DARTS_OPS = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
             "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
CELLS = ("normal", "reduce")
INPUTS = ("c_{k-2}", "c_{k-1}")


class DartsSpace(Space):
    """Normal and reduction cells of `steps` intermediate nodes; decisions `normal:i<-j` then
    `reduce:i<-j` (node i takes an op on node j; 0 and 1 are the cell's inputs). The output
    concatenates the last `multiplier` nodes (quark0's `multiplier`; all of them by default)."""

    def __init__(self, steps: int = 4, ops: Sequence[str] = DARTS_OPS, name: str | None = None,
                 multiplier: int | None = None):
        if steps < 1:
            raise ValueError(f"a DARTS cell needs at least 1 intermediate node, got steps={steps}")
        multiplier = steps if multiplier is None else multiplier
        if not 1 <= multiplier <= steps:
            raise ValueError(f"multiplier (nodes the output concatenates) must be 1..steps={steps}, got {multiplier}")
        self.multiplier = multiplier
        if "none" not in ops or len(ops) < 2:
            raise ValueError("DARTS ops must include 'none' and at least one other op")
        for op in ops:
            build_op(op, 4)  # raises UnknownOp early
        self.steps = steps
        self.none = list(ops).index("none")
        self.edges = [(j, i) for i in range(2, steps + 2) for j in range(i)]  # (from, to), one cell
        decisions = [f"{cell}:{i}<-{j}" for cell in CELLS for j, i in self.edges]
        super().__init__(decisions, [list(ops)] * len(decisions))
        self.name = name or f"darts-s{steps}"

    # -- genotypes: two non-none inputs per intermediate node -------------------------------
    def _incoming(self, cell: int, i: int) -> list[int]:
        """Decision indices of the edges into node i of `cell` (0 normal, 1 reduce), by source."""
        offset = cell * len(self.edges)
        return [offset + k for k, (_, to) in enumerate(self.edges) if to == i]

    def nodes(self):
        """(cell, node, incoming decisions) for every intermediate node of both cells."""
        for cell in range(len(CELLS)):
            for i in range(2, self.steps + 2):
                yield cell, i, self._incoming(cell, i)

    @property
    def size(self) -> int:
        """Number of genotypes: per node, 2 of its inputs, each with one non-`none` op."""
        k = len(self.options[0]) - 1
        return math.prod(math.comb(i, 2) * k * k for i in range(2, self.steps + 2)) ** 2

    def is_genotype(self, choices: Sequence[int]) -> bool:
        """True when every intermediate node has exactly two non-`none` incoming edges."""
        choices = self.validate(choices)
        return all(sum(choices[d] != self.none for d in incoming) == 2
                   for _, _, incoming in self.nodes())

    def sample(self, rng: np.random.Generator) -> Choices:
        """A random genotype: per node two distinct inputs, each a uniform non-`none` op."""
        ops = [k for k in range(len(self.options[0])) if k != self.none]
        choices = [self.none] * len(self.decisions)
        for _, _, incoming in self.nodes():
            for d in rng.choice(incoming, size=2, replace=False):
                choices[int(d)] = int(rng.choice(ops))
        return tuple(choices)

    def mutate(self, choices: Sequence[int], rng: np.random.Generator, prob: float) -> Choices:
        """Each of a genotype's (input, op) genes is redrawn with probability `prob`: a new op,
        or the same op moved to an input the node does not use yet."""
        choices = list(self.validate(choices))
        ops = [k for k in range(len(self.options[0])) if k != self.none]
        for _, _, incoming in self.nodes():
            for d in [d for d in incoming if choices[d] != self.none]:
                if rng.random() >= prob:
                    continue
                free = [e for e in incoming if choices[e] == self.none]
                target = int(rng.choice(free + [d]))
                choices[d], choices[target] = self.none, int(rng.choice(ops))
        return tuple(choices)

    def enumerate(self):
        """Every genotype (only for tiny cells: the paper's space has ~1e18)."""
        if self.size > self.enumerate_limit:
            raise ValueError(f"{self.name} has {self.size} genotypes; too many to enumerate")
        ops = [k for k in range(len(self.options[0])) if k != self.none]
        per_node = [[(pair, op_pair) for pair in itertools.combinations(incoming, 2)
                     for op_pair in itertools.product(ops, repeat=2)]
                    for _, _, incoming in self.nodes()]
        for genes in itertools.product(*per_node):
            choices = [self.none] * len(self.decisions)
            for pair, op_pair in genes:
                for d, op in zip(pair, op_pair):
                    choices[d] = op
            yield tuple(choices)

    def derive(self, probs: Sequence[Sequence[float]]) -> Choices:
        """The DARTS genotype of softmax(alpha): per intermediate node, the two incoming edges
        whose strongest non-`none` op weighs most, each with that op (model_search.py
        `genotype()`). Ties go to the earlier input."""
        if len(probs) != len(self.decisions):
            raise ValueError(f"{self.name}: need one row of probabilities per decision")
        probs = [np.asarray(row, dtype=float) for row in probs]
        masked = [np.where(np.arange(len(row)) == self.none, -np.inf, row) for row in probs]
        choices = [self.none] * len(self.decisions)
        for _, _, incoming in self.nodes():
            strongest = sorted(incoming, key=lambda d: -masked[d].max())[:2]  # stable sort
            for d in strongest:
                choices[d] = int(np.argmax(masked[d]))
        return tuple(choices)

    # -- canonical strings ------------------------------------------------------------------
    def encode(self, choices: Sequence[int]) -> str:
        """`normal=op~j+op~j|...;reduce=...`: per intermediate node (separated by `|`), its
        non-`none` inputs as `op~source`; `-` for a node with none. E.g. the genotype
        `normal=sep_conv_3x3~0+sep_conv_3x3~1|skip_connect~0+sep_conv_3x3~1|...`."""
        choices = self.validate(choices)
        cells = []
        for cell, name in enumerate(CELLS):
            nodes = []
            for c, i, incoming in self.nodes():
                if c != cell:
                    continue
                genes = [f"{self.options[d][choices[d]]}~{self.edges[d % len(self.edges)][0]}"
                         for d in incoming if choices[d] != self.none]
                nodes.append("+".join(genes) or "-")
            cells.append(f"{name}=" + "|".join(nodes))
        return ";".join(cells)

    def decode(self, arch: str) -> Choices:
        bad = lambda why: InvalidArchitecture(f"{self.name}: malformed architecture string {arch!r}: {why}")
        if not isinstance(arch, str):
            raise InvalidArchitecture(f"{self.name}: architecture must be a string, got {type(arch).__name__}")
        cells = arch.split(";")
        if [c.partition("=")[0] for c in cells] != list(CELLS):
            raise bad(f"expected '{CELLS[0]}=...;{CELLS[1]}=...'")
        choices = [self.none] * len(self.decisions)
        for cell, text in enumerate(cells):
            nodes = text.partition("=")[2].split("|")
            if len(nodes) != self.steps:
                raise bad(f"{CELLS[cell]} cell has {len(nodes)} nodes, expected {self.steps}")
            for i, node in enumerate(nodes, start=2):
                for gene in ([] if node == "-" else node.split("+")):
                    op, _, src = gene.partition("~")
                    if op not in self.options[0] or op == "none" or not src.isdigit() or int(src) >= i:
                        raise bad(f"{gene!r} is not '<op>~<input>' with an input below {i}")
                    d = cell * len(self.edges) + self.edges.index((int(src), i))
                    if choices[d] != self.none:
                        raise bad(f"input {src} of node {i} appears twice")
                    choices[d] = self.options[0].index(op)
        if self.encode(choices) != arch:  # e.g. inputs out of order: not the canonical string
            raise bad("not in canonical order (inputs of a node in increasing order)")
        return tuple(choices)

    # -- drawing ----------------------------------------------------------------------------
    def graph(self) -> nx.DiGraph:
        """Both cells: inputs c_{k-2}, c_{k-1}, intermediate nodes 2.., output c_k (the concat).
        Node ids are `cell:node` and labels the state indices of the decision names (`normal:2<-0`:
        node 2 takes an op on input 0); each op edge carries its decision index, and `stride` 2
        on the reduction cell's input edges (where DARTS builds skip_connect as a FactorizedReduce,
        with weights); an intermediate node keeps `inputs` = 2 of its edges in a genotype."""
        g = nx.DiGraph()
        for cell, name in enumerate(CELLS):
            for n, label in enumerate(INPUTS):
                g.add_node(f"{name}:{n}", kind="input", label=label, cell=name)
            for i in range(2, self.steps + 2):
                g.add_node(f"{name}:{i}", kind="node", label=str(i), cell=name, inputs=2)
            g.add_node(f"{name}:out", kind="output", label="c_{k}", cell=name)
            for k, (j, i) in enumerate(self.edges):
                d = cell * len(self.edges) + k
                g.add_edge(f"{name}:{j}", f"{name}:{i}", decision=d, name=self.decisions[d],
                           **({"stride": 2} if name == "reduce" and j < 2 else {}))
            for i in range(2 + self.steps - self.multiplier, self.steps + 2):
                g.add_edge(f"{name}:{i}", f"{name}:out", kind="concat")
        return g

    # -- networks ---------------------------------------------------------------------------
    def build(self, choices: Sequence[int], *, C: int = 16, layers: int = 8, num_classes: int = 10,
              in_channels: int = 3) -> "DartsNetwork":
        """A stand-alone network of one genotype: only the chosen ops, affine BN."""
        return DartsNetwork(self, C=C, layers=layers, num_classes=num_classes,
                            in_channels=in_channels, choices=self.validate(choices))

    def supernet(self, *, C: int = 16, layers: int = 8, num_classes: int = 10, in_channels: int = 3,
                 affine: bool = False, track_running_stats: bool = True, edge=None) -> "DartsNetwork":
        """The search network: every op on every edge, non-affine BN (DARTS). `edge(names, build,
        C)` replaces ChoiceEdge for other mixing rules (`nasbench.supernet.mixed`)."""
        return DartsNetwork(self, C=C, layers=layers, num_classes=num_classes, in_channels=in_channels,
                            affine=affine, track_running_stats=track_running_stats, edge=edge)


class Cell(nn.Module):
    """One normal or reduction cell. With `choices` it holds only the genotype's ops (stand-alone);
    without, every op of every edge (supernet)."""

    def __init__(self, space: DartsSpace, C_pp: int, C_p: int, C: int, reduction: bool,
                 reduction_prev: bool, choices: Choices | None, affine: bool, edge=None):
        super().__init__()
        self.space, self.reduction = space, reduction
        # the previous cell's input is twice as large when that cell reduced: halve it too
        self.preprocess0 = (FactorizedReduce(C_pp, C, affine) if reduction_prev
                            else ReLUConvBN(C_pp, C, 1, 1, 0, affine=affine))
        self.preprocess1 = ReLUConvBN(C_p, C, 1, 1, 0, affine=affine)
        first = len(space.edges) if reduction else 0   # this cell type's first decision
        self.decisions = list(range(first, first + len(space.edges)))
        stride = lambda j: 2 if reduction and j < 2 else 1  # only edges from the inputs reduce
        if choices is None:
            build = lambda s: lambda op, c=C: build_op(op, c, s, affine)  # noqa: E731 (c: channels)
            self.ops = nn.ModuleList(
                ChoiceEdge(space.options[d], build(stride(j))) if edge is None
                else edge(space.options[d], build(stride(j)), C)
                for d, (j, _) in zip(self.decisions, space.edges))
            self.choices = None
        else:
            self.choices = [choices[d] for d in self.decisions]
            self.ops = nn.ModuleDict({
                str(k): build_op(space.options[d][c], C, stride(j), affine)
                for k, (d, c, (j, _)) in enumerate(zip(self.decisions, self.choices, space.edges))
                if c != space.none})

    def _edge(self, k: int, h: torch.Tensor, choices, weights) -> torch.Tensor | None:
        """Output of edge k on input h, or None for an absent (`none`) edge."""
        d = self.decisions[k]
        if self.choices is not None:
            return self.ops[str(k)](h) if str(k) in self.ops else None
        if weights is not None:
            return self.ops[k](h, weights=weights[d])  # DARTS eq. (2)
        return None if choices[d] == self.space.none else self.ops[k](h, choice=choices[d])

    def forward(self, s0, s1, choices=None, weights=None):
        states = [self.preprocess0(s0), self.preprocess1(s1)]  # (B, C, H, W) each
        k = 0
        for _ in range(self.space.steps):
            # node i sums one edge from every earlier node; absent (`none`) edges give None
            outs = [self._edge(k + j, h, choices, weights) for j, h in enumerate(states)]
            outs = [o for o in outs if o is not None]
            k += len(states)
            if outs:
                states.append(sum(outs[1:], outs[0]))
            else:  # no input at all: a zero map of the cell's output size
                B, C, H, W = states[1].shape
                states.append(states[1].new_zeros(B, C, *(((H + 1) // 2, (W + 1) // 2)
                                                          if self.reduction else (H, W))))
        return torch.cat(states[-self.space.multiplier:], dim=1)  # (B, multiplier*C, H', W')


class DartsNetwork(nn.Module):
    """stem (3C) -> cells, reductions at layers//3 and 2*layers//3 -> GAP -> linear."""

    def __init__(self, space: DartsSpace, *, C: int, layers: int, num_classes: int, in_channels: int,
                 choices: Choices | None = None, affine: bool = True, track_running_stats: bool = True,
                 edge=None):
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        self.space, self.choices = space, choices
        affine = True if choices is not None else affine
        C_curr = 3 * C  # stem_multiplier 3
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(C_curr))
        C_pp, C_p, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            self.cells.append(Cell(space, C_pp, C_p, C_curr, reduction, reduction_prev, choices, affine, edge))
            reduction_prev = reduction
            C_pp, C_p = C_p, space.multiplier * C_curr
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(C_p, num_classes))
        if not track_running_stats:
            use_batch_statistics(self)

    def forward(self, x, choices: Sequence[int] | None = None,
                weights: Sequence[torch.Tensor] | None = None):
        check_path_arguments(self.choices, choices, weights)
        s0 = s1 = self.stem(x)  # (B, 3C, H, W)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, choices, weights)
        return self.head(s1)  # (B, num_classes)
