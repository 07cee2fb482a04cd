"""Optimisers as TensorFlow 1.x computes them, for methods whose official code is TF (ENAS'
controller, Single-Path NAS). PyTorch's Adam and RMSprop put eps elsewhere and start their
state elsewhere; over a short CPU run those details move the result."""
from __future__ import annotations

import math

import torch


class TFAdam(torch.optim.Adam):
    """tf.train.AdamOptimizer. TF adds eps to sqrt(v_t) and bias-corrects through the step size,
        theta -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m_t / (sqrt(v_t) + eps),
    PyTorch adds eps to the bias-corrected sqrt(v_t / (1 - b2^t)); the two agree when PyTorch's
    eps is eps / sqrt(1 - b2^t), set here before every step (at step 1 with b2 = 0.999: 31.6 eps)."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr, betas=betas, eps=eps)
        for group in self.param_groups:
            group["eps_tf"] = eps

    @torch.no_grad()
    def step(self, closure=None):
        t = 1 + max((int(s["step"]) for s in self.state.values() if "step" in s), default=0)
        for group in self.param_groups:
            group["eps"] = group["eps_tf"] / math.sqrt(1.0 - group["betas"][1] ** t)
        return super().step(closure)


class TFRMSprop(torch.optim.Optimizer):
    """tf.train.RMSPropOptimizer (not centered), with L2 as a loss term's gradient:

        g   <- g + weight_decay * theta
        ms  <- decay * ms + (1 - decay) * g^2            (ms starts at 1, not 0)
        mom <- momentum * mom + lr * g / sqrt(ms + eps)  (eps inside the root; lr inside mom)
        theta <- theta - mom
    """

    def __init__(self, params, lr: float, decay: float = 0.9, momentum: float = 0.0, eps: float = 1e-10,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, decay=decay, momentum=momentum, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + group["weight_decay"] * p if group["weight_decay"] else p.grad
                state = self.state[p]
                if not state:
                    state["ms"] = torch.ones_like(p)
                    state["mom"] = torch.zeros_like(p)
                ms, mom = state["ms"], state["mom"]
                ms.mul_(group["decay"]).addcmul_(g, g, value=1 - group["decay"])
                mom.mul_(group["momentum"]).add_(group["lr"] * g / (ms + group["eps"]).sqrt())
                p.sub_(mom)
        return loss
