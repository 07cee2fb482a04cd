"""The collapse signal of Zela et al. (Understanding and Robustifying DARTS, ICLR 2020;
automl/RobustDARTS): the dominant eigenvalue of the Hessian of the validation loss with respect
to the architecture parameters alpha, and their early-stop rule (DARTS-ES).

Zela et al. show that the eigenvalue grows as DARTS heads for a degenerate (parameter-free)
cell: alpha settles in a sharp minimum of L_val, where discretizing it (keeping the strongest op)
hurts most. Their code builds the full Hessian over both alpha tensors (normal and reduce, one
vector of 2 x 14 x 8 entries), adds the architecture weight decay (so H + wd * I) and takes the
largest eigenvalue, once per epoch on the last validation batch, with the supernet in training
mode. Here the same number comes from power iteration on Hessian-vector products (double
backward), so no n x n matrix is formed: one gradient with `create_graph`, then one extra
backward per iteration.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def hessian_vector_product(loss: torch.Tensor, params: Sequence[torch.Tensor], weight_decay: float = 0.0):
    """The map v -> (H + weight_decay * I) v, H = d^2 loss / d params^2, on flat vectors.

    `loss` must still hold its graph; the gradient is taken once with `create_graph=True` and
    each product differentiates (grad . v) again (Pearlmutter's trick)."""
    params = list(params)
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    g = torch.cat([(torch.zeros_like(p) if gr is None else gr).reshape(-1) for gr, p in zip(grads, params)])

    def product(v: torch.Tensor) -> torch.Tensor:
        if not g.requires_grad:       # loss linear in params: H = 0
            return weight_decay * v
        hv = torch.autograd.grad(g @ v, params, retain_graph=True, allow_unused=True)
        flat = torch.cat([(torch.zeros_like(p) if h is None else h).reshape(-1) for h, p in zip(hv, params)])
        return flat.detach() + weight_decay * v
    product.size = g.numel()
    product.like = g
    return product


def _power(product, v: torch.Tensor, shift: float, iters: int, tol: float) -> float:
    """Power iteration on (H - shift * I): its eigenvalue of largest magnitude (Rayleigh quotient)."""
    value = 0.0
    for _ in range(iters):
        w = product(v) - shift * v
        new = float(v @ w)              # Rayleigh quotient, v of unit norm
        norm = w.norm()
        if norm == 0:
            return 0.0
        v = w / norm
        if abs(new - value) <= tol * max(abs(new), 1e-12):
            return new
        value = new
    return value


def dominant_eigenvalue(loss: torch.Tensor, params: Sequence[torch.Tensor], *, weight_decay: float = 0.0,
                        iters: int = 100, tol: float = 1e-4, seed: int = 0) -> float:
    """The largest eigenvalue of the Hessian of `loss` w.r.t. all of `params` together (plus
    `weight_decay` on its diagonal), what RobustDARTS takes as `max(eigvals(H))`.

    Power iteration finds the eigenvalue of largest magnitude, lambda_1. If lambda_1 < 0 the
    largest one lies elsewhere: H - lambda_1 * I is positive semi-definite, and its dominant
    eigenvalue mu gives lambda_max = mu + lambda_1. The start vector is drawn from its own
    generator (`seed`), so measuring leaves the run's random stream alone."""
    product = hessian_vector_product(loss, params, weight_decay)
    like = product.like
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(product.size, generator=gen, dtype=like.dtype).to(like.device)
    v = v / v.norm()
    top = _power(product, v, 0.0, iters, tol)
    if top >= 0:
        return top
    return _power(product, v, top, iters, tol) + top


def early_stop_index(eigenvalues: Sequence[float], window: int = 5, delta: int = 4, factor: float = 1.3,
                     start: int = 10) -> int | None:
    """DARTS-ES (Zela et al. 2020, RobustDARTS `EVLocalAvg.early_stop`): the measurement whose
    architecture to return, or None while the search should go on.

    Measurement j's local average is the mean of the eigenvalues in a window centred on it
    (`window` wide, cut at the start). The search stops at the first j whose local average
    exceeds `factor` times the one `delta` measurements earlier, with j - delta >= `start`, and
    returns the architecture of measurement j - delta. RobustDARTS' defaults (args.py): window 5,
    delta 4, factor 1.3, start 10 (epochs, one measurement per epoch); the paper writes the same
    rule as lambda(i - k) / lambda(i) < 0.75. A local average that is not positive never stops
    the search (a ratio of it means nothing)."""
    half = window // 2
    ev = np.asarray(eigenvalues, dtype=float)
    # a local average needs the `half` measurements after its centre
    local = [ev[max(0, j - half): j + half + 1].mean() for j in range(len(ev) - half)]
    for j in range(start + delta, len(local)):
        if local[j - delta] > 0 and local[j] > factor * local[j - delta]:
            return j - delta
    return None
