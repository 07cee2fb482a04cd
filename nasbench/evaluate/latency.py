"""A latency model of the machine in front of you: a lookup table (LUT) of every candidate block's
latency at its layer, measured here.

Hardware-aware methods (ProxylessNAS, FBNet, Single-Path NAS) need the latency of a network as a
function of its choices. In a chain supernet every candidate of layer l sees the same input, so
latency is (close to) additive:

    LAT(choices)  = base + sum_l LUT[l][c_l]                      (ProxylessNAS eq. (4), FBNet eq. (3))
    E[LAT](p)     = base + sum_l sum_k p_lk * LUT[l][k]            differentiable in p

`base` is the fixed part (stem, fixed layers, head). Each LUT entry is the median of `repeats`
timed calls of that candidate alone (eval mode, no autograd) on a tensor of its layer's real input
size, after `warmup` calls, timed by `torch.utils.benchmark.Timer` (which synchronises CUDA and
keeps the stopwatch out of the measured call); the spread is the inter-quartile range. All
candidates are timed in interleaved rounds, so a burst of load elsewhere on the machine hits every
entry alike. An entry whose spread is more than `max_rel_spread` of its median (a machine under
load) is measured again, up to `retries` times, and the quieter measurement kept; a table that is
still noisy then is used but not cached (`noisy` counts its entries), so a later run measures anew.

`base` is measured the same way on the whole network with every searchable layer replaced by a
stub that returns a stored tensor of the layer's output size: what is left is what every
architecture pays. The timer's own cost (an empty call timed the same way) is subtracted from
every entry, since a whole network pays it once, not once per layer; `base` keeps it.

Beside this machine, `latency_table(space, device="pixel1")` (or "proxyless-mobile") gives the
per-layer table a paper published for a phone, mapped onto chain-small
(`nasbench.evaluate.latency_devices`).

Tables are cached on disk (`latency_table`), keyed by the device (and the CPU/GPU model), the
thread count, the torch version, the space's spec and the sizes, because a latency table is only
true for the machine and settings it was measured with.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from nasbench.spaces import Space, get_space
from nasbench.supernet.choice import ChoiceEdge

FORMAT = 3  # the way tables are measured; part of the cache key (2: timer cost subtracted;
            # 3: torch.utils.benchmark, noisy entries re-measured)
MAX_REL_SPREAD = 0.5  # an entry is noisy when its inter-quartile range exceeds half its median
RETRIES = 3


@dataclass
class LatencyTable:
    """Per-layer latency of every candidate (ms), measured on one machine."""

    space: str                       # the space's spec (get_space re-creates it)
    device: str                      # "cpu" or "cuda"
    threads: int                     # torch.get_num_threads() while measuring
    torch_version: str
    batch_size: int
    lut: list[list[float]]           # ms, median, [decision][option]
    spread: list[list[float]]        # ms, inter-quartile range, same shape
    base_ms: float                   # stem, head and fixed layers
    base_spread: float = 0.0
    device_name: str = ""            # CPU / GPU model
    input_shape: list[int] = field(default_factory=list)   # (C, H, W) of one image
    net: dict = field(default_factory=dict)                 # size arguments of the network
    options: list[list[str]] = field(default_factory=list)  # option names, for display
    warmup: int = 0
    repeats: int = 0
    created: str = ""
    remeasured: int = 0              # entries measured again because their spread was large
    noisy: int = 0                   # entries whose spread stayed large (the table is not cached)

    def expected(self, probs: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """E[LAT] = base + sum_l sum_k p_lk * LUT[l][k]; differentiable in `probs` (one row per
        decision; rows may have zeros, e.g. ProxylessNAS's two-path probabilities)."""
        if len(probs) != len(self.lut):
            raise ValueError(f"need {len(self.lut)} rows of probabilities, got {len(probs)}")
        total = torch.as_tensor(self.base_ms, dtype=torch.float32)
        for p, row in zip(probs, self.lut):
            p = torch.as_tensor(p)
            total = total + (p * torch.tensor(row, dtype=p.dtype, device=p.device)).sum()
        return total

    def predict(self, choices: Sequence[int]) -> float:
        """LAT(choices) = base + sum_l LUT[l][c_l] (ms)."""
        if len(choices) != len(self.lut):
            raise ValueError(f"need {len(self.lut)} choices, got {len(choices)}")
        return float(self.base_ms + sum(row[int(c)] for row, c in zip(self.lut, choices)))

    @property
    def bounds(self) -> tuple[float, float]:
        """The fastest and the slowest architecture (per-layer min / max)."""
        return (self.base_ms + sum(min(r) for r in self.lut), self.base_ms + sum(max(r) for r in self.lut))

    def info(self, target_ms: float | None = None) -> dict:
        """What `LatencyPanel` draws, for `run_start.config["lut"]` of a hardware-aware run."""
        return {"lut": self.lut, "spread": self.spread, "base_ms": self.base_ms, "options": self.options,
                "target_ms": None if target_ms is None else round(float(target_ms), 5),
                "bounds": list(self.bounds), "device": self.device, "device_name": self.device_name,
                "threads": self.threads}

    def to_dict(self) -> dict:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "LatencyTable":
        d = {k: v for k, v in d.items() if k != "format"}
        return cls(**d)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LatencyTable":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def describe(self) -> str:
        """A few lines: where and how it was measured, then the table (ms)."""
        lo, hi = self.bounds
        lines = [f"{self.space} on {self.device} ({self.device_name or '?'}), {self.threads} thread(s), "
                 f"torch {self.torch_version}, batch {self.batch_size}, input {self.input_shape}",
                 f"base {self.base_ms:.3f} ms; whole network {lo:.3f} .. {hi:.3f} ms "
                 f"(median of {self.repeats} after {self.warmup} warm-up calls)"]
        for d, (row, spread) in enumerate(zip(self.lut, self.spread)):
            names = self.options[d] if self.options else [str(k) for k in range(len(row))]
            cells = "  ".join(f"{n}={v:.3f}±{s:.3f}" for n, v, s in zip(names, row, spread))
            lines.append(f"  layer{d}: {cells}")
        return "\n".join(lines)


# -- measuring ------------------------------------------------------------------------------
def _leaves_rng_alone(fn):
    """Timing builds networks and draws random inputs; a search that measures its table (first
    run) must go on with the same random state as one that loads it from the cache (a later run),
    or the same seed would not give the same events."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            return fn(*args, **kwargs)
    return wrapper


def _quartiles(times: list[float]) -> tuple[float, float]:
    """Median and inter-quartile range (ms) of timings in seconds."""
    ms = sorted(t * 1e3 for t in times)
    if len(ms) < 4:
        return statistics.median(ms), 0.0
    q1, q2, q3 = statistics.quantiles(ms, n=4)
    return q2, q3 - q1


@_leaves_rng_alone
def measure_model(model: nn.Module, input_shape: Sequence[int], *, warmup: int = 10,
                  repeats: int = 50, device: str | torch.device | None = None) -> tuple[float, float]:
    """Median latency (ms) and its inter-quartile range of `model` (eval mode, no autograd) on
    one zero-mean random input of `input_shape` (with the batch dimension)."""
    device = torch.device(device) if device is not None else next(
        (p.device for p in model.parameters()), torch.device("cpu"))
    model = model.to(device).eval()
    x = torch.randn(*input_shape, device=device)
    return _quartiles(_interleaved_times([(model, x)], warmup, repeats)[0])


class _Stub(nn.Module):
    """Stands in for a searchable layer: returns a stored tensor of the layer's output size."""

    def __init__(self, out: torch.Tensor):
        super().__init__()
        self.out = out

    def forward(self, x, *args, **kwargs):
        return self.out


def _edges(net: nn.Module) -> list[tuple[nn.Module, str, ChoiceEdge]]:
    """(parent, attribute name, edge) of every ChoiceEdge, in forward order of registration."""
    found = []
    for parent in net.modules():
        for name, child in parent.named_children():
            if isinstance(child, ChoiceEdge):
                found.append((parent, name, child))
    return found


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@_leaves_rng_alone
def measure_latency_table(space: str | Space, *, device: str = "cpu", batch_size: int = 1,
                          input_shape: Sequence[int] = (3, 32, 32), warmup: int = 10,
                          repeats: int = 30, progress: bool = True, max_rel_spread: float = MAX_REL_SPREAD,
                          retries: int = RETRIES, **net_kwargs) -> LatencyTable:
    """Measure the LUT of `space` on `device`: every candidate of every layer alone, at the
    layer's input size for images of `input_shape` (C, H, W), in batches of `batch_size`.
    `net_kwargs` are the size arguments of `space.supernet` (C, num_classes, ...)."""
    from tqdm.auto import tqdm

    space = get_space(space)
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    input_shape = [int(s) for s in input_shape]
    net_kwargs = {"in_channels": input_shape[0], **net_kwargs}
    net = space.supernet(**net_kwargs, affine=True).to(dev).eval()
    edges = _edges(net)
    if len(edges) != len(space.decisions):
        raise ValueError(f"{space.name}: a latency table needs one ChoiceEdge per decision; found "
                         f"{len(edges)} for {len(space.decisions)} decisions")
    # the input and output of every layer on one path (all candidates of a layer share both sizes)
    shapes: list[tuple[tuple, tuple]] = []
    hooks = [e.register_forward_hook(lambda m, args, out: shapes.append((tuple(args[0].shape), tuple(out.shape))))
             for _, _, e in edges]
    x = torch.randn(batch_size, *input_shape, device=dev)
    with torch.inference_mode():
        net(x, choices=[0] * len(edges))
    for h in hooks:
        h.remove()

    # each candidate alone on a tensor of its input size; the skeleton with stubs for the base
    jobs: list[tuple[nn.Module, torch.Tensor]] = []
    for (_, _, edge), (shape_in, _) in zip(edges, shapes):
        for op in edge.candidates:
            jobs.append((op.eval(), torch.randn(*shape_in, device=dev)))
    for (parent, name, _), (_, shape_out) in zip(edges, shapes):
        setattr(parent, name, _Stub(torch.randn(*shape_out, device=dev)))
    skeleton = lambda x: net(x, choices=[0] * len(edges))  # noqa: E731
    jobs.append((skeleton, x))
    jobs.append((lambda x: x, x))  # the timer's own cost: in every entry, but once in a network

    bar = tqdm(total=warmup + repeats, desc=f"latency {space.name}", unit="round", disable=not progress,
               leave=False)
    stats = [_quartiles(t) for t in _interleaved_times(jobs, warmup, repeats, on_round=lambda: bar.update(1))]
    bar.close()
    stats, remeasured, noisy = _quiet(jobs, stats, warmup, repeats, max_rel_spread, retries)
    for (parent, name, edge) in edges:  # put the layers back
        setattr(parent, name, edge)

    overhead = stats[-1][0]
    lut, spread, k = [], [], 0
    for _, _, edge in edges:
        n = len(edge.candidates)
        lut.append([round(max(0.0, m - overhead), 5) for m, _ in stats[k:k + n]])
        spread.append([round(s, 5) for _, s in stats[k:k + n]])
        k += n
    base, base_spread = stats[-2]  # keeps one timer overhead, as a whole network's timing does
    return LatencyTable(
        space=space.name, device=dev.type, threads=torch.get_num_threads(), torch_version=torch.__version__,
        batch_size=batch_size, lut=lut, spread=spread, base_ms=round(base, 5),
        base_spread=round(base_spread, 5), device_name=device_name(dev), input_shape=input_shape,
        net={k: v for k, v in net_kwargs.items()}, options=[list(o) for o in space.options],
        warmup=warmup, repeats=repeats, created=time.strftime("%Y-%m-%d %H:%M:%S"),
        remeasured=remeasured, noisy=noisy)


def _interleaved_times(jobs, warmup: int, repeats: int, on_round=lambda: None) -> list[list[float]]:
    """Seconds per call of every job (a callable and its input), `repeats` rounds after `warmup`,
    one call of every job per round (interleaved), each timed by torch.utils.benchmark."""
    from torch.utils.benchmark import Timer

    timers = [Timer("f(x)", globals={"f": f, "x": x}) for f, x in jobs]
    times: list[list[float]] = [[] for _ in jobs]
    with torch.inference_mode():
        for r in range(warmup + repeats):
            for j, timer in enumerate(timers):
                t = timer.timeit(1).median
                if r >= warmup:
                    times[j].append(t)
            on_round()
    return times


def _quiet(jobs, stats, warmup: int, repeats: int, max_rel_spread: float, retries: int):
    """Measure again, up to `retries` times, the jobs whose inter-quartile range exceeds
    `max_rel_spread` of their median, keeping each one's quieter measurement. Returns the stats,
    how many jobs were measured again and how many are still noisy."""
    stats = list(stats)
    noisy = lambda: [j for j, (m, iqr) in enumerate(stats) if iqr > max_rel_spread * m]  # noqa: E731
    again = set()
    for _ in range(retries):
        todo = noisy()
        if not todo:
            break
        again.update(todo)
        for j, t in zip(todo, _interleaved_times([jobs[j] for j in todo], warmup, repeats)):
            new = _quartiles(t)
            if new[1] / max(new[0], 1e-12) < stats[j][1] / max(stats[j][0], 1e-12):
                stats[j] = new
    return stats, len(again), len(noisy())


# -- the cache ------------------------------------------------------------------------------
def cache_dir() -> Path:
    """`NASBENCH_CACHE`/latency, else ~/.cache/nasbench/latency."""
    root = os.environ.get("NASBENCH_CACHE")
    return Path(root) / "latency" if root else Path.home() / ".cache" / "nasbench" / "latency"


def cache_key(space: str, *, device: str, batch_size: int, input_shape: Sequence[int], **net_kwargs) -> dict:
    """What a table depends on: machine, threads, torch, space and sizes."""
    dev = torch.device(device)
    return {"format": FORMAT, "space": space, "device": dev.type, "device_name": device_name(dev),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "batch_size": batch_size,
            "input_shape": [int(s) for s in input_shape],
            "net": {k: net_kwargs[k] for k in sorted(net_kwargs)}}


def cache_path(key: dict, root: str | os.PathLike | None = None) -> Path:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key["space"])
    return (Path(root) if root is not None else cache_dir()) / f"{safe}-{key['device']}-{digest}.json"


def latency_table(space: str | Space, *, cache_dir: str | os.PathLike | None = None, rebuild: bool = False,
                  device: str = "cpu", batch_size: int = 1, input_shape: Sequence[int] = (3, 32, 32),
                  **kw) -> LatencyTable:
    """The LUT of `space` on this machine: from the on-disk cache when one was measured with the
    same device, threads, torch version, space and sizes; else measured now and cached.
    `kw`: the size arguments of the network (C, num_classes) and measure_latency_table's warmup,
    repeats (both part of the key), progress. A named device ("pixel1", "proxyless-mobile":
    `nasbench.evaluate.latency_devices`) gives its published table instead (nothing measured)."""
    from nasbench.evaluate.latency_devices import DEVICES, device_table
    if device in DEVICES:
        return device_table(device, space)
    space = get_space(space)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    progress = kw.pop("progress", True)
    timing = {"warmup": kw.pop("warmup", 10), "repeats": kw.pop("repeats", 30)}
    kw.setdefault("in_channels", int(input_shape[0]))  # one key whether or not it was given
    # a quick table (few repeats) is not the same measurement as a careful one: both in the key
    key = cache_key(space.name, device=device, batch_size=batch_size, input_shape=input_shape, **kw,
                    **{f"timing_{k}": v for k, v in timing.items()})
    path = cache_path(key, cache_dir)
    if path.exists() and not rebuild:
        try:
            return LatencyTable.load(path)
        except (ValueError, TypeError, KeyError):
            pass  # an old or broken file: measure again
    table = measure_latency_table(space, device=device, batch_size=batch_size, input_shape=input_shape,
                                  progress=progress, **timing, **kw)
    if table.noisy:  # measured under load: use it for this run, measure again next time
        import warnings
        warnings.warn(f"latency table of {space.name}: {table.noisy} entries stayed noisy after "
                      f"{table.remeasured} re-measurements (a loaded machine?); not cached", stacklevel=2)
    else:
        table.save(path)
    return table


@_leaves_rng_alone
def sampled_fit(table: LatencyTable, space: str | Space, n: int = 20, *, seed: int = 0,
                warmup: int = 10, repeats: int = 30, progress: bool = False) -> dict:
    """Predicted (LUT sum) against measured latency of `n` random whole networks of `space`,
    built with the table's sizes: Pearson r, mean relative error, and the pairs."""
    import numpy as np
    from scipy.stats import pearsonr
    from tqdm.auto import tqdm

    space = get_space(space)
    rng = np.random.default_rng(seed)
    dev = torch.device(table.device)
    x = torch.randn(table.batch_size, *table.input_shape, device=dev)
    archs = [space.sample(rng) for _ in range(n)]
    nets = [space.build(c, **table.net).to(dev).eval() for c in archs]
    bar = tqdm(total=warmup + repeats, desc="whole networks", disable=not progress, leave=False)
    times = _interleaved_times([(net, x) for net in nets], warmup, repeats, on_round=lambda: bar.update(1))
    bar.close()
    measured = [_quartiles(t)[0] for t in times]                    # interleaved, as for the table
    predicted = [table.predict(c) for c in archs]
    archs = [list(c) for c in archs]
    predicted_a, measured_a = np.array(predicted), np.array(measured)
    r = float(pearsonr(predicted_a, measured_a)[0]) if np.std(predicted_a) > 0 and np.std(measured_a) > 0 else float("nan")
    return {"pearson_r": r, "mean_rel_error": float(np.mean(np.abs(predicted_a - measured_a) / measured_a)),
            "predicted": predicted, "measured": measured, "choices": archs}
