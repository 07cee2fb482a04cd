"""CollapseView: the DARTS collapse by its own signal (Zela et al., ICLR 2020), from events only.

    dominant eigenvalue   metric `hessian_eigenvalue` over steps: the largest eigenvalue of the
                          Hessian of L_val w.r.t. alpha; it grows as alpha settles in a sharp
                          minimum, where keeping only the strongest op hurts most
    parameter-free share  metric `parameter_free_share` over steps: the share of the genotype's
                          ops (`none` left out) that are skips or pools, what the collapse ends in
    DARTS-ES              metric `early_stop` (its value: the step whose architecture the search
                          returns) as a marker on both curves and a dotted line

Several runs side by side (DARTS, DARTS-, DARTS-ES; or seeds): `CollapseView(runs=["darts",
"darts-minus"])` and pass `view.feed("darts")` to that run's callbacks, or
`CollapseView.compare({...})` on recorded runs. DARTS logs these metrics with `hessian_every`.
"""
from __future__ import annotations

from collections import defaultdict

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nasbench.events import Event
from nasbench.widgets.base import SeveralRuns
from nasbench.widgets.latency import RUN_COLORS

CURVES = {"hessian_eigenvalue": 1, "parameter_free_share": 2}   # metric -> column


class _Run:
    def __init__(self):
        self.curves = defaultdict(lambda: ([], []))   # metric name -> (steps, values)
        self.stop: int | None = None                  # DARTS-ES: the step it returns

    def handle(self, event: Event) -> bool:
        if event["type"] == "run_start":
            self.__init__()
            return True
        if event["type"] != "metric":
            return False
        if event["name"] == "early_stop":
            self.stop = int(event["value"])
            return True
        if event["name"] in CURVES:
            steps, values = self.curves[event["name"]]
            steps.append(event["step"])
            values.append(float(event["value"]))
            return True
        return False

    def at_stop(self, name: str) -> float | None:
        """The metric's value at the DARTS-ES step (its last value at or before it)."""
        steps, values = self.curves.get(name, ([], []))
        before = [v for s, v in zip(steps, values) if s <= self.stop]
        return before[-1] if before else None


class CollapseView(SeveralRuns):
    """Dominant Hessian eigenvalue beside the genotype's parameter-free share, DARTS-ES marked."""

    Run = _Run

    @staticmethod
    def shows(events) -> bool:
        """Only runs that measured the eigenvalue."""
        return any(e.get("type") == "metric" and e.get("name") == "hessian_eigenvalue" for e in events)

    def build(self):
        fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                            subplot_titles=("dominant eigenvalue of the Hessian of L_val w.r.t. alpha",
                                            "parameter-free share of the genotype"))
        for col in (1, 2):
            fig.update_xaxes(title_text="step", row=1, col=col)
        fig.update_yaxes(range=[-0.02, 1.02], row=1, col=2)
        fig.update_layout(height=380, margin=dict(l=50, r=10, t=95, b=40),
                          legend=dict(orientation="h", x=0, y=1.12, yanchor="bottom"),
                          title=dict(text="collapse", y=0.985, yanchor="top"))
        return self.new_figure(fig)

    def handle(self, event: Event) -> bool:
        return self.runs[self._label].handle(event)

    def _set(self, key, col, x, y, **style):
        i = next((i for i, t in enumerate(self.fig.data) if t.meta == key), None)
        if i is None:
            self.fig.add_trace(go.Scatter(meta=key, **style), row=1, col=col)
            i = len(self.fig.data) - 1
        self.fig.data[i].x, self.fig.data[i].y = list(x), list(y)

    def render(self):
        many = len(self.labels) > 1
        notes = []
        for n, (label, run) in enumerate(self.runs.items()):
            color = RUN_COLORS[n % len(RUN_COLORS)]
            tag = f"{label}: " if many else ""
            for name, col in CURVES.items():
                steps, values = run.curves.get(name, ([], []))
                if steps:
                    self._set(f"{label}/{name}", col, steps, values, mode="lines+markers",
                              name=f"{tag}{name.replace('_', ' ')}", line=dict(color=color),
                              marker=dict(size=4), legendgroup=label, showlegend=col == 1 or not many)
            if run.stop is not None:
                for name, col in CURVES.items():
                    y = run.at_stop(name)
                    if y is None:
                        continue
                    self._set(f"{label}/stop/{name}", col, [run.stop], [y], mode="markers",
                              name=f"{tag}DARTS-ES stop (step {run.stop})", legendgroup=label,
                              showlegend=col == 1,
                              marker=dict(symbol="x", size=12, color=color, line=dict(width=2)))
                    top = max(run.curves[name][1]) if col == 1 else 1.0
                    bottom = min(0.0, min(run.curves[name][1])) if col == 1 else 0.0
                    self._set(f"{label}/stopline/{name}", col, [run.stop, run.stop], [bottom, top],
                              mode="lines", showlegend=False, hoverinfo="skip",
                              line=dict(color=color, dash="dot", width=1))
            steps, values = run.curves.get("hessian_eigenvalue", ([], []))
            if values:
                share = run.curves.get("parameter_free_share", ([], []))[1]
                notes.append(f"{tag}eigenvalue {values[-1]:.3g}"
                             + (f", parameter-free {share[-1]:.0%}" if share else "")
                             + (f", DARTS-ES stop at step {run.stop}" if run.stop is not None else ""))
        self.fig.layout.title.text = "collapse" + (": " + "; ".join(notes) if notes else "")
