"""Dashboard: the views that fit a search, in one call; and a recorded run played back.

`Dashboard(search)` attaches itself to the search's callbacks and shows, stacked at the notebook's
width, the views the table below picks for the method: the training board always, the supernet
graph and alpha evolution for gradient methods, the graph and sampling fairness for sampling
methods. A view keyed on an event type (the KL ranking on `eval`) appears when the first such
event comes, fed everything the run sent before it.

The table is open: a new view registers itself with one line, e.g.

    register("nasbench.widgets.controller:ControllerPanel", methods={"enas"})
    register("nasbench.widgets.latency:LatencyPanel", events={"metric:latency"})

`methods`: show it from the start for these method names (`search.name` / run_start's `method`);
`events`: show it once an event of one of these types arrives (`metric:NAME` matches a `metric`
event of that name). Either or both.

`Dashboard.replay("runs/x")` plays a recorded run (`runs/x/events.jsonl`) with play / pause and a
step slider, through the same views.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from nasbench.events import Event, read_events
from nasbench.widgets.base import EventView, in_notebook

GRADIENT = frozenset({"darts", "pc-darts", "gdas", "snas", "proxyless", "fbnet", "nasp", "darts-minus",
                      "single-path"})
SAMPLING = frozenset({"spos", "fairnas", "random", "oneshot", "enas", "smash"})


@dataclass
class Entry:
    view: str                                  # "module:Class" (imported when first needed)
    methods: frozenset = frozenset()           # shown from the start for these methods
    events: frozenset = frozenset()            # shown when one of these event types arrives
    kwargs: dict = field(default_factory=dict)

    def cls(self) -> type[EventView]:
        module, _, name = self.view.partition(":")
        return getattr(importlib.import_module(module), name)

    def wants(self, event: Event) -> bool:
        kind = event.get("type")
        return kind in self.events or (kind == "metric" and f"metric:{event.get('name')}" in self.events)


TABLE: list[Entry] = []


def register(view: str, *, methods: Iterable[str] = (), events: Iterable[str] = (), **kwargs) -> None:
    """Add a view to the table (see the module docstring); a view registered again is replaced."""
    TABLE[:] = [e for e in TABLE if e.view != view]
    TABLE.append(Entry(view, frozenset(methods), frozenset(events), kwargs))


register("nasbench.widgets.board:TrainingBoard", events={"step"})
register("nasbench.widgets.graph:SupernetGraph", methods=GRADIENT | SAMPLING)
register("nasbench.widgets.alpha:AlphaEvolution", methods=GRADIENT, events={"alpha"})
register("nasbench.widgets.fairness:SamplingFairness", methods=SAMPLING - {"smash"})
register("nasbench.widgets.ranking:KLRanking", events={"eval"})
register("nasbench.widgets.controller:ControllerPanel", methods={"enas"}, events={"metric:reward"})
register("nasbench.widgets.latency:LatencyPanel", methods={"proxyless", "fbnet", "single-path"},
         events={"metric:expected_latency_ms"})
register("nasbench.widgets.memory_banks:MemoryBankView", methods={"smash"})


def pick(method: str | None) -> list[Entry]:
    """The table's entries shown from the start for `method`."""
    return [e for e in TABLE if method in e.methods]


class Dashboard:
    """The views for one search (a callback of it), shown together."""

    def __init__(self, search=None, *, method: str | None = None, live: bool | None = None,
                 min_interval: float | None = None):
        self.method = method or getattr(search, "name", None)
        self.live = in_notebook() if live is None else live
        self.options = {"live": self.live, **({"min_interval": min_interval} if min_interval else {})}
        self.views: dict[str, EventView] = {}
        self.events: list[Event] = []          # kept for a view that appears later
        self.shown = False
        self.carry: dict[str, EventView] = {}  # Replay: the outputs of a previous dashboard
        for entry in pick(self.method):
            self._add(entry)
        if search is not None:
            search.callbacks.append(self)

    def _add(self, entry: Entry) -> EventView:
        name = entry.view.rpartition(":")[2]
        view = entry.cls()(**self.options, **entry.kwargs)
        if name in self.carry:                 # draw into the output already on the page
            old = self.carry.pop(name)
            view._display_id, view._widget, view._shown = old._display_id, old._widget, old._shown
        for event in self.events:
            view(event)
        self.views[name] = view
        if self.shown and view._display_id is None:
            from IPython.display import display
            display(view)
        return view

    def __getitem__(self, name: str) -> EventView:
        return self.views[name]

    def __call__(self, event: Event) -> None:
        if event.get("type") == "run_start" and self.method is None:
            self.method = event.get("method")
            for entry in pick(self.method):
                if entry.view.rpartition(":")[2] not in self.views:
                    self._add(entry)
        self.events.append(event)
        for view in list(self.views.values()):
            view(event)
        for entry in TABLE:
            if entry.view.rpartition(":")[2] not in self.views and entry.wants(event):
                self._add(entry)               # fed the events so far, this one included

    def flush(self) -> None:
        for view in self.views.values():
            view.flush()

    def _ipython_display_(self) -> None:
        from IPython.display import display
        self.shown = True
        display(*self.views.values())

    # -- a recorded run ------------------------------------------------------------------------
    @classmethod
    def replay(cls, source: "str | os.PathLike | Iterable[Event]", **kwargs) -> "Replay":
        """A recorded run (a run directory, its events.jsonl, or a list of events) with play /
        pause and a step slider."""
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            source = read_events(path / "events.jsonl" if path.is_dir() else path)
        return Replay(list(source), **kwargs)


class Replay:
    """Play / pause / a step slider over a recorded run; the views show the run up to the step."""

    def __init__(self, events: list[Event], interval_ms: int = 300):
        self.all = events
        self.steps = sorted({e["step"] for e in events if isinstance(e.get("step"), int)}) or [0]
        self.dashboard = self._fresh()
        self.at = 0                            # events fed so far
        import ipywidgets as w
        self.play = w.Play(min=0, max=len(self.steps) - 1, step=1, interval=interval_ms, description="play")
        self.slider = w.IntSlider(min=0, max=len(self.steps) - 1, description="step", readout=False,
                                  layout=w.Layout(width="60%"))
        self.label = w.Label()
        w.jslink((self.play, "value"), (self.slider, "value"))
        self.slider.observe(lambda change: self.show(change["new"]), names="value")
        self.show(len(self.steps) - 1)         # opens on the whole run

    def _fresh(self, carry: dict | None = None, shown: bool = False) -> Dashboard:
        method = next((e.get("method") for e in self.all if e.get("type") == "run_start"), None)
        dashboard = Dashboard(live=True, min_interval=0.05)
        dashboard.carry, dashboard.shown = dict(carry or {}), shown
        dashboard.method = method
        for entry in pick(method):
            dashboard._add(entry)
        return dashboard

    def upto(self, k: int) -> int:
        """How many events make up the run up to the k-th step (events without a step ride along)."""
        last = self.steps[k]
        n = 0
        for i, e in enumerate(self.all):
            if isinstance(e.get("step"), int) and e["step"] > last:
                break
            n = i + 1
        return n

    def show(self, k: int) -> None:
        n = self.upto(k)
        if n < self.at:                        # backwards: start again, in the same outputs
            old = self.dashboard
            self.dashboard = self._fresh(carry=old.views, shown=old.shown)
            self.at = 0
        for event in self.all[self.at:n]:
            self.dashboard(event)
        self.at = n
        self.dashboard.flush()
        self.label.value = f"step {self.steps[k]} ({n} of {len(self.all)} events)"

    def _ipython_display_(self) -> None:
        from IPython.display import display
        import ipywidgets as w
        display(w.HBox([self.play, self.slider, self.label]))
        display(self.dashboard)
