"""Single Path One-Shot (Guo et al., ECCV 2020; arXiv 1904.00420; megvii-model/SinglePathOneShot).

Supernet training and architecture search are decoupled:

    1. Train the supernet (eq. (4)): every step, sample one path, each layer's choice uniform
       (Gamma(a) uniform), and update the weights of that path only.
           W* = argmin_W  E_{a ~ Gamma(A)} [ L_train(N(a, W(a))) ]
       The official code makes the sampling uniform over FLOPs instead (`flops_sampler`): pick
       one of 7 FLOPs bins (290-360 MFLOPs in steps of 10M, counted on a 224x224 input) at
       random, then redraw uniform paths until one falls in it (at most 500 tries).
    2. Search (eq. (5)): evolution under a FLOPs budget; each candidate inherits W*(a), has its BN
       statistics re-estimated on training batches, and is scored on the validation split.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from nasbench.spaces import CHAIN_SPACES
from nasbench.evaluate.evolution import evolve, shared_weight_score
from nasbench.methods.base import ConfigError, Search, SearchConfig
from nasbench.supernet.single_path import PathCost


# train.py: `flops_l, flops_r, flops_step = 290, 360, 10`, FLOPs (multiply-adds of convs and
# linears, as `count_flops`) of the path's network on a 3x224x224 input with 1000 classes.
OFFICIAL_BINS = [(lo * 1e6, (lo + 10) * 1e6) for lo in range(290, 360, 10)]
OFFICIAL_INPUT = (3, 224, 224)
# The cheapest and the dearest path of the official space (chain-shuffle, C=16) on that input:
# the frame in which "scaled" places the bins (recomputed in tests/test_spos_fairnas.py).
OFFICIAL_SPACE_FLOPS = (270_359_360, 398_609_216)


@dataclass
class SPOSConfig(SearchConfig):
    # supernet training (megvii-model/SinglePathOneShot src/Supernet/train.py)
    epochs: int = 120                  # enough ImageNet passes (1251 batches each) for `steps`
    steps: int | None = 150_000        # train.py --total-iters (the released supernet)
    batch_size: int = 1024
    C: int = 16                        # stem width (ShuffleNetV2 1.0x: stages 64/160/320/640)
    layers: int = 20                   # the chain space's depth (set by the space itself)
    lr: float = 0.5                    # SGD, decayed linearly to 0 over the run
    momentum: float = 0.9
    weight_decay: float = 4e-5         # on conv / linear weights only, as in the official code
    label_smoothing: float = 0.1
    flops_sampler: str = "official"    # "official": uniform over the official FLOPs bins;
                                       # "scaled": the same bins moved onto this space's FLOPs
                                       # range; "uniform": every layer uniform (the paper's eq. 4)
    # search (src/Search/search.py)
    population: int = 50
    generations: int = 20              # 0: train the supernet only (search later: `search()`)
    parents: int = 10                  # top-k of all candidates so far
    mutations: int = 25
    crossovers: int = 25
    mutation_prob: float = 0.1
    flops_budget: float | None = 0.5   # FLOPs limit as a fraction of the way from the cheapest
                                       # to the dearest path (paper: 330M on ImageNet)
    recal_batches: int = 20            # training batches that re-estimate BN for each candidate

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 30, "steps": None, "batch_size": 64, "lr": 0.1, "C": 8, "layers": 4,
                "flops_sampler": "uniform", "population": 10, "generations": 4, "parents": 3,
                "mutations": 4, "crossovers": 4, "recal_batches": 4},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "the official code (ImageNet: 150,000 iterations of batch 1024, FLOPs-bin "
                 "sampling 290-360M, ShuffleNetV2 supernet of 20 layers x 4 blocks with "
                 "non-affine BN, evolution 50 x 20 generations)",
        "cpu": "30 epochs, batch 64 with lr 0.1, C=8, 4-layer chain with a stride-1 stem "
               "(chain-shuffle:stages=2,per_stage=2,stem_stride=1); uniform paths (the paper's "
               "eq. 4) instead of the official FLOPs bins, which no path of this chain on 8x8 "
               "images falls in (flops_sampler='scaled' moves the bins onto its range); "
               "evolution 10 x 4 generations (top 3, 4 mutations + 4 crossovers), BN "
               "re-estimated on 4 batches",
    }

    def validate(self) -> None:
        super().validate()
        if self.flops_sampler not in ("official", "scaled", "uniform"):
            raise ConfigError(f"flops_sampler must be 'official', 'scaled' or 'uniform', "
                              f"got {self.flops_sampler!r}")


class SPOS(Search):
    """Uniform single-path supernet training, then evolution with BN recalibration."""

    name = "spos"
    spaces = CHAIN_SPACES
    Config = SPOSConfig
    # CPU: two stages of (strided, stride-1) layers; a chain of strided layers only has no
    # pass-through channels, and its weight-shared paths barely train in a few hundred steps
    default_space = {"paper": "chain-shuffle", "cpu": "chain-shuffle:stages=2,per_stage=2,stem_stride=1"}

    def setup(self):
        c = self.config
        self.supernet = self.space.supernet(**self.net_kwargs()).to(self.device)  # BN affine=False
        params = list(self.supernet.parameters())
        self.optimizer = torch.optim.SGD(
            [{"params": [p for p in params if p.ndim > 1], "weight_decay": c.weight_decay},
             {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}],
            c.lr, momentum=c.momentum)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.lr_factor)
        self.track(supernet=self.supernet, optimizer=self.optimizer, scheduler=self.scheduler)
        self.flops = PathCost(self.supernet, self.data.shape)

    def lr_factor(self, step: int) -> float:
        return max(0.0, 1.0 - step / self.total_steps)  # linear decay to 0

    def flops_bins(self) -> list[tuple[float, float]]:
        """The FLOPs bins of `flops_sampler` (`[]` for uniform paths), in the units of
        `self.bin_cost`: the official bins, or the same bins as fractions of the official space's
        range moved onto this space's range (`scaled`)."""
        mode = self.config.flops_sampler
        if mode == "uniform":
            return []
        if mode == "official":
            return OFFICIAL_BINS
        (a, b), (lo, hi) = OFFICIAL_SPACE_FLOPS, self.flops.bounds
        move = lambda f: lo + (f - a) / (b - a) * (hi - lo)
        return [(move(l), move(r)) for l, r in OFFICIAL_BINS]

    @property
    def bin_cost(self) -> PathCost:
        """What the bins measure: FLOPs on the official 224x224 ImageNet input, or on this run's."""
        if self.config.flops_sampler != "official":
            return self.flops
        if not hasattr(self, "_official_flops"):
            net = self.space.supernet(C=self.config.C, num_classes=1000, in_channels=OFFICIAL_INPUT[0])
            self._official_flops = PathCost(net, OFFICIAL_INPUT)
        return self._official_flops

    def sample_path(self):
        """A uniform path; with FLOPs bins, a random bin, then uniform paths redrawn until one
        falls in it (500 tries, then any uniform path), as train.py `get_uniform_sample_cand`."""
        bins = self.flops_bins()
        if not bins:
            return self.space.sample(self.rng)
        left, right = bins[int(self.rng.integers(len(bins)))]
        for _ in range(500):
            path = self.space.sample(self.rng)
            if left <= self.bin_cost(path) <= right:
                return path
        return self.space.sample(self.rng)  # the bin is (nearly) empty: fall back to uniform

    def train_epoch(self, epoch):
        self.supernet.train()
        for x, y in self.batches():
            path = self.sample_path()
            self.log_sample(path)
            logits = self.supernet(x, choices=path)          # (B, classes): one block per layer
            loss = nn.functional.cross_entropy(logits, y, label_smoothing=self.config.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)       # blocks off the path keep grad None:
            loss.backward()                                  # SGD skips them (no momentum, no decay)
            self.optimizer.step()
            lr = self.scheduler.get_last_lr()[0]
            self.scheduler.step()
            self.log_step("weights", loss, acc=(logits.argmax(1) == y).float().mean(), lr=lr)

    # -- search --------------------------------------------------------------------------------
    def score(self, path, recalibrate=True) -> float:
        """Validation accuracy of `path` with the supernet's weights, BN re-estimated first."""
        recal = None
        if recalibrate:
            batches = self.data.train.batches(self.config.batch_size, shuffle=True, generator=self.generator)
            recal = (b for _, b in zip(range(self.config.recal_batches), batches))
        valid = self.data.valid.batches(256, shuffle=False)
        return shared_weight_score(self.supernet, path, recal, valid, self.device)

    def budget(self, fraction: float | None) -> float | None:
        """The FLOPs limit `fraction` of the way from the cheapest to the dearest path."""
        if fraction is None:
            return None
        lo, hi = self.flops.bounds
        return lo + fraction * (hi - lo)

    def finish(self):
        if self.config.generations > 0:  # generations=0: train only, call `search()` later
            self.search()

    def search(self, **overrides):
        """Evolution with the trained supernet (`overrides` change search settings, e.g.
        `generations=10`); emits each generation as `eval` events and the winner as `genotype`.
        Called after `run()` has ended, it extends the same log (see `Search.extend`)."""
        if self.events and self.events[-1]["type"] == "run_end":
            return self.extend(lambda: self.search(**overrides))[1]
        c = dataclasses.replace(self.config, **overrides)

        def log_generation(g, members):
            for m in members:
                self.log_eval(m.choices, m.score, "valid_acc_shared", generation=g, flops=m.cost)
            best = max(members, key=lambda m: m.score)
            if self.best is None or best.score > self._best_score:
                self.best, self._best_score = best.choices, best.score  # kept if interrupted

        self.best, self._best_score = None, -math.inf
        result = evolve(self.space, self.score, self.rng, population=c.population,
                        generations=c.generations, parents=c.parents, mutations=c.mutations,
                        crossovers=c.crossovers, mutation_prob=c.mutation_prob, cost=self.flops,
                        budget=self.budget(c.flops_budget), on_generation=log_generation)
        self.log_genotype(result.best)
        self.log_metric("best_valid_acc_shared", result.best_score)
        return result
