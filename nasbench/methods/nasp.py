"""NASP: Efficient Neural Architecture Search via Proximal Iterations (Yao, Xu, Tu & Zhu, AAAI
2020; xujinfan/NASP-codes codes/model_search.py, architect.py, train_search.py).

DARTS trains a supernet where every op runs and derives a discrete cell only at the end. NASP
keeps the continuous alpha but always *uses* a discrete architecture: the proximal step (eq. 9)
maps alpha onto the constraint set C_1 (one op per edge; on the DARTS cell also only the two
strongest edges per node), and both the loss and the gradients are taken there:

    A = { alpha : alpha in [0, 1] },  alpha = 0.5 everywhere at the start (+ a 1e-3 jitter)
    for each training batch (Algorithm 2):
        1. alpha_bar = prox_C1(alpha)                          (one-hot per edge)
           alpha <- alpha - eps * grad_{alpha_bar} L_val(w, alpha_bar)   (Adam, as the code)
           alpha <- prox_C2(alpha) = clip(alpha, 0, 1)
        2. alpha_bar = prox_C1(alpha);  w <- w - eta * grad_w L_train(w, alpha_bar)
    genotype: the DARTS rule on softmax(alpha) (DARTS cell), argmax per edge (NB201 cell)

In step 2 only the op each edge keeps runs (`SampledEdge`); in step 1 the official code runs
every op with its weight 0 or 1, because grad_{alpha_bar} needs each op's output, and so does
this file (`every_op`). An optional regulariser l2 * sum alpha_bar^2 * (op params / all ops'
params) over the normal cell's edges penalises large ops (`--l2` of the code). On the DARTS cell
the proximal step picks the largest non-`none` option (NASP's op list has no `none`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

import torch
from torch.nn import functional as F

from nasbench.spaces import CELL_SPACES
from nasbench.evaluate.cost import count_params
from nasbench.methods.darts import Darts, DartsConfig
from nasbench.ops import build_op
from nasbench.spaces.darts import DartsSpace
from nasbench.supernet.mixed import SampledEdge, every_op


@dataclass
class NaspConfig(DartsConfig):
    epochs: int = 50                   # codes/train_search.py defaults
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4              # Adam, betas (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    alpha_init: float = 0.5            # alpha = 0.5 everywhere (torch.ones / 2) ...
    alpha_std: float = 1e-3            # ... plus this jitter (see NOTES["paper"])
    l2: float = 0.0                    # model-complexity regulariser (off by default, as in the code)
    order: int = 1

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 10, "C": 4, "layers": 5, "arch_lr": 3e-2},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Yao et al. 2020, CIFAR-10 search (NASP-codes defaults): 50 epochs, batch 64; "
                 "alpha starts at 0.5 + 1e-3 * randn, not exactly 0.5: the code's ties go to op 0, "
                 "skip_connect in NASP's op list but `none` here, whose zero output gives no "
                 "gradient to leave the all-`none` cell",
        "cpu": "epochs=10, layers=5, C=4, arch_lr=3e-2 (as DARTS' CPU preset)",
    }

    FIRST_ORDER: ClassVar[str] = "NASP takes the gradient at the discrete point"
    NON_NEGATIVE: ClassVar[tuple[str, ...]] = ("l2",)


def proximal_step(alpha: torch.Tensor, nodes: Sequence[Sequence[int]] | None = None,
                  keep: int = 2, exclude: int | None = None) -> torch.Tensor:
    """prox_C1 (NASP eq. 9, model_search.py `proximal_step`): alpha (D, n) -> a 0/1 table of the
    same shape, one 1 per row at that row's largest alpha, never at option `exclude` (`none` on
    the DARTS cell: NASP's op list has no `none`, and the genotype never keeps it). With `nodes`
    (the decision indices of each node's incoming edges, DARTS cell) only the `keep` edges of
    each node whose chosen alpha is largest keep their 1; the others become all-zero rows."""
    alpha = alpha.detach()
    if exclude is not None:
        alpha = alpha.clone()
        alpha[:, exclude] = -torch.inf
    best, index = alpha.max(dim=-1)
    bar = torch.zeros_like(alpha).scatter_(-1, index[:, None], 1.0)
    for incoming in nodes or []:
        incoming = list(incoming)
        order = sorted(incoming, key=lambda d: -float(best[d]))  # stable: ties to the earlier edge
        for d in order[keep:]:
            bar[d] = 0.0
    return bar


class Nasp(Darts):
    """NASP on the DARTS and NB201 cells."""

    name = "nasp"
    spaces = CELL_SPACES
    Config = NaspConfig
    default_space = "darts"

    def supernet_options(self):
        return {"edge": SampledEdge}

    def setup(self):
        super().setup()
        c = self.config
        with torch.no_grad():
            for a in self.alpha:
                a.normal_(c.alpha_init, c.alpha_std)
        darts = isinstance(self.space, DartsSpace)
        self.nodes = [incoming for _, _, incoming in self.space.nodes()] if darts else None
        self.exclude = self.space.none if darts else None
        # the regulariser's burden: each op's share of the parameters of all ops (genotypes.PARAMS),
        # on the normal cell's rows only (model_search.py sums alphas_normal alone)
        params = [[count_params(build_op(op, c.C)) for op in opts] for opts in self.space.options]
        self.burden = torch.tensor([[0.0 if name.startswith("reduce:") else p / max(sum(row), 1) for p in row]
                                    for name, row in zip(self.space.decisions, params)], device=self.device)

    def discrete(self) -> torch.Tensor:
        """alpha_bar = prox_C1(alpha), (D, n)."""
        return proximal_step(torch.stack(list(self.alpha)), self.nodes, exclude=self.exclude)

    def choices_of(self, bar: torch.Tensor) -> list[int]:
        """The path alpha_bar runs: its op per edge; `none` for an edge it drops."""
        none = getattr(self.space, "none", 0)
        return [int(row.argmax()) if row.any() else none for row in bar]

    def arch_step(self, xv, yv) -> torch.Tensor:
        """Step 1: Adam on alpha with the gradient at alpha_bar, then clip alpha to [0, 1]."""
        bar = self.discrete().requires_grad_()
        with every_op(self.supernet):
            loss_val = F.cross_entropy(self.supernet(xv, weights=list(bar)), yv)
        loss = loss_val + self.config.l2 * (bar * bar * self.burden).sum() if self.config.l2 else loss_val
        (grad,) = torch.autograd.grad(loss, bar)
        for a, g in zip(self.alpha, grad):
            a.grad = g
        self.arch_optimizer.step()
        with torch.no_grad():
            for a in self.alpha:
                a.clamp_(0.0, 1.0)  # prox_C2: the box [0, 1]
        return loss_val.detach()

    def train_epoch(self, epoch):
        c = self.config
        self.supernet.train()
        lr = self.scheduler.get_last_lr()[0]
        valid_batches = self.endless(self.data.valid)
        for x, y in self.batches():
            self.log_step("arch", self.arch_step(*next(valid_batches)))
            # 2. the weights of the discrete architecture only: the other ops get no gradient
            bar = self.discrete()
            self.log_sample(self.choices_of(bar))
            self.weight_step(x, y, list(bar), lr)
            if (self.step + 1) % c.alpha_every == 0:
                self.log_probs()
        self.end_epoch()
