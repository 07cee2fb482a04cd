"""Scoring a network (or one path of a supernet) on a split, and BN recalibration."""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

Forward = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def accuracy(forward: Forward | nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
             device: torch.device | str = "cpu") -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of `forward` over `batches`. `forward` is a module or a
    closure such as `lambda x: supernet(x, choices=c)`; put the module in eval mode first."""
    correct, loss, n = 0, 0.0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        logits = forward(x)
        loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        n += len(y)
    if n == 0:
        raise ValueError("accuracy over zero examples")
    return correct / n, loss / n


@torch.no_grad()
def recalibrate_bn(model: nn.Module, forward: Forward, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                   device: torch.device | str = "cpu") -> None:
    """Re-estimate every BN layer's running statistics for one path (SPOS, Bender et al.).

    A supernet's running statistics mix all the paths it trained; a subnet scored with them is
    mis-normalised. Reset them and forward a few training batches in train mode, with cumulative
    averaging (momentum=None), so the statistics are exactly this path's."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
           and m.track_running_stats]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    was_training = model.training
    model.train()
    for x, _ in batches:
        forward(x.to(device))
    for m, momentum in zip(bns, saved):
        m.momentum = momentum
    model.train(was_training)
