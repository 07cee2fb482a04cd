"""The machinery under every view: one small anywidget for the live figure, a static bundle for
the saved notebook.

- `PlotlyLoader`: one per kernel, carries plotly.min.js gzipped (~1.5 MB instead of ~4.8 MB for
  every Plotly `FigureWidget`). The browser evaluates it once per page, or uses the page's
  `window.Plotly` when JupyterLab's plotly extension already loaded one.
- `LiveFigure`: one per shown view, with the ES module in `static/view.js` (a few KB). It gets
  the figure once when first shown, then only diffs: the top-level keys of the traces and of the
  layout that changed since the last redraw (`diff`).
- `static_bundle(fig)`: what a finished view leaves in the notebook: plotly's own MIME type
  (JupyterLab's plotly extension and VS Code draw it without a kernel, offline; JupyterLab adds a
  PNG snapshot to the output, which nbviewer and GitHub show).
"""
from __future__ import annotations

import gzip
import json
import uuid
from functools import lru_cache
from pathlib import Path

import anywidget
import numpy as np
import plotly
import plotly.graph_objects as go
import traitlets
from ipywidgets import widget_serialization
from plotly.io.json import to_json_plotly

STATIC = Path(__file__).parent / "static"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@lru_cache(maxsize=1)
def plotly_bundle() -> bytes:
    """plotly.min.js (the version plotly.py ships), gzipped."""
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return gzip.compress(path.read_bytes(), 6)


class PlotlyLoader(anywidget.AnyWidget):
    """plotly.js for the page, sent once per kernel (never displayed itself)."""
    _esm = "export default {};"
    bundle = traitlets.Bytes().tag(sync=True)


_loader: PlotlyLoader | None = None


def loader() -> PlotlyLoader:
    global _loader
    if _loader is None:
        _loader = PlotlyLoader(bundle=plotly_bundle())
    return _loader


def figure_dict(fig: go.Figure) -> dict:
    """The figure as plain JSON-able data (numpy arrays as plotly's base64 typed arrays)."""
    return fig.to_dict()


def diff(old: dict, new: dict) -> dict | None:
    """What changed from figure `old` to figure `new` (both `figure_dict`s), None if nothing:
    {n, new: {i: trace}, traces: {i: {key: value or None}}, layout: {key: value or None}}."""
    out = {"n": len(new["data"]), "new": {}, "traces": {}, "layout": _keys(old["layout"], new["layout"])}
    for i, trace in enumerate(new["data"]):
        if i >= len(old["data"]) or old["data"][i].get("type") != trace.get("type"):
            out["new"][i] = trace
        elif changed := _keys(old["data"][i], trace):
            out["traces"][i] = changed
    if out["n"] == len(old["data"]) and not (out["new"] or out["traces"] or out["layout"]):
        return None
    return out


def _same(a, b) -> bool:
    """Equality that also holds for the numpy arrays plotly leaves in (empty ones, ...)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype \
            and np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _keys(old: dict, new: dict) -> dict:
    changed = {k: v for k, v in new.items() if k not in old or not _same(old[k], v)}
    changed.update({k: None for k in old if k not in new})
    return changed


class LiveFigure(anywidget.AnyWidget):
    """A figure in the browser, kept in step with a Python `go.Figure` by diffs."""
    _esm = STATIC / "view.js"
    _loader = traitlets.Instance(PlotlyLoader).tag(sync=True, **widget_serialization)
    _key = traitlets.Unicode().tag(sync=True)
    _figure = traitlets.Unicode().tag(sync=True)   # the figure when the widget was made

    def __init__(self, fig: go.Figure, **kwargs):
        self.sent = figure_dict(fig)
        self.messages = 0                     # diffs sent
        self.bytes = 0                        # their size (JSON text)
        super().__init__(_loader=loader(), _key=uuid.uuid4().hex, _figure=to_json_plotly(self.sent),
                         **kwargs)

    def push(self, fig: go.Figure) -> None:
        """Send what changed since the last push (nothing if nothing did)."""
        new = figure_dict(fig)
        d = diff(self.sent, new)
        self.sent = new
        if d is not None:
            text = to_json_plotly(d)
            self.send({"diff": text})
            self.messages += 1
            self.bytes += len(text)


def static_bundle(fig: go.Figure, text: str = "") -> dict:
    """A finished figure as the notebook keeps it: plotly's MIME type (JupyterLab's plotly
    extension and VS Code draw it without a kernel; JupyterLab also stores a PNG snapshot next to
    it, which nbviewer and GitHub show) and a line of text. No HTML copy of the figure: it would
    double the saved notebook."""
    data = figure_dict(fig)
    data["layout"]["template"] = _template()
    return {PLOTLY_MIME: json.loads(to_json_plotly(data)), "text/plain": text or "<figure>"}


@lru_cache(maxsize=1)
def _template() -> dict:
    """The layout template every static figure uses: plotly's default, only the layout part
    (the per-trace defaults are plotly.js' own)."""
    import plotly.io as pio
    template = pio.templates[pio.templates.default].to_plotly_json()
    return {"layout": template.get("layout", {})}


def widget_bundle(widget: LiveFigure, text: str = "") -> dict:
    return {WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id},
            "text/plain": text or "<live figure>"}


def _plain_figures_without_the_bundle() -> None:
    """Plain `go.Figure`s shown in a notebook: plotly's default there ("plotly_mimetype+notebook")
    sends the whole plotly.js (~4.8 MB) into the page once more as HTML; the connected variant
    keeps the MIME output (drawn by JupyterLab's plotly extension) and only points nbviewer's
    HTML at the CDN."""
    import plotly.io as pio
    names = (pio.renderers.default or "").split("+")
    if "notebook" in names:
        pio.renderers.default = "+".join("notebook_connected" if n == "notebook" else n for n in names)


_plain_figures_without_the_bundle()
