"""TrainingBoard: the live progress board of any run (loss and accuracy per phase, and metrics)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nasbench.widgets.base import EventView

MAX_POINTS = 1500  # per curve sent to the browser; longer curves are averaged down


def downsample(x: list[float], y: list[float], n: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most `n` points, each the mean of a run of consecutive points."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) <= n:
        return x, y
    k = int(np.ceil(len(x) / n))
    m = len(x) // k * k
    return x[:m].reshape(-1, k).mean(1), y[:m].reshape(-1, k).mean(1)


class TrainingBoard(EventView):
    """Loss (left) and accuracy (right) of every phase over steps; `metric` events below."""

    def __init__(self, **kwargs):
        self.curves = defaultdict(lambda: {"step": [], "loss": [], "acc_step": [], "acc": []})
        self.metrics = defaultdict(lambda: {"step": [], "value": []})
        self.title = "training"
        super().__init__(**kwargs)

    def build(self):
        fig = make_subplots(rows=1, cols=3, subplot_titles=("loss", "accuracy", "metrics"))
        fig.update_layout(height=300, margin=dict(l=40, r=10, t=40, b=30), legend=dict(orientation="h"))
        return self.new_figure(fig)

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

    def _trace(self, name, col, x, y, color=None):
        """Index of the trace `name` in column `col`, created on first use."""
        for i, t in enumerate(self.fig.data):
            if t.name == name and t.meta == col:
                return i
        self.fig.add_trace(go.Scatter(name=name, meta=col, mode="lines", x=x, y=y,
                                      line=dict(color=color) if color else None), row=1, col=col)
        return len(self.fig.data) - 1

    def render(self):
        self.fig.layout.title = self.title
        for phase, c in self.curves.items():
            for col, xs, ys in ((1, c["step"], c["loss"]), (2, c["acc_step"], c["acc"])):
                if xs:
                    x, y = downsample(xs, ys)
                    i = self._trace(f"{phase}", col, x, y)
                    self.fig.data[i].x, self.fig.data[i].y = x, y
        for name, m in self.metrics.items():
            x, y = downsample(m["step"], m["value"])
            i = self._trace(name, 3, x, y)
            self.fig.data[i].x, self.fig.data[i].y = x, y
