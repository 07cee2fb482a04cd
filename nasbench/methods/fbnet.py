"""FBNet: hardware-aware search with Gumbel-softmax (Wu et al., CVPR 2019). No official search
code was released; this follows the paper's Sec. 3.

Each layer l of the supernet runs all its candidates and mixes their outputs with a Gumbel-softmax
mask over the architecture parameters theta_l (eq. (5)):

    m_l,i = exp((theta_l,i + g_l,i) / tau) / sum_j exp((theta_l,j + g_l,j) / tau),  g ~ Gumbel(0, 1)
    x_{l+1} = sum_i m_l,i * b_l,i(x_l)

so the architecture distribution P_theta(a) = prod_l softmax(theta_l) is learned by gradient
descent through the samples. Latency is differentiable the same way (eq. (6)):

    LAT(a) = sum_l sum_i m_l,i * LAT(b_l,i)      (LAT(b) from this machine's table)
    L(a, w_a) = CE(a, w_a) * alpha * (log LAT(a))^beta,   alpha = 0.2, beta = 0.6   (eq. (2))

    warm-up: train the weights only (10 epochs in the paper)
    each epoch: weights w on 80% of the training data (SGD), then theta on the other 20% (Adam);
                the temperature tau starts at 5.0 (after the warm-up) and is
                multiplied by exp(-0.045) every search epoch
    derive: sample architectures from P_theta (or take its mode) -- here the mode

`gumbel_softmax` is eq. (5) as a plain function, tested against the Gumbel-max trick.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from nasbench.spaces import CHAIN_SPACES
from nasbench.methods.base import ConfigError, Search, SearchConfig
from nasbench.methods.latency_aware import LatencyAware


@dataclass
class FBNetConfig(SearchConfig):
    epochs: int = 90                   # search epochs in all, warm-up included (unverified)
    warmup_epochs: int = 10            # weights only
    batch_size: int = 192              # (unverified)
    C: int = 16                        # stem width (widths scale with it)
    layers: int = 22                   # the space's depth (set by the space itself)
    arch_fraction: float = 0.2         # theta's share of the training data (weights: 80%)
    lr: float = 0.1                    # weights: SGD, cosine to 0 (schedule unverified)
    momentum: float = 0.9
    weight_decay: float = 1e-4         # (unverified)
    arch_lr: float = 0.01              # theta: Adam
    arch_weight_decay: float = 5e-4
    tau0: float = 5.0                  # Gumbel-softmax temperature at the start
    tau_decay: float = 0.045           # tau <- tau * exp(-0.045) each epoch
    reg_alpha: float = 0.2             # L = CE * alpha * (log LAT)^beta
    reg_beta: float = 0.6
    log_unit_ms: float = 1.0           # log LAT with LAT in this unit (ms on the phone)
    latency_loss: str = "mul#log"      # CE * alpha * (log LAT)^beta; "none": CE only
    target: float = 0.5                # unused by the loss (FBNet has no reference latency)
    target_ms: float | None = None
    latency_table: str | None = None   # a saved LatencyTable to use instead of measuring
    latency_repeats: int = 30
    latency_device: str = "this"        # "this" (measured here) or a published table: "pixel1",
                                        # "proxyless-mobile" (nasbench.evaluate.latency_devices)
    latency_batch: int = 256            # this machine's table is timed on batches of this size
    alpha_every: int = 5               # steps between `alpha` events (not a paper setting)

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 12, "warmup_epochs": 2, "batch_size": 32, "C": 8, "lr": 0.05, "arch_lr": 0.05,
                "log_unit_ms": 0.01},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Wu et al. 2019: ImageNet (100 classes for the search), 22 layers x 9 blocks, "
                 "tau 5.0 decayed by exp(-0.045) per epoch, alpha 0.2, beta 0.6, 10 warm-up epochs",
        "cpu": "12 epochs (2 warm-up) of batch 32 on digits in fbnet:stages=3,per_stage=2,stem_stride=1 "
               "(5 layers), C=8, weights lr 0.05, theta lr 0.05 (0.01 barely moves theta in ~50 steps). "
               "LAT in units of 10 us for the log (a table timed at batch 1, as notebook 06's, puts a network "
               "below 1 ms, whose log in ms is negative and its power undefined; the batch-256 and phone tables "
               "would work in ms too); latency_device=pixel1 or proxyless-mobile uses a published Pixel 1 table. "
               "No reference latency: the paper's loss has none",
    }

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ConfigError(f"warmup_epochs must be in 0..epochs-1, got {self.warmup_epochs}")
        if not 0 < self.arch_fraction < 1:
            raise ConfigError(f"arch_fraction must be strictly between 0 and 1, got {self.arch_fraction}")
        if self.latency_loss not in ("mul#log", "none"):
            raise ConfigError(f"latency_loss must be mul#log or none, got {self.latency_loss!r}")
        if not isinstance(self.latency_batch, int) or self.latency_batch <= 0:
            raise ConfigError(f"latency_batch must be a positive integer, got {self.latency_batch!r}")
        if self.tau0 <= 0:
            raise ConfigError(f"tau0 must be positive, got {self.tau0}")


def gumbel_softmax(theta: torch.Tensor, tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """One soft sample m = softmax((theta + g) / tau), g ~ Gumbel(0, 1) iid (FBNet eq. (5)).
    Its argmax is a draw from softmax(theta) whatever tau (the Gumbel-max trick); as tau -> 0
    the sample tends to that one-hot vector, as tau -> infinity to the uniform vector."""
    u = torch.rand(theta.shape, generator=generator, device=theta.device).clamp_(1e-10, 1.0)
    g = -torch.log(-torch.log(u))
    return F.softmax((theta + g) / tau, dim=-1)


class FBNet(LatencyAware, Search):
    """Gumbel-softmax over every layer's candidates, latency-aware loss, 80/20 data."""

    name = "fbnet"
    spaces = CHAIN_SPACES
    Config = FBNetConfig
    default_space = {"paper": "fbnet", "cpu": "fbnet:stages=3,per_stage=2,stem_stride=1"}
    uses_reference = False  # L = CE * alpha * (log LAT)^beta has no reference latency

    @property
    def valid_fraction(self) -> float:
        return self.config.arch_fraction  # FBNet's 80/20: theta trains on 20% of the pool

    def setup(self):
        c = self.config
        self.supernet = self.space.supernet(**self.net_kwargs()).to(self.device)
        self.theta = nn.ParameterList(nn.Parameter(torch.zeros(len(o), device=self.device))
                                      for o in self.space.options)
        self.optimizer = torch.optim.SGD(self.supernet.parameters(), c.lr, momentum=c.momentum,
                                         weight_decay=c.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, c.epochs)
        self.arch_optimizer = torch.optim.Adam(self.theta.parameters(), c.arch_lr,
                                               weight_decay=c.arch_weight_decay)
        self.track(supernet=self.supernet, theta=self.theta, optimizer=self.optimizer,
                   scheduler=self.scheduler, arch_optimizer=self.arch_optimizer)
        self.setup_latency()

    def tau(self, epoch: int) -> float:
        """tau0 through the warm-up, then times exp(-tau_decay) per search epoch: the schedule
        counts the epochs that train theta, so the first search epoch is at tau0."""
        c = self.config
        return c.tau0 * math.exp(-c.tau_decay * max(0, epoch - c.warmup_epochs))

    def probs(self) -> list[torch.Tensor]:
        with torch.no_grad():
            return [F.softmax(t, 0) for t in self.theta]

    def loss(self, logits, y, masks) -> tuple[torch.Tensor, torch.Tensor]:
        """(L, CE): L = CE * alpha * (log LAT(a))^beta with LAT(a) = sum_l sum_i m_li LAT(b_li)."""
        c = self.config
        ce = F.cross_entropy(logits, y)
        if c.latency_loss == "none":
            return ce, ce
        lat = self.table.expected(masks).to(logits.device)
        return ce * c.reg_alpha * torch.log(lat / c.log_unit_ms) ** c.reg_beta, ce

    def forward(self, x, tau: float, detach_theta: bool):
        theta = [t.detach() if detach_theta else t for t in self.theta]
        masks = [gumbel_softmax(t, tau) for t in theta]
        return self.supernet(x, weights=masks), masks

    def train_epoch(self, epoch):
        c = self.config
        tau = self.tau(epoch)
        self.supernet.train()
        self.log_metric("temperature", tau)
        lr = self.scheduler.get_last_lr()[0]
        for x, y in self.batches():  # the weights, on 80% of the data; theta fixed
            logits, masks = self.forward(x, tau, detach_theta=True)
            self.log_sample([int(m.argmax()) for m in masks])  # the path each mask points to
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.log_step("weights", loss, acc=(logits.argmax(1) == y).float().mean(), lr=lr)
            if (self.step + 1) % c.alpha_every == 0:
                self.log_alpha(self.probs())
        self.scheduler.step()
        if epoch >= c.warmup_epochs:  # then theta, on the other 20%; weights fixed
            for x, y in self.data.valid.batches(c.batch_size, shuffle=True, generator=self.generator,
                                                drop_last=True):
                x, y = x.to(self.device), y.to(self.device)
                logits, masks = self.forward(x, tau, detach_theta=False)
                loss, ce = self.loss(logits, y, masks)
                self.arch_optimizer.zero_grad(set_to_none=True)
                self.supernet.zero_grad(set_to_none=True)
                loss.backward()
                self.arch_optimizer.step()
                self.log_step("arch", loss)
                self.log_metric("task_loss", ce.item())
                self.log_metric("latency_loss", (loss - ce).item())
                self.log_metric("expected_latency_ms", self.table.expected(self.probs()).item())
            self.supernet.zero_grad(set_to_none=True)
        self.log_alpha(self.probs())
        self.log_genotype(self.derive())
