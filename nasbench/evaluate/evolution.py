"""Evolutionary architecture search under a constraint (SPOS, Guo et al. 2019, sec. 3.4), for any
Space and any score: the search that runs *after* a supernet is trained.

    population <- `population` random architectures within the budget
    repeat `generations` times:
        score every new member (SPOS: BN recalibrated, then accuracy with the shared weights)
        parents <- the `parents` best architectures seen so far
        children <- `mutations` mutants (a random parent, each decision resampled with prob
                    `mutation_prob`) + `crossovers` uniform crossovers of two random parents
                    + random architectures to refill the population
    return the best architecture seen

Every child must be new (never scored before) and within the budget (`cost(choices) <= budget`);
a child that is not is redrawn, up to 10 tries per child wanted, as in the SPOS code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from nasbench.evaluate.scoring import accuracy, recalibrate_bn
from nasbench.spaces import Choices, Space


@dataclass
class Candidate:
    choices: Choices
    score: float
    cost: float | None
    generation: int


@dataclass
class EvolutionResult:
    best: Choices
    best_score: float
    history: list[Candidate] = field(default_factory=list)   # every scored architecture, in order


def crossover(a: Sequence[int], b: Sequence[int], rng: np.random.Generator) -> Choices:
    """Uniform crossover: each decision from parent a or b with probability 1/2."""
    return tuple(int(x if rng.random() < 0.5 else y) for x, y in zip(a, b))


def evolve(space: Space, score: Callable[[Choices], float], rng: np.random.Generator, *,
           population: int = 50, generations: int = 20, parents: int = 10, mutations: int = 25,
           crossovers: int = 25, mutation_prob: float = 0.1,
           cost: Callable[[Choices], float] | None = None, budget: float | None = None,
           on_generation: Callable[[int, list[Candidate]], None] | None = None) -> EvolutionResult:
    """Maximise `score` over `space` (defaults: SPOS's search settings). `on_generation(g, members)`
    sees each generation once it is scored (a method emits them as `eval` events)."""
    seen: dict[Choices, Candidate] = {}

    def fits(choices: Choices, taken: set) -> bool:
        return (choices not in seen and choices not in taken
                and (budget is None or cost is None or cost(choices) <= budget))

    def draw(make: Callable[[], Choices], n: int, taken: set) -> list[Choices]:
        out = []
        for _ in range(10 * n):
            if len(out) == n:
                break
            child = make()
            if fits(child, taken):
                out.append(child)
                taken.add(child)
        return out

    top: list[Candidate] = []
    taken: set = set()
    members = draw(lambda: space.sample(rng), population, taken)
    for g in range(generations):
        if not members:
            break  # a small space can run out of unseen architectures within the budget
        scored = []
        for choices in members:
            seen[choices] = Candidate(choices, float(score(choices)),
                                      None if cost is None else float(cost(choices)), g)
            scored.append(seen[choices])
        if on_generation is not None:
            on_generation(g, scored)
        top = sorted(top + scored, key=lambda c: -c.score)[:parents]
        if g == generations - 1:
            break
        pick = lambda: top[rng.integers(len(top))].choices
        taken = set()
        members = draw(lambda: space.mutate(pick(), rng, mutation_prob), mutations, taken)
        members += draw(lambda: crossover(pick(), pick(), rng), crossovers, taken)
        members += draw(lambda: space.sample(rng), population - len(members), taken)
    if not seen:
        raise ValueError("no architecture of the space fits the budget")
    return EvolutionResult(top[0].choices, top[0].score, list(seen.values()))


def shared_weight_score(supernet: nn.Module, choices: Sequence[int],
                        recal: Iterable[tuple[torch.Tensor, torch.Tensor]] | None,
                        valid: Iterable[tuple[torch.Tensor, torch.Tensor]],
                        device: torch.device | str = "cpu") -> float:
    """Accuracy of one path with the supernet's weights. With `recal` batches (SPOS), BN statistics
    are re-estimated for this path first (`recalibrate_bn`); with None the supernet's running
    statistics, which mix every path it trained, are used as they are."""
    forward = lambda x: supernet(x, choices=choices)
    if recal is not None:
        recalibrate_bn(supernet, forward, recal, device)
    was_training = supernet.training
    supernet.eval()
    acc = accuracy(forward, valid, device)[0]
    supernet.train(was_training)
    return acc
