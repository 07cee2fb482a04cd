"""Random search with weight sharing (Li & Talwalkar, UAI 2019; liamcli/randomNAS_release, which
runs on liamcli/darts).

The baseline every one-shot method must beat:

    1. Train the supernet: for every minibatch, sample an architecture uniformly at random and
       update the shared weights with its path (SGD, as in DARTS' weight step).
    2. Select: score `n_candidates` random architectures with the shared weights, each on the
       next `eval_batches` batches of one shuffled validation stream; re-score the best `n_top`
       on the next pass' worth of batches of that stream; return the best.

The official code runs the DARTS supernet with one-hot architecture weights: every op runs and
those off the path are multiplied by 0, so their gradients are zero, not absent, and weight
decay and momentum still move them on every step (`unsampled="zero"`, the default here). Its
sampler draws each DARTS gene's op from all 8 ops, `none` included (`sample_none=True`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Iterator

import numpy as np
import torch
from torch import nn

from nasbench.evaluate.scoring import accuracy
from nasbench.methods.base import ConfigError, Search, SearchConfig
from nasbench.spaces import Choices, DartsSpace, Space


@dataclass
class RandomWSConfig(SearchConfig):
    epochs: int = 150                  # randomNAS_release scripts/run_experiment.sh (CIFAR-10)
    lr: float = 0.025                  # SGD, cosine-annealed to lr_min (DARTS' weight settings)
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 1.0             # randomNAS_release's CIFAR-10 scripts (DARTS uses 5)
    n_candidates: int = 1000           # architectures scored with the shared weights
    eval_batches: int = 10             # validation batches each candidate is scored on
    n_top: int = 10                    # best candidates re-scored on a whole pass of validation
    unsampled: str = "zero"            # "zero": ops off the path get zero gradients, so weight
                                       # decay and momentum still move them (official); "none":
                                       # their gradients stay None and SGD skips them
    sample_none: bool = True           # DARTS space: a gene's op may be `none` (official sampler)

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 10, "C": 8, "layers": 3, "batch_size": 32, "lr": 0.1,
                "n_candidates": 50, "eval_batches": 2, "n_top": 5},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Li & Talwalkar 2019 (CIFAR-10: 150 epochs, DARTS space of 8 cells, C=16, 1000 "
                 "candidates on 10 batches each, top 10 re-scored; zero gradients off the path)",
        "cpu": "10 epochs of batch 32 at lr 0.1 (digits has only ~600 search images, so more, "
               "larger steps), C=8, 3 cells, 50 candidates on 2 validation batches, top 5 re-scored",
    }

    def validate(self) -> None:
        super().validate()
        if self.unsampled not in ("zero", "none"):
            raise ConfigError(f"unsampled must be 'zero' (official) or 'none', got {self.unsampled!r}")


def sample_arch(space: Space, rng: np.random.Generator, none: bool = True) -> Choices:
    """A uniform random architecture. On the DARTS space with `none`, as randomNAS_release's
    `sample_arch`: per intermediate node, 2 distinct inputs, each with an op drawn from all the
    ops, `none` included (so a node may end up with fewer than 2 inputs)."""
    if not (none and isinstance(space, DartsSpace)):
        return space.sample(rng)
    n_ops = len(space.options[0])
    choices = [space.none] * len(space.decisions)
    for _, _, incoming in space.nodes():
        for d in rng.choice(incoming, size=2, replace=False):
            choices[int(d)] = int(rng.integers(n_ops))
    return tuple(choices)


class RandomSearchWS(Search):
    """Li & Talwalkar's random search with weight sharing."""

    name = "random"
    Config = RandomWSConfig
    default_space = "darts"  # randomNAS_release searches the DARTS space (8 cells in the paper)

    def setup(self):
        c = self.config
        # BN uses each batch's own statistics (no running averages), as in NAS-Bench-201's
        # weight-sharing baselines: a path is never scored with statistics of other paths.
        self.supernet = self.space.supernet(**self.net_kwargs(), track_running_stats=False).to(self.device)
        self.optimizer = torch.optim.SGD(self.supernet.parameters(), c.lr, momentum=c.momentum,
                                         weight_decay=c.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, c.epochs, eta_min=c.lr_min)
        self.track(supernet=self.supernet, optimizer=self.optimizer, scheduler=self.scheduler)

    def sample(self) -> Choices:
        return sample_arch(self.space, self.rng, self.config.sample_none)

    def train_epoch(self, epoch):
        self.supernet.train()
        lr = self.scheduler.get_last_lr()[0]
        for x, y in self.batches():
            choices = self.sample()                          # uniform over the whole space
            self.log_sample(choices)
            logits = self.supernet(x, choices=choices)
            loss = nn.functional.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.unsampled == "zero":  # as if every op ran with a one-hot weight of 0
                for p in self.supernet.parameters():
                    if p.grad is None:
                        p.grad = torch.zeros_like(p)
            nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.grad_clip)
            self.optimizer.step()
            acc = (logits.argmax(1) == y).float().mean()
            self.log_step("weights", loss, acc=acc, lr=lr)
        self.scheduler.step()

    def valid_stream(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Validation batches forever, reshuffled each pass (the official `valid_iter`)."""
        while True:
            yield from self.data.valid.batches(self.config.batch_size, shuffle=True, generator=self.generator)

    def score(self, choices, n_batches: int, stream) -> float:
        """Validation accuracy of `choices` with the shared weights on the next `n_batches`."""
        self.supernet.eval()
        batches = (b for _, b in zip(range(n_batches), stream))
        return accuracy(lambda x: self.supernet(x, choices=choices), batches, self.device)[0]

    def finish(self):
        c = self.config
        stream = self.valid_stream()
        scored = []
        for _ in range(c.n_candidates):
            choices = self.sample()
            acc = self.score(choices, c.eval_batches, stream)
            self.log_eval(choices, acc, "valid_acc_shared_partial")
            if not scored or acc > max(s for s, _ in scored):
                self.best = choices  # best so far, kept if the run is interrupted here
            scored.append((acc, choices))
        scored.sort(key=lambda s: -s[0])
        one_pass = math.ceil(len(self.data.valid) / c.batch_size)
        final = []
        for _, choices in scored[: c.n_top]:
            acc = self.score(choices, one_pass, stream)
            self.log_eval(choices, acc, "valid_acc_shared")
            final.append((acc, choices))
        best_acc, best = max(final, key=lambda s: s[0])
        self.log_genotype(best)
        self.log_metric("best_valid_acc_shared", best_acc)
