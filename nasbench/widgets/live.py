"""The machinery under every view: one small anywidget for the live figure, a static bundle for
the saved notebook.

- plotly.js once per page: in JupyterLab the views borrow the plotly.js of JupyterLab's plotly
  extension (which draws the static figures anyway, so the page holds one copy, not two);
  elsewhere (VS Code) from `PlotlyLoader`, one per kernel, which carries plotly.min.js gzipped
  (~1.5 MB instead of ~4.8 MB for every Plotly `FigureWidget`). It is sent either way: the
  browser cannot ask for it while a cell runs.
- `LiveFigure`: one per shown view, with the ES module in `static/view.js` (a few KB). Its
  state is two synced strings: a base figure (`_figure`) and the patch from that base to the
  current figure (`_patch`, the top-level keys of the traces and of the layout that changed:
  `diff`); a redraw sends only the new patch, and a patch grown bigger than its base becomes the
  new base. The browser draws base + patch, so it shows the current figure however many updates
  it missed: updates that arrive while the page is still loading the view's module, or while it
  loads plotly.js, are not lost (custom messages would be: nothing listens for them yet).
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
from _plotly_utils.utils import to_typed_array_spec
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
    """The figure as plain JSON-able data: the traces' numeric arrays as plotly's base64 typed
    arrays (`compact`), the layout as it is."""
    d = fig.to_dict()
    d["data"] = [compact(trace) for trace in d["data"]]
    # (not the dropdown menus' restyle values: Plotly.restyle reads a list of typed arrays as one
    # value for every trace, not one per trace)
    return d


MIN_TYPED = 8   # shorter numeric lists stay JSON lists


def compact(value):
    """`value` with every numeric list of at least MIN_TYPED numbers (or matrix of them, a
    heatmap's z) as plotly.js' typed-array spec {dtype, bdata, shape}: integers as int32, floats
    as float32 (7 significant digits, more than any view shows). One base64 string instead of a
    number per line keeps the saved notebook small (JupyterLab indents its JSON) and the updates
    short. Lists holding None (gaps), strings or booleans stay lists."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) >= MIN_TYPED or (value and isinstance(value[0], (list, tuple))
                                       and len(value) * len(value[0]) >= MIN_TYPED):
            array = _numeric(value)
            if array is not None:
                return to_typed_array_spec(array)
        return [compact(v) for v in value]
    return value


def _numeric(value) -> np.ndarray | None:
    if not isinstance(value[0], (int, float, list, tuple)) or isinstance(value[0], bool):
        return None
    try:
        array = np.asarray(value)
    except ValueError:            # ragged
        return None
    if array.ndim > 2 or array.dtype.kind not in "iuf":
        return None
    if array.dtype.kind in "iu":
        info = np.iinfo(np.int32)
        return array.astype(np.int32) if array.size == 0 or info.min <= array.min() and array.max() <= info.max \
            else array.astype(np.float64)
    if not np.isfinite(array).all():   # NaN / inf: left as JSON (null), as plotly reads them
        return None
    return array.astype(np.float32)


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
    """A figure in the browser, kept in step with a Python `go.Figure`: base + patch (see the
    module docstring)."""
    _esm = STATIC / "view.js"
    _loader = traitlets.Instance(PlotlyLoader).tag(sync=True, **widget_serialization)
    _key = traitlets.Unicode().tag(sync=True)
    _figure = traitlets.Unicode().tag(sync=True)   # the base figure
    _patch = traitlets.Unicode("").tag(sync=True)  # its diff to the current figure ("" if none)
    _seq = traitlets.Int(0).tag(sync=True)         # pushes so far (the browser redraws on it)

    def __init__(self, fig: go.Figure, **kwargs):
        self.base = figure_dict(fig)
        self.bytes = 0                        # what the updates weighed (JSON text; `_seq` counts them)
        super().__init__(_loader=loader(), _key=uuid.uuid4().hex, _figure=to_json_plotly(self.base),
                         **kwargs)

    def push(self, fig: go.Figure) -> None:
        """Send the current figure as a patch to the base (or as a new base, when the patch
        would be bigger than the base); nothing if it did not change since the last push."""
        new = figure_dict(fig)
        d = diff(self.base, new)
        patch = "" if d is None else to_json_plotly(d)
        if patch == self._patch:
            return
        with self.hold_sync():
            if len(patch) > len(self._figure):
                self.base = new
                self._figure = to_json_plotly(new)
                self._patch = ""
                self.bytes += len(self._figure)
            else:
                self._patch = patch
                self.bytes += len(patch)
            self._seq += 1


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
