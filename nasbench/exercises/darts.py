"""Exercises of notebooks/04_darts.ipynb: the mixed op (DARTS eq. 2) and the genotype rule."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from nasbench.ops import build_op
from nasbench.spaces.darts import DARTS_OPS, DartsSpace
from nasbench.supernet import ChoiceEdge


def mixed_op_reference(x: torch.Tensor, alpha: torch.Tensor, ops: Sequence[nn.Module]) -> torch.Tensor:
    weights = torch.softmax(alpha, dim=-1)
    return sum(w * op(x) for w, op in zip(weights, ops))


def check_mixed_op(mixed_op) -> None:
    """Your mixed op against the library's ChoiceEdge on random inputs and alphas, and on an
    alpha so peaked that the mixture must equal its one op; gradients must reach alpha."""
    torch.manual_seed(0)
    edge = ChoiceEdge(DARTS_OPS, lambda op: build_op(op, 4, 1, affine=False)).train()
    x = torch.randn(3, 4, 6, 6)
    for _ in range(3):
        alpha = torch.randn(len(DARTS_OPS), requires_grad=True)
        yours = mixed_op(x, alpha, list(edge.candidates))
        assert isinstance(yours, torch.Tensor), "return a tensor"
        assert yours.shape == x.shape, f"expected shape {tuple(x.shape)}, got {tuple(yours.shape)}"
        library = edge(x, weights=torch.softmax(alpha, -1))
        assert torch.allclose(yours, library, atol=1e-5), "not sum_k softmax(alpha)_k * op_k(x)"
        yours.sum().backward()
        assert alpha.grad is not None and alpha.grad.abs().sum() > 0, "no gradient reaches alpha"
    peaked = torch.full((len(DARTS_OPS),), -30.0)
    peaked[4] = 30.0  # all the weight on sep_conv_3x3
    assert torch.allclose(mixed_op(x, peaked, list(edge.candidates)), edge.candidates[4](x), atol=1e-5), \
        "with all the weight on one op the mixture must be that op"


def derive_cell_reference(weights: Sequence[Sequence[float]], steps: int = 4) -> list[tuple[str, int]]:
    """(op, input) pairs, two per intermediate node, in the order of the DARTS code."""
    genotype, start = [], 0
    for i in range(2, steps + 2):  # node i has inputs 0 .. i-1: edges start .. start+i-1
        rows = [np.asarray(weights[start + j], dtype=float) for j in range(i)]
        best = [max(range(1, len(r)), key=lambda k: r[k]) for r in rows]  # skip "none" (index 0)
        strongest = sorted(range(i), key=lambda j: -rows[j][best[j]])[:2]
        genotype += [(DARTS_OPS[best[j]], j) for j in strongest]
        start += i
    return genotype


def check_derive_cell(derive_cell) -> None:
    """Your rule against the library's `DartsSpace.derive` on random alpha tables (peaked and
    flat), compared as sets of (op, input) per node."""
    space = DartsSpace(steps=4)
    rng = np.random.default_rng(0)
    n = len(space.edges)  # 14 edges per cell
    for concentration in (0.3, 1.0, 5.0):
        table = rng.dirichlet(np.full(8, concentration), size=2 * n)
        choices = space.derive(table)
        for cell in (0, 1):
            yours = derive_cell(table[cell * n:(cell + 1) * n].tolist())
            assert len(yours) == 8, f"expected 8 (op, input) pairs (2 per node), got {len(yours)}"
            expected = [(DARTS_OPS[choices[cell * n + k]], j) for k, (j, _) in enumerate(space.edges)
                        if choices[cell * n + k] != space.none]
            for node in range(4):
                got, want = set(map(tuple, yours[2 * node:2 * node + 2])), set(expected[2 * node:2 * node + 2])
                assert got == want, f"node {node + 2}: you chose {sorted(got)}, the rule gives {sorted(want)}"


# -- the architecture step with the second-order term (DARTS eqs. 6-8) -----------------------
def unrolled_grad_reference(L_train, L_val, w: torch.Tensor, alpha: torch.Tensor, xi: float,
                            r: float = 0.01) -> torch.Tensor:
    """grad_alpha L_val(w', alpha) - xi * [grad_alpha L_train(w+, alpha) - grad_alpha L_train(w-, alpha)] / (2 eps),
    w' = w - xi grad_w L_train(w, alpha), w+- = w +- eps v, v = grad_w' L_val(w', alpha),
    eps = r / ||v||: `nasbench.methods.darts.unrolled_alpha_grad` on one flat w (plain SGD)."""
    (g,) = torch.autograd.grad(L_train(w, alpha), w)
    w_next = (w - xi * g).detach().requires_grad_()
    d_alpha, v = torch.autograd.grad(L_val(w_next, alpha), [alpha, w_next])
    eps = r / v.norm()
    (g_plus,) = torch.autograd.grad(L_train((w + eps * v).detach(), alpha), alpha)
    (g_minus,) = torch.autograd.grad(L_train((w - eps * v).detach(), alpha), alpha)
    return d_alpha - xi * (g_plus - g_minus) / (2 * eps)


def _tiny_bilevel(seed: int, K: int = 4, d: int = 3, n: int = 12):
    """A smooth tiny search problem: prediction sum_k softmax(alpha)_k tanh(x W_k), squared error
    on a training and a validation set; w flat (d K,), alpha (K,)."""
    rng = np.random.default_rng(seed)

    def loss(x, y):
        return lambda w, a: ((torch.softmax(a, 0) * torch.tanh(x @ w.view(d, K))).sum(1) - y).pow(2).mean()
    data = [torch.tensor(rng.normal(size=s)) for s in ((n, d), (n,), (n, d), (n,))]
    w = torch.tensor(rng.normal(size=d * K), requires_grad=True)
    alpha = torch.tensor(rng.normal(size=K), requires_grad=True)
    return loss(*data[:2]), loss(*data[2:]), w, alpha


def check_unrolled_grad(unrolled_grad) -> None:
    """Against the exact gradient of the unrolled validation loss L_val(w - xi grad_w L_train(w, alpha), alpha)
    with respect to alpha, which autograd computes here by differentiating through the weight step
    (create_graph); your finite difference must match it closely. xi = 0 must be the first-order
    gradient."""
    for seed, xi in ((0, 0.0), (1, 0.5), (2, 1.0), (3, 0.3)):
        L_train, L_val, w, alpha = _tiny_bilevel(seed)
        got = unrolled_grad(L_train, L_val, w, alpha, xi)
        assert isinstance(got, torch.Tensor) and got.shape == alpha.shape, \
            f"return a tensor shaped like alpha {tuple(alpha.shape)}"
        (g,) = torch.autograd.grad(L_train(w, alpha), w, create_graph=True)
        (exact,) = torch.autograd.grad(L_val(w - xi * g, alpha), alpha)
        if xi == 0:
            assert torch.allclose(got.detach(), exact, atol=1e-8), \
                "with xi = 0 the result must be the first-order gradient grad_alpha L_val(w, alpha)"
            continue
        err = float((got.detach() - exact).norm() / exact.norm())
        first = float((torch.autograd.grad(L_val((w - xi * g).detach(), alpha), alpha)[0] - exact).norm() / exact.norm())
        assert err < 2e-3, (f"xi={xi}: relative error {err:.2e} against the exact unrolled gradient "
                            f"(the first-order term alone is off by {first:.2e}): check the second-order "
                            f"term's sign, its step eps and where it is evaluated")
