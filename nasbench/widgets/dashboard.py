"""Dashboard: the views a run's events call for, in one call; and a recorded run played back.

Which views a run gets is decided by the events it carries, never by its method's name, so a
fork logged as `darts-official` or `foreign-darts` gets the same views as our `darts`, and the
choice is the same live (`Dashboard`), played back (`Dashboard.replay`) and in `nasbench report`
(`views_for`). Each view in the table below is shown from the first event of one of its types
(`metric:NAME`: a `metric` event of that name) for which its class' `shows([run_start, event])`
holds (when it has one: MemoryBankView keeps to memory-bank spaces), fed everything the run sent
before it. Shown stacked at the notebook's width, in the table's order.

The table is open: a new view registers itself with one line, e.g.

    register("nasbench.widgets.latency:LatencyPanel", events={"metric"})
    register("mypackage.views:RewardView", events={"metric:reward"})

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


@dataclass
class Entry:
    view: str                                  # "module:Class" (imported when first needed)
    events: frozenset = frozenset()            # shown from the first event of one of these types
    kwargs: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.view.rpartition(":")[2]

    def cls(self) -> type[EventView]:
        module, _, name = self.view.partition(":")
        return getattr(importlib.import_module(module), name)

    def wants(self, event: Event, start: Event | None) -> bool:
        """Whether `event` (of a run that began with `start`) calls for this view."""
        kind = event.get("type")
        if kind not in self.events and not (kind == "metric" and f"metric:{event.get('name')}" in self.events):
            return False
        shows = getattr(self.cls(), "shows", None)
        return shows is None or bool(shows([e for e in (start, event) if e is not None]))


TABLE: list[Entry] = []


def register(view: str, *, events: Iterable[str], **kwargs) -> None:
    """Add a view to the table (see the module docstring); a view registered again is replaced."""
    TABLE[:] = [e for e in TABLE if e.view != view]
    TABLE.append(Entry(view, frozenset(events), kwargs))


register("nasbench.widgets.board:TrainingBoard", events={"step", "metric"})
register("nasbench.widgets.graph:SupernetGraph", events={"run_start", "alpha", "sample", "genotype"})  # the space, from the start
register("nasbench.widgets.alpha:AlphaEvolution", events={"alpha"})
register("nasbench.widgets.collapse:CollapseView", events={"metric:hessian_eigenvalue"})
register("nasbench.widgets.controller:ControllerPanel", events={"metric:reward"})
register("nasbench.widgets.ranking:KLRanking", events={"eval"})
register("nasbench.widgets.fairness:SamplingFairness", events={"sample"})
register("nasbench.widgets.evolution:EvolutionPanel", events={"eval"})
register("nasbench.widgets.latency:LatencyPanel", events={"metric"})
register("nasbench.widgets.memory_banks:MemoryBankView", events={"sample", "metric"})


def views_for(events: Iterable[Event]) -> list[Entry]:
    """The table's entries a whole run calls for, in the table's order (what `nasbench report`
    draws, and what a Dashboard fed the same events ends up showing)."""
    events = list(events)
    start = events[0] if events and events[0].get("type") == "run_start" else None
    return [entry for entry in TABLE if any(entry.wants(e, start) for e in events)]


class Dashboard:
    """The views a run's events call for (a callback of a search, or fed events), shown together."""

    def __init__(self, search=None, *, live: bool | None = None, min_interval: float | None = None):
        self.live = in_notebook() if live is None else live
        self.options = {"live": self.live, **({"min_interval": min_interval} if min_interval else {})}
        self.views: dict[str, EventView] = {}
        self.events: list[Event] = []          # kept for a view that appears later
        self.shown = False
        self.carry: dict[str, EventView] = {}  # Replay: the outputs of a previous dashboard
        self.start: Event | None = None        # the run's run_start
        if search is not None:
            search.callbacks.append(self)

    def _add(self, entry: Entry) -> EventView:
        name = entry.name
        view = entry.cls()(**self.options, **entry.kwargs)
        if name in self.carry:                 # draw into the output already on the page
            old = self.carry.pop(name)
            view._display_id, view._widget, view._shown = old._display_id, old._widget, old._shown
        for event in self.events:
            view(event)
        self.views[name] = view
        order = {e.name: k for k, e in enumerate(TABLE)}       # shown in the table's order
        self.views = dict(sorted(self.views.items(), key=lambda kv: order.get(kv[0], len(order))))
        if self.shown and view._display_id is None:
            from IPython.display import display
            display(view)
        return view

    def __getitem__(self, name: str) -> EventView:
        return self.views[name]

    def __call__(self, event: Event) -> None:
        if event.get("type") == "run_start":
            self.start = event
        self.events.append(event)
        for view in list(self.views.values()):
            view(event)
        for entry in TABLE:
            if entry.name not in self.views and entry.wants(event, self.start):
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
        dashboard = Dashboard(live=True, min_interval=0.05)
        dashboard.carry, dashboard.shown = dict(carry or {}), shown
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
