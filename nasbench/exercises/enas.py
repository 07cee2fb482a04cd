"""Exercises of notebooks/02_enas.ipynb: the REINFORCE loss with a baseline, and the attention
step that picks a node's input."""
from __future__ import annotations

import numpy as np
import torch

from nasbench.spaces import NB201Space
from nasbench.supernet.controller import Controller, reinforce_loss


def reinforce_loss_reference(log_prob: torch.Tensor, reward: float, baseline: float) -> torch.Tensor:
    return reinforce_loss(log_prob, reward, baseline)


def check_reinforce_loss(loss_fn) -> None:
    """A hand-worked case (value and gradient), then the defining property on a tiny space by
    exact enumeration: sum_a pi(a) * grad[-loss(a)] must be grad E_pi[R]."""
    log_prob = torch.tensor(-1.2, requires_grad=True)
    loss = loss_fn(log_prob, 0.8, 0.5)
    assert torch.is_tensor(loss) and loss.dim() == 0, "return a scalar tensor (it is backpropagated)"
    assert abs(float(loss.detach()) - 0.36) < 1e-6, (f"log pi = -1.2, R = 0.8, b = 0.5 gives {float(loss.detach()):.4f}; "
                                            "expected -log pi * (R - b) = 0.36")
    (grad,) = torch.autograd.grad(loss, log_prob)
    assert abs(float(grad) + 0.3) < 1e-6, "d loss / d log pi should be -(R - b): minimising the loss " \
                                          "raises log pi when the reward beats the baseline"
    space = NB201Space(nodes=3, ops=["none", "skip_connect", "nor_conv_3x3"])
    torch.manual_seed(0)
    controller = Controller(space, lstm_size=8).double()
    params = list(controller.parameters())
    rng = np.random.default_rng(0)
    archs = list(space.enumerate())
    reward = dict(zip(archs, rng.random(len(archs))))
    estimate = [torch.zeros_like(p) for p in params]
    for a in archs:
        lp = controller(a).log_prob
        grads = torch.autograd.grad(loss_fn(lp, reward[a], 0.4), params, allow_unused=True)
        for e, g in zip(estimate, grads):
            if g is not None:
                e -= float(lp.detach().exp()) * g
    exact = torch.autograd.grad(sum(controller(a).log_prob.exp() * reward[a] for a in archs), params,
                                allow_unused=True)
    for e, g in zip(estimate, exact):
        assert torch.allclose(e, torch.zeros_like(e) if g is None else g, atol=1e-10), \
            "on average your loss's gradient is not -grad E[R]"


def attention_reference(anchors: torch.Tensor, h_t: torch.Tensor, W1: torch.Tensor, W2: torch.Tensor,
                        v: torch.Tensor) -> torch.Tensor:
    """logits_j = v^T tanh(W1 h_j + W2 h_t) for every earlier node j (rows of `anchors`)."""
    return torch.tanh(anchors @ W1.T + h_t @ W2.T) @ v                  # (i,)


def check_attention(attention) -> None:
    """Against a loop over the earlier nodes, one at a time (numpy)."""
    rng = np.random.default_rng(1)
    for i, n in ((2, 4), (5, 6)):
        anchors, h_t = rng.normal(size=(i, n)), rng.normal(size=n)
        W1, W2, v = rng.normal(size=(n, n)), rng.normal(size=(n, n)), rng.normal(size=n)
        expected = np.array([v @ np.tanh(W1 @ anchors[j] + W2 @ h_t) for j in range(i)])
        t = lambda a: torch.tensor(a, dtype=torch.float64)
        got = attention(t(anchors), t(h_t), t(W1), t(W2), t(v))
        got = np.asarray(got.detach() if torch.is_tensor(got) else got, dtype=float).reshape(-1)
        assert got.shape == (i,), f"expected one logit per earlier node ({i}), got shape {got.shape}"
        assert np.allclose(got, expected, atol=1e-8), f"logits {np.round(got, 3)} != {np.round(expected, 3)}"
