"""Cost of a network: parameter count and FLOPs (multiply-adds of convs and linears)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def count_flops(model: nn.Module, input_shape: tuple[int, ...],
                forward: Callable[[torch.Tensor], torch.Tensor] | None = None) -> int:
    """Multiply-accumulates of the Conv2d and Linear layers that run on one input of
    `input_shape` (C, H, W). Only modules that actually run count, so for a supernet pass a
    `forward` closure that runs one path."""
    total = 0

    def conv_hook(m: nn.Conv2d, _, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total += out.numel() // out.shape[0] * k

    def linear_hook(m: nn.Linear, _, out):
        nonlocal total
        total += out.numel() // out.shape[0] * m.in_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(1, *input_shape, device=next(model.parameters()).device)
        (forward or model)(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return int(total)
