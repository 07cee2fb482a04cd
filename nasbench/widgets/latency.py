"""LatencyPanel: a hardware-aware search against its latency budget (ProxylessNAS, FBNet,
Single-Path NAS), from events only.

    expected latency   metric `expected_latency_ms` over steps; LAT_ref as a dashed line where
                       the loss has one (`run_start.config.lut.target_ms`: ProxylessNAS's
                       reference, which scales the latency term; no loss here stops at it)
    loss terms         metrics `task_loss` and `latency_loss` (what the latency term adds)
    temperature        metric `temperature` (FBNet's Gumbel-softmax)
    norm vs threshold  the latest `<kind>_norm/L<k>` metrics per layer as bars and
                       `threshold<...>/L<k>` as markers (Single-Path NAS: a ring or channel group
                       is on when its norm exceeds its threshold)
    the LUT            layers x candidates heatmap (ms) of the run's table; it travels in
                       `run_start.config.lut` (Single-Path NAS: `config.latency`) = {lut, options,
                       base_ms, target_ms, device, ...} (`nasbench.evaluate.latency.LatencyTable.info`)

The temperature and the norm panels appear only once a run logs their metrics, so a ProxylessNAS
run shows three panels, FBNet four with the temperature, Single-Path NAS four with the norms.

Several runs side by side (two budgets): `LatencyPanel(runs=["tight", "loose"])` and pass
`view.feed("tight")` to that run's callbacks, or `LatencyPanel.compare({...})` on recorded runs.
"""
from __future__ import annotations

import re
from collections import defaultdict

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nasbench.events import Event
from nasbench.widgets.base import SeveralRuns
from nasbench.widgets.board import downsample

RUN_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
_LAYER = re.compile(r"^(?P<kind>[^/]+)/L(?P<layer>\d+)$")


class _Run:
    def __init__(self):
        self.curves = defaultdict(lambda: ([], []))  # metric name -> (steps, values)
        self.layers: dict[str, dict[int, float]] = defaultdict(dict)  # kind -> layer -> latest
        self.latency: dict = {}

    def handle(self, event: Event) -> bool:
        if event["type"] == "run_start":
            self.__init__()
            config = event.get("config") or {}
            self.latency = config.get("lut") or config.get("latency") or {}  # Single-Path: "latency"
            return True
        if event["type"] != "metric":
            return False
        name, value = event["name"], event["value"]
        per_layer = _LAYER.match(name)
        if per_layer:
            self.layers[per_layer["kind"]][int(per_layer["layer"])] = value
        else:
            steps, values = self.curves[name]
            steps.append(event["step"])
            values.append(value)
        return True


# The panels beside the expected latency and the loss terms, each shown only once a run fills it:
# (key, title, the metrics that fill it)
EXTRA_PANELS = (("tau", "Gumbel temperature τ", lambda run: "temperature" in run.curves),
                ("norms", "norm vs threshold", lambda run: bool(run.layers)))


class LatencyPanel(SeveralRuns):
    """Expected latency (and LAT_ref where the loss has one), loss terms, the LUT; the Gumbel
    temperature and the norms vs thresholds only for the runs that log them."""

    Run = _Run

    @staticmethod
    def shows(events) -> bool:
        """For the report: only runs with a latency model (a LUT in run_start or latency metrics)."""
        start = events[0] if events and events[0].get("type") == "run_start" else {}
        config = start.get("config") or {}
        return "lut" in config or "latency" in config or any(
            e.get("type") == "metric" and e.get("name") == "expected_latency_ms" for e in events)

    def panels(self) -> list[str]:
        """The panels of row 1, in order: "lat", "loss", then the extras some run fills."""
        return ["lat", "loss"] + [key for key, _, filled in EXTRA_PANELS
                                  if any(filled(run) for run in getattr(self, "runs", {}).values())]

    def build(self):
        self._panels = self.panels()
        return self.new_figure(self._layout(self._panels))

    def _layout(self, panels: list[str]) -> go.Figure:
        titles = {"lat": "E[LAT] (ms)", "loss": "task loss, latency term",
                  **{key: title for key, title, _ in EXTRA_PANELS}}
        n = len(panels)
        fig = make_subplots(rows=2, cols=n, specs=[[{}] * n, [{"colspan": n}] + [None] * (n - 1)],
                            subplot_titles=[titles[p] for p in panels] + ["latency table (ms)"],
                            vertical_spacing=0.2, horizontal_spacing=0.1, row_heights=[0.55, 0.45])
        fig.update_layout(height=600, margin=dict(l=60, r=20, t=50, b=40),
                          legend=dict(orientation="h", y=-0.08))
        for col, panel in enumerate(panels, 1):
            fig.update_xaxes(title_text="layer" if panel == "norms" else "step", row=1, col=col)
        fig.update_xaxes(tickangle=-20, automargin=True, row=2, col=1)
        fig.update_yaxes(automargin=True)
        fig.add_trace(go.Heatmap(z=[[None]], meta="lut", colorscale="Viridis", texttemplate="%{text}",
                                 colorbar=dict(len=0.4, y=0.2), name="LUT"), row=2, col=1)
        return fig

    def _relayout(self) -> None:
        """A run filled a panel not yet shown: lay the figure out again with it (the traces are
        drawn anew from the runs' state by the next `render`)."""
        fresh = self._layout(self._panels)
        self.fig.data = []
        self.fig.layout = fresh.layout
        self.fig._grid_ref, self.fig._grid_str = fresh._grid_ref, fresh._grid_str
        self.fig.add_trace(fresh.data[0], row=2, col=1)

    def handle(self, event: Event) -> bool:
        changed = self.runs[self._label].handle(event)
        if changed and self.panels() != self._panels:
            self._panels = self.panels()
            self._relayout()
        return changed

    # -- what the notebook reads ---------------------------------------------------------------
    def latest(self, name: str, label: str | None = None) -> float | None:
        steps, values = self.runs[label or self.labels[0]].curves.get(name, ([], []))
        return values[-1] if values else None

    # -- drawing -------------------------------------------------------------------------------
    def _trace(self, key, row, col, **style):
        for i, t in enumerate(self.fig.data):
            if t.meta == key:
                return i
        self.fig.add_trace(go.Scatter(meta=key, **style), row=row, col=col)
        return len(self.fig.data) - 1

    def _set(self, key, row, col, x, y, **style):
        i = self._trace(key, row, col, **style)
        self.fig.data[i].x, self.fig.data[i].y = list(x), list(y)

    def render(self):
        many = len(self.labels) > 1
        for n, (label, run) in enumerate(self.runs.items()):
            color = RUN_COLORS[n % len(RUN_COLORS)]
            tag = f"{label}: " if many else ""
            steps, values = run.curves.get("expected_latency_ms", ([], []))
            if steps:
                x, y = downsample(steps, values)
                self._set(f"{label}/lat", 1, self._col("lat"), x, y, mode="lines", name=f"{tag}E[LAT]",
                          line=dict(color=color, width=2))
                target = run.latency.get("target_ms")
                if target is not None:
                    self._set(f"{label}/target", 1, self._col("lat"), [x[0], x[-1]], [target, target], mode="lines",
                              name=f"{tag}LAT_ref", line=dict(color=color, dash="dash", width=1))
            for name, dash in (("task_loss", "solid"), ("latency_loss", "dot")):
                steps, values = run.curves.get(name, ([], []))
                if steps:
                    x, y = downsample(steps, values)
                    self._set(f"{label}/{name}", 1, self._col("loss"), x, y, mode="lines", name=f"{tag}{name}",
                              line=dict(color=color, dash=dash, width=1.5))
            steps, values = run.curves.get("temperature", ([], []))
            if steps and "tau" in self._panels:
                self._set(f"{label}/tau", 1, self._col("tau"), steps, values, mode="lines+markers", name=f"{tag}temperature",
                          line=dict(color=color), marker=dict(size=4))
            for kind, layers in (run.layers.items() if "norms" in self._panels else ()):
                xs = sorted(layers)
                ys = [layers[k] for k in xs]
                names = [f"L{k}" for k in xs]
                if kind.startswith("threshold"):
                    self._set(f"{label}/{kind}", 1, self._col("norms"), names, ys, mode="markers", name=f"{tag}{kind}",
                              marker=dict(symbol="line-ew-open", size=16, color="black", line=dict(width=3)))
                else:
                    i = next((i for i, t in enumerate(self.fig.data) if t.meta == f"{label}/{kind}"), None)
                    if i is None:
                        self.fig.add_trace(go.Bar(meta=f"{label}/{kind}", name=f"{tag}{kind}", opacity=0.7),
                                           row=1, col=self._col("norms"))
                        i = len(self.fig.data) - 1
                    self.fig.data[i].x, self.fig.data[i].y = names, ys
        self._render_lut()

    def _col(self, panel: str) -> int:
        return self._panels.index(panel) + 1

    def _render_lut(self):
        info = next((r.latency for r in self.runs.values() if r.latency.get("lut")), None)
        if not info:
            return
        lut, options = info["lut"], info.get("options") or [[str(k) for k in range(len(r))] for r in info["lut"]]
        columns: list[str] = []
        for opts in options:
            columns += [o for o in opts if o not in columns]
        z = [[row[opts.index(c)] if c in opts else None for c in columns] for row, opts in zip(lut, options)]
        heat = next(t for t in self.fig.data if t.meta == "lut")
        heat.z, heat.x, heat.y = z, columns, [f"layer{d}" for d in range(len(lut))]
        heat.text = [["" if v is None else f"{v:.2f}" for v in row] for row in z]
        heat.hovertemplate = "%{y} %{x}: %{z:.3f} ms<extra></extra>"
