"""SNAS: Stochastic Neural Architecture Search (Xie, Zheng, Liu & Lin, ICLR 2019; the authors'
later release SNAS-Series/SNAS-Series, SNAS/: train_search.py, model_search.py, utils.py).

DARTS mixes every edge by softmax(alpha), a deterministic attention. SNAS samples the mixture:
each edge's weights Z are a *relaxed* one-hot, the Gumbel-softmax (concrete) sample of eq. (2),

    Z = softmax((alpha + g) / lambda),   g ~ Gumbel(0, 1) per option,

all ops run weighted by Z (the sample stays soft, unlike GDAS), and the network and alpha are
trained together on the same training batch: one loss, one backward pass, both optimisers step
(single-level, eq. 1: E_Z[L(Z)] with Z ~ p_alpha). The temperature lambda is annealed linearly
from 1 to 0.03; the official scheduler steps before each epoch, so epoch e trains at
lambda((e+1)/epochs) and the last epoch at exactly 0.03. As lambda -> 0 Z becomes one-hot with
P(Z = e_k) = softmax(alpha)_k, so the relaxed network turns into a sampled child network. Every edge's output is dropped per sample
with probability 0.3 in training (drop-path). The resource constraint (sec. 2.4) is on, as the
README's search command runs it (--resource_efficient --method reparametrization --log_penalty
--loss): with R_e = (size, FLOPs, MAC) of each op of edge e at its cell's width and resolution
(SNAS/operations.py), differentiated through the sample,

    L = CE + lambda * sum_e (log Z_e.size + log Z_e.FLOPs + log Z_e.MAC) / 3 / (cells of e's type)

(a value below 1 counts as 1, so its log is 0; lambda is `resource_lambda`, 1e-2 in the README's
single-GPU command); `resource_form="linear"` is the code's other form,
0.43 * (2 Z.size + Z.FLOPs / 4000 + Z.MAC / 100).

    genotype: the code's `genotype_edge_all`: every edge kept with its argmax, `none` included
    (so a node may have any number of inputs); `genotype="darts"`: DARTS' two-inputs rule
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from nasbench.spaces import CELL_SPACES
from nasbench.methods.base import ConfigError
from nasbench.methods.darts import Darts, DartsConfig
from nasbench.supernet.mixed import DropPathEdge


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
    drop_path_prob: float = 0.3        # --drop_path_prob 3e-1 (README): every edge, training only
    resource_lambda: float = 1e-2      # README single-GPU command (--resource_lambda 1e-2); 0: off
    resource_form: str = "log"         # --log_penalty; "linear": the code's weighted sum
    genotype: str = "edge_all"         # genotype_edge_all (what the README evaluates); "darts"
    order: int = 1                     # single-level: no unrolled step

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 10, "batch_size": 64, "C": 4, "layers": 5, "arch_lr": 3e-2},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Xie et al. 2019 / SNAS-Series SNAS/ (ICLR 2019 release) defaults: 150 epochs, "
                 "batch 64, alpha by plain SGD 3e-4 (single-GPU path), tau 1 -> 0.03 with epoch e "
                 "at tau((e+1)/epochs); README's single-GPU search: drop-path 0.3, resource "
                 "constraint by reparametrization with the log penalty, lambda 1e-2",
        "cpu": "epochs=10, layers=5, C=4, arch_lr=3e-2 (as DARTS' CPU preset); tau still goes "
               "1 -> 0.03, the last epoch at exactly 0.03; drop-path 0.3 and the log resource "
               "constraint (lambda 1e-2) as the paper preset",
    }

    FIRST_ORDER: ClassVar[str] = "SNAS is single-level"
    TEMPERATURE: ClassVar[tuple[str, str]] = ("tau0", "tau_min")
    NON_NEGATIVE: ClassVar[tuple[str, ...]] = ("resource_lambda",)

    def validate(self) -> None:
        super().validate()
        if self.arch_optimizer not in ("sgd", "adam"):
            raise ConfigError(f"arch_optimizer must be 'sgd' or 'adam', got {self.arch_optimizer!r}")
        if self.genotype not in ("edge_all", "darts"):
            raise ConfigError(f"genotype must be 'edge_all' or 'darts', got {self.genotype!r}")
        if self.resource_form not in ("log", "linear"):
            raise ConfigError(f"resource_form must be 'log' or 'linear', got {self.resource_form!r}")
        if not 0 <= self.drop_path_prob < 1:
            raise ConfigError(f"drop_path_prob must be in [0, 1), got {self.drop_path_prob}")


def op_resources(op: str, C: int, h: int, stride: int) -> tuple[float, float, float]:
    """(size, FLOPs, MAC) of one op on a C-channel h x h input, as SNAS/operations.py counts them
    (y the output side; the weights of a conv, FLOPs = size * y^2, MAC = memory traffic)."""
    y = h // stride
    if op == "none":
        return 0.0, 0.0, 0.0
    if op in ("avg_pool_3x3", "max_pool_3x3"):
        return 0.0, 9.0 * y * y * C, (2.0 if stride == 1 else 5.0) * y * y * C
    if op == "skip_connect":
        if stride == 1:
            return 0.0, 0.0, 2.0 * C * h * h
        size = 2.0 * C * (C // 2)                                       # FactorizedReduce
        return size, size * y * y, 2.0 * y * y * (4 * C + C // 2) + size
    kind, k = op.rsplit("_", 1)[0], int(op.rsplit("_", 1)[1].split("x")[0])
    if kind == "sep_conv":
        size, traffic = 2.0 * C * k * k + 2.0 * C * C, (7 if stride == 1 else 10) * C + C
    elif kind == "dil_conv":
        size, traffic = 1.0 * C * k * k + C * C, (3 if stride == 1 else 6) * C + C
    elif kind == "nor_conv":                                            # ReLUConvBN
        size, traffic = 1.0 * C * C * k * k, (C + C) if stride == 1 else (4 * C + C)
    else:
        raise ConfigError(f"SNAS' resource constraint does not know the op {op!r}")
    return size, size * y * y, y * y * traffic + size


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
        if c.drop_path_prob > 0:
            for m in self.supernet.modules():
                if isinstance(m, DropPathEdge):
                    m.drop_prob = c.drop_path_prob
        self.resource, self.resource_row, self.resource_share = self.edge_resources()

    def supernet_options(self):
        return {"edge": DropPathEdge} if self.config.drop_path_prob > 0 else {}

    def edge_resources(self):
        """Every mixed edge of the supernet, found by one forward pass: R (E, options, 3) its
        ops' (size, FLOPs, MAC) at its width and resolution, the alpha row it mixes by (E,),
        and 1 / the number of cells sharing that row (E,), the code's per-cell average."""
        rows, R = [], []
        weights = [torch.full((len(o),), 1.0 / len(o), device=self.device) for o in self.space.options]
        row_of = {id(w): d for d, w in enumerate(weights)}

        def record(edge, args, kwargs, out):
            x = args[0]
            stride = x.size(-1) // out.size(-1)
            rows.append(row_of[id(kwargs["weights"])])
            R.append([op_resources(op, x.size(1), x.size(-1), stride) for op in edge.names])

        edges = [m for m in self.supernet.modules() if hasattr(m, "names") and hasattr(m, "candidates")]
        hooks = [e.register_forward_hook(record, with_kwargs=True) for e in edges]
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                was = self.supernet.training
                self.supernet.eval()(torch.zeros(2, *self.data.shape, device=self.device), weights=weights)
                self.supernet.train(was)
        finally:
            for h in hooks:
                h.remove()
        rows_t = torch.tensor(rows, device=self.device)
        share = 1.0 / torch.bincount(rows_t, minlength=len(weights)).float()[rows_t]
        return torch.tensor(R, device=self.device), rows_t, share

    def resource_penalty(self, Z: torch.Tensor) -> torch.Tensor:
        """sum over edges of the per-edge penalty / cells sharing its alpha row (reparametrized:
        differentiable in Z, (D, n))."""
        v = (Z[self.resource_row][..., None] * self.resource).sum(1)     # (E, 3): Z.size, Z.FLOPs, Z.MAC
        if self.config.resource_form == "log":
            v = torch.where(v.abs() < 1, torch.ones_like(v), v)
            per_edge = torch.log(v.abs()).mean(-1)
        else:
            per_edge = 0.43 * (2 * v[:, 0] + v[:, 1] / 4000 + v[:, 2] / 100)
        return (per_edge * self.resource_share).sum()

    def derive(self):
        """model_search.py `genotype_edge_all`: each edge's most likely option, `none` included
        (ties to the first); or DARTS' rule (`genotype="darts"`)."""
        if self.config.genotype == "edge_all":
            return [int(p.argmax()) for p in self.probs()]
        return super().derive()

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
            total = loss + c.resource_lambda * self.resource_penalty(Z) if c.resource_lambda else loss
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
