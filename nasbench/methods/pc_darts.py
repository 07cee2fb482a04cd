"""PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture Search (Xu et al.,
ICLR 2020; yuhuixu1993/PC-DARTS model_search.py, train_search.py, architect.py).

Two changes to DARTS:

- Partial channel connections (eq. 2): on every edge only 1/K of the channels go through the
  mixed op, the other (K-1)/K bypass it, and a channel shuffle follows, so the memory and
  compute of the mixed ops fall by about K and a larger batch fits (`PartialChannelEdge`).
- Edge normalisation (eq. 4): node j sums its incoming edges weighted by
  beta_{i,j} = softmax over i of its own parameters, learned with alpha; the genotype rule reads
  softmax(alpha_{i,j}) * beta_{i,j}. It damps the noise partial channels add to alpha.

    for each epoch:
        for each training batch:
            1. after `warmup_epochs`: one Adam step on alpha and beta, first order, validation batch
            2. one SGD step on w, training batch
    genotype: the DARTS rule on softmax(alpha) * beta (DARTS cell); argmax per edge (NB201 cell,
    where every edge is kept, so beta does not change the genotype there)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nasbench.spaces import CELL_SPACES
from nasbench.methods.base import ConfigError
from nasbench.methods.darts import Darts, DartsConfig, _grad
from nasbench.spaces.darts import DartsSpace
from nasbench.spaces.nb201 import NB201Space
from nasbench.supernet.mixed import partial_channels


@dataclass
class PcDartsConfig(DartsConfig):
    epochs: int = 50                   # train_search.py defaults
    batch_size: int = 256
    lr: float = 0.1
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 6e-4              # Adam, betas (0.5, 0.999), on alpha and beta
    arch_weight_decay: float = 1e-3
    K: int = 4                         # 1/K of the channels through the mixed op
    edge_normalization: bool = True
    warmup_epochs: int = 15            # weights only (train_search.py: `if epoch >= 15`)
    order: int = 1                     # the official default (--unrolled off)

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 10, "batch_size": 64, "C": 8, "layers": 5, "lr": 0.025, "arch_lr": 6e-2,
                "warmup_epochs": 3},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Xu et al. 2020, CIFAR-10 search: 50 epochs, batch 256, lr 0.1, arch lr 6e-4, K=4, "
                 "alpha frozen for the first 15 epochs",
        "cpu": "epochs=10 with warmup_epochs=3 (the paper's 15 of 50, scaled), batch_size=64 and "
               "lr=0.025 (batch 256 leaves 2 steps per epoch on digits; lr scaled with the batch), "
               "layers=5, C=8 (the smallest width whose C/K=2 channels still reduce), "
               "arch_lr=6e-2 (x100 as in DARTS' CPU preset)",
    }

    FIRST_ORDER: ClassVar[str] = "PC-DARTS here is first order (the official default)"
    NON_NEGATIVE: ClassVar[tuple[str, ...]] = ("warmup_epochs",)

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.K, int) or self.K < 1 or self.C % self.K:
            raise ConfigError(f"K must be a positive divisor of C={self.C}, got {self.K!r}")


def incoming_edges(space) -> list[list[int]]:
    """Decision indices of the edges into each node: the groups beta is normalised over."""
    if isinstance(space, DartsSpace):
        return [incoming for _, _, incoming in space.nodes()]
    if isinstance(space, NB201Space):
        return [[d for d, (_, j) in enumerate(space.edges) if j == node] for node in range(1, space.nodes)]
    raise ConfigError(f"PC-DARTS needs a cell space (darts, nb201); got {space.name}")


class PcDarts(Darts):
    """PC-DARTS on the DARTS and NB201 cells."""

    name = "pc-darts"
    spaces = CELL_SPACES
    Config = PcDartsConfig
    default_space = "darts"

    def supernet_options(self):
        if isinstance(self.space, DartsSpace) and (self.config.C // self.config.K) % 2:
            raise ConfigError(f"on the DARTS cell C/K must be even (stride-2 skips split the "
                              f"channels in two); got C={self.config.C}, K={self.config.K}")
        return {"edge": partial_channels(self.config.K)}

    def setup(self):
        super().setup()
        c = self.config
        self.groups = incoming_edges(self.space)
        self.beta = nn.ParameterList(nn.Parameter(c.alpha_init * torch.randn((), device=self.device))
                                     for _ in self.space.decisions)
        self.arch_optimizer = torch.optim.Adam([*self.alpha.parameters(), *self.beta.parameters()],
                                               c.arch_lr, betas=(c.arch_beta1, c.arch_beta2),
                                               weight_decay=c.arch_weight_decay)
        self.track(beta=self.beta, arch_optimizer=self.arch_optimizer)

    def edge_scale(self) -> list[torch.Tensor]:
        """beta_{i,j} per decision: softmax over each node's incoming edges (eq. 4); ones when
        edge normalisation is off."""
        if not self.config.edge_normalization:
            return [torch.ones((), device=self.device)] * len(self.space.decisions)
        scale = [None] * len(self.space.decisions)
        for group in self.groups:
            for d, b in zip(group, F.softmax(torch.stack([self.beta[d] for d in group]), dim=0)):
                scale[d] = b
        return scale

    def edge_weights(self) -> list[torch.Tensor]:
        """What each edge mixes with: beta_{i,j} * softmax(alpha_{i,j})."""
        return [b * F.softmax(a, dim=-1) for a, b in zip(self.alpha, self.edge_scale())]

    def derive(self):
        with torch.no_grad():
            return self.space.derive([w.cpu().numpy() for w in self.edge_weights()])

    def train_epoch(self, epoch):
        c = self.config
        self.supernet.train()
        lr = self.scheduler.get_last_lr()[0]
        valid_batches = self.endless(self.data.valid)
        arch_params = [*self.alpha, *self.beta]
        for x, y in self.batches():
            if epoch >= c.warmup_epochs:  # 1. alpha and beta, first order, on a validation batch
                xv, yv = next(valid_batches)
                loss_val = F.cross_entropy(self.supernet(xv, weights=self.edge_weights()), yv)
                for p, g in zip(arch_params, _grad(loss_val, arch_params)):
                    p.grad = g
                self.arch_optimizer.step()
                self.log_step("arch", loss_val)
            # 2. the weights, alpha and beta held fixed
            with torch.no_grad():
                weights = self.edge_weights()
            self.weight_step(x, y, weights, lr)
            if (self.step + 1) % c.alpha_every == 0:
                self.log_probs()
        self.end_epoch()

    def log_probs(self):
        super().log_probs()
        if self.config.edge_normalization:
            with torch.no_grad():
                scale = torch.stack(self.edge_scale()).cpu().numpy()
            self.log_metric("edge_beta_max", float(np.max(scale)))
