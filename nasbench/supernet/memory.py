"""Activation memory of a training step, measured on any device (CPU included).

What grows with the number of candidates in a DARTS-style mixed op is the activations autograd
keeps for the backward pass: every candidate's output and intermediate tensors. ProxylessNAS's
binary gates keep one path's. `activation_bytes` measures exactly that set: the tensors the
step's graph saves for backward (`torch.autograd.graph.saved_tensors_hooks`), each storage
counted once, parameters excluded. It is the peak activation memory of the step, since all of
them are alive together when the backward pass starts.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch


def activation_bytes(step: Callable[[], torch.Tensor], exclude: Iterable[torch.Tensor] = ()) -> int:
    """Bytes saved for backward while `step()` builds its loss (then backpropagated once)."""
    skip = {p.untyped_storage().data_ptr() for p in exclude}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = step()
    loss.backward()
    return sum(storages.values())
