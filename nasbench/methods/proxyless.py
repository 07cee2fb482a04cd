"""ProxylessNAS (Cai, Zhu & Han, ICLR 2019; mit-han-lab/proxylessnas search/).

Every searchable layer is a mixed edge of N candidate paths with architecture parameters alpha and
path probabilities p = softmax(alpha). Paths are binarised: a gate vector g is one-hot, so only
one path's activations exist at a time and memory does not grow with N (Sec. 3.1):

    warm-up: train the weights only, one path per layer drawn from p
    repeat:
        weight step: draw one path per layer from p; only it runs; SGD on the training batch
        every `grad_update_arch_param_every` weight steps, an architecture step on a valid batch:
            draw two paths per layer from p without replacement; renormalise their alphas:
                p~ = softmax(alpha_a, alpha_b)
            draw the active one of the two from p~ (g = 1 there, 0 at the other)
            BinaryConnect (eq. (4)):  dL/dalpha_i = sum_j dL/dg_j * p~_j * (delta_ij - p~_i)
            Adam step on alpha_a, alpha_b, then rescale both by
                alpha <- alpha - log(sum exp alpha_new / sum exp alpha_old)
            so the probabilities of the paths not sampled stay exactly as they were
    derive: the most likely path of every layer

Latency enters the architecture loss through the expected latency of the layers (eq. (5)),
E[LAT] = base + sum_l sum_j p~_lj * LUT[l][j] with the table measured on this machine
(`nasbench.evaluate.latency`), in one of the two forms of the official code:

    mul#log:     L = alpha * CE * (log E[LAT] / log LAT_ref)^beta
    add#linear:  L = CE + lambda * (E[LAT] - LAT_ref) / LAT_ref

`binary_connect_grad` and `rescale_pair` are the two formulas above as plain functions, so the
tests can check them against autograd and by hand.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from nasbench.spaces import CHAIN_SPACES
from nasbench.methods.base import ConfigError, Search, SearchConfig
from nasbench.methods.latency_aware import LatencyAware, as_probabilities


@dataclass
class ProxylessConfig(SearchConfig):
    # imagenet_arch_search.py defaults (GPU search on ImageNet)
    epochs: int = 160                   # 40 warm-up epochs (weights only) + 120 search epochs
    warmup_epochs: int = 40
    batch_size: int = 256
    C: int = 32                         # stem width (widths scale with it)
    layers: int = 21                    # the space's depth (set by the space itself)
    lr: float = 0.025                   # search epochs: SGD, cosine to 0 per batch
    warmup_lr: float = 0.05             # warm-up: its own cosine from 0.05 (nas_manager.warm_up)
    momentum: float = 0.9               # Nesterov
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1        # weight steps only; the architecture step uses plain CE
    arch_lr: float = 1e-3               # Adam, betas (0, 0.999), eps 1e-8, no weight decay
    arch_beta1: float = 0.0
    arch_beta2: float = 0.999
    arch_eps: float = 1e-8
    arch_init_ratio: float = 1e-3       # alpha ~ N(0, 1e-3)
    grad_update_arch_param_every: int = 5
    grad_update_steps: int = 1
    latency_loss: str = "mul#log"       # mul#log | add#linear | none
    reg_alpha: float = 0.2              # mul#log: alpha * CE * (log E / log ref)^beta
    reg_beta: float = 0.3
    reg_lambda: float = 0.1             # add#linear: CE + lambda * (E - ref) / ref
    target_ms: float | None = None      # LAT_ref (80 ms on the phone in the paper); None: `target`
    target: float = 0.5                 # LAT_ref as a fraction of the way from the fastest to the
                                        # slowest network of this machine's table
    log_unit_ms: float = 1.0            # mul#log takes logs of latency in this unit (ms)
    latency_table: str | None = None    # a saved LatencyTable to use instead of measuring
    latency_repeats: int = 30
    latency_device: str = "this"        # "this" (measured here) or a published table: "pixel1",
                                        # "proxyless-mobile" (nasbench.evaluate.latency_devices)
    latency_batch: int = 256            # this machine's table is timed on batches of this size
    alpha_every: int = 5                # steps between `alpha` events (not a paper setting)

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 8, "warmup_epochs": 2, "batch_size": 32, "C": 8, "lr": 0.05, "warmup_lr": 0.05,
                "arch_lr": 0.05, "log_unit_ms": 0.01, "grad_update_arch_param_every": 2},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Cai et al. 2019 / mit-han-lab/proxylessnas: ImageNet, 40 warm-up + 120 search epochs, "
                 "batch 256, two-path binary gates, mul#log latency loss (alpha 0.2, beta 0.3); unlike the "
                 "official loop, a candidate off the sampled path gets no update (there its last gradient is "
                 "applied again each weight step: docs/methods.md)",
        "cpu": "8 epochs (2 warm-up: the paper's 1/4) of batch 32, about notebook 10's 150-step budget on "
               "chain-small/digits-bench (~19 steps an epoch), so the cosine schedules end inside it; on digits "
               "in the cut space proxyless:stages=2,per_stage=3,stem_stride=1 (6 layers, 4 of them residual: a "
               "chain of strided layers barely trains with one random path a step), C=8, lr 0.05, arch_lr 0.05 "
               "(1e-3 would not move alpha in ~50 architecture steps), an architecture step every 2 weight steps "
               "(5 in the paper), latency logs in units of 10 us (a table timed at batch 1, as notebook 05's, puts "
               "a network near 1 ms, whose log in ms is ~0; the batch-256 tables and the phone tables would "
               "work in ms too); latency_device=pixel1 or proxyless-mobile uses a published Pixel 1 table. At 150 steps the one-path supernet is still "
               "at chance (weight loss ~2.28): one path a step trains each of a layer's 5 candidates on ~30 of the 150 steps, "
               "fewer than a fixed path needs to leave chance; schedule, label smoothing, lr, batch and BN do not change "
               "that (benchmarks/bench_proxyless_supernet.py). So the architecture gradient is noise plus the latency pull: "
               "see docs/methods.md before reading a pick",
    }

    def validate(self) -> None:
        super().validate()
        if self.latency_loss not in ("mul#log", "add#linear", "none"):
            raise ConfigError(f"latency_loss must be mul#log, add#linear or none, got {self.latency_loss!r}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ConfigError(f"warmup_epochs must be in 0..epochs-1, got {self.warmup_epochs}")
        for name in ("grad_update_arch_param_every", "grad_update_steps", "alpha_every", "latency_repeats", "latency_batch"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 0 <= self.target <= 1:
            raise ConfigError(f"target must be a fraction in [0, 1], got {self.target}")
        if self.target_ms is not None and self.target_ms <= 0:
            raise ConfigError(f"target_ms must be positive, got {self.target_ms}")


# -- the formulas of one architecture step --------------------------------------------------
def binary_connect_grad(gate_grad: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """dL/dalpha_i = sum_j dL/dg_j * p_j * (delta_ij - p_i)   (ProxylessNAS eq. (4)).
    gate_grad, probs: (n,) over the paths involved (two in the paper's mode)."""
    n = len(probs)
    delta = torch.eye(n, dtype=probs.dtype, device=probs.device)
    return ((gate_grad * probs)[None, :] * (delta - probs[:, None])).sum(1)


def rescale_pair(alpha: torch.Tensor, idx: Sequence[int], old: torch.Tensor) -> None:
    """After the update of alpha[idx] (was `old`), subtract log(sum exp new / sum exp old) from
    them, in place: sum exp alpha over the pair is as before, so softmax(alpha) is unchanged for
    every path outside the pair (and the pair keeps its total probability)."""
    idx = list(idx)
    with torch.no_grad():
        offset = torch.logsumexp(alpha[idx], 0) - torch.logsumexp(old, 0)
        alpha[idx] -= offset


def latency_regularised(ce: torch.Tensor, expected_ms: torch.Tensor, ref_ms: float, c: ProxylessConfig) -> torch.Tensor:
    """The architecture loss in the configured form (nas_manager.add_regularization_loss)."""
    if c.latency_loss == "mul#log":
        unit = c.log_unit_ms
        return c.reg_alpha * ce * (torch.log(expected_ms / unit) / math.log(ref_ms / unit)) ** c.reg_beta
    if c.latency_loss == "add#linear":
        return ce + c.reg_lambda * (expected_ms - ref_ms) / ref_ms
    return ce


def is_zero(space, d: int, op: str) -> bool:
    """The official Zero op: the layer skipped (an identity through the block's shortcut), offered
    only on stride-1 layers that keep the width. Our spaces call it `zero` (proxyless) or `skip`
    (the chain spaces; FBNet's `skip` on a strided or widening layer is a real block instead)."""
    w_in, w_out, stride = space.layout[d]
    return op in ("zero", "skip") and stride == 1 and w_in == w_out


# -- the search -----------------------------------------------------------------------------
class ProxylessNAS(LatencyAware, Search):
    """Two-path binarised ProxylessNAS with a latency loss from this machine's table."""

    name = "proxyless"
    spaces = CHAIN_SPACES
    Config = ProxylessConfig
    default_space = {"paper": "proxyless", "cpu": "proxyless:stages=2,per_stage=3,stem_stride=1"}

    def setup(self):
        c = self.config
        self.supernet = self.space.supernet(**self.net_kwargs()).to(self.device)
        self.alpha = nn.ParameterList(
            nn.Parameter(c.arch_init_ratio * torch.randn(len(o), device=self.device)) for o in self.space.options)
        self.optimizer = torch.optim.SGD(self.supernet.parameters(), c.lr, momentum=c.momentum,
                                         nesterov=True, weight_decay=c.weight_decay)
        self.arch_optimizer = torch.optim.Adam(self.alpha.parameters(), c.arch_lr,
                                               betas=(c.arch_beta1, c.arch_beta2), eps=c.arch_eps)
        self.track(supernet=self.supernet, alpha=self.alpha, optimizer=self.optimizer,
                   arch_optimizer=self.arch_optimizer)
        self.setup_latency()

    def probs(self) -> list[torch.Tensor]:
        with torch.no_grad():
            return [F.softmax(a, 0) for a in self.alpha]

    def lr_at(self, epoch: int, batch: int) -> float:
        """Cosine per batch: over the warm-up from warmup_lr, then over the search from lr."""
        c, n = self.config, self.steps_per_epoch
        if epoch < c.warmup_epochs:
            return 0.5 * c.warmup_lr * (1 + math.cos(math.pi * (epoch * n + batch) / (c.warmup_epochs * n)))
        search = c.epochs - c.warmup_epochs
        return 0.5 * c.lr * (1 + math.cos(math.pi * ((epoch - c.warmup_epochs) * n + batch) / (search * n)))

    def sample_path(self) -> list[int]:
        """One path per layer drawn from p = softmax(alpha) (MixedEdge.binarize, one-path mode)."""
        return [int(self.rng.choice(len(p), p=as_probabilities(p))) for p in self.probs()]

    def train_epoch(self, epoch):
        c = self.config
        self.supernet.train()
        valid_batches = self.endless(self.data.valid)
        for i, (x, y) in enumerate(self.batches()):
            lr = self.lr_at(epoch, i)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            path = self.sample_path()
            self.log_sample(path)
            logits = self.supernet(x, choices=path)  # only the sampled path runs
            loss = F.cross_entropy(logits, y, label_smoothing=c.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.log_step("weights", loss, acc=(logits.argmax(1) == y).float().mean(), lr=lr)
            # the official loop skips architecture updates in the first search epoch
            if epoch > c.warmup_epochs and (i + 1) % c.grad_update_arch_param_every == 0:
                for _ in range(c.grad_update_steps):
                    self.arch_step(*next(valid_batches))
            if (self.step + 1) % c.alpha_every == 0:
                self.log_probs()
        self.log_probs()
        self.log_genotype(self.derive())

    def arch_step(self, x, y) -> float:
        """One two-path architecture update (MixedEdge MODE 'two', nas_manager.gradient_step)."""
        pairs, probs2, gates = [], [], []
        for a in self.alpha:
            pair = self.rng.choice(len(a), 2, replace=False, p=as_probabilities(F.softmax(a.detach(), 0)))
            p2 = F.softmax(a[list(pair)], 0)             # (2,) differentiable in alpha_a, alpha_b
            k = int(self.rng.choice(2, p=as_probabilities(p2.detach())))
            pairs.append([int(pair[k]), int(pair[1 - k])])  # [active, inactive]
            probs2.append(p2 if k == 0 else p2.flip(0))
            g = torch.zeros(len(a), device=self.device)
            g[pairs[-1][0]] = 1.0
            gates.append(g.requires_grad_())
        h = self.supernet.stem(x)
        for edge, (on, off), g in zip(self.supernet.layers, pairs, gates):
            # both run; the inactive one's output is detached (no weight gradient through it).
            # A candidate here includes the block's shortcut (zero = the identity); the shortcut
            # adds the same <dL/dh, h> to both gates' gradients, which eq. (4) cancels on two paths
            h = g[on] * edge.candidates[on](h) + g[off] * edge.candidates[off](h).detach()
        ce = F.cross_entropy(self.supernet.head(h), y)
        rows = [torch.zeros(len(a), device=self.device).index_put((torch.tensor(pr, device=self.device),), p)
                for a, pr, p in zip(self.alpha, pairs, probs2)]
        expected = self.table.expected(rows).to(self.device)
        loss = latency_regularised(ce, expected, self.ref_ms, self.config) if self.config.latency_loss != "none" else ce
        self.supernet.zero_grad(set_to_none=True)
        self.arch_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        old = {}
        for d, (a, pr, p, g) in enumerate(zip(self.alpha, pairs, probs2, gates)):
            if is_zero(self.space, d, self.space.options[d][pr[0]]):
                a.grad = None  # as MixedEdge.set_arch_param_grad: no update when Zero is active
                continue
            if a.grad is None:
                a.grad = torch.zeros_like(a)
            a.grad[pr] += binary_connect_grad(g.grad[pr], p.detach())
            old[d] = a.detach()[pr].clone()
        self.arch_optimizer.step()
        for d, o in old.items():
            rescale_pair(self.alpha[d].data, pairs[d], o)
        self.last_pairs = pairs
        self.supernet.zero_grad(set_to_none=True)  # the weight step must not see these gradients
        self.log_step("arch", loss)
        self.log_metric("task_loss", ce.item())
        self.log_metric("latency_loss", (loss - ce).item())
        self.log_metric("expected_latency_ms", self.table.expected(self.probs()).item())
        return float(loss.detach())

    def log_probs(self):
        self.log_alpha(self.probs())
