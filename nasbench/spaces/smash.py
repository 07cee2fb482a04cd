"""SMASH memory-bank networks (Brock et al., "SMASH: One-Shot Model Architecture Search through
HyperNetworks", ICLR 2018; ajbrock/SMASH, SMASH.py `sample_architecture`).

A network is `blocks` blocks joined by transitions (BN-ReLU-1x1 conv-avg pool, as in DenseNet-BC).
A block is a set of memory banks of N channels each; the block's input fills the first `in_banks`
banks. Each op of a block, in order:

    reads   a subset of the banks written so far, concatenated          (B, |reads| N, H, W)
    1x1     a bottleneck conv (its weights are what the hypernet generates)
    convs   up to four convs in the paper's 2x2 layout: conv0 and conv2 read the bottleneck in
            parallel, conv1 follows conv0, conv3 follows conv2, the paths are summed; each conv
            has its own kernel size (kh x kw), dilation (dh x dw) and groups   (B, G, H, W)
    writes  (adds) the j-th chunk of N output channels (j modulo G/N) to the j-th bank it writes;
            a write to an empty bank allocates it, and new banks are taken in order.

The block's output is the concatenation of all its written banks.

As decisions x options (our encoding), per op `b{b}.op{j}`: `convs` (which convs are active, the
official `var_op` patterns, or `absent`), `width` (G, the op's output channels, a multiple of N),
one `read{m}` and one `write{m}` off/on per bank, and per conv `conv{i}.kernel`,
`conv{i}.dilation`, `conv{i}.groups`. An absent op or inactive conv has every one of its
decisions at its first option (`-` / `off`), so each architecture has exactly one choice vector.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Sequence

import networkx as nx
import numpy as np
import torch
from torch import nn

from nasbench.spaces.base import Choices, InvalidArchitecture, Space
from nasbench.supernet.banks import combine, conv_padding, write_banks, written_banks
from nasbench.supernet.hypernet import SmashNet

# Which of the four convs are active (conv0 conv1 conv2 conv3), SMASH.py `self.options` with
# var_op, and how often the official sampler draws each (`options_probabilities`).
PATTERNS = ["1000", "1010", "1100", "1110", "1111"]
PATTERN_PROBS = [0.05, 0.1, 0.15, 0.25, 0.45]
ABSENT, OFF, ON = "absent", "off", "on"
UNUSED = "-"


def factors(n: int) -> list[int]:
    """The divisors of n, ascending (utils.py `factors`)."""
    return [d for d in range(1, n + 1) if n % d == 0]


def max_dilation(kernel: int, max_dilate: int) -> int:
    """The official sampler's dilation limit for a kernel size: randint(1, 5 - (k - 1) // 2)."""
    return min(max_dilate, 4 - (kernel - 1) // 2)


@dataclass(frozen=True)
class Conv:
    kernel: tuple[int, int]      # (kh, kw)
    dilation: tuple[int, int]    # (dh, dw)
    groups: int


@dataclass(frozen=True)
class Op:
    reads: tuple[int, ...]       # banks read, ascending
    writes: tuple[int, ...]      # banks written, ascending
    width: int                   # G: output channels (a multiple of N)
    pattern: str                 # active convs, e.g. "1100"
    convs: tuple[Conv | None, ...]  # 4 entries; None for an inactive conv

    def n_bottleneck(self, N: int, N_max: int, bottleneck: int) -> int:
        """Output channels of the 1x1 (SMASH.py forward): a multiple of G up to `bottleneck` G,
        at most the op's input channels and at most N_max (the width of the generated weights)."""
        n_in = len(self.reads) * N
        return min(min(max(n_in // self.width, 1), bottleneck) * self.width, n_in, N_max)


class SmashSpace(Space):
    """Memory-bank networks of `blocks` blocks (see the module docstring).

    banks: banks per block (the most a block can hold); in_banks: banks filled by the block's
    input; ops: the most ops per block; N: channels per bank; N_max: the widest op (G <= N_max)."""

    def __init__(self, banks: Sequence[int] = (24, 28, 32), in_banks: Sequence[int] = (8, 12, 14),
                 ops: int = 16, N: int = 8, N_max: int = 64, max_kernel: int = 7, max_dilate: int = 3,
                 max_groups: int = 8, bottleneck: int = 4, name: str | None = None):
        banks, in_banks = _as_list(banks), _as_list(in_banks)
        if len(banks) != len(in_banks) or not banks:
            raise ValueError("banks and in_banks need one entry per block")
        if any(not 1 <= i <= m for i, m in zip(in_banks, banks)):
            raise ValueError(f"need 1 <= in_banks <= banks per block, got {in_banks} and {banks}")
        if ops < 1 or N < 1 or N_max < N or N_max % N:
            raise ValueError(f"need ops >= 1 and N_max a multiple of N, got ops={ops}, N={N}, N_max={N_max}")
        if max_kernel < 3 or max_kernel % 2 == 0 or max_dilate < 1:
            raise ValueError("max_kernel must be odd and >= 3, max_dilate >= 1")
        self.banks, self.in_banks, self.max_ops = banks, in_banks, ops
        self.blocks = len(banks)
        self.N, self.N_max, self.k = N, N_max, N_max // N
        self.max_kernel, self.max_dilate, self.bottleneck = max_kernel, max_dilate, bottleneck
        self.kernels = list(range(3, max_kernel + 1, 2))
        self.group_options = [f for f in factors(N) if f <= max_groups]   # utils.factors(N)[:...max_groups]
        self.index: dict[tuple, int] = {}
        self.op_decisions: dict[tuple[int, int], list[int]] = {}   # (block, op) -> its decisions
        decisions, options = [], []

        def add(key, name, opts):
            self.op_decisions.setdefault(key[:2], []).append(len(decisions))
            self.index[key] = len(decisions)
            decisions.append(name)
            options.append(opts)

        pairs = lambda values: [f"{a}x{b}" for a, b in itertools.product(values, values)]
        for b in range(self.blocks):
            for j in range(ops):
                p = f"b{b}.op{j}"
                add((b, j, "convs"), f"{p}.convs", [ABSENT] + PATTERNS)
                add((b, j, "width"), f"{p}.width", [UNUSED] + [str(g * N) for g in range(1, self.k + 1)])
                for m in range(banks[b]):
                    add((b, j, "read", m), f"{p}.read{m}", [OFF, ON])
                for m in range(banks[b]):
                    add((b, j, "write", m), f"{p}.write{m}", [OFF, ON])
                for i in range(4):
                    add((b, j, i, "kernel"), f"{p}.conv{i}.kernel", [UNUSED] + pairs(self.kernels))
                    add((b, j, i, "dilation"), f"{p}.conv{i}.dilation",
                        [UNUSED] + pairs(range(1, max_dilate + 1)))
                    add((b, j, i, "groups"), f"{p}.conv{i}.groups", [UNUSED] + [str(g) for g in self.group_options])
        super().__init__(decisions, options)
        defaults = dict(banks=[24, 28, 32], in_banks=[8, 12, 14], ops=16, N=8, N_max=64, max_kernel=7,
                        max_dilate=3, max_groups=8, bottleneck=4)
        given = dict(banks=banks, in_banks=in_banks, ops=ops, N=N, N_max=N_max, max_kernel=max_kernel,
                     max_dilate=max_dilate, max_groups=max_groups, bottleneck=bottleneck)
        spec = ",".join(f"{k}={'+'.join(map(str, v)) if isinstance(v, list) else v}"
                        for k, v in given.items() if v != defaults[k])
        self.name = name or ("smash:" + spec if spec else "smash")

    @property
    def size(self) -> int:  # far too many to count exactly; an upper bound is of no use either
        return 10 ** 18

    # -- from choices to ops and back ---------------------------------------------------------
    def arch(self, choices: Sequence[int]) -> list[list[Op]]:
        """The ops of each block (present ones only) of a valid choice vector."""
        return self._read(self.validate(choices))

    def _read(self, choices: Sequence[int]) -> list[list[Op]]:
        blocks = []
        for b in range(self.blocks):
            ops = []
            for j in range(self.max_ops):
                opt = lambda key: self.options[self.index[key]][choices[self.index[key]]]
                pattern = opt((b, j, "convs"))
                if pattern == ABSENT:
                    continue
                width = opt((b, j, "width"))
                convs = []
                for i in range(4):
                    k, d, g = (opt((b, j, i, f)) for f in ("kernel", "dilation", "groups"))
                    convs.append(None if UNUSED in (k, d, g) else
                                 Conv(_pair(k), _pair(d), int(g)))
                ops.append(Op(tuple(m for m in range(self.banks[b]) if choices[self.index[(b, j, "read", m)]]),
                              tuple(m for m in range(self.banks[b]) if choices[self.index[(b, j, "write", m)]]),
                              int(width) if width != UNUSED else 0, pattern, tuple(convs)))
            blocks.append(ops)
        return blocks

    def choices_of(self, blocks: Sequence[Sequence[Op]]) -> Choices:
        """The choice vector of an architecture given as ops per block (validated)."""
        if len(blocks) != self.blocks:
            raise InvalidArchitecture(f"{self.name}: expected {self.blocks} blocks, got {len(blocks)}")
        choices = [0] * len(self.decisions)

        def put(key, option):
            d = self.index.get(key)
            if d is None or option not in self.options[d]:
                raise InvalidArchitecture(f"{self.name}: {option!r} is not an option of {key}")
            choices[d] = self.options[d].index(option)

        for b, ops in enumerate(blocks):
            if len(ops) > self.max_ops:
                raise InvalidArchitecture(f"{self.name}: block b{b} has {len(ops)} ops (at most {self.max_ops})")
            for j, op in enumerate(ops):
                put((b, j, "convs"), op.pattern)
                put((b, j, "width"), str(op.width))
                for m in op.reads:
                    put((b, j, "read", m), ON)
                for m in op.writes:
                    put((b, j, "write", m), ON)
                for i, conv in enumerate(op.convs):
                    if conv is not None:
                        put((b, j, i, "kernel"), "x".join(map(str, conv.kernel)))
                        put((b, j, i, "dilation"), "x".join(map(str, conv.dilation)))
                        put((b, j, i, "groups"), str(conv.groups))
        return self.validate(choices)

    # -- the rules ----------------------------------------------------------------------------
    def validate(self, choices: Sequence[int]) -> Choices:
        choices = super().validate(choices)
        bad = lambda msg: InvalidArchitecture(f"{self.name}: {msg}")
        blocks = self._read(choices)
        for b in range(self.blocks):
            present = [choices[self.index[(b, j, "convs")]] != 0 for j in range(self.max_ops)]
            if not present[0]:
                raise bad(f"block b{b} has no op (needs at least one)")
            if any(present[j] and not present[j - 1] for j in range(1, self.max_ops)):
                raise bad(f"block b{b}: present ops must come first (op{present.index(False)} is absent)")
            for j in range(len(blocks[b]), self.max_ops):   # absent ops: every decision unused
                if any(choices[d] for d in self.op_decisions[(b, j)]):
                    raise bad(f"b{b}.op{j} is absent but has a setting that is not '-' / 'off'")
            written = self.in_banks[b]                       # banks 0..written-1 hold data
            for j, op in enumerate(blocks[b]):
                p = f"b{b}.op{j}"
                if not op.width:
                    raise bad(f"{p} is present but has no width")
                if not op.reads or max(op.reads) >= written:
                    raise bad(f"{p} must read at least one bank, and only banks 0..{written - 1} "
                              f"(written so far); it reads {list(op.reads)}")
                new = [m for m in op.writes if m >= written]
                if not op.writes or new != list(range(written, written + len(new))):
                    raise bad(f"{p} must write at least one bank, and new banks in order from "
                              f"bank {written}; it writes {list(op.writes)}")
                if len(new) > op.width // self.N:
                    raise bad(f"{p} allocates {len(new)} new banks, more than its {op.width // self.N} "
                              f"output chunks")
                written += len(new)
                for i, (bit, conv) in enumerate(zip(op.pattern, op.convs)):
                    keys = [self.index[(b, j, i, f)] for f in ("kernel", "dilation", "groups")]
                    if bit == "1" and conv is None:
                        raise bad(f"{p}.conv{i} is active ({op.pattern}) but has an unused setting")
                    if bit == "0" and any(choices[d] for d in keys):
                        raise bad(f"{p}.conv{i} is inactive ({op.pattern}) but has settings")
                    if conv is not None and any(d > max_dilation(k, self.max_dilate)
                                                for k, d in zip(conv.kernel, conv.dilation)):
                        raise bad(f"{p}.conv{i}: dilation {conv.dilation} too large for kernel "
                                  f"{conv.kernel} (kernel 3: up to 3, 5: up to 2, 7: 1)")
        return choices

    # -- sampling (SMASH.py sample_architecture) -----------------------------------------------
    def sample(self, rng: np.random.Generator, max_kernel: int | None = None, var_op: bool = True) -> Choices:
        """A random architecture as the official sampler draws it (see docs/methods.md for the
        differences): per block 1..ops ops; each reads a uniform number of the banks written so
        far, picks G near its number of reads, writes at least G/N banks (fewer more likely),
        its convs' pattern (the 2x2 layout with `var_op`, else one conv: "1000", the official
        default), kernel sizes from range(3, max_kernel + 2, 2) (SMASH.py: training anneals
        max_kernel through 3, 4, 5, 6, 7, so 5x5 comes at 4), dilations and groups."""
        max_kernel = self.max_kernel if max_kernel is None else max_kernel
        kernels = [k for k in self.kernels if k < max_kernel + 2]
        blocks = []
        for b in range(self.blocks):
            written, ops = self.in_banks[b], []
            for _ in range(int(rng.integers(1, self.max_ops + 1))):
                n_reads = int(rng.integers(1, written + 1))
                reads = tuple(sorted(int(m) for m in rng.choice(written, n_reads, replace=False)))
                G = np.arange(1, self.k + 1)                       # G / N
                p = 1.0 / (1e-2 + 10 * np.abs(G - n_reads))
                g = int(rng.choice(G, p=p / p.sum()))
                pool = list(range(written)) + list(range(written, min(written + g, self.banks[b])))
                hi = min(max(written // 2, g), len(pool))
                lo = min(g, hi)
                counts = np.arange(lo, hi + 1)
                q = np.exp(-(counts - lo).astype(float))               # fewer writes more likely
                n_writes = int(rng.choice(counts, p=q / q.sum()))
                picked = [int(m) for m in rng.choice(pool, n_writes, replace=False)]
                n_new = sum(m >= written for m in picked)
                writes = tuple(sorted([m for m in picked if m < written] + list(range(written, written + n_new))))
                written += n_new
                pattern = PATTERNS[int(rng.choice(len(PATTERNS), p=PATTERN_PROBS))] if var_op else "1000"
                convs = []
                for bit in pattern:
                    if bit == "0":
                        convs.append(None)
                        continue
                    kernel = tuple(int(rng.choice(kernels)) for _ in range(2))
                    dilation = tuple(int(rng.integers(1, max_dilation(k, self.max_dilate) + 1)) for k in kernel)
                    convs.append(Conv(kernel, dilation, int(rng.choice(self.group_options))))
                ops.append(Op(reads, writes, g * self.N, pattern, tuple(convs)))
            blocks.append(ops)
        return self.choices_of(blocks)

    def mutate(self, choices: Sequence[int], rng: np.random.Generator, prob: float) -> Choices:
        """With probability `prob` per block, redraw that block (the rest kept)."""
        blocks = self.arch(choices)
        fresh = self._read(self.sample(rng))
        return self.choices_of([f if rng.random() < prob else o for o, f in zip(blocks, fresh)])

    def enumerate(self):
        raise ValueError(f"{self.name} is far too large to enumerate")

    def derive(self, probs):
        raise ValueError("SMASH spaces have no distribution over options to derive from")

    # -- names ----------------------------------------------------------------------------------
    def encode(self, choices: Sequence[int]) -> str:
        """`b0=OP;OP|b1=...` with OP = `r0.1>w2.3/16/1100/3x3d1x2g1+5x3d1x1g2` (reads > writes /
        G / pattern / one kernel-dilation-groups per active conv)."""
        parts = []
        for b, ops in enumerate(self.arch(choices)):
            texts = []
            for op in ops:
                convs = "+".join(f"{c.kernel[0]}x{c.kernel[1]}d{c.dilation[0]}x{c.dilation[1]}g{c.groups}"
                                 for c in op.convs if c is not None)
                texts.append(f"r{'.'.join(map(str, op.reads))}>w{'.'.join(map(str, op.writes))}"
                             f"/{op.width}/{op.pattern}/{convs}")
            parts.append(f"b{b}=" + ";".join(texts))
        return "|".join(parts)

    _OP = re.compile(r"^r([\d.]+)>w([\d.]+)/(\d+)/([01]{4})/(.+)$")
    _CONV = re.compile(r"^(\d+)x(\d+)d(\d+)x(\d+)g(\d+)$")

    def decode(self, arch: str) -> Choices:
        parts = arch.split("|") if isinstance(arch, str) else []
        if len(parts) != self.blocks:
            raise InvalidArchitecture(f"{self.name}: malformed architecture string {arch!r}: "
                                      f"expected {self.blocks} '|'-separated blocks")
        blocks = []
        for b, part in enumerate(parts):
            head, eq, body = part.partition("=")
            if head != f"b{b}" or not eq:
                raise InvalidArchitecture(f"{self.name}: malformed block {part!r} (expected b{b}=OP;OP...)")
            ops = []
            for text in body.split(";"):
                m = self._OP.match(text)
                if not m:
                    raise InvalidArchitecture(f"{self.name}: malformed op {text!r} in block b{b} "
                                              f"(expected r0.1>w2/16/1100/3x3d1x1g1+...)")
                reads, writes, width, pattern, conv_text = m.groups()
                specs = conv_text.split("+")
                if len(specs) != pattern.count("1"):
                    raise InvalidArchitecture(f"{self.name}: op {text!r} needs one conv spec per active conv")
                it, convs = iter(specs), []
                for bit in pattern:
                    if bit == "0":
                        convs.append(None)
                        continue
                    c = self._CONV.match(next(it))
                    if not c:
                        raise InvalidArchitecture(f"{self.name}: malformed conv spec in {text!r}")
                    kh, kw, dh, dw, g = map(int, c.groups())
                    convs.append(Conv((kh, kw), (dh, dw), g))
                ops.append(Op(tuple(map(int, reads.split("."))), tuple(map(int, writes.split("."))),
                              int(width), pattern, tuple(convs)))
            blocks.append(ops)
        return self.choices_of(blocks)

    # -- drawing --------------------------------------------------------------------------------
    def graph(self) -> nx.DiGraph:
        """A DAG of bank states and ops: `b0.m3@1` is bank 3 of block 0 as op 1 finds it. Edges
        `b0.m3@1 -> b0.op1` carry the read decision, `b0.op1 -> b0.m3@2` the write decision,
        `b0.m3@1 -> b0.m3@2` the bank carried on. An op is drawn as its parts, each node
        carrying its decision: `b0.op1` (convs) -> `b0.op1.G` (width) -> per conv i a chain
        kernel -> dilation -> groups (conv0 then conv1, conv2 then conv3) -> `b0.op1.sum`.
        Transitions join the blocks' final bank states to the next block's input banks."""
        g = nx.DiGraph()
        g.add_node("input", kind="input", label="input")
        prev = "input"
        for b in range(self.blocks):
            for j in range(self.max_ops + 1):
                for m in range(self.banks[b]):
                    g.add_node(f"b{b}.m{m}@{j}", kind="bank", block=b, bank=m, stage=j,
                               input=m < self.in_banks[b], label=f"m{m}")
                    if j:
                        g.add_edge(f"b{b}.m{m}@{j - 1}", f"b{b}.m{m}@{j}")
            for m in range(self.in_banks[b]):
                g.add_edge(prev, f"b{b}.m{m}@0")
            for j in range(self.max_ops):
                op = f"b{b}.op{j}"
                g.add_node(op, kind="choice", block=b, op=j, decision=self.index[(b, j, "convs")], label=f"op{j}")
                g.add_node(f"{op}.G", kind="choice", block=b, op=j, decision=self.index[(b, j, "width")], label="G")
                g.add_node(f"{op}.sum", kind="node", block=b, op=j, label="+")
                g.add_edge(op, f"{op}.G")
                for path in ((0, 1), (2, 3)):
                    prev_node = f"{op}.G"
                    for i in path:
                        for part in ("kernel", "dilation", "groups"):
                            node = f"{op}.conv{i}.{part}"
                            g.add_node(node, kind="choice", block=b, op=j, decision=self.index[(b, j, i, part)],
                                       label=f"c{i} {part[0]}")
                            g.add_edge(prev_node, node)
                            prev_node = node
                    g.add_edge(prev_node, f"{op}.sum")
                for m in range(self.banks[b]):
                    d_r, d_w = self.index[(b, j, "read", m)], self.index[(b, j, "write", m)]
                    g.add_edge(f"b{b}.m{m}@{j}", op, decision=d_r, name=self.decisions[d_r], role="read")
                    g.add_edge(f"{op}.sum", f"b{b}.m{m}@{j + 1}", decision=d_w, name=self.decisions[d_w], role="write")
            prev = f"trans{b}" if b < self.blocks - 1 else "output"
            g.add_node(prev, kind="output" if prev == "output" else "transition", label=prev)
            for m in range(self.banks[b]):
                g.add_edge(f"b{b}.m{m}@{self.max_ops}", prev)
        return g

    def describe(self) -> dict:
        out = super().describe()
        out["smash"] = {"banks": self.banks, "in_banks": self.in_banks, "ops": self.max_ops, "N": self.N,
                        "N_max": self.N_max}
        return out

    # -- networks -------------------------------------------------------------------------------
    def build(self, choices: Sequence[int], *, num_classes: int = 10, in_channels: int = 3,
              **_ignored) -> "MainNet":
        """The stand-alone network of one architecture (SMASH.py MainNet)."""
        return MainNet(self, self.arch(choices), num_classes=num_classes, in_channels=in_channels)

    def supernet(self, *, num_classes: int = 10, in_channels: int = 3, depth_compression: int = 2,
                 **_ignored):
        """The SMASH network: free weights for every op size plus the hypernet that generates
        each sampled op's 1x1 weights (nasbench.supernet.hypernet.SmashNet). Sizes come from
        the space, so `C` and `layers` are ignored."""
        return SmashNet(self, num_classes=num_classes, in_channels=in_channels,
                        depth_compression=depth_compression)


def _as_list(v) -> list[int]:
    return [int(x) for x in (v if isinstance(v, (list, tuple)) else [v])]


def _pair(text: str) -> tuple[int, int]:
    a, b = text.split("x")
    return int(a), int(b)


# -- the stand-alone network -------------------------------------------------------------------
class Layer(nn.Module):
    """One op of a stand-alone network (layers.py Layer, norm_style 'sandwich'):
    BN-ReLU-1x1-BN, then the active convs, each ReLU-conv, in the 2x2 layout."""

    def __init__(self, op: Op, N: int, N_max: int, bottleneck: int):
        super().__init__()
        n_in, n_b = len(op.reads) * N, op.n_bottleneck(N, N_max, bottleneck)
        self.pattern = op.pattern
        self.bottleneck = nn.Sequential(nn.BatchNorm2d(n_in), nn.ReLU(), nn.Conv2d(n_in, n_b, 1, bias=False),
                                        nn.BatchNorm2d(n_b))
        self.convs = nn.ModuleList()
        for i, conv in enumerate(op.convs):
            if conv is None:
                self.convs.append(nn.Identity())
                continue
            self.convs.append(nn.Sequential(nn.ReLU(), nn.Conv2d(
                n_b if i % 2 == 0 else op.width, op.width, conv.kernel, dilation=conv.dilation,
                padding=conv_padding(conv.kernel, conv.dilation), groups=conv.groups, bias=False)))

    def forward(self, x):
        return combine(self.pattern, self.convs, self.bottleneck(x))   # (B, G, H, W)


class MainNet(nn.Module):
    """stem -> [block of memory banks -> transition] x blocks -> BN-ReLU -> GAP -> FC."""

    def __init__(self, space: SmashSpace, blocks: list[list[Op]], *, num_classes: int, in_channels: int):
        super().__init__()
        self.space, self.blocks = space, blocks
        N = space.N
        self.stem = nn.Conv2d(in_channels, space.in_banks[0] * N, 7, padding=3, bias=False)
        self.layers = nn.ModuleList(nn.ModuleList(Layer(op, N, space.N_max, space.bottleneck) for op in ops)
                                    for ops in blocks)
        self.widths = [written_banks(space, b, ops) * N for b, ops in enumerate(blocks)]
        self.transitions = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(self.widths[b]), nn.ReLU(),
                          nn.Conv2d(self.widths[b], space.in_banks[b + 1] * N, 1, bias=False), nn.AvgPool2d(2))
            for b in range(space.blocks - 1))
        self.head = nn.Sequential(nn.BatchNorm2d(self.widths[-1]), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(self.widths[-1], num_classes))
        for m in self.modules():   # SMASH.py MainNet: orthogonal init of convs
            if isinstance(m, nn.Conv2d):
                nn.init.orthogonal_(m.weight)

    def forward(self, x):
        N, out = self.space.N, self.stem(x)
        for b, (ops, layers) in enumerate(zip(self.blocks, self.layers)):
            banks = list(out.split(N, dim=1)) + [None] * (self.widths[b] // N - self.space.in_banks[b])
            for op, layer in zip(ops, layers):
                write_banks(banks, op, layer(torch.cat([banks[m] for m in op.reads], 1)), N)
            out = torch.cat(banks, 1)                       # (B, written banks * N, H, W)
            if b < len(self.transitions):
                out = self.transitions[b](out)
        return self.head(out)
