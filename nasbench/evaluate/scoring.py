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


class _Path(nn.Module):
    """`forward` (one path of `model`) as a module, for torch's update_bn."""

    def __init__(self, model: nn.Module, forward: Forward):
        super().__init__()
        self.model, self.run = model, forward
        self.training = model.training

    def forward(self, x):
        return self.run(x)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, forward: Forward, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                   device: torch.device | str = "cpu") -> None:
    """Re-estimate every BN layer's running statistics for one path (SPOS, Bender et al.).

    A supernet's running statistics mix all the paths it trained; a subnet scored with them is
    mis-normalised. torch's `update_bn` resets them and forwards the batches in train mode with
    cumulative averaging (momentum=None), so the statistics are exactly this path's; the model
    is left in the mode it was in."""
    torch.optim.swa_utils.update_bn(batches, _Path(model, forward), device=device)
