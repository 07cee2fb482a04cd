"""Peak memory of a search step on any device: the activations autograd keeps for backward.

    with SavedActivations() as memory:
        search.run()
    memory.peak   # bytes

Every tensor a forward pass saves for its backward is counted (each storage once) from the moment
it is saved until autograd frees it. That is the memory partial channels (PC-DARTS) and single
paths (GDAS, NASP) shrink; parameters saved by their layers count too. On CUDA,
torch.cuda.max_memory_allocated measures everything instead.
"""
from __future__ import annotations

import weakref

import torch


class _Saved:
    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor):
        self.tensor = tensor


class SavedActivations:
    """Context manager: `peak` (bytes) of the tensors saved for backward inside the block."""

    def __init__(self):
        self.live: dict[int, list[int]] = {}  # storage pointer -> [bytes, references]
        self.bytes = self.peak = 0
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)

    def __enter__(self):
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)

    def _pack(self, tensor):
        storage = tensor.untyped_storage()
        entry = self.live.setdefault(storage.data_ptr(), [storage.nbytes(), 0])
        if entry[1] == 0:
            self.bytes += entry[0]
            self.peak = max(self.peak, self.bytes)
        entry[1] += 1
        saved = _Saved(tensor.detach())  # detached: a saved output would otherwise keep its own graph alive
        weakref.finalize(saved, self._release, storage.data_ptr())
        return saved

    def _release(self, key):
        entry = self.live[key]
        entry[1] -= 1
        if entry[1] == 0:
            self.bytes -= entry[0]
            del self.live[key]

    @staticmethod
    def _unpack(saved):
        return saved.tensor
