"""GDAS: Searching for a Robust Neural Architecture in Four GPU Hours (Dong & Yang, CVPR 2019;
D-X-Y/AutoDL-Projects exps/NAS-Bench-201-algos/GDAS.py, models/cell_searchs/search_model_gdas.py).

DARTS runs every op of every edge. GDAS samples one op per edge with the Gumbel-max trick and
runs only that one, but keeps a gradient for alpha through the Gumbel-softmax (eqs. 3-6):

    p = softmax((log softmax(alpha) + g) / tau),  g ~ Gumbel(0, 1)  (one draw per edge)
    h = one_hot(argmax p) - p.detach() + p       (forward: one-hot; backward: the gradient of p)
    edge output = h_k * op_k(x) + sum_{j != k} h_j     (k = argmax p; only op_k runs; NB201 cell)
    edge output = h_k * op_k(x)                        (the DARTS cell: search_model_gdas_nasnet.py)

    for each epoch: tau = tau_max - (tau_max - tau_min) * epoch / (epochs - 1)   (10 -> 0.1)
        for each training batch:
            1. update w on the training batch, one fresh sample h
            2. update alpha on a validation batch, another sample h (straight-through gradient)
    genotype: argmax alpha per edge (NAS-Bench-201 cell), the DARTS rule on the DARTS cell

`straight_through_gumbel` is the sampler; `SampledEdge` (nasbench.supernet.mixed) the edge.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch.nn import functional as F

from nasbench.methods.darts import Darts, DartsConfig
from nasbench.spaces import DartsSpace, CELL_SPACES
from nasbench.supernet.mixed import SampledEdge, SampledOpEdge


@dataclass
class GdasConfig(DartsConfig):
    epochs: int = 250                  # configs/nas-benchmark/algos/GDAS.config
    batch_size: int = 64
    layers: int = 15                   # GDAS.sh num_cells=5: 5 cells per stage, 3 stages
    lr: float = 0.025                  # SGD, nesterov, cosine to lr_min
    lr_min: float = 0.001
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4              # Adam, betas (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    tau_max: float = 10.0              # Gumbel-softmax temperature, linear per epoch
    tau_min: float = 0.1
    order: int = 1                     # GDAS has no second-order step

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "paper-darts": {"batch_size": 256, "layers": 6},
        "cpu": {"epochs": 10, "C": 4, "layers": 5, "arch_lr": 3e-2},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Dong & Yang 2019 on NAS-Bench-201 (GDAS.sh + GDAS.config): 250 epochs, batch 64, "
                 "15 cells (num_cells=5 per stage), tau 10 -> 0.1",
        "paper-darts": "the DARTS (NASNet) cell as GDAS-NASNet's search config: batch 256, N=2 (6 "
                       "cells) on the darts space",
        "cpu": "epochs=10, layers=5, C=4, arch_lr=3e-2 (as DARTS' CPU preset: alpha moves about as "
               "far in ~90 steps as with 3e-4 in the paper's ~100k); tau still goes 10 -> 0.1",
    }

    FIRST_ORDER: ClassVar[str] = "GDAS has only a first-order architecture step"
    TEMPERATURE: ClassVar[tuple[str, str]] = ("tau_max", "tau_min")


def straight_through_gumbel(alpha: torch.Tensor, tau: float, g: torch.Tensor | None = None
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """GDAS eqs. (5)-(6) for a (decisions, options) table of alpha: the straight-through
    one-hot h (D, n) and the sampled indices (D,). Gumbel noise `g` from the torch global RNG
    unless given; redrawn in the rare case it overflows (as the official code does)."""
    while True:
        if g is None or not torch.isfinite(g).all():
            g = -torch.empty_like(alpha).exponential_().log()            # Gumbel(0, 1)
        p = F.softmax((F.log_softmax(alpha, dim=-1) + g) / tau, dim=-1)  # (D, n)
        if torch.isfinite(p).all():
            break
        g = None
    index = p.argmax(dim=-1)
    one_hot = torch.zeros_like(p).scatter_(-1, index[:, None], 1.0)
    return one_hot - p.detach() + p, index


class Gdas(Darts):
    """GDAS on any space whose supernet takes `edge=` (the DARTS and NB201 cells)."""

    name = "gdas"
    spaces = CELL_SPACES
    Config = GdasConfig
    default_space = {"paper": "nb201", "paper-darts": "darts", "cpu": "nb201"}

    def supernet_options(self):
        return {"edge": SampledOpEdge if isinstance(self.space, DartsSpace) else SampledEdge}

    def temperature(self, epoch: int) -> float:
        c = self.config
        return c.tau_max - (c.tau_max - c.tau_min) * epoch / max(c.epochs - 1, 1)

    def sample(self, tau: float):
        return straight_through_gumbel(torch.stack(list(self.alpha)), tau)

    def train_epoch(self, epoch):
        c = self.config
        tau = self.temperature(epoch)
        self.log_metric("temperature", tau)
        self.supernet.train()
        lr = self.scheduler.get_last_lr()[0]
        valid_batches = self.endless(self.data.valid)
        for x, y in self.batches():
            # 1. the weights: one sampled op per edge runs (alpha's gradient is not needed here)
            h, index = self.sample(tau)
            self.log_sample(index.tolist())
            self.weight_step(x, y, list(h.detach()), lr)
            # 2. alpha: a new sample on a validation batch, the straight-through gradient
            xv, yv = next(valid_batches)
            h, _ = self.sample(tau)
            loss_val = F.cross_entropy(self.supernet(xv, weights=list(h)), yv)
            for a, g in zip(self.alpha, torch.autograd.grad(loss_val, list(self.alpha))):
                a.grad = g
            self.arch_optimizer.step()
            self.log_step("arch", loss_val)
            if (self.step + 1) % c.alpha_every == 0:
                self.log_probs()
        self.end_epoch()
