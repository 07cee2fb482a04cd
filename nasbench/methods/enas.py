"""ENAS: Efficient Neural Architecture Search via Parameter Sharing (Pham et al., ICML 2018;
melodyguan/enas, micro search: scripts/cifar10_micro_search.sh, src/cifar10/main.py).

Every child model is a path through one set of shared weights w; an LSTM controller with
parameters theta proposes the children. Training alternates (Sec. 2.2):

    1. Shared weights: theta fixed, one epoch of SGD on w; every minibatch trains a freshly
       sampled child m ~ pi(m; theta) on the cross-entropy (Nesterov momentum, cosine
       learning rate with warm restarts, L2).
    2. Controller: w fixed, `train_steps` Adam steps on theta, each averaging the REINFORCE
       gradients of `num_aggregate` sampled children; a child's reward is its accuracy on one
       validation minibatch (+ entropy_weight * the policy's entropy), minus a moving-average
       baseline (nasbench.supernet.controller).
    3. Derive (Sec. 2.2, "Deriving Architectures"): sample `n_derive` children, reward each on a
       validation minibatch, keep the best.

On a space small enough to enumerate (`rank_limit`; nb201-small has 125 cells and a
ground-truth table with `--dataset digits-bench`), every cell is also scored twice at the end,
by its probability under the controller (log pi) and by its shared-weight validation accuracy,
so both can be ranked against the truth.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from nasbench.evaluate.ranking import kendall_tau
from nasbench.evaluate.scoring import accuracy
from nasbench.methods.base import ConfigError, Search, SearchConfig
from nasbench.spaces import EnasSpace
from nasbench.supernet.controller import Controller, Reinforce


@dataclass
class EnasConfig(SearchConfig):
    # the child, i.e. the shared weights (scripts/cifar10_micro_search.sh unless said otherwise)
    epochs: int = 150                  # num_epochs
    batch_size: int = 160
    C: int = 20                        # child_out_filters
    layers: int = 6                    # child_num_layers (normal cells; + 2 reduction cells)
    lr_max: float = 0.05               # child_lr_cosine: SGDR from lr_max to lr_min per epoch,
    lr_min: float = 0.0005             # first period lr_T_0 epochs, each next lr_T_mul times longer
    lr_T_0: int = 10
    lr_T_mul: int = 2
    momentum: float = 0.9              # Nesterov (src/utils.py get_train_ops, "momentum")
    l2_reg: float = 1e-4               # child_l2_reg: loss + l2_reg * sum w^2 over every weight
    keep_prob: float = 0.9             # child_keep_prob: dropout before the classifier
    aux_weight: float = 0.4            # --child_use_aux_heads: loss + 0.4 * CE(aux head); 0: no head
    grad_clip: float | None = None     # official child_grad_bound=5 with clip_mode="norm", but its
                                       # get_train_ops keeps the unclipped gradient: no clipping
    # the controller (src/cifar10/micro_controller.py; values from the script and main.py)
    lstm_size: int = 100               # the paper; main.py builds lstm_size=64 (1 layer)
    controller_lr: float = 0.0035      # Adam(beta1=0, eps=1e-3)
    tanh_constant: float | None = 1.10
    op_tanh_reduce: float = 2.5
    temperature: float | None = None   # not set in the micro search script
    entropy_weight: float = 1e-4
    bl_dec: float = 0.99               # main.py's default controller_bl_dec
    train_steps: int = 30              # controller_train_steps: Adam steps per controller phase
    num_aggregate: int = 10            # children whose gradients each step averages
    train_every: int = 1               # controller_train_every (epochs)
    # deriving the architecture
    n_derive: int = 10                 # children sampled at the end (main.py prints 10 each epoch)
    rank_limit: int = 1000             # score every cell at the end when the space is this small
    eval_batches: int | None = None    # validation batches for the shared-weight ranking; None: all

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 10, "batch_size": 64, "C": 8, "layers": 3, "train_steps": 10,
                "num_aggregate": 5, "bl_dec": 0.9},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Pham et al. 2018, micro search on CIFAR-10 (150 epochs, batch 160, 6 layers of "
                 "20 filters + 2 reduction cells, controller 30 x 10 children per epoch; the search "
                 "script's auxiliary head, loss + 0.4 aux; controller Adam as TF computes it)",
        "cpu": "10 epochs of batch 64 (digits), C=8, 3 normal cells + 2 reduction cells, 10 "
               "controller steps of 5 children per epoch, baseline decay 0.9 instead of 0.99 "
               "(50 rewards an epoch instead of 300: the baseline must catch up in fewer); the aux "
               "head kept (on 8x8 digits its pool covers the whole 2x2 map). On the "
               "micro space this budget leaves the shared weights near chance (see docs/methods.md); "
               "nb201-small learns",
    }

    def validate(self) -> None:
        super().validate()
        for name in ("lstm_size", "train_steps", "num_aggregate", "train_every", "n_derive", "lr_T_0", "lr_T_mul"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.C % 2:
            raise ConfigError(f"C must be even (a factorized reduction halves it), got {self.C}")
        if not 0.0 <= self.bl_dec < 1.0:
            raise ConfigError(f"bl_dec must be in [0, 1), got {self.bl_dec}")
        if not 0.0 < self.keep_prob <= 1.0:
            raise ConfigError(f"keep_prob must be in (0, 1], got {self.keep_prob}")
        if not 0.0 < self.lr_min <= self.lr_max:
            raise ConfigError(f"need 0 < lr_min <= lr_max, got lr_min={self.lr_min}, lr_max={self.lr_max}")
        for name in ("controller_lr", "tanh_constant", "temperature", "op_tanh_reduce", "grad_clip"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be positive, got {value!r}")
        if self.entropy_weight < 0 or self.l2_reg < 0 or self.aux_weight < 0:
            raise ConfigError("entropy_weight, l2_reg and aux_weight must be >= 0")


class Enas(Search):
    """Shared weights trained on children the LSTM controller samples; REINFORCE on the controller."""

    name = "enas"
    Config = EnasConfig
    default_space = "enas"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # the controller samples one choice per decision: a space whose decisions constrain one
        # another (DARTS genotypes, Bender's blocks) would get children it does not contain
        if not isinstance(self.space, EnasSpace) and self.space.size != math.prod(
                len(o) for o in self.space.options):
            raise ConfigError(f"enas runs on spaces whose every combination of choices is an "
                              f"architecture (enas, nb201, chain-*), not on {self.space.name!r}")

    def setup(self):
        c = self.config
        extra = ({"keep_prob": c.keep_prob, "aux_head": c.aux_weight > 0, "image_size": self.data.shape[-1]}
                 if isinstance(self.space, EnasSpace) else {})
        self.supernet = self.space.supernet(**self.net_kwargs(), track_running_stats=False, **extra).to(self.device)
        # official: L2 in the loss (gradient 2 * l2_reg * w) on every weight at every step, also
        # on weights off the sampled child (the TF graph gives them a zero gradient, not none)
        self.optimizer = torch.optim.SGD(self.supernet.parameters(), c.lr_max, momentum=c.momentum,
                                         nesterov=True, weight_decay=2 * c.l2_reg)
        for p in self.supernet.parameters():   # so every weight is decayed (and moves by its
            p.grad = torch.zeros_like(p)       # momentum) at every step, from the first one
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            self.optimizer, T_0=c.lr_T_0, T_mult=c.lr_T_mul, eta_min=c.lr_min)
        self.controller = Controller(self.space, c.lstm_size, c.tanh_constant, c.op_tanh_reduce,
                                     c.temperature).to(self.device)
        self.reinforce = Reinforce(self.controller, c.controller_lr, c.bl_dec, c.entropy_weight,
                                   c.num_aggregate)
        self.controller_steps = 0
        self.track(supernet=self.supernet, optimizer=self.optimizer, scheduler=self.scheduler,
                   controller=self.controller, controller_optimizer=self.reinforce.optimizer)

    def extra_state(self):
        return {"baseline": float(self.reinforce.baseline), "controller_steps": self.controller_steps}

    def load_extra_state(self, state):
        self.reinforce.baseline = state["baseline"]
        self.controller_steps = state["controller_steps"]

    # -- 1. shared weights ----------------------------------------------------------------------
    def train_epoch(self, epoch):
        c = self.config
        lr = self.scheduler.get_last_lr()[0]
        for x, y in self.batches():
            with torch.no_grad():
                choices = self.controller().choices                     # m ~ pi(m; theta), theta fixed
            self.log_sample(choices)
            self.supernet.train()
            logits = self.supernet(x, choices=choices)                  # (B, classes)
            loss = nn.functional.cross_entropy(logits, y)
            aux = getattr(self.supernet, "aux_logits", None)
            total = loss + c.aux_weight * nn.functional.cross_entropy(aux, y) if aux is not None else loss
            self.optimizer.zero_grad(set_to_none=False)
            total.backward()
            if c.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.supernet.parameters(), c.grad_clip)
            self.optimizer.step()
            self.log_step("weights", loss, acc=(logits.argmax(1) == y).float().mean(), lr=lr)
        self.scheduler.step()
        if (epoch + 1) % c.train_every == 0:
            self.train_controller()

    # -- 2. controller ----------------------------------------------------------------------------
    @torch.no_grad()
    def reward(self, choices, x, y) -> float:
        """Accuracy of child `choices` on one validation minibatch. As in the official
        `build_valid_rl`, the child runs as in training (batch-statistics BN, dropout on)."""
        self.supernet.train()
        return float((self.supernet(x, choices=choices).argmax(1) == y).float().mean())

    def train_controller(self):
        """`train_steps` REINFORCE steps. Events per step: `step` (phase controller), metrics
        reward / baseline / advantage / entropy (means over the step's children), and `alpha`:
        each decision's probabilities as the LSTM gave them, averaged over the step's children
        (a decision's distribution depends on the choices before it)."""
        valid = self.endless(self.data.valid)    # restarts each phase: resume replays it exactly
        for _ in range(self.config.train_steps):
            stats = self.reinforce.step(lambda choices: self.reward(choices, *next(valid)))
            self.controller_steps += 1
            self.log_step("controller", stats["loss"], acc=stats["acc"], lr=self.config.controller_lr)
            for name in ("reward", "baseline", "advantage", "entropy"):
                self.log_metric(name, stats[name])
            self.log_alpha(stats["probs"])
        with torch.no_grad():
            self.log_genotype(self.controller(greedy=True).choices)    # the policy's mode, for now

    # -- 3. derive --------------------------------------------------------------------------------
    def finish(self):
        c = self.config
        if self.space.size <= c.rank_limit:
            self.rank_every_cell()
        valid = self.endless(self.data.valid)
        scored = []
        for _ in range(c.n_derive):
            with torch.no_grad():
                choices = self.controller().choices
            acc = self.reward(choices, *next(valid))
            self.log_eval(choices, acc, "valid_acc_minibatch")
            scored.append((acc, choices))
        best_acc, best = max(scored, key=lambda s: s[0])               # first of the best on ties
        self.log_genotype(best)
        self.log_metric("best_valid_acc_minibatch", best_acc)

    @torch.no_grad()
    def rank_every_cell(self):
        """Every cell: its log-probability under the controller and its shared-weight accuracy
        on the validation split (dropout off, batch-statistics BN); Kendall tau of each with the
        ground truth where a table gives it."""
        self.supernet.eval()
        rows = []
        for choices in self.space.enumerate():
            log_p = float(self.controller(choices).log_prob)
            batches = self.data.valid.batches(self.config.batch_size, shuffle=False)
            if self.config.eval_batches is not None:
                batches = (b for _, b in zip(range(self.config.eval_batches), batches))
            acc = accuracy(lambda x: self.supernet(x, choices=choices), batches, self.device)[0]
            self.log_eval(choices, log_p, "controller_log_prob")
            self.log_eval(choices, acc, "valid_acc_shared")
            rows.append((log_p, acc, self.truth(choices)))
        known = [r for r in rows if r[2] is not None]
        if len(known) >= 3:
            log_p, acc, truth = map(np.array, zip(*known))
            self.log_metric("kendall_tau_log_prob", np.nan_to_num(kendall_tau(log_p, truth)))
            self.log_metric("kendall_tau_acc", np.nan_to_num(kendall_tau(acc, truth)))
