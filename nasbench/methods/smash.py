"""SMASH (Brock et al., "SMASH: One-Shot Model Architecture Search through HyperNetworks", ICLR
2018; ajbrock/SMASH train.py, evaluate.py, SMASH.py).

    1. Train (Algorithm 1): every batch, sample a random architecture c, generate its 1x1 weights
       W = H(c, z), and take one gradient step on the loss of the network with those weights;
       the hypernet H and the freely learned weights (stem, the other convs, transitions, head)
       train together with Adam.
    2. Rank: sample many random architectures, generate their weights and score each by its
       validation accuracy: the SMASH score.
    3. Check (the paper's central claim): train some of them stand-alone with normally learned
       weights and ask whether the SMASH score ranks them like their true accuracy does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from nasbench.evaluate import accuracy, train_standalone
from nasbench.evaluate.ranking import rank_report
from nasbench.methods.base import ConfigError, Search, SearchConfig


@dataclass
class SmashConfig(SearchConfig):
    # training (train.py / utils.py train_parser, SMASH.py __init__ and update_lr)
    epochs: int = 100
    batch_size: int = 50
    lr: float = 1e-3                   # Adam, "settings borrowed from DCGAN", cosine-annealed to 0
    beta1: float = 0.5
    beta2: float = 0.999
    eps: float = 1e-4                  # high for fp16, as in the official code
    weight_decay: float = 1e-4         # on the free weights only; none on the hypernet
    depth_compression: int = 2         # input channels per embedding slice / N (train_parser: 2)
    anneal_kernel: bool = True         # largest kernel 3 -> max_kernel over the first half
    var_op: bool = False               # --var-op: sample the 2x2 conv layout; off (one conv per op)
                                       # is the official default
    # ranking (evaluate.py) and the check
    n_random: int = 500                # --num-random
    standalone: int = 5                # architectures trained stand-alone
    pick: str = "spread"               # which: "spread" over the SMASH ranking, or the "top" ones
    standalone_epochs: int = 100       # each stand-alone training (MainNet: SGD, cosine)
    log_every: int = 10                # steps between generated weight-norm metrics

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"n_random": 60, "standalone": 8, "standalone_epochs": 15},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Brock et al. 2018 (CIFAR-100: 100 epochs of batch 50, WRN-40-4-sized budget: the "
                 "smash space with 24/28/32 banks of N=8, N_max=64; 500 random architectures scored); "
                 "one conv per op as the code's default (--var-op off; var_op=True samples the "
                 "paper's 2x2 layout)",
        "cpu": "the same 100 epochs, on digits: the smash-small space (3 blocks of 6 banks of N=4, N_max=16, up "
               "to 3 ops per block), 60 architectures scored, 8 trained stand-alone for 15 epochs",
    }

    def validate(self) -> None:
        super().validate()
        for name in ("n_random", "standalone_epochs", "log_every", "depth_compression"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.standalone < 0 or self.standalone > self.n_random:
            raise ConfigError(f"standalone must be between 0 and n_random ({self.n_random}), got {self.standalone}")
        if self.pick not in ("spread", "top"):
            raise ConfigError(f"pick must be 'spread' or 'top', got {self.pick!r}")
        if not (self.lr > 0 and 0 <= self.beta1 < 1 and 0 <= self.beta2 < 1 and self.eps > 0):
            raise ConfigError("need lr > 0, 0 <= beta1, beta2 < 1 and eps > 0")


class Smash(Search):
    """A hypernet generates each sampled architecture's weights; random architectures are ranked
    by their validation accuracy with generated weights."""

    name = "smash"
    spaces = ("smash", "smash-small")
    Config = SmashConfig
    default_space = {"paper": "smash", "cpu": "smash-small"}

    def setup(self):
        from nasbench.spaces.smash import SmashSpace
        if not isinstance(self.space, SmashSpace):
            raise ConfigError(f"smash needs a memory-bank space (smash, smash-small), not {self.space.name!r}")
        c = self.config
        self.net = self.space.supernet(num_classes=self.data.num_classes, in_channels=self.data.shape[0],
                                       depth_compression=c.depth_compression).to(self.device)
        hyper = list(self.net.hypernet.parameters())
        free = [p for p in self.net.parameters() if all(p is not h for h in hyper)]
        self.optimizer = torch.optim.Adam([{"params": free}, {"params": hyper, "weight_decay": 0.0}],
                                          c.lr, betas=(c.beta1, c.beta2), eps=c.eps,
                                          weight_decay=c.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda j: 0.5 * (1 + math.cos(math.pi * j / self.total_steps)))
        self.track(net=self.net, optimizer=self.optimizer, scheduler=self.scheduler)

    def max_kernel(self) -> int:
        """SMASH.py update_lr: the largest kernel grows 3, 4, ..., max_kernel over the first half
        (the sampler draws from range(3, max_kernel + 2, 2): 5x5 from 12.5%, 7x7 from 37.5%)."""
        K = self.space.max_kernel
        if not self.config.anneal_kernel:
            return K
        return 3 + int((K - 3) // 2 * min(self.step / (0.5 * self.total_steps), 1.0) * 2)

    def train_epoch(self, epoch):
        self.net.train()
        for x, y in self.batches():
            choices = self.space.sample(self.rng, max_kernel=self.max_kernel(), var_op=self.config.var_op)
            self.log_sample(choices)
            blocks = self.space.arch(choices)
            w1x1 = self.net.generate(blocks)                  # W = H(c, z), z drawn afresh
            logits = self.net(x, blocks=blocks, w1x1=w1x1)   # (B, classes)
            loss = nn.functional.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()                                   # into the hypernet through W
            self.optimizer.step()
            lr = self.scheduler.get_last_lr()[0]
            self.scheduler.step()
            self.log_step("weights", loss, acc=(logits.argmax(1) == y).float().mean(), lr=lr)
            if self.step % self.config.log_every == 0:
                self.log_weight_norms(blocks, w1x1)

    def log_weight_norms(self, blocks, w1x1):
        """Norm of each op's generated 1x1 before weight normalisation (`wnorm/b0.op1`)."""
        n = 0
        for b, ops in enumerate(blocks):
            for j, _ in enumerate(ops):
                self.log_metric(f"wnorm/b{b}.op{j}", float(w1x1[n].detach().norm()))
                n += 1

    # -- ranking and the check ----------------------------------------------------------------
    @torch.no_grad()
    def smash_score(self, choices) -> float:
        """Validation accuracy with generated weights (evaluate.py: eval mode, one z per net)."""
        self.net.eval()
        blocks = self.space.arch(choices)
        w1x1 = self.net.generate(blocks)
        forward = lambda x: self.net(x, blocks=blocks, w1x1=w1x1)
        return accuracy(forward, self.data.valid.batches(256, shuffle=False), self.device)[0]

    def finish(self):
        c = self.config
        scored = []
        for _ in range(c.n_random):
            choices = self.space.sample(self.rng, var_op=self.config.var_op)
            score = self.smash_score(choices)
            self.log_eval(choices, score, "smash_score")
            scored.append((score, choices))
        ranked = sorted(scored, key=lambda t: -t[0])
        self.log_genotype(ranked[0][1])
        self.log_metric("best_smash_score", ranked[0][0])
        self.scored = ranked
        if c.standalone:
            self.check(ranked)

    def picked(self, ranked):
        """The architectures to train stand-alone: the top ones, or evenly spaced ranks."""
        n = self.config.standalone
        if self.config.pick == "top":
            return ranked[:n]
        idx = np.unique(np.round(np.linspace(0, len(ranked) - 1, n)).astype(int))
        return [ranked[i] for i in idx]

    def check(self, ranked):
        """Train the picked architectures stand-alone (SMASH.py MainNet); their test accuracy is
        the `truth` of an `eval` event; report how well the SMASH score ranks them."""
        c = self.config
        scores, truths = [], []
        for score, choices in self.picked(ranked):
            result = train_standalone(self.space, choices, self.data, epochs=c.standalone_epochs,
                                      batch_size=c.batch_size, lr=0.1, weight_decay=1e-4,
                                      seed=self.seed, device=self.device)
            self.log_eval(choices, score, "smash_score", truth=result.test_acc,
                          standalone_valid=result.valid_acc, params=result.params)
            scores.append(score)
            truths.append(result.test_acc)
        if len(scores) >= 2:
            report = rank_report(scores, truths, seed=self.seed)
            for name in ("kendall_tau", "spearman_rho"):
                self.log_metric(name, np.nan_to_num(report[name].value))
            self.ranking = report
