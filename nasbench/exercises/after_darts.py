"""Exercises of notebooks/11_after_darts.ipynb: GDAS' straight-through Gumbel-softmax and NASP's
proximal step."""
from __future__ import annotations

import itertools

import numpy as np
import scipy.special
import torch

from nasbench.methods.gdas import straight_through_gumbel
from nasbench.methods.nasp import proximal_step
from nasbench.spaces.darts import DartsSpace


def straight_through_reference(alpha: torch.Tensor, g: torch.Tensor, tau: float) -> torch.Tensor:
    return straight_through_gumbel(alpha, tau, g)[0]


def check_straight_through(straight_through) -> None:
    """Your h = straight_through(alpha, g, tau) on random (3, 5) tables: its value must be the
    one-hot of argmax(alpha + g) (Gumbel-max), and the gradient of sum(h * c) with respect to
    alpha must be that of p = softmax((log_softmax(alpha) + g) / tau), which numpy computes here
    as (diag(p) - p p^T) c / tau per row."""
    rng = np.random.default_rng(0)
    for tau in (5.0, 1.0, 0.2):
        a = rng.normal(size=(3, 5))
        g = -np.log(rng.exponential(size=(3, 5)))
        c = rng.normal(size=(3, 5))
        alpha = torch.tensor(a, requires_grad=True)
        h = straight_through(alpha, torch.tensor(g), tau)
        assert isinstance(h, torch.Tensor) and h.shape == (3, 5), "return a (3, 5) tensor"
        expected = np.eye(5)[np.argmax(a + g, axis=1)]
        assert np.allclose(h.detach().numpy(), expected, atol=1e-6), \
            "the forward value must be one-hot at argmax(alpha + g)"
        assert h.requires_grad, "no gradient reaches alpha: h must carry the gradient of p"
        (h * torch.tensor(c)).sum().backward()
        for row in range(3):
            p = scipy.special.softmax((a[row] - scipy.special.logsumexp(a[row]) + g[row]) / tau)
            want = (np.diag(p) - np.outer(p, p)) @ c[row] / tau
            assert np.allclose(alpha.grad[row].numpy(), want, atol=1e-6), \
                f"the gradient is not that of softmax((log_softmax(alpha) + g) / tau) (tau={tau})"


def proximal_reference(alpha: torch.Tensor, nodes=None) -> torch.Tensor:
    return proximal_step(alpha, nodes)


def check_proximal(proximal) -> None:
    """Your proximal(alpha, nodes) on random alpha tables: without `nodes` (the NB201 cell) a
    one-hot per row at the row's largest entry; with the DARTS cell's `nodes`, for each node the
    two incoming edges whose largest entries are largest (brute force over pairs) keep their
    one-hot and the other rows are all zero."""
    rng = np.random.default_rng(1)
    flat = rng.uniform(size=(6, 5))
    bar = np.asarray(proximal(torch.tensor(flat), None), dtype=float)
    assert bar.shape == flat.shape, f"expected shape {flat.shape}, got {bar.shape}"
    assert np.array_equal(bar, np.eye(5)[flat.argmax(1)]), "NB201: one 1 per row, at its largest alpha"
    space = DartsSpace(steps=4)
    nodes = [incoming for _, _, incoming in space.nodes()]
    for _ in range(5):
        a = rng.uniform(size=(len(space.decisions), 8))
        bar = np.asarray(proximal(torch.tensor(a), nodes), dtype=float)
        for incoming in nodes:
            pair = max(itertools.combinations(incoming, 2), key=lambda ij: a[ij[0]].max() + a[ij[1]].max())
            for d in incoming:
                want = np.eye(8)[a[d].argmax()] if d in pair else np.zeros(8)
                assert np.array_equal(bar[d], want), \
                    f"decision {space.decisions[d]}: expected {want.astype(int)}, got {bar[d]}"
