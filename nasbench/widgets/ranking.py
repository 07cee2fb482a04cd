"""KLRanking: does the search's cheap score rank architectures like stand-alone training does?

One point per evaluated architecture: its stand-alone accuracy (the `truth` of its `eval` event,
from a ground-truth table) across, its one-shot score up. One trace per score: each `metric` the
method logs (one-shot accuracy, ...) and, where `eval` events carry `kl`, the symmetric KL to the
full model (Bender et al.; plotted as is, ranked as -KL since closer to the full model should mean
better). A dropdown switches between them; the title gives the running Kendall tau of the shown
score with the truth and its bootstrap interval, next to the ground truth's own ceiling (the tau of
one stand-alone seed against the other seeds' mean, `Table.ceiling`, when a shipped table covers
the run's space and data). Hover shows the architecture. Works with any method's `eval` events;
architectures without `truth` are counted but cannot be placed.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from nasbench.evaluate.ranking import bootstrap, kendall_tau
from nasbench.widgets.base import EventView

KL = "kl"


def _ceiling(start: dict) -> float | None:
    """The ceiling of the shipped table that is the ground truth of this run, if any."""
    from nasbench.bench import find_table
    table = find_table((start.get("space") or {}).get("name", ""), (start.get("config") or {}).get("data") or {})
    return table.ceiling()["tau_seed_vs_rest"] if table is not None else None


class KLRanking(EventView):
    """Scatter of one-shot score (or KL) against stand-alone accuracy, with the running Kendall tau.

    `metric`: the score shown first: "score" (the first metric the run logs), "kl", or a metric
    name such as "valid_acc_oneshot". `n_boot`: bootstrap resamples for the interval. `label`:
    the title's start (default: the method and space of the run)."""

    def __init__(self, metric: str = "score", n_boot: int = 200, label: str | None = None,
                 ceiling: float | None = None, **kwargs):
        self.metric = metric
        self.fixed_ceiling = ceiling      # else read from the run's ground-truth table
        self.ceiling = ceiling
        self.n_boot = n_boot
        self.label = label
        self.series: dict[str, dict[str, tuple[float, float]]] = {}   # name -> arch -> (score, truth)
        self.without_truth = 0
        self.title = "ranking"
        super().__init__(**kwargs)

    def build(self):
        fig = go.Figure()
        fig.update_layout(height=380, margin=dict(l=50, r=10, t=60, b=40),
                          xaxis_title="stand-alone accuracy (truth)", yaxis_title="one-shot score",
                          showlegend=False)
        return self.new_figure(fig)

    def handle(self, event):
        kind = event["type"]
        if kind == "run_start":
            self.title = self.label or f"{event['method']} on {event['space'].get('name', '?')}"
            self.series.clear()
            self.without_truth = 0
            self.ceiling = self.fixed_ceiling if self.fixed_ceiling is not None else _ceiling(event)
            return True
        if kind != "eval":
            return False
        if "truth" not in event:
            self.without_truth += 1
            return False
        arch, truth = event["arch"], float(event["truth"])
        self.series.setdefault(event["metric"], {})[arch] = (float(event["score"]), truth)
        if "kl" in event:
            self.series.setdefault(KL, {})[arch] = (float(event["kl"]), truth)
        return True

    # -- what is shown ------------------------------------------------------------------------
    def names(self) -> list[str]:
        """The scores that can be shown: the run's metrics in order of appearance, then KL."""
        return [n for n in self.series if n != KL] + ([KL] if KL in self.series else [])

    def shown(self) -> str | None:
        names = self.names()
        if not names:
            return None
        if self.metric in names:
            return self.metric
        return names[0] if self.metric != KL or KL not in names else KL

    def tau(self, name: str):
        """Kendall tau of score `name` with the truth, and its bootstrap interval (an Estimate);
        KL is ranked as -KL (low KL = predicted good)."""
        points = list(self.series.get(name, {}).values())
        if len(points) < 2:
            return None
        score, truth = map(np.array, zip(*points))
        return bootstrap(kendall_tau, -score if name == KL else score, truth, n_boot=self.n_boot)

    def _label(self, name: str) -> str:
        est = self.tau(name)
        what = "-KL" if name == KL else name
        n = len(self.series.get(name, {}))
        if est is None or not np.isfinite(est.value):
            return f"{self.title}: {what} vs truth ({n} architectures)"
        ceiling = f"; ceiling {self.ceiling:.2f}" if self.ceiling is not None else ""
        return (f"{self.title}: Kendall tau({what}, truth) = {est.value:.3f} "
                f"[{est.low:.3f}, {est.high:.3f}] over {n} architectures{ceiling}")

    def render(self):
        names = self.names()
        shown = self.shown()
        while len(self.fig.data) < len(names):   # one trace per score, created on first use
            self.fig.add_trace(go.Scatter(mode="markers", marker=dict(size=7, opacity=0.75),
                                          hovertemplate="%{text}<br>truth %{x:.4f}<br>score %{y:.4f}<extra></extra>"))
        buttons = []
        for i, name in enumerate(names):
            archs = list(self.series[name])
            score, truth = zip(*self.series[name].values())
            trace = self.fig.data[i]
            trace.update(x=list(truth), y=list(score), text=archs, name=name, visible=name == shown)
            visible = [j == i for j in range(len(names))]
            axis = "symmetric KL to the full model" if name == KL else name
            buttons.append(dict(label="KL" if name == KL else name, method="update",
                                args=[{"visible": visible}, {"title.text": self._label(name), "yaxis.title.text": axis}]))
        note = f" ({self.without_truth} evaluations without truth)" if self.without_truth else ""
        if shown is None:
            self.fig.layout.title.text = f"{self.title}: no evaluation with a ground truth yet{note}"
            return
        self.fig.layout.title.text = self._label(shown) + note
        self.fig.layout.yaxis.title.text = "symmetric KL to the full model" if shown == KL else shown
        self.fig.layout.updatemenus = [dict(buttons=buttons, active=names.index(shown), x=1.0, y=1.15,
                                            xanchor="right", yanchor="top", direction="down")]
