"""Edges for the mixing rules that came after DARTS, in place of `ChoiceEdge` in a supernet.

`space.supernet(..., edge=E)` builds every edge as `E(names, build, C)`: the candidate names,
`build(op, c=C)` (the space's own op builder, optionally at another channel count) and the
edge's channels. Each class keeps ChoiceEdge's face, `edge(x, choice=k)` or `edge(x, weights=w)`:

- `SampledEdge` (GDAS, NASP): `w` is a one-hot vector, possibly straight-through; only the ops
  whose weight is non-zero run (GDAS search_cells.py `forward_gdas`, NASP model_search.py);
  `SampledOpEdge` is GDAS' rule on the DARTS cell (only h_k * op_k(x)).
- `PartialChannelEdge` (PC-DARTS): 1/K of the channels go through the mixed op, the rest bypass
  it, then a channel shuffle (PC-DARTS model_search.py `MixedOp`).
- `AuxiliarySkipEdge` (DARTS-): the DARTS mixture plus `beta * skip(x)` (DARTS- model_search.py).
- `DropPathEdge` (SNAS): the DARTS mixture, dropped per sample in training (drop-path).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Sequence

import torch
from torch import nn

from nasbench.ops import FactorizedReduce
from nasbench.supernet.choice import ChoiceEdge


class SampledEdge(ChoiceEdge):
    """Runs only the ops whose weight is non-zero; the others add their (zero) weight, so the
    output keeps a gradient path to every entry of `w`:

        out = sum_{k: w_k != 0} w_k * op_k(x)  +  sum_{k: w_k = 0} w_k

    With GDAS' straight-through h = one_hot - p.detach() + p (value one-hot, gradient that of p)
    this is `forward_gdas` of the NAS-Bench-201 search cell: dL/dh_k = <dL/dout, op_k(x)> for the
    sampled op and sum(dL/dout) for the others. `every_op(net)` runs all ops instead (NASP's
    architecture step: the gradient at the discrete point needs every op_k(x))."""

    every_op = False

    def __init__(self, names: Sequence[str], build: Callable[..., nn.Module], C: int | None = None):
        super().__init__(names, build)

    def forward(self, x, choice=None, weights=None):
        if weights is None or self.every_op:
            return super().forward(x, choice=choice, weights=weights)
        hot = (weights.detach() != 0).tolist()
        return sum(w * op(x) if h else w for w, h, op in zip(weights, hot, self.candidates))


class SampledOpEdge(SampledEdge):
    """GDAS on the DARTS (NASNet) cell, search_model_gdas_nasnet.py `MixedOp.forward_gdas`: only

        out = h_k * op_k(x)        (k the sampled op)

    the other entries of h add nothing, so alpha learns only through the op that ran (unlike
    the NAS-Bench-201 cell's rule above, whose bare h_j pass sum(dL/dout) to every option)."""

    def forward(self, x, choice=None, weights=None):
        if weights is None or self.every_op:
            return super().forward(x, choice=choice, weights=weights)
        k = int((weights.detach() != 0).nonzero()[0])
        return weights[k] * self.candidates[k](x)


class DropPathEdge(ChoiceEdge):
    """SNAS/model_search.py `Cell.forward`: in training, each mixed edge's output is dropped for a
    whole sample with probability `drop_prob` and the kept ones scaled by 1 / (1 - drop_prob)
    (`utils.drop_path`, one Bernoulli draw per sample, from the torch global RNG)."""

    drop_prob = 0.0

    def __init__(self, names: Sequence[str], build: Callable[..., nn.Module], C: int | None = None):
        super().__init__(names, build)

    def forward(self, x, choice=None, weights=None):
        out = super().forward(x, choice=choice, weights=weights)
        if self.training and self.drop_prob > 0:
            keep = 1.0 - self.drop_prob
            mask = torch.empty(out.size(0), 1, 1, 1, dtype=out.dtype, device=out.device).bernoulli_(keep)
            out = out / keep * mask
        return out


@contextmanager
def every_op(network: nn.Module):
    """Inside the block, every SampledEdge of `network` runs all its ops (a DARTS mixture)."""
    edges = [m for m in network.modules() if isinstance(m, SampledEdge)]
    for e in edges:
        e.every_op = True
    try:
        yield
    finally:
        for e in edges:
            e.every_op = False


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W) with channel g*(C/groups)+i moved to i*groups+g (ShuffleNet)."""
    B, C, H, W = x.shape
    return x.view(B, groups, C // groups, H, W).transpose(1, 2).reshape(B, C, H, W)


class PartialChannelEdge(nn.Module):
    """PC-DARTS eq. (2): f^PC(x; S) = sum_o softmax(alpha)_o * o(S * x) + (1 - S) * x, S
    selecting the first C/K channels, then a channel shuffle so that the next step mixes others.
    The ops are built with C/K channels. On a reduction edge (the ops halve the resolution) the
    bypassed channels are max-pooled 2x2 to match.

    Edge normalisation (PC-DARTS eq. 4) scales the whole edge output by beta_{i,j}: pass
    `weights = beta_{i,j} * softmax(alpha_{i,j})`; as softmax sums to one, `weights.sum()` is
    beta_{i,j}, which also scales the bypass here. K=1: DARTS' mixed op exactly."""

    def __init__(self, names: Sequence[str], build: Callable[..., nn.Module], C: int, K: int = 4):
        super().__init__()
        if C % K:
            raise ValueError(f"partial channels need C divisible by K, got C={C}, K={K}")
        self.names, self.K = list(names), K
        self.candidates = nn.ModuleList(build(n, c=C // K) for n in self.names)
        self.pool = nn.MaxPool2d(2, 2)

    def forward(self, x, choice=None, weights=None):  # x: (B, C, H, W)
        part, rest = x[:, : x.shape[1] // self.K], x[:, x.shape[1] // self.K:]
        if choice is not None:
            mixed, scale = self.candidates[choice](part), 1.0
        else:
            mixed, scale = sum(w * op(part) for w, op in zip(weights, self.candidates)), weights.sum()
        if self.K == 1:
            return mixed
        if mixed.shape[2] != x.shape[2]:  # a reduction edge
            rest = self.pool(rest)
        return channel_shuffle(torch.cat([mixed, scale * rest], dim=1), self.K)  # (B, C, H', W')


def partial_channels(K: int) -> Callable[..., PartialChannelEdge]:
    """The `edge=` factory of PC-DARTS with K partial-channel groups."""
    return lambda names, build, C: PartialChannelEdge(names, build, C, K)


class AuxiliarySkipEdge(ChoiceEdge):
    """DARTS- (Chu et al. 2021) eq. (3): o_bar(x) = beta * x + sum_o softmax(alpha)_o * o(x).
    The skip is an identity, or on a reduction edge a FactorizedReduce of its own; `beta` is set
    by the method (decayed from 1 to 0 over the search). beta = 0: DARTS' mixed op."""

    beta = 1.0

    def __init__(self, names: Sequence[str], build: Callable[..., nn.Module], C: int):
        super().__init__(names, build)
        # a forked RNG: the reduction skip's weights must not shift the draws of every later
        # weight and alpha, so that beta = 0 starts from DARTS' own supernet, seed for seed
        with torch.random.fork_rng(devices=[]):
            self.skip = FactorizedReduce(C, C, affine=False) if self._reduces(C) else nn.Identity()

    def _reduces(self, C: int) -> bool:
        """Whether the edge halves the resolution (its first op, run once in eval mode, shows it)."""
        op = self.candidates[0]
        was_training = op.training
        with torch.no_grad():
            size = op.eval()(torch.zeros(2, C, 4, 4)).shape[-1]
        op.train(was_training)
        return size != 4

    def forward(self, x, choice=None, weights=None):
        out = super().forward(x, choice=choice, weights=weights)
        return out + self.beta * self.skip(x) if self.beta else out


def set_beta(network: nn.Module, beta: float) -> None:
    """Set the auxiliary skip's coefficient on every AuxiliarySkipEdge of `network`."""
    for m in network.modules():
        if isinstance(m, AuxiliarySkipEdge):
            m.beta = float(beta)
