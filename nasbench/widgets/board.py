"""TrainingBoard: the live progress board of any run (loss and accuracy per phase, and metrics)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nasbench.widgets.base import EventView

MAX_POINTS = 1500  # per curve sent to the browser; longer curves are averaged down
PHASE_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def downsample(x, y, n: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most `n` points, each the mean of a run of consecutive points."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) <= n:
        return x, y
    k = int(np.ceil(len(x) / n))
    m = len(x) // k * k
    return x[:m].reshape(-1, k).mean(1), y[:m].reshape(-1, k).mean(1)


def smooth(y, beta: float = 0.9) -> np.ndarray:
    """Bias-corrected exponential moving average (as in Adam): the trend under noisy steps."""
    out, avg = np.empty(len(y)), 0.0
    for i, v in enumerate(y):
        avg = beta * avg + (1 - beta) * v
        out[i] = avg / (1 - beta ** (i + 1))
    return out


class TrainingBoard(EventView):
    """Loss and accuracy of every phase over steps (faint: each step; bold: moving average),
    and every `metric` event's curve."""

    def __init__(self, **kwargs):
        self.curves = defaultdict(lambda: {"step": [], "loss": [], "acc_step": [], "acc": []})
        self.metrics = defaultdict(lambda: {"step": [], "value": []})
        self.title = "training"
        super().__init__(**kwargs)

    def build(self, metrics: list[str] = ()):
        """Loss and accuracy across the whole height; each metric in a panel (an axis) of its own
        on the right, since metrics have unrelated scales (drop rate, Kendall tau, temperature).
        The legend (the phases) sits under the step axes."""
        self.shown_metrics = list(metrics)
        rows = max(1, len(metrics))
        plot = max(230, 105 * rows)
        fig = make_subplots(rows=rows, cols=3, specs=[[{"rowspan": rows}, {"rowspan": rows}, {}]]
                            + [[None, None, {}] for _ in range(rows - 1)],
                            subplot_titles=["loss", "accuracy", *(metrics or ["metrics"])],
                            horizontal_spacing=0.08, vertical_spacing=min(0.12, 45 / plot))
        fig.update_layout(height=plot + 130, margin=dict(l=40, r=10, t=60, b=70), plot_bgcolor="white",
                          legend=dict(orientation="h", yanchor="top", y=-50 / plot, x=0))
        fig.update_xaxes(showgrid=True, gridcolor="#eeeeee", zeroline=False)
        fig.update_yaxes(showgrid=True, gridcolor="#eeeeee", zeroline=False)
        fig.update_xaxes(title_text="step", title_standoff=2, row=1, col=1)
        fig.update_xaxes(title_text="step", title_standoff=2, row=1, col=2)
        fig.update_xaxes(title_text="step", title_standoff=2, row=rows, col=3)
        for r in range(1, rows):
            fig.update_xaxes(showticklabels=False, row=r, col=3)
        fig = self.new_figure(fig)
        if hasattr(self, "fig"):
            fig.layout.title = self.fig.layout.title
        return fig

    def handle(self, event):
        kind = event["type"]
        if kind == "run_start":
            self.title = f"{event['method']} on {event['dataset']} (seed {event['seed']})"
            return True
        if kind == "step":
            c = self.curves[event["phase"]]
            c["step"].append(event["step"])
            c["loss"].append(event["loss"])
            if "acc" in event:
                c["acc_step"].append(event["step"])
                c["acc"].append(event["acc"])
            return True
        if kind == "metric":
            m = self.metrics[event["name"]]
            m["step"].append(event["step"])
            m["value"].append(event["value"])
            return True
        return False

    def _trace(self, key, col, row=1, **style):
        """Index of the trace `key` (created on first use, so redraws only move data)."""
        for i, t in enumerate(self.fig.data):
            if t.meta == key:
                return i
        self.fig.add_trace(go.Scatter(meta=key, **style), row=row, col=col)
        return len(self.fig.data) - 1

    def _set(self, key, col, x, y, row=1, **style):
        i = self._trace(key, col, row, **style)
        self.fig.data[i].x, self.fig.data[i].y = x, y

    def render(self):
        if list(self.metrics) != self.shown_metrics:   # a new metric: a panel of its own
            self.fig = self.build(list(self.metrics))
        self.fig.layout.title = self.title
        for n, (phase, c) in enumerate(self.curves.items()):
            color = PHASE_COLORS[n % len(PHASE_COLORS)]
            for col, xs, ys, label in ((1, c["step"], c["loss"], "loss"), (2, c["acc_step"], c["acc"], "acc")):
                if not xs:
                    continue
                x, y = downsample(xs, ys)
                self._set(f"{phase}/{label}/raw", col, x, y, mode="lines", opacity=0.25, hoverinfo="skip",
                          line=dict(color=color, width=1), showlegend=False, legendgroup=phase)
                self._set(f"{phase}/{label}", col, x, smooth(y), mode="lines", name=f"{phase} phase",
                          line=dict(color=color, width=2), showlegend=label == "loss", legendgroup=phase)
        for n, (name, m) in enumerate(self.metrics.items()):
            x, y = downsample(m["step"], m["value"])
            self._set(f"metric/{name}", 3, x, y, row=n + 1, mode="lines+markers", name=name,
                      marker=dict(size=4), showlegend=False,
                      line=dict(color=PHASE_COLORS[(n + 2) % len(PHASE_COLORS)]))
