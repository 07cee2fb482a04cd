"""The base of every live view: consume events, keep state in Python, redraw at a bounded rate.

A view is a callable that takes events, so the same object works as a callback of a running search
(`Search(..., callbacks=[view])`), on a recorded log (`View.from_events("runs/x/events.jsonl")`),
and on a synthetic stream in a unit test. It never reaches into a model.

Each event updates the view's Python-side state at once (`handle`); the figure is redrawn
(`render`) at most once per `min_interval` seconds whatever the step rate, and once more at
`run_end` / `flush()`, so a fast search does not flood the browser with messages. `renders`
counts the redraws that were sent.

Live in a notebook the figure is a Plotly `FigureWidget` (one per view, updated in place inside
`batch_update`, so each redraw is one message); headless it is a plain `go.Figure`, which is also
what the static HTML report is made of.
"""
from __future__ import annotations

import hashlib
import os
import time
from typing import Callable, Iterable

import plotly.graph_objects as go

from nasbench.events import Event, replay

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


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where FigureWidgets can be shown)."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class EventView:
    """Base class: subclasses write `build()` (make `self.fig` once), `handle(event)` (update
    state) and `render()` (copy state into `self.fig`)."""

    min_interval: float = 0.25        # seconds between redraws: at most 4 a second

    def __init__(self, *, live: bool | None = None, min_interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.live = in_notebook() if live is None else live
        if min_interval is not None:
            self.min_interval = min_interval
        self.clock = clock
        self.renders = 0
        self.events_seen = 0
        self._dirty = False
        self._last_render = -float("inf")
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
        """A FigureWidget when live, else a Figure (from `figure` if given)."""
        figure = figure if figure is not None else go.Figure()
        if layout:
            figure.update_layout(**layout)
        return go.FigureWidget(figure) if self.live else figure

    def __call__(self, event: Event) -> None:
        self.events_seen += 1
        if self.handle(event):
            self._dirty = True
        if event.get("type") == "run_end":
            self.flush()
        elif self._dirty and self.clock() - self._last_render >= self.min_interval:
            self._redraw()

    def flush(self) -> None:
        """Redraw now if anything changed since the last redraw."""
        if self._dirty:
            self._redraw()

    def _redraw(self) -> None:
        with self.fig.batch_update():
            self.render()
        self.renders += 1
        self._dirty = False
        self._last_render = self.clock()

    @classmethod
    def from_events(cls, source: "str | os.PathLike | Iterable[Event]", **kwargs) -> "EventView":
        """A view of a recorded run (a path to events.jsonl, or a list of events)."""
        kwargs.setdefault("live", False)
        view = cls(**kwargs)
        replay(source, view)
        return view

    def to_html(self, include_plotlyjs: bool | str = "cdn") -> str:
        """The view as an HTML fragment (for `nasbench report`)."""
        return go.Figure(self.fig).to_html(full_html=False, include_plotlyjs=include_plotlyjs)

    def _repr_mimebundle_(self, **kwargs):
        return self.fig._repr_mimebundle_(**kwargs)
