"""FairNAS (Chu et al., ICCV 2021; arXiv 1907.01845): strict fairness in supernet training.

SPOS's uniform sampling is only *expectation* fair: each candidate is trained equally often on
average, but after any finite number of steps some candidates have had more updates than others.
FairNAS makes it *strict* (its Algorithm 1): every candidate of every layer is updated exactly once
per step.

    for each step:
        for every layer l: a random permutation P_l of its m choices
        for j = 1..m:  path_j = (P_1[j], ..., P_L[j]);  forward + backward on the same batch,
                       gradients accumulate
        one optimizer step (every block got exactly one path's gradient)

Search afterwards as in SPOS (FairNAS itself used a multi-objective evolution, NSGA-II; here the
SPOS evolution under a FLOPs budget, with BN recalibration).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from torch import nn

from nasbench.methods.base import ConfigError
from nasbench.methods.spos import SPOS, SPOSConfig
from nasbench.spaces import Choices, Space, CHAIN_SPACES


def strict_fair_paths(space: Space, rng: np.random.Generator) -> list[Choices]:
    """The m paths of one FairNAS step: path j takes entry j of each layer's random permutation,
    so each (layer, choice) appears in exactly one path."""
    m = len(space.options[0])
    perms = [rng.permutation(m) for _ in space.options]  # (L, m)
    return [tuple(int(p[j]) for p in perms) for j in range(m)]


@dataclass
class FairNASConfig(SPOSConfig):
    # supernet training (FairNAS paper, sec. 5.1; unverified: the supernet code is not public)
    epochs: int = 150
    batch_size: int = 256
    C: int = 16
    layers: int = 19
    lr: float = 0.045                  # SGD, cosine-decayed to 0
    momentum: float = 0.9
    weight_decay: float = 4e-5
    label_smoothing: float = 0.0
    steps: int | None = None
    flops_sampler: str = "uniform"     # unused: strict fairness fixes the paths

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 15, "batch_size": 64, "lr": 0.1, "C": 8, "layers": 4, "population": 10,
                "generations": 4, "parents": 3, "mutations": 4, "crossovers": 4, "recal_batches": 4},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Chu et al. 2019 (ImageNet: 150 epochs of batch 256, MobileNetV2 space of 19 "
                 "layers x 6 MBConvs); search as in SPOS (50 x 20 generations)",
        "cpu": "15 epochs, batch 64 with lr 0.1, C=8, 4-layer chain with a stride-1 stem for 8x8 "
               "images (chain-mbv2:stages=2,per_stage=2,stem_stride=1), "
               "evolution 10 x 4 generations (top 3, 4 mutations + 4 crossovers), BN "
               "re-estimated on 4 batches",
    }


class FairNAS(SPOS):
    """Strict-fairness supernet training (m paths per step, one update), then SPOS's search."""

    name = "fairnas"
    spaces = CHAIN_SPACES
    Config = FairNASConfig
    default_space = {"paper": "chain-mbv2", "cpu": "chain-mbv2:stages=2,per_stage=2,stem_stride=1"}

    def setup(self):
        if len({len(o) for o in self.space.options}) != 1:
            raise ConfigError(f"strict fairness needs the same number of choices in every layer; "
                              f"{self.space.name} has {sorted({len(o) for o in self.space.options})}")
        super().setup()

    def lr_factor(self, step: int) -> float:
        return 0.5 * (1 + math.cos(math.pi * min(step, self.total_steps) / self.total_steps))

    def train_epoch(self, epoch):
        self.supernet.train()
        ce = nn.CrossEntropyLoss(label_smoothing=self.config.label_smoothing)
        for x, y in self.batches():
            self.optimizer.zero_grad(set_to_none=True)
            losses, correct = [], 0.0
            for path in strict_fair_paths(self.space, self.rng):
                self.log_sample(path)
                logits = self.supernet(x, choices=path)      # (B, classes)
                loss = ce(logits, y)
                loss.backward()                              # accumulates over the m paths
                losses.append(loss.detach())
                correct += (logits.argmax(1) == y).float().mean().item()
            self.optimizer.step()                            # one update from all m paths
            lr = self.scheduler.get_last_lr()[0]
            self.scheduler.step()
            self.log_step("weights", sum(losses) / len(losses), acc=correct / len(losses), lr=lr)
