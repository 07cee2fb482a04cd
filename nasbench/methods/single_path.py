"""Single-Path NAS (Stamoulis et al., ECML-PKDD 2019; arXiv 1904.02877; dstamoulis/single-path-nas).

No supernet of parallel paths and no architecture parameters beside the weights: each layer is one
superkernel (`nasbench.supernet.superkernel`) whose kernel size, expansion and presence are
decided by thresholds on the norms of its own weights. Weights and thresholds are trained together,
single-level, on one loss (paper eq. (7); nas-search/search_main.py):

    L = CE(w, t) + lambda * 1e3 * log R(w, t)
    R = base + sum_l R_l(d_5x5, d_100c, d_50c)                       (eq. (5)-(6), `layer_runtime`)

R is the runtime of the current hard decisions, read from a latency table measured on this machine
(`nasbench.evaluate.latency`); it is differentiable through the indicators' sigmoid
(straight-through). The official schedule: for the first 5 of 8 epochs lambda = 0 and every
indicator is kept with probability 0.6 (and scaled by 1/0.6: TF dropout), then lambda is switched
on and the indicators act unperturbed. The architecture is the decisions at the end.

Events: `sample` the path each step used; `alpha` the implied probabilities (each indicator's
sigmoid(norm - t) read as an independent Bernoulli, multiplied out, `SuperKernelMBConv.probs`);
`genotype` the current decisions; metrics `expected_latency_ms` (R), `latency_loss`, `task_loss`,
`ring_norm/L{i}` and `threshold/L{i}` (the 5x5 decision of layer i).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from nasbench.evaluate.latency import LatencyTable
from nasbench.methods.base import ConfigError, Search, SearchConfig
from nasbench.methods.latency_aware import load_or_measure
from nasbench.optim import TFRMSprop
from nasbench.supernet.superkernel import SuperkernelNetwork


@dataclass
class SinglePathConfig(SearchConfig):
    # nas-search/search_main.py and nas_utils.py (ImageNet, TPU)
    epochs: int = 8                    # train_steps 10008 of batch 1024 (1251 steps an epoch)
    batch_size: int = 1024
    C: int = 16                        # stem width (MnasNet stages 24/40/80/96/192)
    layers: int = 20                   # the chain space's depth (set by the space itself)
    warmup_epochs: float = 5.0         # 6255 steps with lambda = 0 and indicator drop-out
    indicator_keep: float = 0.6        # keep probability of each indicator during the warm-up
    runtime_lambda: float = 0.020      # README's search command (the flag's default is 0.1)
    runtime_form: str = "official"     # R_l as superkernel.py ("official") or exact LUT entries ("lut")
    base_lr: float = 0.016             # per 256 images: lr = base_lr * batch_size / 256
    lr_decay: float = 0.97             # exponential, staircase, every lr_decay_epochs
    lr_decay_epochs: float = 2.4
    rmsprop_decay: float = 0.9
    momentum: float = 0.9
    eps: float = 1e-3
    weight_decay: float = 1e-5         # L2 on every weight but BN's, the thresholds included
    label_smoothing: float = 0.1
    latency_device: str = "this"       # "this" (measured here), "pixel1" (the paper's table, mapped)
                                       # or "proxyless-mobile" (nasbench.evaluate.latency_devices)
    latency_batch: int = 256           # this machine's table is timed on batches of this size
    log_every: int = 5                 # steps between `alpha` / metric events (not a paper setting)

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 40, "warmup_epochs": 25.0, "batch_size": 32, "C": 8,
                "runtime_lambda": 0.020, "base_lr": 0.128},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Stamoulis et al. 2019 (ImageNet: 8 epochs of batch 1024, 5 of them warm-up; "
                 "RMSProp lr 0.064 as TF computes it (eps inside the root, mean square starting at "
                 "1); L2 on all but BN; MnasNet chain of 20 superkernel layers; Pixel 1 runtime table)",
        "cpu": "chain-small (3 layers, C=8) on digits: 40 epochs of batch 32, 25 of them warm-up "
               "(the paper's 5/8 ratio), base lr 0.128 per 256 images (lr 0.016 at batch 32: on "
               "~30 steps an epoch the paper's lr could not move a norm past its threshold)",
    }

    def validate(self) -> None:
        super().validate()
        if self.runtime_form not in ("official", "lut"):
            raise ConfigError(f"runtime_form must be 'official' or 'lut', got {self.runtime_form!r}")
        if not 0 < self.indicator_keep <= 1:
            raise ConfigError(f"indicator_keep must be in (0, 1], got {self.indicator_keep!r}")
        if self.runtime_lambda < 0 or self.warmup_epochs < 0:
            raise ConfigError("runtime_lambda and warmup_epochs must not be negative")
        if not isinstance(self.log_every, int) or self.log_every <= 0:
            raise ConfigError(f"log_every must be a positive integer, got {self.log_every!r}")


class SinglePathNAS(Search):
    """Superkernels with norm thresholds, trained single-level with a runtime loss."""

    name = "single-path"
    spaces = ("chain-small", "chain-singlepath")
    Config = SinglePathConfig
    default_space = {"paper": "chain-singlepath", "cpu": "chain-small"}

    def __init__(self, *args, table: LatencyTable | None = None, **kwargs):
        """`table`: the latency table to use; default: measured on this machine (cached)."""
        super().__init__(*args, **kwargs)
        self.table = table

    def setup(self):
        c = self.config
        try:
            self.supernet = SuperkernelNetwork(self.space, C=c.C, num_classes=self.data.num_classes,
                                               in_channels=self.data.shape[0]).to(self.device)
        except (ValueError, AttributeError) as e:
            raise ConfigError(f"single-path needs a chain space of MBConv k3/k5 x e3/e6 (+ skip): {e}") from None
        if self.table is None:
            self.table = load_or_measure(self)
        if len(self.table.lut) != len(self.space.decisions):
            raise ConfigError(f"the latency table is for {self.table.space}, not {self.space.name}")
        # TF's RMSProp as the official code; L2 on every weight but BN's (the thresholds included)
        bn = {id(p) for m in self.supernet.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
              for p in m.parameters()}
        params = list(self.supernet.parameters())
        self.optimizer = TFRMSprop([{"params": [p for p in params if id(p) not in bn]},
                                    {"params": [p for p in params if id(p) in bn], "weight_decay": 0.0}],
                                   c.base_lr * c.batch_size / 256, decay=c.rmsprop_decay, eps=c.eps,
                                   momentum=c.momentum, weight_decay=c.weight_decay)
        decay_steps = c.lr_decay_epochs * self.steps_per_epoch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: c.lr_decay ** math.floor(step / decay_steps))
        self.track(supernet=self.supernet, optimizer=self.optimizer, scheduler=self.scheduler)
        self.warmup_steps = round(c.warmup_epochs * self.steps_per_epoch)

    def _run_start_fields(self) -> dict:
        fields = super()._run_start_fields()
        # what LatencyPanel draws (no target: the official loss has none)
        fields["config"]["latency"] = {**self.table.info(), "runtime_form": self.config.runtime_form}
        return fields

    def runtime(self) -> torch.Tensor:
        """R (ms) of the last forward's decisions, differentiable through the indicators."""
        return self.supernet.runtime(self.table.lut, self.table.base_ms, self.config.runtime_form)

    def train_epoch(self, epoch):
        c = self.config
        ce = nn.CrossEntropyLoss(label_smoothing=c.label_smoothing)
        self.supernet.train()
        for x, y in self.batches():
            warm = self.step < self.warmup_steps
            logits = self.supernet(x, keep=c.indicator_keep if warm else None)  # (B, classes)
            self.log_sample(self.supernet.choices())                          # the path this step ran
            task = ce(logits, y)
            lam = 0.0 if warm else c.runtime_lambda
            R = self.runtime()
            latency = lam * 1e3 * torch.log(R)          # official: "1e3 to sec" (it scales the log)
            loss = task + latency
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            lr = self.scheduler.get_last_lr()[0]
            self.scheduler.step()
            self.log_step("weights", loss, acc=(logits.argmax(1) == y).float().mean(), lr=lr)
            if (self.step + 1) % c.log_every == 0:  # (self.step counts from 0 inside the loop)
                self.log_state(task, latency)
        self.log_genotype(self.supernet.decide())

    def log_state(self, task: torch.Tensor, latency: torch.Tensor) -> None:
        """Implied probabilities, R of the decisions without drop-out, norms against thresholds."""
        choices = self.supernet.decide()                # no drop-out: what the search would return
        self.log_alpha(self.supernet.probs())
        with torch.no_grad():
            self.log_metric("expected_latency_ms", float(self.runtime()))
        self.log_metric("latency_loss", float(latency.detach()))
        self.log_metric("task_loss", float(task.detach()))
        for i, layer in enumerate(self.supernet.layers):
            self.log_metric(f"ring_norm/L{i}", float(layer.norms["ring"]))
            self.log_metric(f"threshold/L{i}", float(layer.t5x5.detach()))
        if self.best is None or tuple(choices) != tuple(self.best):
            self.log_genotype(choices)

    def finish(self):
        """The decisions at the end; scored with the supernet's weights on the validation split."""
        choices = self.supernet.decide()
        self.log_genotype(choices)
        self.supernet.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in self.data.valid.batches(256, shuffle=False):
                x, y = x.to(self.device), y.to(self.device)
                correct += int((self.supernet(x).argmax(1) == y).sum())
                total += len(y)
        self.log_metric("found_latency_ms", self.table.predict(choices))
        self.log_eval(choices, correct / max(total, 1), "valid_acc_supernet",
                      latency_ms=self.table.predict(choices))
