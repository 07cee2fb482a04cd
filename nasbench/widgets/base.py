"""The base of every live view: consume events, keep state in Python, redraw at a bounded rate.

A view is a callable that takes events, so the same object works as a callback of a running search
(`Search(..., callbacks=[view])`), on a recorded log (`View.from_events("runs/x/events.jsonl")`),
and on a synthetic stream in a unit test. It never reaches into a model.

The contract a view subclass writes (and all it may rely on):

- `build() -> go.Figure`: make the empty figure once, via `self.new_figure(figure, **layout)`;
- `handle(event) -> bool`: update Python-side state from one event, True when something visible
  changed (it may restyle `self.fig` too, e.g. lay out a graph at `run_start`);
- `render()`: copy the state into `self.fig` (a plain `plotly.graph_objects.Figure`: assign
  traces, `update_layout`, `plotly_update` / `plotly_restyle`, `batch_update` all work).

What the base does with it: each event goes to `handle` at once; the figure is redrawn
(`_redraw`: `render` inside `fig.batch_update()`) at most once per `min_interval` seconds
whatever the step rate, and once more at `run_end` / `flush()`. `renders` counts the redraws.
`from_events(log)` replays a recorded run; `to_html()` is the figure for `nasbench report`.
Give a view a decent `layout.height`, never a fixed `width` (figures take the notebook's width).

Shown in a notebook (`display(view)`, or `view` last in a cell), a live view is one small
anywidget (`live.LiveFigure`) that gets the figure once and then only the diff of each redraw;
plotly.js itself reaches the page once per kernel however many views there are (`live.py`).
When the run ends the output becomes a static figure (plotly's MIME type + an HTML fallback),
so a saved notebook reopened without a kernel (JupyterLab, VS Code, nbviewer) shows each view's
final state, the same figure `from_events` gives. `view.widget` is the live widget itself, for
ipywidgets layouts (those are not kept on reopen; prefer `display(a, b)` or `Dashboard`).
"""
from __future__ import annotations

import hashlib
import html
import os
import re
import time
import uuid
from typing import Callable, Iterable

import plotly.graph_objects as go

from nasbench.events import Event, replay
from nasbench.widgets import live as _live

# One colour per op, shared by every view (the graph's edges, the alpha curves, the heatmaps).
OP_COLORS = {
    "none": "#bdbdbd", "skip_connect": "#9467bd", "avg_pool_3x3": "#8c564b", "max_pool_3x3": "#e377c2",
    "nor_conv_1x1": "#17becf", "nor_conv_3x3": "#1f77b4", "sep_conv_3x3": "#1f77b4",
    "sep_conv_5x5": "#2ca02c", "sep_conv_7x7": "#bcbd22", "dil_conv_3x3": "#ff7f0e",
    "dil_conv_5x5": "#d62728", "conv_7x1_1x7": "#7f7f7f",
}
_FALLBACK = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
             "#7f7f7f", "#bcbd22", "#17becf"]


def op_color(name: str) -> str:
    """The colour of an op (or any option name) everywhere in the workbench."""
    if name in OP_COLORS:
        return OP_COLORS[name]
    return _FALLBACK[int(hashlib.md5(name.encode()).hexdigest(), 16) % len(_FALLBACK)]


_MARKUP = re.compile(r"<\s*[A-Za-z/!]|&")


def as_text(value):
    """`value` (an event) with every string that holds markup escaped, so that names from a log
    (architectures, ops, methods, spaces) show as text in a figure: plotly reads a small HTML
    dialect in titles, legends, ticks and hover text (bold, links), and decodes entities back to
    the characters. Returns the very same object when nothing needs escaping (the usual case)."""
    if isinstance(value, str):   # only what plotly could read as a tag or an entity ("2<-0" stays)
        return html.escape(value, quote=False) if _MARKUP.search(value) else value
    if isinstance(value, dict):
        out = {k: as_text(v) for k, v in value.items()}
        return value if all(out[k] is value[k] for k in value) else out
    if isinstance(value, list) and value and isinstance(value[0], (str, dict, list)):
        out = [as_text(v) for v in value]
        return value if all(a is b for a, b in zip(out, value)) else out
    return value


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where FigureWidgets can be shown)."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


_REDRAWING: dict[int, float] = {}   # id(view) -> when it last redrew: the views sharing `budget`
_RECENT = 10.0                       # seconds: a view that redrew within them is still sharing it


class EventView:
    """Base class: subclasses write `build()` (make `self.fig` once), `handle(event)` (update
    state) and `render()` (copy state into `self.fig`)."""

    min_interval: float = 0.25        # seconds between redraws: at most 4 a second
    budget: float = 0.04              # and the redraws of all views together take at most this
                                      # share of the time (see `_redraw`)

    def __init__(self, *, live: bool | None = None, min_interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.live = in_notebook() if live is None else live
        if min_interval is not None:
            self.min_interval = min_interval
        self.clock = clock
        self.renders = 0
        self.events_seen = 0
        self.finished = False             # a run_end came (and no run_start since)
        self._widget: _live.LiveFigure | None = None
        self._display_id: str | None = None
        self._shown: str | None = None    # what the notebook output holds: "live" or "static"
        self._dirty = False
        self._last_render = -float("inf")
        self._interval = self.min_interval  # grows when a redraw is slow (see `budget`)
        self.fig = self.build()

    # -- what a view writes ------------------------------------------------------------------
    def build(self) -> go.Figure:
        raise NotImplementedError

    def handle(self, event: Event) -> bool:
        """Update state from one event; return True when something visible changed."""
        raise NotImplementedError

    def render(self) -> None:
        raise NotImplementedError

    # -- the machinery -----------------------------------------------------------------------
    def new_figure(self, figure: go.Figure | None = None, **layout) -> go.Figure:
        """The view's figure (from `figure` if given): a plain `go.Figure`, live or not; the
        browser side follows it by diffs (see the module docstring)."""
        figure = go.Figure(figure) if isinstance(figure, go.FigureWidget) else figure
        figure = figure if figure is not None else go.Figure()
        if layout:
            figure.update_layout(**layout)
        return figure

    def __call__(self, event: Event) -> None:
        self.events_seen += 1
        event = as_text(event)
        if event.get("type") == "run_start":
            self.finished = False
        if self.handle(event):
            self._dirty = True
        if event.get("type") == "run_end":
            self.finish()
        elif self._dirty and self.clock() - self._last_render >= self._interval:
            self._redraw()

    def finish(self) -> None:
        """The run is over (a run_end came, or a recorded log was replayed): redraw, and leave
        the static figure in the notebook output in place of the live widget."""
        self.finished = True
        self.flush()
        self._show()

    def flush(self) -> None:
        """Redraw now if anything changed since the last redraw."""
        if self._dirty:
            self._redraw()

    def _redraw(self) -> None:
        began = self.clock()
        with self.fig.batch_update():
            self.render()
        if self._widget is not None:
            self._widget.push(self.fig)
            if self._shown == "static" and not self.finished:
                self._show()   # a new run into a finished view: live again
        self.renders += 1
        self._dirty = False
        self._last_render = now = self.clock()
        # a slow redraw (a big figure) waits longer, so that the redraws of all the views that are
        # redrawing now stay within `budget` of the time together: each gets budget / n of it
        _REDRAWING[id(self)] = now
        for key in [k for k, t in _REDRAWING.items() if not 0 <= now - t < _RECENT]:
            del _REDRAWING[key]
        n = max(1, len(_REDRAWING))
        self._interval = max(self.min_interval, n * (now - began) / self.budget)

    # -- in a notebook -----------------------------------------------------------------------
    @property
    def widget(self) -> "_live.LiveFigure":
        """The live browser-side figure (made on first use)."""
        if self._widget is None:
            self._widget = _live.LiveFigure(self.fig)
        return self._widget

    def _bundle(self) -> dict:
        text = f"<{type(self).__name__}: {self.events_seen} events>"
        if self.live and not self.finished:
            self._widget = self.widget
            return _live.widget_bundle(self._widget, text)
        return _live.static_bundle(self.fig, text)

    def _show(self) -> None:
        """Put the current bundle (live widget or static figure) in the output showing this
        view, if it is shown."""
        if self._display_id is None:
            return
        bundle = self._bundle()
        shown = "static" if _live.WIDGET_MIME not in bundle else "live"
        from IPython.display import update_display
        update_display(bundle, raw=True, display_id=self._display_id)
        self._shown = shown

    def _ipython_display_(self) -> None:
        from IPython.display import display
        if self._display_id is None:
            self._display_id = uuid.uuid4().hex
        bundle = self._bundle()
        display(bundle, raw=True, display_id=self._display_id)
        self._shown = "static" if _live.WIDGET_MIME not in bundle else "live"

    @classmethod
    def from_events(cls, source: "str | os.PathLike | Iterable[Event]", **kwargs) -> "EventView":
        """A view of a recorded run (a path to events.jsonl, or a list of events)."""
        kwargs.setdefault("live", False)
        view = cls(**kwargs)
        replay(source, view)
        view.finish()
        return view

    def to_html(self, include_plotlyjs: bool | str = "cdn") -> str:
        """The view as an HTML fragment (for `nasbench report`)."""
        return go.Figure(self.fig).to_html(full_html=False, include_plotlyjs=include_plotlyjs)

    def _repr_mimebundle_(self, **kwargs):
        return _live.static_bundle(self.fig, f"<{type(self).__name__}>")


class SeveralRuns(EventView):
    """A view of one or more runs side by side (SamplingFairness, LatencyPanel): one state per
    run label (`Run`, a class the subclass sets), `feed(label)` gives run `label`'s callback, and
    `compare({label: source})` replays recorded runs into one figure."""

    Run: type = object

    def __init__(self, runs: "Iterable[str]" = ("run",), **kwargs):
        self.labels = list(runs)
        if not self.labels:
            raise ValueError(f"{type(self).__name__} needs at least one run label")
        self.runs = {label: self.Run() for label in self.labels}
        self._label = self.labels[0]
        super().__init__(**kwargs)

    def feed(self, label: str):
        """A callback for run `label` (pass it to that run's `callbacks`)."""
        if label not in self.runs:
            raise KeyError(f"unknown run {label!r}; this view shows {self.labels}")

        def consume(event: Event) -> None:
            self._label = label
            self(event)
        consume.flush = self.flush
        return consume

    @classmethod
    def compare(cls, sources: "dict[str, str | os.PathLike | Iterable[Event]]", **kwargs):
        """One figure of several recorded runs, e.g. `compare({"SPOS": a, "FairNAS": b})`."""
        kwargs.setdefault("live", False)
        view = cls(runs=list(sources), **kwargs)
        for label, source in sources.items():
            replay(source, view.feed(label))
        view.finish()
        return view
