"""The one face every search space shows: a list of categorical decisions.

An architecture is one choice (an option index) per decision, a tuple of ints. `encode` turns it
into the canonical string used as a key everywhere (events, tables, caches); `decode` reverses it.
`graph()` is a networkx DiGraph whose edges (or nodes) carry the decision they belong to, for
drawing. A space also builds networks: `build(choices)` a stand-alone network of one architecture,
`supernet()` the weight-sharing network that holds every option.
"""
from __future__ import annotations

import itertools
import math
from typing import Iterator, Sequence

import networkx as nx
import numpy as np

Choices = tuple[int, ...]


class InvalidArchitecture(ValueError):
    """An architecture (choices or string) that does not belong to the space."""


class Space:
    """A search space: `decisions` (names) x `options[d]` (the candidates of decision d)."""

    name: str = "space"
    enumerate_limit = 100_000

    def __init__(self, decisions: Sequence[str], options: Sequence[Sequence[str]]):
        if len(decisions) != len(options):
            raise ValueError("one option list per decision")
        self.decisions = list(decisions)
        self.options = [list(o) for o in options]

    # -- the decisions x options face -------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of architectures (product of the option counts)."""
        return math.prod(len(o) for o in self.options)

    def sample(self, rng: np.random.Generator) -> Choices:
        """One architecture, each decision uniform over its options."""
        return tuple(int(rng.integers(len(o))) for o in self.options)

    def validate(self, choices: Sequence[int]) -> Choices:
        """Return `choices` as a tuple of ints, or raise InvalidArchitecture naming the problem."""
        choices = tuple(choices)
        if len(choices) != len(self.decisions):
            raise InvalidArchitecture(
                f"{self.name}: expected {len(self.decisions)} choices, got {len(choices)}")
        for d, c in enumerate(choices):
            if not isinstance(c, (int, np.integer)) or not 0 <= c < len(self.options[d]):
                raise InvalidArchitecture(
                    f"{self.name}: choice {c!r} for decision {self.decisions[d]!r} is not in "
                    f"0..{len(self.options[d]) - 1}")
        return tuple(int(c) for c in choices)

    def encode(self, choices: Sequence[int]) -> str:
        """Canonical string of an architecture: `decision=option` joined by commas."""
        choices = self.validate(choices)
        return ",".join(f"{d}={o[c]}" for d, o, c in zip(self.decisions, self.options, choices))

    def decode(self, arch: str) -> Choices:
        """Inverse of `encode`."""
        parts = arch.split(",") if isinstance(arch, str) else []
        if len(parts) != len(self.decisions):
            raise InvalidArchitecture(f"{self.name}: malformed architecture string {arch!r}")
        choices = []
        for d, (part, opts) in enumerate(zip(parts, self.options)):
            name, _, op = part.partition("=")
            if name != self.decisions[d] or op not in opts:
                raise InvalidArchitecture(
                    f"{self.name}: malformed architecture string {arch!r} (at {part!r})")
            choices.append(opts.index(op))
        return tuple(choices)

    def ops_of(self, choices: Sequence[int]) -> list[str]:
        """The option names an architecture picks, one per decision."""
        choices = self.validate(choices)
        return [o[c] for o, c in zip(self.options, choices)]

    def enumerate(self) -> Iterator[Choices]:
        """Every architecture, in lexicographic order of the choices."""
        if self.size > self.enumerate_limit:
            raise ValueError(f"{self.name} has {self.size} architectures; too many to enumerate")
        return iter(itertools.product(*(range(len(o)) for o in self.options)))

    def mutate(self, choices: Sequence[int], rng: np.random.Generator, prob: float) -> Choices:
        """Resample each decision with probability `prob` (SPOS-style mutation)."""
        return tuple(int(rng.integers(len(o))) if rng.random() < prob else int(c)
                     for c, o in zip(self.validate(choices), self.options))

    def derive(self, probs: Sequence[Sequence[float]]) -> Choices:
        """The architecture a distribution over options points to (one row per decision).
        Default: the most likely option of every decision. Spaces with structural rules
        (DARTS: two inputs per node) override this."""
        if len(probs) != len(self.decisions):
            raise ValueError(f"{self.name}: need one row of probabilities per decision")
        return tuple(int(np.argmax(row)) for row in probs)

    def graph(self) -> nx.DiGraph:
        """A drawing of the space. Default: a chain, one node per decision."""
        g = nx.DiGraph()
        g.add_node("input", kind="input")
        prev = "input"
        for d, name in enumerate(self.decisions):
            g.add_node(name, kind="choice", decision=d)
            g.add_edge(prev, name)
            prev = name
        g.add_node("output", kind="output")
        g.add_edge(prev, "output")
        return g

    def describe(self) -> dict:
        """The space as plain data, for the `run_start` event: enough to redraw it anywhere."""
        g = self.graph()
        return {
            "name": self.name,
            "decisions": self.decisions,
            "options": self.options,
            "graph": {
                "nodes": [{"id": str(n), **_plain(a)} for n, a in g.nodes(data=True)],
                "edges": [{"source": str(u), "target": str(v), **_plain(a)}
                          for u, v, a in g.edges(data=True)],
            },
        }

    # -- networks ---------------------------------------------------------------------------
    def build(self, choices: Sequence[int], **net) -> "torch.nn.Module":  # noqa: F821
        """A stand-alone network of one architecture."""
        raise NotImplementedError

    def supernet(self, **net) -> "torch.nn.Module":  # noqa: F821
        """The weight-sharing network: `forward(x, choices=...)` runs one path,
        `forward(x, weights=...)` mixes every option by per-decision weights."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: {len(self.decisions)} decisions, {self.size} architectures>"


def _plain(attrs: dict) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
            for k, v in attrs.items()}
