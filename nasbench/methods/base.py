"""The plumbing every search method shares, so a method file holds only its algorithm.

A method subclasses `Search` and writes three hooks, in the paper's words:

    setup()            build the supernet, the optimisers (and `self.track(...)` them)
    train_epoch(epoch) one epoch of the search: sample, update, `self.log_*` what happened
    finish()           derive / select the architecture to return (sets `self.best`)

`Search.run()` does the rest: device choice, seeding, the event log (`run_start` ... `run_end`),
the progress bar, checkpoints at epoch ends and resume, Ctrl-C ending the run as `interrupted`
with the best architecture so far kept, a non-finite loss ending it as `failed` with a clear
message, and callbacks (widgets) that receive every event.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
import random
import re
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from nasbench import data as datasets
from nasbench.events import Consumer, Event, Recorder, make_event, read_events
from nasbench.spaces import SPACES, Choices, Space, get_space


class ConfigError(ValueError):
    """A setting that does not exist or has a bad value."""


class NonFiniteLoss(FloatingPointError):
    """The loss became NaN or infinite; the run ends as `failed`."""


# -- configuration --------------------------------------------------------------------------
@dataclass
class SearchConfig:
    """Settings every method has. Field defaults are the paper's; `PRESETS["cpu"]` scales them
    down for a 2-core laptop, and `NOTES["cpu"]` says what it scaled."""

    epochs: int = 50
    steps: int | None = None          # stop after this many weight steps (overrides epochs)
    batch_size: int = 64
    n_train: int | None = None        # images for search (train + valid halves); None: all
    C: int = 16                       # channels of the first stage
    layers: int = 8                   # cells (or searchable layers) in the network

    PRESETS: ClassVar[dict[str, dict]] = {"paper": {}, "cpu": {"epochs": 10, "C": 8, "layers": 3}}
    NOTES: ClassVar[dict[str, str]] = {"paper": "the paper's settings",
                                       "cpu": "fewer epochs, C=8, 3 cells"}

    def validate(self) -> None:
        """Raise ConfigError for values no run can use."""
        for name in ("epochs", "batch_size", "C", "layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps <= 0):
            raise ConfigError(f"steps must be a positive integer, got {self.steps!r}")
        if self.n_train is not None and self.n_train <= 1:
            raise ConfigError(f"n_train must be at least 2, got {self.n_train!r}")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def make_config(cls: type[SearchConfig], preset: str = "cpu", **overrides) -> SearchConfig:
    """`cls`'s paper defaults, then the `preset`'s changes, then `overrides`."""
    if preset not in cls.PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of: {', '.join(cls.PRESETS)}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r} for {cls.__name__}; "
                          f"known settings: {', '.join(sorted(known))}")
    config = cls(**{**cls.PRESETS[preset], **overrides})
    config.validate()
    return config


def parse_setting(cls: type[SearchConfig], key: str, text: str) -> Any:
    """Turn the string `text` into the type of `cls.key` (for `--set key=value`)."""
    hints = typing.get_type_hints(cls)
    if key not in {f.name for f in dataclasses.fields(cls)}:
        raise ConfigError(f"unknown setting {key!r} for {cls.__name__}; "
                          f"known settings: {', '.join(sorted(f.name for f in dataclasses.fields(cls)))}")
    args = typing.get_args(hints[key]) or (hints[key],)
    if type(None) in args and text.lower() in ("none", "null"):  # an optional setting
        return None
    kind = next(t for t in args if t is not type(None))
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if typing.get_origin(kind) in (list, tuple):
            return json.loads(text)
        return kind(text)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ConfigError(f"setting {key!r} expects {getattr(kind, '__name__', kind)}, got {text!r}") from None


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """`auto` picks CUDA when present, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {device!r}; use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for, but PyTorch sees no CUDA GPU here")
    return device


@dataclass
class RunResult:
    method: str
    status: str                       # completed | interrupted | failed
    best: str | None                  # canonical architecture string
    best_choices: list[int] | None
    steps: int
    wall: float
    error: str | None = None
    events: list[Event] = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        return {"method": self.method, "status": self.status, "best": self.best,
                "best_choices": self.best_choices, "steps": self.steps, "wall": round(self.wall, 3),
                **({"error": self.error} if self.error else {})}


def _plain(obj):
    """numpy arrays and scalars as lists and Python numbers, recursively (RNG states)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    if isinstance(obj, (np.ndarray, np.generic)):
        return obj.tolist()
    return obj


def check_same_run(recorded: dict, current: dict, path: os.PathLike | str) -> None:
    """Refuse to resume the run whose `run_start` is `recorded` with another method, data set,
    seed or space than `current` (the run_start fields this run would write): the checkpoint's
    weights and the log belong to that run. One-line ConfigError naming the difference."""
    current = json.loads(json.dumps(current))  # tuples as lists, as in the recorded log
    data = lambda f: (f.get("dataset"), (f.get("config") or {}).get("data"))
    space = lambda f: tuple((f.get("space") or {}).get(k) for k in ("name", "decisions", "options"))
    for what, of in (("method", lambda f: f.get("method")), ("seed", lambda f: f.get("seed")),
                     ("space", space), ("data set", data)):
        old, new = of(recorded), of(current)
        if old == new:
            continue
        if what == "data set":  # the name, or the same name with other settings (n_train, ...)
            (name, a), (_, b) = old, new
            keys = [k for k in sorted(set(a or {}) | set(b or {}))
                    if (a or {}).get(k) != (b or {}).get(k) and k not in ("sizes", "mean", "std", "pool_size")]
            settings = lambda info: name + " (" + ", ".join(f"{k}={(info or {}).get(k)}" for k in keys) + ")"
            old, new = (old[0], new[0]) if old[0] != new[0] else (settings(a), settings(b))
        elif what == "space":
            old, new = old[0], new[0] if new[0] != old[0] else f"{new[0]} (other decisions or options)"
        raise ConfigError(f"{path} holds a run with {what} {old!r}, not {new!r}; resume with the "
                          f"same {what} (or start a new run without --resume)")


# -- the search base ------------------------------------------------------------------------
class Search:
    """Base of every method (see the module docstring for the three hooks a method writes)."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[SearchConfig]] = SearchConfig
    default_space: ClassVar[str | dict[str, str]] = "nb201"  # or one space per preset
    spaces: ClassVar[tuple[str, ...]] = ()  # the registered spaces it can search (empty: any)

    def __init__(self, space: str | Space | None = None, data: str | datasets.Dataset = "digits", *,
                 config: SearchConfig | None = None, preset: str = "cpu", seed: int = 0,
                 device: str = "auto", out: str | os.PathLike | None = None,
                 callbacks: Iterable[Consumer] = (), progress: bool = True, resume: bool = False,
                 **overrides):
        if config is None:
            config = make_config(self.Config, preset, **overrides)
        elif overrides:
            config = dataclasses.replace(config, **overrides)
            config.validate()
        self.config = config
        self.preset = preset
        self.seed = int(seed)
        self.device = resolve_device(device)
        default = self.default_space
        if isinstance(default, dict):  # e.g. {"paper": "chain-shuffle", "cpu": "chain-shuffle:per_stage=1"}
            default = default.get(preset, default["paper"])
        self.space = get_space(space or default)
        family = self.space.name.partition(":")[0]
        if self.spaces and family in SPACES and family not in self.spaces:
            raise ConfigError(f"{self.name} cannot search the space {family!r}; it searches: "
                              f"{', '.join(self.spaces)}")
        split = {"valid_fraction": self.valid_fraction} if self.valid_fraction != 0.5 else {}
        if isinstance(data, str) and data == "digits-bench":  # the task of the space's ground-truth table
            from nasbench.bench import load_data
            data = load_data(self.space, self.seed, **({"n_train": config.n_train} if config.n_train else {}),
                             **split)
        self.data = data if isinstance(data, datasets.Dataset) else datasets.load(
            data, n_train=config.n_train, seed=self.seed, **split)
        self.out = Path(out) if out is not None else None
        self.callbacks = list(callbacks)
        self.progress = progress
        self.resume = resume
        self.events: list[Event] = []
        self.best: Choices | None = None   # what run_end reports: keep it current
        self.step = 0                      # weight steps done (the `step` field of events)
        self.epoch = 0
        self._tracked: dict[str, Any] = {}
        self._recorder: Recorder | None = None
        self._bar = None
        self._t0 = 0.0
        self._t_offset = 0.0
        self._start_epoch = 0
        n_batches = len(self.data.train) // config.batch_size
        if n_batches == 0:
            raise ConfigError(f"batch_size {config.batch_size} is larger than the training split "
                              f"({len(self.data.train)} images)")
        self.steps_per_epoch = n_batches

    @property
    def valid_fraction(self) -> float:
        """The share of the search pool held out as `data.valid` (the architecture's half in
        DARTS' 50/50 split; a method with another split says so here). A Dataset passed in is
        used as it is."""
        return 0.5

    # -- the three hooks a method writes ----------------------------------------------------
    def setup(self) -> None:
        raise NotImplementedError

    def train_epoch(self, epoch: int) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Select the architecture to return (set `self.best`). Default: keep `self.best`."""

    def extra_state(self) -> dict:
        """Plain state of the method (beyond tracked modules) for checkpoints."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    # -- helpers for method files -----------------------------------------------------------
    def track(self, **objects) -> None:
        """Register modules / optimisers / schedulers whose state_dict goes into checkpoints."""
        self._tracked.update(objects)

    @property
    def total_steps(self) -> int:
        planned = self.config.epochs * self.steps_per_epoch
        return min(planned, self.config.steps) if self.config.steps else planned

    @property
    def out_of_steps(self) -> bool:
        return self.step >= self.total_steps

    def batches(self, split: datasets.Split | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of shuffled training batches on the device. Each batch the loop body
        finishes counts as one weight step; stops early once `steps` is reached."""
        split = split if split is not None else self.data.train
        for x, y in split.batches(self.config.batch_size, shuffle=True, generator=self.generator,
                                  drop_last=True):
            if self.out_of_steps:
                return
            yield x.to(self.device), y.to(self.device)
            self.step += 1
            if self._bar is not None:
                self._bar.update(1)

    def endless(self, split: datasets.Split, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of `split` forever, reshuffled each pass (the architecture side of bilevel
        methods; avoids `next(iter(loader))` each step)."""
        while True:
            for x, y in split.batches(batch_size or self.config.batch_size, shuffle=True,
                                      generator=self.generator, drop_last=True):
                yield x.to(self.device), y.to(self.device)

    def emit(self, type: str, **fields) -> Event:
        """Record an event and hand it to every callback."""
        event = make_event(type, self._t_offset + time.perf_counter() - self._t0, **fields)
        self.events.append(event)
        if self._recorder is not None:
            self._recorder(event)
        for callback in self.callbacks:
            callback(event)
        return event

    def log_step(self, phase: str, loss: float | torch.Tensor, acc: float | None = None,
                 lr: float | None = None) -> None:
        loss = float(loss.detach()) if torch.is_tensor(loss) else float(loss)
        if not math.isfinite(loss):
            raise NonFiniteLoss(f"the {phase} loss became {loss} at step {self.step} (epoch "
                                f"{self.epoch}); lower the learning rate or check the data")
        fields = {"acc": float(acc.detach() if torch.is_tensor(acc) else acc)} if acc is not None else {}
        if lr is not None:
            fields["lr"] = float(lr)
        self.emit("step", step=self.step, epoch=self.epoch, phase=phase, loss=loss, **fields)
        if self._bar is not None:
            self._bar.set_postfix_str(f"{phase} loss {loss:.3f}", refresh=False)

    def log_sample(self, choices: Sequence[int], purpose: str = "train") -> None:
        choices = [int(c) for c in choices]
        self.emit("sample", step=self.step, choices=choices, arch=self.space.encode(choices), purpose=purpose)

    def log_alpha(self, probs: Sequence[Sequence[float]] | Sequence[torch.Tensor]) -> None:
        rows = [[round(float(p), 6) for p in row] for row in probs]
        self.emit("alpha", step=self.step, probs=rows)

    def log_genotype(self, choices: Sequence[int]) -> None:
        choices = self.space.validate(choices)
        self.best = choices
        self.emit("genotype", step=self.step, arch=self.space.encode(choices), choices=list(choices))

    def log_eval(self, choices: Sequence[int], score: float, metric: str, **extra) -> None:
        choices = self.space.validate(choices)
        truth = self.truth(choices) if "truth" not in extra else None
        if truth is not None:
            extra["truth"] = truth
        self.emit("eval", arch=self.space.encode(choices), choices=list(choices), score=float(score),
                  metric=metric, **extra)

    def truth(self, choices: Sequence[int]) -> float | None:
        """Stand-alone test accuracy of `choices` from the ground-truth table of this run's space
        and data setting (`nasbench.bench`), or None where no table covers them."""
        if not hasattr(self, "_truth_table"):
            from nasbench.bench import find_table
            self._truth_table = find_table(self.space.name, self.data.info)
        return self._truth_table.truth(choices) if self._truth_table is not None else None

    def log_metric(self, name: str, value: float) -> None:
        self.emit("metric", step=self.step, name=name, value=float(value))

    def net_kwargs(self) -> dict:
        """Size and data shape for `space.build` / `space.supernet`."""
        return {"C": self.config.C, "layers": self.config.layers,
                "num_classes": self.data.num_classes, "in_channels": self.data.shape[0]}

    # -- running ----------------------------------------------------------------------------
    def _seed_everything(self) -> None:
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)
        self.rng = np.random.default_rng(self.seed)           # architecture sampling
        self.generator = torch.Generator().manual_seed(self.seed)  # batch order

    def _run_start_fields(self) -> dict:
        return {"method": self.name, "dataset": self.data.name, "seed": self.seed,
                "config": {**self.config.as_dict(), "preset": self.preset, "device": self.device.type,
                           "data": self.data.info},
                "space": self.space.describe()}

    def run(self) -> RunResult:
        """Run the search to the end (or to Ctrl-C / a failure); return what it found."""
        self._seed_everything()
        self._t0 = time.perf_counter()
        checkpoint = self._checkpoint_path()
        resuming = self.resume and checkpoint is not None and checkpoint.exists()

        def search():
            self.setup()
            if resuming:
                self._restore(checkpoint)
            else:
                if self.out is not None:
                    self._recorder = Recorder(self.out / "events.jsonl")
                self.emit("run_start", **self._run_start_fields())
            self._bar = tqdm(total=self.total_steps, initial=self.step, desc=self.name,
                             disable=not self.progress, unit="step", leave=False)
            for epoch in range(self._start_epoch, self.config.epochs):
                if self.out_of_steps:
                    break
                self.epoch = epoch
                self.train_epoch(epoch)
                self._save_checkpoint(epoch + 1)
            self.finish()

        return self._guarded(search)[0]

    def extend(self, stage: Callable[[], Any]) -> tuple[RunResult, Any]:
        """Run one more stage after `run()` has ended (e.g. SPOS's evolution again with other
        settings). The log stays one valid run: its `run_end` moves after the stage's events
        and reports the new best. Returns (the new RunResult, what `stage` returned)."""
        if not self.events or self.events[-1]["type"] != "run_end":
            raise RuntimeError("extend() continues a finished run: call run() first")
        last = self.events.pop()
        self._t_offset, self._t0 = last.get("wall", self.events[-1]["t"]), time.perf_counter()
        if self.out is not None:
            with Recorder(self.out / "events.jsonl") as rewrite:  # drop the old run_end
                for event in self.events:
                    rewrite(event)
            self._recorder = Recorder(self.out / "events.jsonl", append=True)
        return self._guarded(stage)

    def _guarded(self, stage: Callable[[], Any]) -> tuple[RunResult, Any]:
        """Run `stage`; whatever happens, end the log with `run_end` and write the summary."""
        status, error, crash, value = "completed", None, None, None
        try:
            value = stage()
        except KeyboardInterrupt:
            status = "interrupted"
        except NonFiniteLoss as e:
            status, error = "failed", str(e)
        except Exception as e:  # a bug or bad input: log it as failed, then let it surface
            status, error, crash = "failed", f"{type(e).__name__}: {e}", e
        finally:
            if self._bar is not None:
                self._bar.close()
        wall = self._t_offset + time.perf_counter() - self._t0
        best = self.space.encode(self.best) if self.best is not None else None
        fields = {"status": status, **({"error": error} if error else {}),
                  **({"best": best} if best else {}), "wall": round(wall, 3)}
        self.emit("run_end", **fields)
        result = RunResult(self.name, status, best, list(self.best) if self.best else None,
                           self.step, wall, error, self.events)
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
            (self.out / "summary.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
        if crash is not None:
            raise crash
        if error:
            print(f"{self.name}: run failed: {error}")
        return result, value

    # -- checkpoints ------------------------------------------------------------------------
    def _checkpoint_path(self) -> Path | None:
        return self.out / "checkpoint.pt" if self.out is not None else None

    def _save_checkpoint(self, next_epoch: int) -> None:
        path = self._checkpoint_path()
        if path is None:
            return
        state = {
            "next_epoch": next_epoch, "step": self.step, "n_events": len(self.events),
            "elapsed": self._t_offset + time.perf_counter() - self._t0,
            "best": self.best, "tracked": {k: v.state_dict() for k, v in self._tracked.items()},
            "extra": self.extra_state(),
            "rng": {"numpy": _plain(self.rng.bit_generator.state), "torch": torch.get_rng_state(),
                    "generator": self.generator.get_state(), "python": random.getstate(),
                    "numpy_global": _plain(np.random.get_state())},
        }  # plain types and tensors only: the file loads with torch.load(weights_only=True)
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def _restore(self, path: Path) -> None:
        """Continue from the last epoch end: the log is cut back to that point and the run goes
        on exactly as if it had never stopped (same seed: same events)."""
        try:  # data only: a checkpoint from someone else must never run code when opened
            state = torch.load(path, weights_only=True)
        except pickle.UnpicklingError as e:
            code = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
            if code:
                raise ConfigError(f"{path}: refused: this checkpoint would run code when loaded "
                                  f"({code.group(1)}); it holds more than data and tensors") from None
            raise ConfigError(f"{path}: not a readable checkpoint") from None
        except (RuntimeError, EOFError, OSError) as e:
            raise ConfigError(f"{path}: not a readable checkpoint ({str(e).splitlines()[0][:120]})") from None
        events = read_events(self.out / "events.jsonl")[: state["n_events"]]
        if events:
            check_same_run(events[0], self._run_start_fields(), self.out)
        recorded = events[0]["config"] if events else None
        if recorded is not None and {k: v for k, v in recorded.items() if k in self.config.as_dict()} != self.config.as_dict():
            raise ConfigError(f"{path} was written with other settings; resume with the same ones")
        with Recorder(self.out / "events.jsonl") as rewrite:  # drop events after the checkpoint
            for event in events:
                rewrite(event)
        self._recorder = Recorder(self.out / "events.jsonl", append=True)
        self.events = events
        for callback in self.callbacks:  # views attached to a resumed run see it from the start
            for event in events:
                callback(event)
        for name, obj in self._tracked.items():
            obj.load_state_dict(state["tracked"][name])
        self.load_extra_state(state["extra"])
        rng = state["rng"]
        self.rng.bit_generator.state = rng["numpy"]
        torch.set_rng_state(rng["torch"])
        self.generator.set_state(rng["generator"])
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy_global"])
        self.step, self.best = state["step"], state["best"]
        self._start_epoch = state["next_epoch"]
        self._t_offset = state["elapsed"]
        self._t0 = time.perf_counter()
