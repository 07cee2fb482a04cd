"""Choice-block cells of Bender et al., "Understanding and Simplifying One-Shot Architecture
Search" (ICML 2018).

A cell holds `blocks` choice blocks (4 in the paper). Block b reads any non-empty subset of its
allowed inputs -- the outputs of the two previous cells (`c-2`, `c-1`) and of the blocks before it
(`b0` ... `b{b-1}`) -- concatenates them and projects them to C channels with a 1x1 conv, then
applies one or two ops of the menu and sums them. The cell outputs the concatenation of its blocks.

As decisions x options (our encoding): one `off`/`on` decision per (block, allowed input) and per
(block, op), so every decision is one *path* of the one-shot model, and a path-dropout pattern is
an on/off vector over the same decisions. `sample` and `validate` enforce the paper's rules: at
least one input and one or two ops per block. `sample` is uniform over the valid cells.
An architecture reads `b0=c-1+c-2:sep_conv_3x3|b1=b0:skip_connect+max_pool_3x3|...`.
"""
from __future__ import annotations

import itertools
import math
from typing import Iterator, Sequence

import networkx as nx
import numpy as np
import torch
from torch import nn

from nasbench.ops import ReLUConvBN, build_op
from nasbench.supernet.choice import check_path_arguments, use_batch_statistics
from nasbench.spaces.base import Choices, InvalidArchitecture, Space
from nasbench.spaces.nb201 import ResidualReduce

BENDER_OPS = ["skip_connect", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "conv_7x1_1x7",
              "max_pool_3x3", "avg_pool_3x3"]
OFF, ON = 0, 1


class OneShotSpace(Space):
    """`blocks` choice blocks per cell; decisions `b{b}<-{input}` and `b{b}:{op}`, each off/on."""

    def __init__(self, blocks: int = 4, ops: Sequence[str] = BENDER_OPS, max_ops: int = 2,
                 name: str | None = None):
        if blocks < 1 or not 1 <= max_ops <= len(ops):
            raise ValueError(f"need blocks >= 1 and 1 <= max_ops <= {len(ops)}")
        for op in ops:
            build_op(op, 4)  # raises UnknownOp early
        self.blocks, self.ops, self.max_ops = blocks, list(ops), max_ops
        self.inputs = [["c-2", "c-1"] + [f"b{i}" for i in range(b)] for b in range(blocks)]
        decisions, self.input_decisions, self.op_decisions = [], [], []
        for b in range(blocks):
            self.input_decisions.append(list(range(len(decisions), len(decisions) + len(self.inputs[b]))))
            decisions += [f"b{b}<-{src}" for src in self.inputs[b]]
            self.op_decisions.append(list(range(len(decisions), len(decisions) + len(self.ops))))
            decisions += [f"b{b}:{op}" for op in self.ops]
        super().__init__(decisions, [["off", "on"]] * len(decisions))
        given = {"blocks": blocks if blocks != 4 else None, "max_ops": max_ops if max_ops != 2 else None,
                 "ops": "+".join(ops) if list(ops) != BENDER_OPS else None}
        spec = ",".join(f"{k}={v}" for k, v in given.items() if v is not None)
        self.name = name or ("oneshot:" + spec if spec else "oneshot")   # a spec get_space re-creates

    # -- the rules of a choice block ----------------------------------------------------------
    def _op_sets(self) -> list[tuple[int, ...]]:
        """Every allowed set of ops of one block (1..max_ops of them), as op positions."""
        return [s for m in range(1, self.max_ops + 1) for s in itertools.combinations(range(len(self.ops)), m)]

    @property
    def size(self) -> int:
        n_op_sets = len(self._op_sets())
        return math.prod((2 ** len(ins) - 1) * n_op_sets for ins in self.inputs)

    def validate(self, choices: Sequence[int]) -> Choices:
        choices = super().validate(choices)
        for b in range(self.blocks):
            if not any(choices[d] for d in self.input_decisions[b]):
                raise InvalidArchitecture(f"{self.name}: block b{b} reads no input (needs at least one)")
            n_ops = sum(choices[d] for d in self.op_decisions[b])
            if not 1 <= n_ops <= self.max_ops:
                raise InvalidArchitecture(f"{self.name}: block b{b} has {n_ops} ops (needs 1 to {self.max_ops})")
        return choices

    def _sample_block(self, b: int, rng: np.random.Generator, choices: list[int], part: str) -> None:
        if part in ("inputs", "both"):
            subset = int(rng.integers(1, 2 ** len(self.inputs[b])))  # a non-empty subset, as bits
            for k, d in enumerate(self.input_decisions[b]):
                choices[d] = (subset >> k) & 1
        if part in ("ops", "both"):
            op_sets = self._op_sets()
            picked = op_sets[int(rng.integers(len(op_sets)))]
            for k, d in enumerate(self.op_decisions[b]):
                choices[d] = int(k in picked)

    def sample(self, rng: np.random.Generator) -> Choices:
        """Uniform over valid cells: each block's input subset and op set uniformly at random."""
        choices = [OFF] * len(self.decisions)
        for b in range(self.blocks):
            self._sample_block(b, rng, choices, "both")
        return tuple(choices)

    def mutate(self, choices: Sequence[int], rng: np.random.Generator, prob: float) -> Choices:
        """Flip each decision with probability `prob`; a block left breaking the rules has that
        part (its inputs or its ops) redrawn uniformly."""
        choices = [1 - c if rng.random() < prob else c for c in self.validate(choices)]
        for b in range(self.blocks):
            if not any(choices[d] for d in self.input_decisions[b]):
                self._sample_block(b, rng, choices, "inputs")
            if not 1 <= sum(choices[d] for d in self.op_decisions[b]) <= self.max_ops:
                self._sample_block(b, rng, choices, "ops")
        return tuple(choices)

    def enumerate(self) -> Iterator[Choices]:
        if self.size > self.enumerate_limit:
            raise ValueError(f"{self.name} has {self.size} architectures; too many to enumerate")
        per_block = []
        for b in range(self.blocks):
            n_in = len(self.inputs[b])
            per_block.append([(tuple((s >> k) & 1 for k in range(n_in)),
                               tuple(int(k in ops) for k in range(len(self.ops))))
                              for s in range(1, 2 ** n_in) for ops in self._op_sets()])
        for combo in itertools.product(*per_block):
            yield tuple(c for ins, ops in combo for c in (*ins, *ops))

    def derive(self, probs: Sequence[Sequence[float]]) -> Choices:
        """Paths whose `on` probability wins, then the rules: the likeliest input if none won,
        the likeliest `max_ops` ops (at least one)."""
        if len(probs) != len(self.decisions):
            raise ValueError(f"{self.name}: need one row of probabilities per decision")
        on = [float(row[ON]) for row in probs]
        choices = [OFF] * len(self.decisions)
        for b in range(self.blocks):
            ins = self.input_decisions[b]
            for d in ins:
                choices[d] = int(on[d] > 0.5)
            if not any(choices[d] for d in ins):
                choices[max(ins, key=lambda d: on[d])] = ON
            ranked = sorted(self.op_decisions[b], key=lambda d: -on[d])
            for k, d in enumerate(ranked[: self.max_ops]):
                choices[d] = int(k == 0 or on[d] > 0.5)
        return tuple(choices)

    # -- names ----------------------------------------------------------------------------------
    def encode(self, choices: Sequence[int]) -> str:
        choices = self.validate(choices)
        parts = []
        for b in range(self.blocks):
            ins = [src for src, d in zip(self.inputs[b], self.input_decisions[b]) if choices[d]]
            ops = [op for op, d in zip(self.ops, self.op_decisions[b]) if choices[d]]
            parts.append(f"b{b}={'+'.join(ins)}:{'+'.join(ops)}")
        return "|".join(parts)

    def decode(self, arch: str) -> Choices:
        parts = arch.split("|") if isinstance(arch, str) else []
        if len(parts) != self.blocks:
            raise InvalidArchitecture(f"{self.name}: malformed architecture string {arch!r}: "
                                      f"expected {self.blocks} '|'-separated blocks")
        choices = [OFF] * len(self.decisions)
        for b, part in enumerate(parts):
            head, eq, body = part.partition("=")
            ins, colon, ops = body.partition(":")
            if head != f"b{b}" or not eq or not colon:
                raise InvalidArchitecture(f"{self.name}: malformed block {part!r} in {arch!r} "
                                          f"(expected b{b}=INPUT+...:OP+...)")
            for names, allowed, decisions in ((ins, self.inputs[b], self.input_decisions[b]),
                                              (ops, self.ops, self.op_decisions[b])):
                for item in filter(None, names.split("+")):
                    if item not in allowed:
                        raise InvalidArchitecture(f"{self.name}: {item!r} is not one of {allowed} in block b{b}")
                    choices[decisions[allowed.index(item)]] = ON
        return self.validate(choices)

    def graph(self) -> nx.DiGraph:
        """Cell inputs and blocks as nodes; an input path is an edge, an op path a node feeding
        its block; both carry their decision."""
        g = nx.DiGraph()
        for src in ("c-2", "c-1"):
            g.add_node(src, kind="input", label=src)
        for b in range(self.blocks):
            g.add_node(f"b{b}", kind="node", label=f"b{b}")
            for src, d in zip(self.inputs[b], self.input_decisions[b]):
                g.add_edge(src, f"b{b}", decision=d, name=self.decisions[d])
            for op, d in zip(self.ops, self.op_decisions[b]):
                g.add_node(self.decisions[d], kind="choice", decision=d, label=op)
                g.add_edge(self.decisions[d], f"b{b}", decision=d, name=self.decisions[d])
            g.add_edge(f"b{b}", "out")
        g.nodes["out"].update(kind="output", label="concat")
        return g

    # -- networks -------------------------------------------------------------------------------
    def build(self, choices: Sequence[int], *, C: int = 16, layers: int = 6, num_classes: int = 10,
              in_channels: int = 3) -> "OneShotNetwork":
        return OneShotNetwork(self, C=C, layers=layers, num_classes=num_classes,
                              in_channels=in_channels, choices=self.validate(choices))

    def supernet(self, *, C: int = 16, layers: int = 6, num_classes: int = 10, in_channels: int = 3,
                 affine: bool = True, track_running_stats: bool = True) -> "OneShotNetwork":
        return OneShotNetwork(self, C=C, layers=layers, num_classes=num_classes, in_channels=in_channels,
                              affine=affine, track_running_stats=track_running_stats)


SKIP, AS_IS = "skip", "as is"


def _gate(choices, weights, d):
    """What to do with path d: SKIP it, run it AS_IS, or scale it by a weight (a tensor)."""
    if choices is not None:
        return AS_IS if choices[d] else SKIP
    if weights is None:
        return AS_IS                               # a stand-alone network: every path it has is on
    w = weights[d][ON]
    return SKIP if float(w) == 0.0 else w          # a dropped path is not run at all


class ChoiceBlock(nn.Module):
    """inputs -> ReLU -> 1x1 conv of their concatenation -> BN -> sum of ops.

    The 1x1 conv of a concatenation is the sum of one 1x1 conv per input (its slice of the
    weight), so a dropped input is a skipped term, and a stand-alone block holding only its
    chosen inputs has exactly the weights of the concatenating conv."""

    def __init__(self, C: int, inputs: list[tuple[int, int]], ops: list[tuple[str, int]], affine: bool):
        super().__init__()
        self.sources = [i for i, _ in inputs]           # positions in the cell's list of states
        self.input_decisions = [d for _, d in inputs]
        self.op_decisions = [d for _, d in ops]
        self.project = nn.ModuleList(nn.Conv2d(C, C, 1, bias=False) for _ in inputs)
        self.bn = nn.BatchNorm2d(C, affine=affine)
        self.ops = nn.ModuleList(build_op(name, C, 1, affine) for name, _ in ops)

    def forward(self, states, choices=None, weights=None):
        h = 0
        for i, d, conv in zip(self.sources, self.input_decisions, self.project):
            w = _gate(choices, weights, d)
            if w is not SKIP:
                term = conv(torch.relu(states[i]))        # (B, C, H, W)
                h = h + (term if w is AS_IS else w * term)
        if not torch.is_tensor(h):                         # every input dropped
            return torch.zeros_like(states[-1])
        h = self.bn(h)
        out = 0
        for d, op in zip(self.op_decisions, self.ops):
            w = _gate(choices, weights, d)
            if w is not SKIP:
                out = out + (op(h) if w is AS_IS else w * op(h))
        return out if torch.is_tensor(out) else torch.zeros_like(h)


class ChoiceCell(nn.Module):
    """Two inputs (previous two cells) -> 1x1 to C each -> choice blocks -> concat (blocks*C)."""

    def __init__(self, space: OneShotSpace, C_pp: int, C_p: int, C: int, choices: Choices | None,
                 affine: bool):
        super().__init__()
        self.pre = nn.ModuleList([ReLUConvBN(C_pp, C, 1, 1, 0, affine=affine),
                                  ReLUConvBN(C_p, C, 1, 1, 0, affine=affine)])
        self.blocks = nn.ModuleList()
        for b in range(space.blocks):
            keep = lambda d: choices is None or choices[d] == ON
            inputs = [(i, d) for i, d in enumerate(space.input_decisions[b]) if keep(d)]
            ops = [(op, d) for op, d in zip(space.ops, space.op_decisions[b]) if keep(d)]
            self.blocks.append(ChoiceBlock(C, inputs, ops, affine))

    def forward(self, s0, s1, choices=None, weights=None):
        states = [self.pre[0](s0), self.pre[1](s1)]
        for block in self.blocks:
            states.append(block(states, choices, weights))
        return torch.cat(states[2:], dim=1)   # (B, blocks*C, H, W)


class OneShotNetwork(nn.Module):
    """stem -> cells (C) -> reduce -> cells (2C) -> reduce -> cells (4C) -> ReLU -> GAP -> FC.

    A cell reads the outputs of the two cells before it; after the stem and after a reduction
    block both of its inputs are that block's output."""

    def __init__(self, space: OneShotSpace, *, C: int, layers: int, num_classes: int, in_channels: int,
                 choices: Choices | None = None, affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        self.space, self.choices = space, choices
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        per_stage = [layers // 3 + (1 if s < layers % 3 else 0) for s in range(3)]
        self.layers = nn.ModuleList()
        C_pp = C_p = C
        for s, n in enumerate(per_stage):
            C_s = C * 2 ** s
            if s > 0:
                self.layers.append(ResidualReduce(C_p, C_s))
                C_pp = C_p = C_s
            for _ in range(n):
                self.layers.append(ChoiceCell(space, C_pp, C_p, C_s, choices, affine))
                C_pp, C_p = C_p, space.blocks * C_s
        self.head = nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(C_p, num_classes))
        if not track_running_stats:
            use_batch_statistics(self)

    def forward(self, x, choices: Sequence[int] | None = None,
                weights: Sequence[torch.Tensor] | None = None):
        check_path_arguments(self.choices, choices, weights)
        s0 = s1 = self.stem(x)   # (B, C, H, W)
        for layer in self.layers:
            if isinstance(layer, ChoiceCell):
                s0, s1 = s1, layer(s0, s1, choices, weights)
            else:
                s0 = s1 = layer(s1)
        return self.head(s1)   # (B, num_classes)

    def path_parameters(self) -> dict[tuple[int, int], list[nn.Parameter]]:
        """The weights each path owns, over every cell: {(decision, ON): [parameters]}."""
        owned: dict[tuple[int, int], list[nn.Parameter]] = {}
        for cell in (m for m in self.layers if isinstance(m, ChoiceCell)):
            for block in cell.blocks:
                for d, conv in zip(block.input_decisions, block.project):
                    owned.setdefault((d, ON), []).extend(conv.parameters())
                for d, op in zip(block.op_decisions, block.ops):
                    owned.setdefault((d, ON), []).extend(op.parameters())
        return owned
