"""One decision of a supernet: its candidate ops side by side, sharing their weights across paths."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn


class ChoiceEdge(nn.Module):
    """Every candidate of one decision. Runs one of them (`choice`) or mixes them all (`weights`).

    Single path (Random-WS, SPOS, FairNAS, ENAS): `edge(x, choice=k)` runs candidate k only, so the
    other candidates take no part in the graph and get no gradient.
    Mixed (DARTS): `edge(x, weights=w)` returns sum_k w_k * op_k(x), DARTS eq. (2) with
    w = softmax(alpha).
    """

    def __init__(self, names: Sequence[str], build: Callable[[str], nn.Module]):
        super().__init__()
        self.names = list(names)
        self.candidates = nn.ModuleList(build(n) for n in self.names)

    def forward(self, x: torch.Tensor, choice: int | None = None,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        if choice is not None:
            return self.candidates[choice](x)
        if weights is None:
            raise ValueError("a ChoiceEdge runs one candidate (choice=k) or mixes them (weights=w)")
        return sum(w * op(x) for w, op in zip(weights, self.candidates))


def use_batch_statistics(network: nn.Module) -> None:
    """Make every BN layer normalise with each batch's own statistics, keeping no running
    averages (NAS-Bench-201's weight-sharing baselines): a path is then never normalised with
    statistics gathered on other paths, in training or in evaluation."""
    for m in network.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = False
            m.running_mean = m.running_var = m.num_batches_tracked = None


def check_path_arguments(fixed, choices, weights) -> None:
    """A stand-alone network (`fixed` choices) runs as is; a supernet needs a path or weights."""
    if fixed is None and choices is None and weights is None:
        raise ValueError("a supernet needs choices=(one path) or weights=(per-decision mixing)")


class LayerChain(nn.Module):
    """A network of `stem`, one searchable `layers[d]` per decision, and `head` (the chain and
    mobile spaces). Stand-alone (`self.choices` set) each layer is one block; as a supernet each
    is a ChoiceEdge: `forward(x, choices=c)` runs exactly one block per layer (single path),
    `forward(x, weights=w)` mixes every block of layer d by `w[d]`."""

    choices = None

    def forward(self, x: torch.Tensor, choices: Sequence[int] | None = None,
                weights: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        check_path_arguments(self.choices, choices, weights)
        x = self.stem(x)  # (B, C, H, W)
        for d, layer in enumerate(self.layers):
            if self.choices is not None:
                x = layer(x)
            elif choices is not None:
                x = layer(x, choice=choices[d])  # single path: the other candidates do not run
            else:
                x = layer(x, weights=weights[d])
        return self.head(x)  # (B, num_classes)
