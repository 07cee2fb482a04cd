"""Follow a run from another process: tail its `events.jsonl` as it grows and feed the views.

The run goes on in a terminal, a batch job or on a GPU machine (`nasbench run ... --out DIR`, or
your own loop with `nasbench.tracker.Tracker`); a notebook follows the file:

    from nasbench.follow import Follow
    from nasbench.widgets import TrainingBoard, AlphaEvolution
    board, alpha = TrainingBoard(), AlphaEvolution()
    following = Follow("runs/mine", board, alpha).start()   # returns at once
    board                                                    # the views update while the kernel is idle

`follow(path, *views)` does the same in the foreground and returns the events at `run_end`.
What it reads it checks like `nasbench validate`: a file not created yet is waited for, a last
line the writer has not finished is left until it is whole, a broken line elsewhere or an event
that breaks the schema stops with `EventLogError` naming the line. Views are any callables; those
with `flush()` are flushed after each batch of new events, so each poll that finds events
redraws them once.

A rerun into the same folder (`Tracker(..., overwrite=True)`, `nasbench run ... --out` again)
rewrites the log. `Follow(path, *views, new=True)` follows the run about to start there: the run
the file holds when following begins (known by `run_start`'s `run_id`) is skipped, and following
begins once a run with another id has started. Without `new=True`, a log that has already ended
is played to its end, with a warning that says so.
"""
from __future__ import annotations

import json
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Iterator

from nasbench.events import Consumer, Event, EventLogError, StepOrder, _check, replay


def log_path(path: str | os.PathLike) -> Path:
    """`DIR/events.jsonl` for a run directory (existing or not yet), else the file itself."""
    path = Path(path)
    return path if path.suffix == ".jsonl" else path / "events.jsonl"


def run_key(path: Path) -> tuple[str, object] | None:
    """What tells one run in the file from another: its `run_start`'s `run_id` (a log without one:
    the whole first line), or None while the file holds no complete first line."""
    try:
        with open(path, "rb") as f:
            first = f.readline()
    except OSError:
        return None
    if not first.endswith(b"\n"):
        return None
    try:
        run_id = json.loads(first).get("run_id")
    except (ValueError, AttributeError):
        run_id = None
    return ("run_id", run_id) if isinstance(run_id, str) else ("line", first)


def tail(path: str | os.PathLike, poll: float = 0.2, timeout: float | None = None,
         stop: threading.Event | None = None, new: bool = False) -> Iterator[list[Event]]:
    """Batches of new events of a growing log, until `run_end` (or `stop` is set, or no new
    bytes came for `timeout` seconds: then a warning). `new`: skip the run the file holds now and
    follow the next one to start there."""
    path, stop = log_path(path), stop or threading.Event()
    offset, pending, line_no, n, space, order = 0, b"", 0, 0, None, StepOrder()
    quiet_since = time.monotonic()
    old, old_size = (run_key(path), path.stat().st_size) if new and path.exists() else (None, 0)
    while old is not None and not stop.is_set():   # wait for another run to start in the file
        key = run_key(path)
        size = path.stat().st_size if path.exists() else 0
        if key is not None and (key != old or size < old_size):
            break
        old_size = max(old_size, size)
        if timeout is not None and time.monotonic() - quiet_since > timeout:
            warnings.warn(f"{path}: no new run started within {timeout} s; stopped waiting")
            return
        stop.wait(poll)
    first_read = True
    while not stop.is_set():
        chunk = b""
        if path.exists():
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_size < offset:
                    raise EventLogError(f"{path} was rewritten while followed (a --resume or a new run): "
                                        "follow it again with fresh views (new=True: the next run to start)")
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
        if chunk:
            quiet_since = time.monotonic()
            *lines, pending = (pending + chunk).split(b"\n")  # `pending`: a line not finished yet
            batch = []
            for line in lines:
                line_no += 1
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    event = None
                if not isinstance(event, dict):
                    raise EventLogError(f"{path}:{line_no}: not a JSON event: {line[:60]!r}")
                n += 1
                problems = _check(event, n, space)
                if n == 1 and event.get("type") != "run_start":
                    problems.append("a log must start with run_start")
                wrong = order.check(event)
                if problems or wrong:
                    raise EventLogError(f"{path}:{line_no}: {problems[0] if problems else wrong}")
                if event["type"] == "run_start":
                    space = event["space"]
                batch.append(event)
                if event["type"] == "run_end":
                    if first_read:
                        run_id = batch[0].get("run_id") if batch[0]["type"] == "run_start" else None
                        warnings.warn(f"{path} held a finished run{f' ({run_id})' if run_id else ''} when "
                                      "following began; to follow a rerun about to start in this folder, "
                                      "pass new=True")
                    yield batch
                    return
            first_read = False
            if batch:
                yield batch
        elif timeout is not None and time.monotonic() - quiet_since > timeout:
            warnings.warn(f"{path}: nothing new for {timeout} s and no run_end; stopped following")
            return
        stop.wait(poll)


def follow(path: str | os.PathLike, *consumers: Consumer, poll: float = 0.2,
           timeout: float | None = None, new: bool = False) -> list[Event]:
    """Feed the events of a (growing) log to `consumers` until its `run_end`; return them all.
    `timeout`: give up after that many seconds without a new byte (None: wait for ever);
    `new`: follow the next run to start in the file, not the one it holds now."""
    events = []
    for batch in tail(path, poll, timeout, new=new):
        replay(batch, *consumers)
        events += batch
    return events


class Follow:
    """`follow` in a background thread, for notebooks: `Follow(path, *views).start()` returns at
    once and the views update while the kernel is idle; `stop()` ends it early, `join()` waits
    for `run_end` (and raises what went wrong, if anything did). `new=True`: follow the next run
    to start in the folder (a rerun), not the finished one it holds now."""

    def __init__(self, path: str | os.PathLike, *consumers: Consumer, poll: float = 0.2,
                 timeout: float | None = None, new: bool = False):
        self.path, self.consumers, self.poll, self.timeout = log_path(path), consumers, poll, timeout
        self.new = new
        self.events: list[Event] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Follow":
        if self._thread is not None:
            raise RuntimeError("this Follow has already started; make a new one")
        self._thread = threading.Thread(target=self._run, name=f"follow {self.path}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for batch in tail(self.path, self.poll, self.timeout, self._stop, self.new):
                replay(batch, *self.consumers)
                self.events += batch
        except Exception as e:  # kept for join() and repr: a thread cannot raise to the notebook
            self.error = e

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> "Follow":
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self

    def join(self, timeout: float | None = None) -> "Follow":
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self

    @property
    def run_id(self) -> str | None:
        """The followed run's id (its `run_start`'s `run_id`), once it has started."""
        return self.events[0].get("run_id") if self.events else None

    def __repr__(self) -> str:
        end = self.events[-1] if self.events and self.events[-1]["type"] == "run_end" else None
        state = (f"error: {self.error}" if self.error else f"ended ({end['status']})" if end
                 else "waiting for a new run" if self.running and self.new and not self.events
                 else "following" if self.running else "stopped")
        run = f" run {self.run_id}" if self.run_id else ""
        return f"<Follow {self.path}{run}: {len(self.events)} events, {state}>"
