"""What the three hardware-aware methods (ProxylessNAS, FBNet, Single-Path NAS) share: the
latency table of the run (a saved file, or this machine's cached measurement), the reference
latency, and what `run_start` carries for LatencyPanel. Only the loss that uses the table
differs, and it stays in each method's file.

`LatencyAware` is a mixin for a `Search` whose architecture distribution is `self.probs()` (one
row per decision): `setup_latency()` in `setup`, then `self.table` and `self.ref_ms`."""
from __future__ import annotations

import numpy as np
import torch

from nasbench.evaluate.latency import LatencyTable, latency_table
from nasbench.evaluate.latency_devices import device_table
from nasbench.methods.base import ConfigError


# This machine's table is measured on batches of this many images (`latency_batch` in the configs):
# at batch 1 every MBConv of chain-small costs the same ~0.26 ms of call overhead whatever its
# kernel and expansion; at 256 the computation decides (benchmarks/bench_latency_devices.py).
MEASURE_BATCH = 256


def as_probabilities(p: torch.Tensor) -> np.ndarray:
    """Probabilities as float64 summing to 1 (numpy's sampler checks the sum)."""
    q = p.detach().double().cpu().numpy()
    return q / q.sum()


def load_or_measure(search) -> LatencyTable:
    """The run's latency table: the config's `latency_table` (a file) if it has one; else the
    published table of a named `latency_device` (`nasbench.evaluate.latency_devices`, e.g.
    "pixel1"); else ("this") this machine's cached table for the run's space and sizes, measured
    on batches of `latency_batch` images (measured the first time, then read from the cache, so
    runs with the same seed see the same table and give the same events)."""
    c = search.config
    path = getattr(c, "latency_table", None)
    device = getattr(c, "latency_device", "this")
    if path:
        table = LatencyTable.load(path)
    elif device != "this":
        try:
            table = device_table(device, search.space)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    else:
        kw = search.net_kwargs()
        kw.pop("layers", None)
        return latency_table(search.space, device=search.device.type, input_shape=search.data.shape,
                             batch_size=getattr(c, "latency_batch", MEASURE_BATCH), repeats=getattr(c, "latency_repeats", 30),
                             progress=search.progress, **kw)
    if [len(r) for r in table.lut] != [len(o) for o in search.space.options]:
        raise ConfigError(f"{path or device} is not a table of {search.space.name}")
    return table


def resolve_target(table: LatencyTable, target_ms: float | None, fraction: float) -> float:
    """LAT_ref: `target_ms` if given, else `fraction` of the way from the fastest to the slowest
    network of the table."""
    lo, hi = table.bounds
    return float(target_ms) if target_ms is not None else lo + fraction * (hi - lo)


class LatencyAware:
    """The table, the reference latency, the panel's `run_start` entry and the final genotype
    with its predicted latency, for a method with `probs()` over every decision."""

    def setup_latency(self) -> None:
        c = self.config
        self.table = load_or_measure(self)
        self.ref_ms = resolve_target(self.table, c.target_ms, c.target)

    uses_reference = True   # False where the loss has no LAT_ref (FBNet): the panel draws none

    def _run_start_fields(self) -> dict:
        fields = super()._run_start_fields()
        fields["config"]["lut"] = self.table.info(self.ref_ms if self.uses_reference else None)  # LatencyPanel
        return fields

    def derive(self) -> list[int]:
        return self.space.derive([as_probabilities(p) for p in self.probs()])

    def finish(self):
        choices = self.derive()
        self.log_genotype(choices)
        self.log_metric("predicted_latency_ms", self.table.predict(choices))
