"""Exercises of notebooks/02_enas.ipynb: the REINFORCE loss with a baseline, the controller step
(rewards, moving baseline, averaged loss), and the attention
step that picks a node's input."""
from __future__ import annotations

import numpy as np
import torch

from nasbench.spaces import NB201Space
from nasbench.supernet.controller import Controller, reinforce_loss, update_baseline


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
    expected, exact = _expected_gradient(lambda lp, r: loss_fn(lp, r, 0.4), seed=0)
    for e, g in zip(expected, exact):
        assert torch.allclose(e, -g, atol=1e-10), "on average your loss's gradient is not -grad E[R]"


def _expected_gradient(loss_of, seed: int):
    """Over every cell of a 27-cell toy space, with random rewards R(a) and a small controller:
    sum_a pi(a) grad loss_of(log pi(a), R(a)) (the expected gradient of the loss a sampled cell
    gives), and the exact grad E[R] = grad sum_a pi(a) R(a); per parameter, zeros where unused."""
    space = NB201Space(nodes=3, ops=["none", "skip_connect", "nor_conv_3x3"])
    torch.manual_seed(seed)
    controller = Controller(space, lstm_size=8).double()
    params = list(controller.parameters())
    archs = list(space.enumerate())
    reward = dict(zip(archs, np.random.default_rng(seed).random(len(archs))))
    expected = [torch.zeros_like(p) for p in params]
    for a in archs:
        lp = controller(a).log_prob
        for e, g in zip(expected, torch.autograd.grad(loss_of(lp, reward[a]), params, allow_unused=True)):
            if g is not None:
                e += float(lp.detach().exp()) * g
    exact = torch.autograd.grad(sum(controller(a).log_prob.exp() * reward[a] for a in archs), params,
                                allow_unused=True)
    return expected, [torch.zeros_like(p) if g is None else g for p, g in zip(params, exact)]


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


# -- the controller step: rewards, the moving baseline, the averaged loss -------------------------
def controller_loss_reference(log_probs, accs, entropies, baseline: float, bl_dec: float = 0.99,
                              entropy_weight: float = 1e-4) -> tuple[torch.Tensor, float]:
    """The loss of one controller step over its samples (`Reinforce.step`), and the baseline after
    it: per sample in order, R = acc + entropy_weight * H, the baseline moves towards R first, then
    -log pi * (R - b); the losses are averaged."""
    losses = []
    for log_prob, acc, entropy in zip(log_probs, accs, entropies):
        reward = float(acc) + entropy_weight * float(entropy)
        baseline = update_baseline(baseline, reward, bl_dec)
        losses.append(reinforce_loss(log_prob, reward, baseline))
    return torch.stack(losses).mean(), baseline


def check_controller_loss(controller_loss) -> None:
    """A two-sample case worked by hand (loss, gradients, baseline), then by exact enumeration on a
    27-cell space: with the baseline moved before the loss, R - b_new = bl_dec (R - b), so the
    expected gradient of your loss must be -bl_dec * grad E_pi[R]."""
    lp = torch.tensor([-1.0, -2.0], dtype=torch.float64, requires_grad=True)
    # R1 = 0.5 + 0.1 * 2 = 0.7; b1 = 0.4 - 0.5 (0.4 - 0.7) = 0.55; loss1 = 1.0 * (0.7 - 0.55) = 0.15
    # R2 = 0.9 + 0.1 * 1 = 1.0; b2 = 0.55 - 0.5 (0.55 - 1.0) = 0.775; loss2 = 2.0 * 0.225 = 0.45
    out = controller_loss([lp[0], lp[1]], [0.5, 0.9], [2.0, 1.0], 0.4, bl_dec=0.5, entropy_weight=0.1)
    assert isinstance(out, tuple) and len(out) == 2, "return (loss, new baseline)"
    loss, b = out
    assert torch.is_tensor(loss) and loss.dim() == 0, "the loss must be a scalar tensor (it is backpropagated)"
    assert abs(float(b) - 0.775) < 1e-9, (f"the baseline after two samples should be 0.775, got {float(b):.4f} "
                                          "(each sample moves it towards its reward, entropy bonus included)")
    assert abs(float(loss.detach()) - 0.3) < 1e-9, \
        f"the loss of the worked case is 0.3 (the mean of 0.15 and 0.45), got {float(loss.detach()):.4f}"
    (grad,) = torch.autograd.grad(loss, lp)
    assert torch.allclose(grad, torch.tensor([-0.075, -0.1125], dtype=grad.dtype)), \
        f"d loss / d log pi should be (-0.075, -0.1125), got {grad.tolist()}"
    expected, exact = _expected_gradient(
        lambda lp, r: controller_loss([lp], [r], [0.0], 0.3, bl_dec=0.9, entropy_weight=0.0)[0], seed=1)
    for e, g in zip(expected, exact):
        assert torch.allclose(e, -0.9 * g, atol=1e-10), \
            "over every cell, your loss's expected gradient is not -bl_dec * grad E[R]"
