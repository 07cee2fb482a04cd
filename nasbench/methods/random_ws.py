"""Random search with weight sharing (Li & Talwalkar, UAI 2019; liamcli/randomNAS_release).

The baseline every one-shot method must beat:

    1. Train the supernet: for every minibatch, sample an architecture uniformly at random and
       update the shared weights of its path only (SGD, as in DARTS' weight step).
    2. Select: score `n_candidates` random architectures with the shared weights on a few
       validation batches; re-score the best `n_top` on the whole validation split; return the best.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from nasbench.evaluate.scoring import accuracy
from nasbench.methods.base import Search, SearchConfig


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
    n_top: int = 10                    # best candidates re-scored on the whole validation split

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 10, "C": 8, "layers": 3, "batch_size": 32, "lr": 0.1,
                "n_candidates": 50, "eval_batches": 2, "n_top": 5},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Li & Talwalkar 2019 (CIFAR-10: 150 epochs, 8 cells, C=16, 1000 candidates)",
        "cpu": "10 epochs of batch 32 at lr 0.1 (digits has only ~600 search images, so more, "
               "larger steps), C=8, 3 cells, 50 candidates on 2 validation batches, top 5 re-scored",
    }


class RandomSearchWS(Search):
    """Li & Talwalkar's random search with weight sharing."""

    name = "random"
    Config = RandomWSConfig

    def setup(self):
        c = self.config
        # BN uses each batch's own statistics (no running averages), as in NAS-Bench-201's
        # weight-sharing baselines: a path is never scored with statistics of other paths.
        self.supernet = self.space.supernet(**self.net_kwargs(), track_running_stats=False).to(self.device)
        self.optimizer = torch.optim.SGD(self.supernet.parameters(), c.lr, momentum=c.momentum,
                                         weight_decay=c.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, c.epochs, eta_min=c.lr_min)
        self.track(supernet=self.supernet, optimizer=self.optimizer, scheduler=self.scheduler)

    def train_epoch(self, epoch):
        self.supernet.train()
        lr = self.scheduler.get_last_lr()[0]
        for x, y in self.batches():
            choices = self.space.sample(self.rng)            # uniform over the whole space
            self.log_sample(choices)
            logits = self.supernet(x, choices=choices)
            loss = nn.functional.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)       # unused paths keep grad None
            loss.backward()
            nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.grad_clip)
            self.optimizer.step()
            acc = (logits.argmax(1) == y).float().mean()
            self.log_step("weights", loss, acc=acc, lr=lr)
        self.scheduler.step()

    def score(self, choices, n_batches=None):
        """Validation accuracy of `choices` with the shared weights."""
        self.supernet.eval()
        batches = self.data.valid.batches(self.config.batch_size, shuffle=False)
        if n_batches is not None:
            batches = (b for _, b in zip(range(n_batches), batches))
        return accuracy(lambda x: self.supernet(x, choices=choices), batches, self.device)[0]

    def finish(self):
        c = self.config
        scored = []
        for _ in range(c.n_candidates):
            choices = self.space.sample(self.rng)
            acc = self.score(choices, c.eval_batches)
            self.log_eval(choices, acc, "valid_acc_shared_partial")
            if not scored or acc > max(s for s, _ in scored):
                self.best = choices  # best so far, kept if the run is interrupted here
            scored.append((acc, choices))
        scored.sort(key=lambda s: -s[0])
        final = []
        for _, choices in scored[: c.n_top]:
            acc = self.score(choices)
            self.log_eval(choices, acc, "valid_acc_shared")
            final.append((acc, choices))
        best_acc, best = max(final, key=lambda s: s[0])
        self.log_genotype(best)
        self.log_metric("best_valid_acc_shared", best_acc)
