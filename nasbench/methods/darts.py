"""DARTS: Differentiable Architecture Search (Liu, Simonyan & Yang, ICLR 2019; quark0/darts cnn/).

Every edge of the supernet mixes all its candidate ops, weighted by softmax(alpha) (eq. 2), so the
architecture is continuous and is learned by gradient descent on the validation loss, while the
weights w are learned on the training loss (the bilevel problem, eqs. 3-4):

    create alpha (1e-3 * randn per decision) and the supernet weights w
    while not converged:
        1. update alpha by descending  grad_alpha L_val(w - xi * grad_w L_train(w, alpha), alpha)
           (xi = 0: first order; xi = the weight learning rate: second order, eqs. 6-8)
        2. update w by descending  grad_w L_train(w, alpha)
    derive the genotype: per node, the two strongest incoming edges, each its best non-`none` op

`unrolled_alpha_grad` is step 1 in the second-order case; it is a plain function so the tests can
check it against finite differences on a tiny network.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import ClassVar, Sequence

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from nasbench.evaluate.hessian import dominant_eigenvalue, early_stop_index
from nasbench.methods.base import ConfigError, Search, SearchConfig
from nasbench.ops import PARAMETER_FREE


@dataclass
class DartsConfig(SearchConfig):
    epochs: int = 50
    batch_size: int = 64
    C: int = 16
    layers: int = 8
    order: int = 2                     # 1: first order (xi = 0); 2: second order (unrolled)
    lr: float = 0.025                  # weights: SGD, cosine-annealed to lr_min
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4              # alpha: Adam
    arch_beta1: float = 0.5            # Adam betas (0.5, 0.999)
    arch_beta2: float = 0.999
    arch_weight_decay: float = 1e-3
    alpha_init: float = 1e-3           # alpha = alpha_init * randn
    arch_steps: int = 1                # alpha updates per weight update (1 in DARTS)
    alpha_every: int = 5               # steps between `alpha` events (not a paper setting)
    # the collapse signal of Zela et al. (ICLR 2020; automl/RobustDARTS), off unless asked for:
    hessian_every: int = 0             # steps between `hessian_eigenvalue` metrics (0: off)
    early_stop: bool = False           # DARTS-ES: stop once the eigenvalue grows (needs hessian_every)
    es_window: int = 5                 # DARTS-ES (RobustDARTS' defaults): local average of 5 measurements,
    es_delta: int = 4                  #   against the one 4 measurements back,
    es_factor: float = 1.3             #   stop when it grew by more than 1.3x,
    es_start: int = 10                 #   never before measurement 10 (epoch 10 in RobustDARTS)

    PRESETS: ClassVar[dict[str, dict]] = {
        "paper": {},
        "cpu": {"epochs": 10, "C": 4, "layers": 5, "order": 1, "arch_lr": 3e-2},
    }
    NOTES: ClassVar[dict[str, str]] = {
        "paper": "Liu et al. 2019, CIFAR-10 search: 50 epochs, 8 cells, C=16, second order; the "
                 "Hessian eigenvalue (hessian_every) and DARTS-ES (early_stop) are off, as in "
                 "RobustDARTS' defaults (compute_hessian, early_stop off)",
        "cpu": "epochs=10 (90 steps on digits), layers=5 (reductions at 1 and 3), C=4, order=1 "
               "(first order: a third of the time of second order), arch_lr=3e-2 (alpha moves about "
               "as far in 90 steps as with 3e-4 in the paper's ~20k); the rest is the paper's",
    }

    # what the methods after DARTS (subclasses) restrict, checked once here:
    FIRST_ORDER: ClassVar[str] = ""                    # why it has no second-order step ("": it has)
    TEMPERATURE: ClassVar[tuple[str, str] | None] = None  # (start, end) settings of an annealed tau
    NON_NEGATIVE: ClassVar[tuple[str, ...]] = ()

    def validate(self) -> None:
        super().validate()
        if self.order not in (1, 2):
            raise ConfigError(f"order must be 1 (first order) or 2 (second order), got {self.order!r}")
        if self.FIRST_ORDER and self.order != 1:
            raise ConfigError(f"{self.FIRST_ORDER}: order must be 1")
        if self.TEMPERATURE:
            (hi_name, lo_name), hi, lo = self.TEMPERATURE, *(getattr(self, n) for n in self.TEMPERATURE)
            if not 0 < lo <= hi:
                raise ConfigError(f"need 0 < {lo_name} <= {hi_name}, got {lo} and {hi}")
        for name in self.NON_NEGATIVE:
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("arch_steps", "alpha_every", "es_window", "es_delta"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not isinstance(self.hessian_every, int) or self.hessian_every < 0:
            raise ConfigError(f"hessian_every must be 0 (off) or a positive integer, got {self.hessian_every!r}")
        if not isinstance(self.es_start, int) or self.es_start < 0 or not self.es_factor > 0:
            raise ConfigError(f"es_start must be an integer >= 0 and es_factor > 0, got "
                              f"{self.es_start!r} and {self.es_factor!r}")
        if self.early_stop and not self.hessian_every:
            raise ConfigError("early_stop watches the Hessian eigenvalue: set hessian_every too")


# -- the math of one architecture step ------------------------------------------------------
def mixing(alpha: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The weights of every mixed op: softmax over each decision's options (DARTS eq. 2)."""
    return [F.softmax(a, dim=-1) for a in alpha]


def loss_at(supernet: nn.Module, w: dict[str, torch.Tensor] | None, alpha, x, y) -> torch.Tensor:
    """L(w, alpha) on one batch; `w` replaces the supernet's parameters (None: its own)."""
    weights = mixing(alpha)
    logits = (supernet(x, weights=weights) if w is None
              else functional_call(supernet, w, (x,), {"weights": weights}))
    return F.cross_entropy(logits, y)


def _grad(loss, inputs):
    """d loss / d inputs, zeros where an input does not take part."""
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    return [torch.zeros_like(i) if g is None else g for g, i in zip(grads, inputs)]


def unrolled_alpha_grad(supernet: nn.Module, alpha: Sequence[torch.Tensor], train_batch, val_batch,
                        xi: float, momentum: float = 0.0, weight_decay: float = 0.0,
                        momentum_buffers: Sequence[torch.Tensor | None] | None = None, r: float = 0.01
                        ) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The second-order architecture gradient of DARTS eqs. (6)-(8), and L_val(w', alpha).

    w' is one step of the weight optimizer (SGD with momentum and weight decay) from w, and
        grad_alpha L_val(w', alpha) - xi * grad^2_{alpha,w} L_train(w, alpha) . grad_w' L_val(w', alpha)
    where the Hessian-vector product is a central finite difference (eq. 8) with step
    eps = r / ||grad_w' L_val|| (r = 0.01 in DARTS). With ReLUs and max-pools the gradient is only
    piecewise smooth, so that step is an approximation; it tends to the exact value as r -> 0.
    """
    names, w = zip(*[(n, p) for n, p in supernet.named_parameters()])
    buffers = momentum_buffers or [None] * len(w)
    # w' = w - xi * (momentum * buf + grad_w L_train(w, alpha) + wd * w): SGD's next step, unrolled
    g_train = _grad(loss_at(supernet, None, alpha, *train_batch), w)
    w_next = [(p - xi * (momentum * (b if b is not None else 0.0) + g + weight_decay * p)).detach()
              .requires_grad_() for p, g, b in zip(w, g_train, buffers)]
    loss_val = loss_at(supernet, dict(zip(names, w_next)), alpha, *val_batch)
    grads = _grad(loss_val, [*alpha, *w_next])
    d_alpha, v = grads[:len(alpha)], grads[len(alpha):]  # v = grad_w' L_val(w', alpha)
    # eq. (8): grad^2_{alpha,w} L_train . v ~ [grad_alpha L_train(w+) - grad_alpha L_train(w-)] / (2 eps)
    eps = r / torch.cat([g.flatten() for g in v]).norm()
    with torch.no_grad():
        w_plus = {n: p + eps * g for n, p, g in zip(names, w, v)}
        w_minus = {n: p - eps * g for n, p, g in zip(names, w, v)}
    g_plus = _grad(loss_at(supernet, w_plus, alpha, *train_batch), list(alpha))
    g_minus = _grad(loss_at(supernet, w_minus, alpha, *train_batch), list(alpha))
    return ([da - xi * (gp - gm) / (2 * eps) for da, gp, gm in zip(d_alpha, g_plus, g_minus)],
            loss_val.detach())


def first_order_alpha_grad(supernet, alpha, val_batch) -> tuple[list[torch.Tensor], torch.Tensor]:
    """grad_alpha L_val(w, alpha): eq. (6) with xi = 0."""
    loss_val = loss_at(supernet, None, alpha, *val_batch)
    return _grad(loss_val, list(alpha)), loss_val.detach()


def mean_entropy(probs: Sequence[torch.Tensor]) -> float:
    """Mean entropy (nats) of the per-decision distributions: log(#ops) at the start, 0 when
    every edge has picked one op."""
    return float(torch.stack([-(p * p.clamp_min(1e-12).log()).sum() for p in probs]).mean())


# -- the search -----------------------------------------------------------------------------
class Darts(Search):
    """DARTS, first or second order (`order`), on any space whose supernet mixes (`weights=`)."""

    name = "darts"
    Config = DartsConfig
    default_space = "darts"
    WATCHES_COLLAPSE = ("darts", "darts-minus")  # the methods that run `Darts.train_epoch`

    def setup(self):
        c = self.config
        options = self.supernet_options()
        if options and not set(options) <= set(inspect.signature(self.space.supernet).parameters):
            raise ConfigError(f"{self.name} needs a cell space whose supernet takes other edges "
                              f"(darts, nb201, nb201-small); {self.space.name} has none")
        self.supernet = self.space.supernet(**self.net_kwargs(), **options).to(self.device)
        # alpha: one row of logits per decision; kept out of the weight optimizer
        self.alpha = nn.ParameterList(
            nn.Parameter(c.alpha_init * torch.randn(len(opts), device=self.device))
            for opts in self.space.options)
        self.optimizer = torch.optim.SGD(self.supernet.parameters(), c.lr, momentum=c.momentum,
                                         weight_decay=c.weight_decay,
                                         nesterov=getattr(c, "nesterov", False))  # GDAS: True
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, c.epochs,
                                                                    eta_min=c.lr_min)
        self.arch_optimizer = torch.optim.Adam(self.alpha.parameters(), c.arch_lr,
                                               betas=(c.arch_beta1, c.arch_beta2),
                                               weight_decay=c.arch_weight_decay)
        self.track(supernet=self.supernet, alpha=self.alpha, optimizer=self.optimizer,
                   scheduler=self.scheduler, arch_optimizer=self.arch_optimizer)
        if c.hessian_every and self.name not in self.WATCHES_COLLAPSE:
            raise ConfigError(f"hessian_every is measured in the loop of {', '.join(self.WATCHES_COLLAPSE)}; "
                              f"{self.name} has a loop of its own")
        self.measured: list[tuple[int, float, list[int]]] = []  # (step, eigenvalue, genotype)
        self.stopped = None                                      # DARTS-ES: the genotype it returns

    def supernet_options(self) -> dict:
        """Extra arguments of `space.supernet` (later methods: another `edge=` mixing rule)."""
        return {}

    def probs(self) -> list[torch.Tensor]:
        with torch.no_grad():
            return mixing(self.alpha)

    def arch_step(self, train_batch, val_batch, xi: float) -> torch.Tensor:
        """Step 1: one Adam step on alpha along the (first- or second-order) gradient."""
        c = self.config
        if c.order == 1:
            grads, loss_val = first_order_alpha_grad(self.supernet, self.alpha, val_batch)
        else:
            buffers = [self.optimizer.state.get(p, {}).get("momentum_buffer")
                       for p in self.supernet.parameters()]
            grads, loss_val = unrolled_alpha_grad(self.supernet, self.alpha, train_batch, val_batch, xi,
                                                  c.momentum, c.weight_decay, buffers)
        for a, g in zip(self.alpha, grads):
            a.grad = g
        self.arch_optimizer.step()
        return loss_val

    def train_epoch(self, epoch):
        c = self.config
        self.supernet.train()
        lr = self.scheduler.get_last_lr()[0]
        # the architecture's half of the data, a fresh pass each epoch, so that resuming from an
        # epoch-end checkpoint replays exactly what the uninterrupted run saw
        valid_batches = self.endless(self.data.valid)
        for x, y in self.batches():
            for _ in range(c.arch_steps):
                val_batch = next(valid_batches)
                loss_val = self.arch_step((x, y), val_batch, xi=lr)
            self.log_step("arch", loss_val)
            self.weight_step(x, y, self.probs(), lr)   # Step 2: the weights, alpha held fixed
            if (self.step + 1) % c.alpha_every == 0:  # (self.step counts from 0 inside the loop)
                self.log_probs()
            if c.hessian_every and (self.step + 1) % c.hessian_every == 0:
                self.watch_collapse(val_batch)
        self.end_epoch()

    def weight_step(self, x, y, weights, lr: float) -> None:
        """One SGD step on L_train(w) with the mixing `weights` held fixed, clipped as in DARTS."""
        logits = self.supernet(x, weights=weights)
        loss = F.cross_entropy(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.log_step("weights", loss, acc=(logits.argmax(1) == y).float().mean(), lr=lr)

    def end_epoch(self):
        """The learning-rate schedule's step, the epoch's last alpha (so views end on it) and
        the genotype."""
        self.scheduler.step()
        if self.step % self.config.alpha_every:
            self.log_probs()
        self.log_genotype(self.derive() if self.stopped is None else self.stopped)

    def derive(self):
        """The genotype alpha points to now (DARTS: the space's rule on softmax(alpha))."""
        return self.space.derive([p.cpu().numpy() for p in self.probs()])

    def log_probs(self):
        probs = self.probs()
        self.log_alpha(probs)
        self.log_metric("alpha_entropy", mean_entropy(probs))

    def log_genotype(self, choices):
        super().log_genotype(choices)
        # the collapse signal: DARTS' genotypes fill up with skips and pools on long runs
        self.log_metric("parameter_free_ops", sum(parameter_free(self.space, choices)))

    # -- the collapse by its own signal (Zela et al. 2020), when `hessian_every` is set ------
    def watch_collapse(self, val_batch) -> None:
        """Log the dominant eigenvalue of the Hessian of L_val w.r.t. alpha (all decisions
        together, plus the architecture weight decay on the diagonal, as RobustDARTS) on the
        validation batch of the last architecture step, with the supernet in training mode; the
        parameter-free share of the genotype; and, with `early_stop`, stop by DARTS-ES."""
        c = self.config
        # the extra forward pass must not move the search: BN's running statistics are put back
        saved = [b.clone() for b in self.supernet.buffers()]
        eigenvalue = dominant_eigenvalue(loss_at(self.supernet, None, self.alpha, *val_batch),
                                         list(self.alpha), weight_decay=c.arch_weight_decay)
        with torch.no_grad():
            for b, old in zip(self.supernet.buffers(), saved):
                b.copy_(old)
        choices = [int(k) for k in self.derive()]
        free = parameter_free(self.space, choices)
        self.log_metric("hessian_eigenvalue", eigenvalue)
        self.log_metric("parameter_free_share", sum(free) / max(len(free), 1))
        self.measured.append((self.step, eigenvalue, choices))
        if c.early_stop and self.stopped is None:
            k = early_stop_index([m[1] for m in self.measured], c.es_window, c.es_delta, c.es_factor,
                                 c.es_start)
            if k is not None:  # return the architecture of measurement k (es_delta measurements back)
                step, _, self.stopped = self.measured[k]
                self.log_metric("early_stop", step)

    @property
    def out_of_steps(self) -> bool:
        return super().out_of_steps or getattr(self, "stopped", None) is not None

    def extra_state(self) -> dict:
        return {"measured": getattr(self, "measured", []), "stopped": getattr(self, "stopped", None)}

    def load_extra_state(self, state: dict) -> None:
        self.measured = [(s, e, list(g)) for s, e, g in state.get("measured", [])]
        self.stopped = state.get("stopped")


def parameter_free(space, choices) -> list[bool]:
    """Per op the genotype keeps (`none` left out): whether it is parameter-free."""
    return [op in PARAMETER_FREE for op in space.ops_of(choices) if op != "none"]
