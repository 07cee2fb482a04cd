"""Every run is a stream of events: the schema, a JSONL recorder, a reader, replay and a validator.

An event is a plain dict with `"v": 1`, `"type"` and `"t"` (seconds since the run started); the
fields of each type are in `SCHEMA` and docs/events.md. Widgets, the recorder, the report and the
tests consume events only, so a view works live, on a recorded log, and on a synthetic stream.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from numbers import Real
from pathlib import Path
from typing import Callable, Iterable, Iterator

VERSION = 1

Event = dict
Consumer = Callable[[Event], None]


class EventLogError(ValueError):
    """An event log that cannot be read, or an event that breaks the schema."""


_num, _int, _str, _list, _dict = Real, int, str, list, dict

# type -> (required fields, optional fields); each field maps to its Python type.
SCHEMA: dict[str, tuple[dict, dict]] = {
    "run_start": ({"method": _str, "dataset": _str, "seed": _int, "config": _dict, "space": _dict},
                  {"run_id": _str}),
    "step": ({"step": _int, "epoch": _int, "phase": _str, "loss": _num}, {"acc": _num, "lr": _num}),
    "sample": ({"step": _int, "choices": _list, "arch": _str, "purpose": _str}, {}),
    "alpha": ({"step": _int, "probs": _list}, {}),
    "genotype": ({"step": _int, "arch": _str, "choices": _list}, {}),
    "eval": ({"arch": _str, "choices": _list, "score": _num, "metric": _str},
             {"kl": _num, "truth": _num, "step": _int, "generation": _int, "flops": _num, "params": _num}),
    "metric": ({"step": _int, "name": _str, "value": _num}, {}),
    "run_end": ({"status": _str}, {"error": _str, "best": _str, "wall": _num}),
}
# What the numbers mean (docs/events.md); `acc` is checked: quark0/darts and many codebases log
# percent, which would read as 93x too good here.
UNITS = {"t": "seconds since run_start", "wall": "seconds", "acc": "fraction of correct predictions, 0..1",
         "loss": "the phase's loss as the loop computed it (cross-entropy: nats)", "lr": "learning rate",
         "step": "weight updates since the run started (over the whole run, not per epoch)"}
STATUSES = ("completed", "interrupted", "failed")
PURPOSES = ("train", "eval")


def make_event(type: str, t: float, **fields) -> Event:
    """An event dict in the schema's field order: v, type, t, then the fields."""
    return {"v": VERSION, "type": type, "t": round(float(t), 4), **fields}


# -- recording ------------------------------------------------------------------------------
class Recorder:
    """Writes events to a JSONL file, one line each, flushed as it goes (a crash loses nothing).

    `Recorder(path)` starts a new log; `Recorder(path, append=True)` continues one (resume).
    Call it with an event, or use it as a callback.
    """

    def __init__(self, path: str | os.PathLike, append: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a" if append else "w", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        self._file.write(json.dumps(event, allow_nan=False, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def iter_events(path: str | os.PathLike) -> Iterator[Event]:
    """Events of a JSONL log. A truncated last line (a run killed mid-write) is skipped with a
    warning; a broken line anywhere else raises EventLogError naming the line."""
    path = Path(path)
    if not path.exists():
        raise EventLogError(f"no event log at {path}")
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    last = len(lines) - 1
    while last >= 0 and not lines[last].strip():
        last -= 1
    for n, line in enumerate(lines[: last + 1], start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            if not isinstance(event, dict):
                raise ValueError("not an object")
        except ValueError:
            if n == last + 1:
                warnings.warn(f"{path}: skipped a truncated last line ({n})")
                return
            raise EventLogError(f"{path}:{n}: not a JSON event: {line[:60]!r}") from None
        yield event


def read_events(path: str | os.PathLike) -> list[Event]:
    """All events of a JSONL log (see `iter_events`)."""
    return list(iter_events(path))


def replay(source: "str | os.PathLike | Iterable[Event]", *consumers: Consumer) -> list[Event]:
    """Feed a recorded run (a path or a list of events) to consumers, in order; return the events.

    Consumers are callables such as widgets; a widget with a `flush()` is flushed at the end, so a
    replayed view ends in the same state as a live one."""
    events = read_events(source) if isinstance(source, (str, os.PathLike)) else list(source)
    for event in events:
        for consume in consumers:
            consume(event)
    for consume in consumers:
        if hasattr(consume, "flush"):
            consume.flush()
    return events


# -- validation -----------------------------------------------------------------------------
def _check(event: Event, n: int, space: dict | None) -> list[str]:
    where = f"event {n}"
    if not isinstance(event, dict):
        return [f"{where}: not an object"]
    problems = []
    if event.get("v") != VERSION:
        problems.append(f"{where}: 'v' must be {VERSION}, got {event.get('v')!r}")
    kind = event.get("type")
    if kind not in SCHEMA:
        return problems + [f"{where}: unknown type {kind!r}"]
    where = f"event {n} ({kind})"
    t = event.get("t")
    if not isinstance(t, Real) or isinstance(t, bool) or not math.isfinite(t) or t < 0:
        problems.append(f"{where}: 't' must be a non-negative number, got {t!r}")
    required, optional = SCHEMA[kind]
    for name, typ in {**required, **optional}.items():
        if name not in event:
            if name in required:
                problems.append(f"{where}: missing field {name!r}")
            continue
        value = event[name]
        if not isinstance(value, typ) or isinstance(value, bool):
            problems.append(f"{where}: field {name!r} should be {typ.__name__}, got {value!r:.40}")
        elif isinstance(value, Real) and not math.isfinite(value):
            problems.append(f"{where}: field {name!r} is not finite")
    if problems:
        return problems
    if kind == "run_end" and event["status"] not in STATUSES:
        problems.append(f"{where}: status must be one of {STATUSES}, got {event['status']!r}")
    if "acc" in event and kind == "step" and not 0 <= event["acc"] <= 1:
        problems.append(f"{where}: 'acc' is a fraction in [0, 1], got {event['acc']:.6g}"
                        + (" (percent? divide by 100)" if 1 < event["acc"] <= 100 else ""))
    if kind == "sample" and event["purpose"] not in PURPOSES:
        problems.append(f"{where}: purpose must be one of {PURPOSES}, got {event['purpose']!r}")
    if space is not None:
        options = space.get("options", [])
        if kind in ("sample", "genotype", "eval"):
            c = event["choices"]
            if len(c) != len(options) or any(
                    not isinstance(k, int) or not 0 <= k < len(o) for k, o in zip(c, options)):
                problems.append(f"{where}: choices {c} do not fit the space's {len(options)} decisions")
        if kind == "alpha":
            p = event["probs"]
            if len(p) != len(options) or any(len(row) != len(o) for row, o in zip(p, options)):
                problems.append(f"{where}: probs do not have one row per decision, one entry per option")
            elif any(abs(sum(row) - 1.0) > 1e-3 or min(row) < 0 for row in p):
                problems.append(f"{where}: each row of probs must be a distribution (sum 1)")
    return problems


class StepOrder:
    """Steps count weight updates over the whole run (docs/events.md): no event's `step` is below
    an earlier event's, and no two `weights` steps share one. A new `run_start` starts afresh.
    `check(event)` says what is wrong (one line) or records the event and returns None; the
    tracker, `validate` and `follow` share it."""

    def __init__(self):
        self.last: int | None = None       # the largest step so far
        self.weights: int | None = None    # the last `weights` step

    def check(self, event: Event) -> str | None:
        if event.get("type") == "run_start":
            self.last = self.weights = None
            return None
        step = event.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            return None
        if self.last is not None and step < self.last:
            return (f"step {step} comes after step {self.last}: steps count weight updates over the "
                    "whole run and never go back (count them across epochs, not per epoch)")
        weights = event.get("type") == "step" and event.get("phase") == "weights"
        if weights and self.weights is not None and step <= self.weights:
            return f"a second weights step {step}: each weight update has a step of its own"
        self.accept(event)
        return None

    def accept(self, event: Event) -> None:
        """Go on from this event's step (`validate`, after naming a problem: one per jump back)."""
        step = event.get("step")
        if isinstance(step, int) and not isinstance(step, bool):
            self.last = step
            if event.get("type") == "step" and event.get("phase") == "weights":
                self.weights = step


def validate(events: Iterable[Event], complete: bool = True) -> list[str]:
    """Problems with a run's events (an empty list when the log is valid).

    Checks each event against `SCHEMA`, that the log starts with `run_start`, that times never go
    backwards, that steps never go back (`StepOrder`), that choices and alpha rows fit the space
    declared in `run_start`, and (when `complete`) that it ends with exactly one `run_end`."""
    events = list(events)
    if not events:
        return ["the log is empty"]
    problems, space, last_t, order = [], None, 0.0, StepOrder()
    for n, event in enumerate(events, start=1):
        problems += _check(event, n, space)
        if not isinstance(event, dict):
            continue
        wrong = order.check(event)
        if wrong:
            problems.append(f"event {n} ({event.get('type')}): {wrong}")
            order.accept(event)
        if n == 1 and event.get("type") != "run_start":
            problems.append("event 1: a log must start with run_start")
        if event.get("type") == "run_start":
            if n != 1:
                problems.append(f"event {n}: run_start after the start")
            space = event.get("space") if isinstance(event.get("space"), dict) else None
        if event.get("type") == "run_end" and n != len(events):
            problems.append(f"event {n}: events after run_end")
        t = event.get("t")
        if isinstance(t, Real):
            if t + 1e-9 < last_t:
                problems.append(f"event {n}: time went backwards ({t} < {last_t})")
            last_t = max(last_t, t)
    ended = isinstance(events[-1], dict) and events[-1].get("type") == "run_end"
    if complete and not ended:
        problems.append("the log has no run_end (the run was killed, or is still going)")
    return problems


def check(events: Iterable[Event], complete: bool = True) -> None:
    """Raise EventLogError with the first problem `validate` finds."""
    problems = validate(events, complete)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise EventLogError(problems[0] + more)
