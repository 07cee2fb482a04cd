"""SNAS: Stochastic Neural Architecture Search (Xie, Zheng, Liu & Lin, ICLR 2019; the authors'
later release SNAS-Series/SNAS-Series, SNAS/: train_search.py, model_search.py, utils.py).

DARTS mixes every edge by softmax(alpha), a deterministic attention. SNAS samples the mixture:
each edge's weights Z are a *relaxed* one-hot, the Gumbel-softmax (concrete) sample of eq. (2),

    Z = softmax((alpha + g) / lambda),   g ~ Gumbel(0, 1) per option,

all ops run weighted by Z (the sample stays soft, unlike GDAS), and the network and alpha are
trained together on the same training batch: one loss, one backward pass, both optimisers step
(single-level, eq. 1: E_Z[L(Z)] with Z ~ p_alpha). The temperature lambda is annealed linearly
from 1 to 0.03; the official scheduler steps before each epoch, so epoch e trains at
lambda((e+1)/epochs) and the last epoch at exactly 0.03. As lambda -> 0 Z becomes one-hot with P(Z = e_k) = softmax(alpha)_k, so the
relaxed network turns into a sampled child network. Optional resource constraint (sec. 2.4):
+ eta * sum_edges Z . R, R the parameters (thousands) of each op, differentiated through the
sample (the "reparametrization" estimator of the code; the paper's default is the score function).

    genotype: the DARTS rule on softmax(alpha) (DARTS cell), argmax per edge (NB201 cell)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from nasbench.spaces import CELL_SPACES
from nasbench.evaluate.cost import count_params
from nasbench.methods.base import ConfigError
from nasbench.methods.darts import Darts, DartsConfig
from nasbench.ops import build_op


@dataclass
class SnasConfig(DartsConfig):
    epochs: int = 150                  # SNAS/train_search.py defaults (the ICLR 2019 release)
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0             # the weights' gradient norm
    arch_grad_clip: float = 10.0       # alpha's gradient norm
    arch_lr: float = 3e-4
    arch_optimizer: str = "sgd"        # plain SGD on one GPU; "adam" (0.5, 0.999), wd 1e-3: the
    arch_weight_decay: float = 1e-3    # code's distributed path (arch_weight_decay only there)
    alpha_init: float = 1.0            # alpha ~ N(alpha_init, alpha_std)  (loc_mean, loc_std)
    alpha_std: float = 0.01
    tau0: float = 1.0                  # temperature, linear per epoch to tau_min
    tau_min: float = 0.03
    resource_lambda: float = 0.0       # eta of the resource constraint; 0: off
    order: int = 1                     # single-level: no unrolled step

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 10, "batch_size": 64, "C": 4, "layers": 5, "arch_lr": 3e-2},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Xie et al. 2019 / SNAS-Series SNAS/ (ICLR 2019 release) defaults: 150 epochs, "
                 "batch 64, alpha by plain SGD 3e-4 (single-GPU path), tau 1 -> 0.03 with epoch e "
                 "at tau((e+1)/epochs)",
        "cpu": "epochs=10, layers=5, C=4, arch_lr=3e-2 (as DARTS' CPU preset); tau still goes "
               "1 -> 0.03, the last epoch at exactly 0.03",
    }

    def validate(self) -> None:
        super().validate()
        if self.order != 1:
            raise ConfigError("SNAS is single-level: order must be 1")
        if not 0 < self.tau_min <= self.tau0:
            raise ConfigError(f"need 0 < tau_min <= tau0, got {self.tau_min} and {self.tau0}")
        if self.arch_optimizer not in ("sgd", "adam"):
            raise ConfigError(f"arch_optimizer must be 'sgd' or 'adam', got {self.arch_optimizer!r}")
        if self.resource_lambda < 0:
            raise ConfigError(f"resource_lambda must be >= 0, got {self.resource_lambda}")


def relaxed_one_hot(alpha: torch.Tensor, tau: float) -> torch.Tensor:
    """SNAS eq. (2): one Gumbel-softmax sample per row of alpha (D, n) -> Z (D, n), rows on the
    simplex. Noise from the torch global RNG."""
    u = torch.rand_like(alpha).clamp_min(torch.finfo(alpha.dtype).tiny)
    return F.softmax((alpha - torch.log(-torch.log(u))) / tau, dim=-1)


class Snas(Darts):
    """SNAS on any space whose supernet mixes (`weights=`): the DARTS and NB201 cells."""

    name = "snas"
    spaces = CELL_SPACES
    Config = SnasConfig
    default_space = "darts"

    def setup(self):
        super().setup()
        c = self.config
        with torch.no_grad():
            for a in self.alpha:
                a.normal_(c.alpha_init, c.alpha_std)
        if c.arch_optimizer == "sgd":  # train_search.py on one GPU: no momentum, no weight decay
            self.arch_optimizer = torch.optim.SGD(self.alpha.parameters(), c.arch_lr)
            self.track(arch_optimizer=self.arch_optimizer)
        # R: parameters (thousands) of each option at the first stage's width
        self.resource = torch.tensor([[count_params(build_op(op, c.C)) / 1e3 for op in opts]
                                      for opts in self.space.options], device=self.device)

    def temperature(self, epoch: int) -> float:
        """Temp_Scheduler steps once before each epoch: epoch e (from 0) trains at
        tau((e+1)/epochs), linear from tau0, so the last epoch is at exactly tau_min."""
        c = self.config
        return max(c.tau_min, (1 - (epoch + 1) / c.epochs) * (c.tau0 - c.tau_min) + c.tau_min)

    def train_epoch(self, epoch):
        c = self.config
        tau = self.temperature(epoch)
        self.log_metric("temperature", tau)
        self.supernet.train()
        lr = self.scheduler.get_last_lr()[0]
        for x, y in self.batches():  # single-level: w and alpha on the same training batch
            Z = relaxed_one_hot(torch.stack(list(self.alpha)), tau)  # (D, n)
            logits = self.supernet(x, weights=list(Z))
            loss = F.cross_entropy(logits, y)
            total = loss + c.resource_lambda * (Z * self.resource).sum() if c.resource_lambda else loss
            self.optimizer.zero_grad(set_to_none=True)
            self.arch_optimizer.zero_grad(set_to_none=True)
            total.backward()
            nn.utils.clip_grad_norm_(self.supernet.parameters(), c.grad_clip)
            nn.utils.clip_grad_norm_(self.alpha.parameters(), c.arch_grad_clip)
            self.optimizer.step()
            self.arch_optimizer.step()
            self.log_step("weights", loss, acc=(logits.argmax(1) == y).float().mean(), lr=lr)
            if (self.step + 1) % c.alpha_every == 0:
                self.log_probs()
        self.end_epoch()
