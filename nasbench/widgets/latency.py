"""LatencyPanel: a hardware-aware search against its latency budget (ProxylessNAS, FBNet,
Single-Path NAS), from events only.

    expected latency   metric `expected_latency_ms` over steps, the target as a dashed line
                       (from `run_start.config.lut.target_ms`)
    loss terms         metrics `task_loss` and `latency_loss` (what the latency term adds)
    temperature        metric `temperature` (FBNet's Gumbel-softmax), where present
    norm vs threshold  the latest `<kind>_norm/L<k>` metrics per layer as bars and
                       `threshold<...>/L<k>` as markers (Single-Path NAS: a ring or channel group
                       is on when its norm exceeds its threshold)
    the LUT            layers x candidates heatmap (ms) of the table the run measured; it travels
                       in `run_start.config.lut` = {lut, options, base_ms, target_ms, ...}
                       (see `nasbench.evaluate.latency.LatencyTable.info`)

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
            self.latency = (event.get("config") or {}).get("lut") or {}
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


class LatencyPanel(SeveralRuns):
    """Expected latency vs target, loss terms, temperature, norms vs thresholds, and the LUT."""

    Run = _Run

    @staticmethod
    def shows(events) -> bool:
        """For the report: only runs with a latency model (a LUT in run_start or latency metrics)."""
        start = events[0] if events and events[0].get("type") == "run_start" else {}
        return "lut" in (start.get("config") or {}) or any(
            e.get("type") == "metric" and e.get("name") == "expected_latency_ms" for e in events)

    def build(self):
        fig = make_subplots(
            rows=2, cols=3, specs=[[{}, {}, {}], [{}, {"colspan": 2}, None]],
            subplot_titles=("expected latency (ms) vs target", "task loss and latency term",
                            "temperature (FBNet)", "norm vs threshold per layer (Single-Path NAS)", "latency table (ms)"),
            vertical_spacing=0.16, horizontal_spacing=0.08)
        fig.update_layout(height=560, margin=dict(l=50, r=10, t=50, b=30), legend=dict(orientation="h"))
        for col in (1, 2, 3):
            fig.update_xaxes(title_text="step", row=1, col=col)
        fig.add_trace(go.Heatmap(z=[[None]], meta="lut", colorscale="Viridis", texttemplate="%{text}",
                                 colorbar=dict(len=0.4, y=0.2), name="LUT"), row=2, col=2)
        return self.new_figure(fig)

    def handle(self, event: Event) -> bool:
        return self.runs[self._label].handle(event)

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
                self._set(f"{label}/lat", 1, 1, x, y, mode="lines", name=f"{tag}E[LAT]",
                          line=dict(color=color, width=2))
                target = run.latency.get("target_ms")
                if target is not None:
                    self._set(f"{label}/target", 1, 1, [x[0], x[-1]], [target, target], mode="lines",
                              name=f"{tag}target", line=dict(color=color, dash="dash", width=1))
            for name, dash in (("task_loss", "solid"), ("latency_loss", "dot")):
                steps, values = run.curves.get(name, ([], []))
                if steps:
                    x, y = downsample(steps, values)
                    self._set(f"{label}/{name}", 1, 2, x, y, mode="lines", name=f"{tag}{name}",
                              line=dict(color=color, dash=dash, width=1.5))
            steps, values = run.curves.get("temperature", ([], []))
            if steps:
                self._set(f"{label}/tau", 1, 3, steps, values, mode="lines+markers", name=f"{tag}temperature",
                          line=dict(color=color), marker=dict(size=4))
            for kind, layers in run.layers.items():
                xs = sorted(layers)
                ys = [layers[k] for k in xs]
                names = [f"L{k}" for k in xs]
                if kind.startswith("threshold"):
                    self._set(f"{label}/{kind}", 2, 1, names, ys, mode="markers", name=f"{tag}{kind}",
                              marker=dict(symbol="line-ew-open", size=16, color="black", line=dict(width=3)))
                else:
                    i = next((i for i, t in enumerate(self.fig.data) if t.meta == f"{label}/{kind}"), None)
                    if i is None:
                        self.fig.add_trace(go.Bar(meta=f"{label}/{kind}", name=f"{tag}{kind}", opacity=0.7),
                                           row=2, col=1)
                        i = len(self.fig.data) - 1
                    self.fig.data[i].x, self.fig.data[i].y = names, ys
        self._render_lut()

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
