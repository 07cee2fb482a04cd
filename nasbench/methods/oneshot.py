"""One-Shot (Bender et al., "Understanding and Simplifying One-Shot Architecture Search", ICML 2018).

No controller, no hypernetwork: one model holds every path, and path dropout teaches it to work
with any subset of them.

    1. Train the one-shot model (SGD, Nesterov momentum). Each minibatch is split into ghost
       batches; each ghost batch draws its own path-dropout pattern and normalises with its own
       batch statistics (ghost batch normalisation). At every node, each of its k incoming paths
       is dropped with probability r_t^(1/k), so all k are dropped with probability r_t
       (never all: one is then kept at random); r_t ramps linearly from 0 to r over training.
       L2 acts only on the weights of the paths that ran.
    2. Evaluate: score random architectures with the shared weights (validation accuracy), and
       by the symmetric KL between each one's predictions and the full model's (every path on)
       on unlabelled training examples. Both are correlated with stand-alone accuracy (`truth`,
       attached to `eval` events when a ground-truth table exists: see nasbench.bench).
    3. Return the best architecture by one-shot accuracy (the paper retrains the top ones).

Spaces: `oneshot` (Bender's choice blocks: a node's paths are a block's inputs, or its ops) and
the NAS-Bench-201 cells (a node's paths are every non-`none` op on every edge into it; an
edge whose ops are all dropped is `none`). On Bender's cell a dropped path is skipped and gets no
gradient; on the NB201 cells it runs with weight 0 and gets a zero one, which L2 leaves alone but
Nesterov momentum from earlier steps still applies (as with a multiplicative mask; docs/methods.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np
import torch
from torch import nn

from nasbench.evaluate.kl import symmetric_kl
from nasbench.evaluate.ranking import kendall_tau
from nasbench.evaluate.scoring import accuracy
from nasbench.methods.base import ConfigError, Search, SearchConfig
from nasbench.spaces import NB201Space, OneShotSpace, Space
from nasbench.spaces.nb201 import Cell as NB201Cell

Path = tuple[int, int]   # (decision, option): one path of the one-shot model


# -- path dropout -----------------------------------------------------------------------------
def drop_probability(r: float, k: int) -> float:
    """Probability of dropping each of a node's k incoming paths: r^(1/k), so that all k are
    dropped together with probability (r^(1/k))^k = r."""
    return r ** (1.0 / k)


def drop_mask(k: int, r: float, rng: np.random.Generator) -> np.ndarray:
    """Which of k incoming paths survive (True = kept), before the never-drop-all rule."""
    return rng.random(k) >= drop_probability(r, k)


def never_drop_all(keep: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A node with every incoming path dropped would output nothing: keep one of them at random."""
    if not keep.any():
        keep = keep.copy()
        keep[rng.integers(len(keep))] = True
    return keep


def incoming_paths(space: Space) -> list[list[Path]]:
    """The nodes of the one-shot model, each as the list of its incoming paths."""
    if isinstance(space, OneShotSpace):   # a block's inputs meet at its 1x1 conv; its ops at the sum
        return [[(d, 1) for d in group] for b in range(space.blocks)
                for group in (space.input_decisions[b], space.op_decisions[b])]
    if isinstance(space, NB201Space):     # node j sums every op on every edge i -> j
        return [[(d, o) for d, (_, j) in enumerate(space.edges) if j == node
                 for o, name in enumerate(space.options[d]) if name != "none"]
                for node in range(1, space.nodes)]
    raise ConfigError(f"oneshot runs on the oneshot and nb201 spaces, not on {space.name!r}")


def path_weights(space: Space, kept: Sequence[Path]) -> list[torch.Tensor]:
    """Per-decision weights that switch on exactly the `kept` paths (the supernet's `weights=`)."""
    weights = [torch.zeros(len(o)) for o in space.options]
    for d, o in kept:
        weights[d][o] = 1.0
    return weights


def path_parameters(supernet: nn.Module) -> dict[Path, list[nn.Parameter]]:
    """The weights each path owns, over every cell of the supernet."""
    if hasattr(supernet, "path_parameters"):
        return supernet.path_parameters()
    owned: dict[Path, list[nn.Parameter]] = {}
    for cell in (m for m in supernet.modules() if isinstance(m, NB201Cell)):
        for d, edge in enumerate(cell.edges):
            for o, op in enumerate(edge.candidates):
                owned.setdefault((d, o), []).extend(op.parameters())
    return owned


def l2_active(shared: Sequence[nn.Parameter], owned: dict[Path, list[nn.Parameter]],
              kept: Sequence[Path], weight_decay: float) -> torch.Tensor:
    """(weight_decay / 2) * ||w||^2 over the always-on weights and those of the kept paths only,
    so a dropped path's weights are not decayed towards 0 while they take no part."""
    params = list(shared) + [p for path in kept for p in owned.get(path, [])]
    return 0.5 * weight_decay * sum(p.square().sum() for p in params)


# -- the method ---------------------------------------------------------------------------------
@dataclass
class OneShotConfig(SearchConfig):
    epochs: int = 113                  # 5,000 steps at a global batch of 1024 on 45k CIFAR-10 images
    batch_size: int = 64               # per worker (16 workers in the paper)
    ghost_batch: int = 32              # two ghost batches per worker batch, each its own pattern
    lr: float = 0.1                    # Nesterov momentum 0.9; cosine decay (decay: unverified)
    momentum: float = 0.9
    weight_decay: float = 1e-4         # L2 on the active paths only (value unverified)
    drop_rate: float = 0.1             # r: all of a node's paths dropped with prob r at the end
                                       # (unverified; the paper shows it must be tuned)
    n_candidates: int = 20000          # random architectures scored (unverified)
    eval_batches: int | None = None    # validation batches per candidate; None: the whole split
    kl_examples: int = 256             # unlabelled training images for the KL (unverified)

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 10, "C": 8, "layers": 3, "n_candidates": 125, "kl_examples": 128},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Bender et al. 2018 (CIFAR-10: 5,000 steps of batch 16 x 64, ghost batches of 32)",
        "cpu": "10 epochs, C=8, 3 cells, 125 candidates, KL on 128 training images",
    }

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.drop_rate < 1.0:
            raise ConfigError(f"drop_rate must be in [0, 1), got {self.drop_rate}")
        if self.ghost_batch < 2 or self.batch_size % self.ghost_batch:
            raise ConfigError(f"ghost_batch ({self.ghost_batch}) must be at least 2 and divide "
                              f"batch_size ({self.batch_size})")


class OneShot(Search):
    """Bender et al.'s one-shot model: path dropout, ghost BN, L2 on active paths, KL ranking."""

    name = "oneshot"
    Config = OneShotConfig
    default_space = {"paper": "oneshot", "cpu": "nb201-small"}

    def setup(self):
        c = self.config
        self.nodes = incoming_paths(self.space)
        # BN always normalises with the current (ghost) batch's statistics, in training and when
        # scoring: running averages over ever-changing paths would fit no single architecture.
        self.supernet = self.space.supernet(**self.net_kwargs(), track_running_stats=False).to(self.device)
        self.owned = path_parameters(self.supernet)
        owned_ids = {id(p) for ps in self.owned.values() for p in ps}
        self.shared = [p for p in self.supernet.parameters() if id(p) not in owned_ids]
        self.optimizer = torch.optim.SGD(self.supernet.parameters(), c.lr, momentum=c.momentum,
                                         nesterov=True)   # no weight_decay here: see l2_active
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, c.epochs)
        self.track(supernet=self.supernet, optimizer=self.optimizer, scheduler=self.scheduler)

    def drop_rate(self) -> float:
        """r_t: linear from 0 at the first step to r at the last."""
        return self.config.drop_rate * min(1.0, self.step / max(1, self.total_steps - 1))

    def sample_paths(self, r: float) -> list[Path]:
        """One path-dropout pattern: the kept paths of every node."""
        kept = []
        for paths in self.nodes:
            keep = never_drop_all(drop_mask(len(paths), r, self.rng), self.rng)
            kept += [p for p, on in zip(paths, keep) if on]
        return kept

    def weights_of(self, kept: Sequence[Path]) -> list[torch.Tensor]:
        return [w.to(self.device) for w in path_weights(self.space, kept)]

    def train_epoch(self, epoch):
        c = self.config
        self.supernet.train()
        lr = self.scheduler.get_last_lr()[0]
        r = self.drop_rate()
        for x, y in self.batches():
            r = self.drop_rate()
            self.optimizer.zero_grad(set_to_none=True)
            n_ghost = len(y) // c.ghost_batch
            total, correct = 0.0, 0
            for xg, yg in zip(x.split(c.ghost_batch), y.split(c.ghost_batch)):   # (G, C, H, W) each
                kept = self.sample_paths(r)                   # a different pattern per ghost batch
                logits = self.supernet(xg, weights=self.weights_of(kept))
                loss = nn.functional.cross_entropy(logits, yg) + l2_active(
                    self.shared, self.owned, kept, c.weight_decay)
                (loss / n_ghost).backward()                   # gradients of the mean over ghosts
                total += loss.item() / n_ghost
                correct += (logits.argmax(1) == yg).sum().item()
            self.optimizer.step()
            self.log_step("weights", total, acc=correct / len(y), lr=lr)
        self.log_metric("drop_rate", r)   # the rate of the epoch's last step
        self.scheduler.step()

    # -- evaluation -----------------------------------------------------------------------------
    @torch.no_grad()
    def score(self, choices) -> float:
        """Validation accuracy of `choices` with the shared weights."""
        self.supernet.eval()
        batches = self.data.valid.batches(self.config.batch_size, shuffle=False)
        if self.config.eval_batches is not None:
            batches = (b for _, b in zip(range(self.config.eval_batches), batches))
        return accuracy(lambda x: self.supernet(x, choices=choices), batches, self.device)[0]

    def candidates(self) -> list[tuple[int, ...]]:
        """`n_candidates` distinct random architectures (all of them, shuffled, in a small space)."""
        n = self.config.n_candidates
        if self.space.size <= max(n, 10_000):
            every = list(self.space.enumerate())
            order = self.rng.permutation(len(every))[:n]
            return [every[i] for i in order]
        seen: dict[tuple[int, ...], None] = {}
        while len(seen) < n:
            seen.setdefault(self.space.sample(self.rng), None)
        return list(seen)

    @torch.no_grad()
    def finish(self):
        c = self.config
        self.supernet.eval()
        # unlabelled training examples, the same for every candidate
        x_kl = self.data.train.x[: c.kl_examples].to(self.device)            # (N, C, H, W)
        every_path = [p for paths in self.nodes for p in paths]
        reference = self.supernet(x_kl, weights=self.weights_of(every_path))  # the full model's logits
        found = []
        for choices in self.candidates():
            acc = self.score(choices)
            kl = float(symmetric_kl(self.supernet(x_kl, choices=choices), reference))
            self.log_eval(choices, acc, "valid_acc_oneshot", kl=kl)
            if not found or acc > max(a for a, _, _ in found):
                self.best = choices   # best so far, kept if the run is interrupted here
            found.append((acc, kl, choices))
        best_acc, _, best = max(found, key=lambda f: f[0])
        self.log_genotype(best)
        self.log_metric("best_valid_acc_oneshot", best_acc)
        self._log_correlations(found)

    def _log_correlations(self, found):
        """Kendall tau of one-shot accuracy, and of -KL (low KL = close to the full model), with
        stand-alone accuracy, where a ground-truth table gives it."""
        truth = [self.truth(ch) for _, _, ch in found]
        rows = [(a, k, t) for (a, k, _), t in zip(found, truth) if t is not None]
        if len(rows) >= 3:
            acc, kl, t = map(np.array, zip(*rows))
            self.log_metric("kendall_tau_acc", np.nan_to_num(kendall_tau(acc, t)))
            self.log_metric("kendall_tau_kl", np.nan_to_num(kendall_tau(-kl, t)))
