"""Architectures and alphas in the formats other codebases use, both ways.

- DARTS (quark0/darts `genotypes.py`): `Genotype(normal=[(op, input), ...], normal_concat=[...],
  reduce=[...], reduce_concat=[...])`, two `(op, input)` pairs per intermediate node, inputs as
  state indices (0, 1: the cell's inputs; 2..: its nodes), or that namedtuple's printed form;
- NAS-Bench-201 (D-X-Y/AutoDL-Projects, `CellStructure.tostr()`): `|op~0|+|op~0|op~1|+|...|`,
  one `+`-group per node, listing the op on the edge from each earlier node;
- alpha as a list of per-cell tensors (DARTS' `model.arch_parameters()`): one 2-D block per cell.

Everything works on the space as plain data (`run_start`'s `space`: `decisions`, `options`,
`graph`), so it needs neither torch nor nasbench's spaces: DARTS spaces are recognised by their
decision names `normal:i<-j` / `reduce:i<-j` (node i takes an op on state j), NAS-Bench-201
spaces by `i<-j`. `Tracker` accepts all of these in `genotype`, `sample`, `eval` and `alpha`.
"""
from __future__ import annotations

import ast
import re
from collections import namedtuple
from typing import Any, Mapping, Sequence

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")  # quark0/darts' fields

CELLS = ("normal", "reduce")
_DARTS = re.compile(r"^(normal|reduce):(\d+)<-(\d+)$")
_NB201 = re.compile(r"^(\d+)<-(\d+)$")


class FormatError(ValueError):
    """An architecture or alpha that does not fit the space in the format it claims."""


# -- DARTS ----------------------------------------------------------------------------------
def darts_edges(space: Mapping) -> dict[tuple[str, int, int], int] | None:
    """(cell, node, input) -> decision index for a DARTS space, None for any other space."""
    edges = {}
    for d, name in enumerate(space["decisions"]):
        m = _DARTS.match(name)
        if not m:
            return None
        edges[(m[1], int(m[2]), int(m[3]))] = d
    return edges


def _concat(space: Mapping, cell: str, nodes: list[int]) -> list[int]:
    """The nodes the cell's output concatenates: the graph's concat edges, else every node."""
    graph = space.get("graph") or {}
    kept = sorted(int(e["source"].split(":")[1]) for e in graph.get("edges", [])
                  if e.get("kind") == "concat" and e["source"].startswith(cell + ":"))
    return kept or nodes


def to_darts(choices: Sequence[int], space: Mapping) -> Genotype:
    """The quark0/darts Genotype of `choices` (two non-`none` inputs per node, in input order;
    quark0's `genotype()` lists a node's two pairs strongest first: the same cell)."""
    edges = _need_darts(space)
    fields = {}
    for cell in CELLS:
        nodes = sorted({i for c, i, _ in edges if c == cell})
        pairs = []
        for i in nodes:
            kept = [(space["options"][d][choices[d]], j) for (c, n, j), d in sorted(edges.items())
                    if c == cell and n == i and space["options"][d][choices[d]] != "none"]
            if len(kept) != 2:
                raise FormatError(f"not a DARTS genotype: node {i} of the {cell} cell keeps {len(kept)} "
                                  "inputs, a Genotype has 2 per node")
            pairs += kept
        fields[cell], fields[cell + "_concat"] = pairs, _concat(space, cell, nodes)
    return Genotype(**fields)


def from_darts(genotype: Any, space: Mapping) -> list[int]:
    """Option indices of a quark0/darts Genotype (the namedtuple, its `_asdict()`, any object
    with `normal` and `reduce`, or its printed form `Genotype(normal=[...], ...)`)."""
    edges = _need_darts(space)
    if isinstance(genotype, str):
        genotype = parse_genotype(genotype)
    get = genotype.get if isinstance(genotype, Mapping) else lambda k, v=None: getattr(genotype, k, v)
    choices = [space["options"][d].index("none") if "none" in space["options"][d] else None
               for d in range(len(space["decisions"]))]
    for cell in CELLS:
        nodes = sorted({i for c, i, _ in edges if c == cell})
        pairs = list(get(cell) or [])
        if len(pairs) != 2 * len(nodes):
            raise FormatError(f"the Genotype's {cell} cell has {len(pairs)} (op, input) pairs; this space's "
                              f"{len(nodes)} nodes need {2 * len(nodes)}")
        concat = get(cell + "_concat")
        if concat is not None and list(concat) != _concat(space, cell, nodes):
            raise FormatError(f"the Genotype's {cell}_concat {list(concat)} is not this space's "
                              f"{_concat(space, cell, nodes)} (set multiplier= to match)")
        for k, pair in enumerate(pairs):
            i = nodes[k // 2]
            op, j = pair
            d = edges.get((cell, i, int(j)))
            if d is None:
                raise FormatError(f"{cell} pair {k} {tuple(pair)}: node {i} has no input {j} (inputs 0..{i - 1})")
            if op not in space["options"][d]:
                raise FormatError(f"{cell} pair {k}: unknown op {op!r}; ops: {', '.join(space['options'][d])}")
            if choices[d] is not None and space["options"][d][choices[d]] != "none":
                raise FormatError(f"{cell} node {i} takes input {j} twice")
            choices[d] = space["options"][d].index(op)
    return choices


def parse_genotype(text: str) -> dict:
    """`Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=range(2, 6), ...)` as a dict,
    read as data (literals and `range(a, b)` only; nothing is evaluated)."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
        if not isinstance(call, ast.Call) or not call.keywords:
            raise ValueError("not Genotype(...)")
        out = {}
        for kw in call.keywords:
            v = kw.value
            if isinstance(v, ast.Call) and getattr(v.func, "id", None) == "range":
                out[kw.arg] = list(range(*(ast.literal_eval(a) for a in v.args)))
            else:
                out[kw.arg] = ast.literal_eval(v)
        return out
    except (SyntaxError, ValueError, TypeError) as e:
        raise FormatError(f"not a printed DARTS Genotype: {text[:60]!r} ({e})") from None


def _need_darts(space: Mapping) -> dict:
    edges = darts_edges(space)
    if edges is None:
        raise FormatError(f"space {space.get('name')!r} is not a DARTS space (decisions 'normal:i<-j', 'reduce:i<-j')")
    return edges


# -- NAS-Bench-201 --------------------------------------------------------------------------
def nb201_edges(space: Mapping) -> dict[tuple[int, int], int] | None:
    """(node, input) -> decision index for a NAS-Bench-201 cell, None for any other space."""
    edges = {}
    for d, name in enumerate(space["decisions"]):
        m = _NB201.match(name)
        if not m:
            return None
        edges[(int(m[1]), int(m[2]))] = d
    return edges


def to_nb201(choices: Sequence[int], space: Mapping) -> str:
    """`|op~0|+|op~0|op~1|+|...|`: per node 1.., the op on the edge from each earlier node."""
    edges = _need_nb201(space)
    nodes = sorted({i for i, _ in edges})
    return "+".join("|" + "".join(f"{space['options'][edges[i, j]][choices[edges[i, j]]]}~{j}|"
                                  for j in range(i)) for i in nodes)


def from_nb201(text: str, space: Mapping) -> list[int]:
    """Option indices of a NAS-Bench-201 string."""
    edges = _need_nb201(space)
    nodes = sorted({i for i, _ in edges})
    groups = text.strip().split("+")
    if len(groups) != len(nodes):
        raise FormatError(f"{text[:60]!r}: {len(groups)} '+'-groups, this cell has {len(nodes)} nodes")
    choices: list[int | None] = [None] * len(space["decisions"])
    for i, group in zip(nodes, groups):
        items = group.strip("|").split("|")
        if len(items) != i:
            raise FormatError(f"{text[:60]!r}: node {i} lists {len(items)} inputs, needs {i}")
        for j, item in enumerate(items):
            op, _, src = item.partition("~")
            d = edges.get((i, j))
            if src != str(j) or d is None or op not in space["options"][d]:
                raise FormatError(f"{text[:60]!r}: {item!r} is not '<op>~{j}' with op in {space['options'][d or 0]}")
            choices[d] = space["options"][d].index(op)
    return choices


def _need_nb201(space: Mapping) -> dict:
    edges = nb201_edges(space)
    if edges is None:
        raise FormatError(f"space {space.get('name')!r} is not a NAS-Bench-201 cell (decisions 'i<-j')")
    return edges


# -- alpha ----------------------------------------------------------------------------------
def _depth(x: Any) -> int:
    if hasattr(x, "dim"):
        return x.dim()
    if hasattr(x, "ndim"):
        return x.ndim
    return 1 + _depth(x[0]) if isinstance(x, (list, tuple)) and x else 0


def blocks(values: Any) -> list:
    """Alpha as a list of blocks: `model.arch_parameters()` (one 2-D block per cell) as it is,
    anything else (one 2-D tensor, a list of 1-D rows) as one block."""
    if isinstance(values, (list, tuple)) and values and all(_depth(v) == 2 for v in values):
        return list(values)
    return [values]


def to_cells(probs: Sequence[Sequence[float]], space: Mapping) -> list[list[list[float]]]:
    """Alpha rows (one per decision) as `arch_parameters()` holds them: one block per cell
    (DARTS: normal, reduce); one block for other spaces (NAS-Bench-201: the (edges, ops) matrix)."""
    edges = darts_edges(space)
    if edges is None:
        return [[list(r) for r in probs]]
    return [[list(probs[d]) for d, name in enumerate(space["decisions"]) if name.startswith(cell + ":")]
            for cell in CELLS]


def foreign(choices: Sequence[int], space: Mapping) -> str | None:
    """The architecture as its own codebase prints it: a DARTS space's printed `Genotype`, a
    NAS-Bench-201 cell's string; None for other spaces (or a DARTS path that is no genotype)."""
    try:
        if darts_edges(space) is not None:
            return repr(to_darts(choices, space))
        if nb201_edges(space) is not None:
            return to_nb201(choices, space)
    except FormatError:
        pass
    return None


def parse(value: Any, space: Mapping) -> list[int] | None:
    """Option indices from a foreign format (a DARTS Genotype or its printed form, a NAS-Bench-201
    string), or None when `value` is in none of them (plain indices, one-hot rows, ...)."""
    darts = darts_edges(space) is not None
    if isinstance(value, str):
        if darts and value.lstrip().startswith("Genotype("):
            return from_darts(value, space)
        if nb201_edges(space) is not None and value.startswith("|"):
            return from_nb201(value, space)
        return None
    if darts and (hasattr(value, "normal") and hasattr(value, "reduce")
                  or isinstance(value, Mapping) and "normal" in value and "reduce" in value):
        return from_darts(value, space)
    return None
