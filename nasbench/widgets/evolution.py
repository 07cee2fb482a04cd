"""EvolutionPanel: the search after supernet training (SPOS), from `eval` events alone.

Left: every scored architecture as score against cost (`flops`, else `params`, else the order it
was scored in), coloured by generation; the Pareto front (no other architecture is both cheaper
and better) and the best so far (a star). Right: the best score so far and each generation's mean
over generations. `eval` events without a `generation` field (random search's candidates) count as
generation 0.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nasbench.widgets.base import EventView


def pareto_front(costs, scores) -> list[int]:
    """Indices of the non-dominated points (lower cost, higher score), ordered by cost."""
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -scores[i]))
    front, best = [], -np.inf
    for i in order:
        if scores[i] > best:
            front.append(i)
            best = scores[i]
    return front


class EvolutionPanel(EventView):
    """Score vs cost of each generation's population, the Pareto front and the best so far."""

    def __init__(self, **kwargs):
        self.archs: list[str] = []
        self.scores: list[float] = []
        self.costs: list[float] = []
        self.generations: list[int] = []
        self.cost_name = None
        self.metric = "score"
        super().__init__(**kwargs)

    def build(self):
        fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.1,
                            subplot_titles=("population: score vs cost", "by generation"))
        fig.add_trace(go.Scatter(x=[], y=[], mode="markers", name="scored", meta="population",
                                 marker=dict(size=7, color=[], colorscale="Viridis", showscale=True,
                                             colorbar=dict(title="generation", x=0.56, len=0.8)),
                                 hovertemplate="%{text}<br>cost %{x}<br>score %{y:.4f}<extra></extra>"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name="Pareto front", meta="front",
                                 line=dict(color="#d62728", shape="hv", width=2)), row=1, col=1)
        fig.add_trace(go.Scatter(x=[], y=[], mode="markers", name="best so far", meta="best",
                                 marker=dict(symbol="star", size=16, color="#ff7f0e",
                                             line=dict(color="black", width=1))), row=1, col=1)
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines+markers", name="best so far", meta="best_curve",
                                 line=dict(color="#ff7f0e", width=2), showlegend=False), row=1, col=2)
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines+markers", name="generation mean", meta="mean_curve",
                                 line=dict(color="#7f7f7f", width=1, dash="dot")), row=1, col=2)
        fig.update_xaxes(title_text="generation", dtick=1, row=1, col=2)
        fig.update_layout(height=380, margin=dict(l=40, r=10, t=60, b=40), legend=dict(orientation="h"),
                          title="evolutionary search")
        return self.new_figure(fig)

    def handle(self, event):
        if event["type"] != "eval":
            return False
        cost_name = "flops" if "flops" in event else "params" if "params" in event else None
        if self.cost_name is None and cost_name is not None and not self.scores:
            self.cost_name = cost_name
        self.metric = event["metric"]
        self.archs.append(event["arch"])
        self.scores.append(float(event["score"]))
        self.costs.append(float(event[self.cost_name]) if self.cost_name in event else float(len(self.costs)))
        self.generations.append(int(event.get("generation", 0)))
        return True

    def best(self) -> tuple[str, float] | None:
        """(arch, score) of the best architecture so far."""
        if not self.scores:
            return None
        i = int(np.argmax(self.scores))
        return self.archs[i], self.scores[i]

    def by_generation(self) -> tuple[list[int], list[float], list[float]]:
        """(generations, best score so far, mean score of the generation)."""
        gens = sorted(set(self.generations))
        scores, g = np.array(self.scores), np.array(self.generations)
        means = [float(scores[g == k].mean()) for k in gens]
        best = np.maximum.accumulate([float(scores[g == k].max()) for k in gens]).tolist() if gens else []
        return gens, best, means

    def render(self):
        d = {t.meta: t for t in self.fig.data}
        d["population"].x, d["population"].y = self.costs, self.scores
        d["population"].marker.color = self.generations
        d["population"].text = self.archs
        front = pareto_front(self.costs, self.scores)
        d["front"].x = [self.costs[i] for i in front]
        d["front"].y = [self.scores[i] for i in front]
        i = int(np.argmax(self.scores))
        d["best"].x, d["best"].y, d["best"].text = [self.costs[i]], [self.scores[i]], [self.archs[i]]
        gens, best, means = self.by_generation()
        d["best_curve"].x, d["best_curve"].y = gens, best
        d["mean_curve"].x, d["mean_curve"].y = gens, means
        self.fig.layout.xaxis.title.text = self.cost_name or "order scored"
        self.fig.layout.yaxis.title.text = self.metric
