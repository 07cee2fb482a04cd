"""SamplingFairness: how often each candidate block was trained, from `sample` events alone.

FairNAS's point in one picture. Expectation fairness (SPOS: uniform paths) trains every candidate
equally often *on average*; strict fairness (FairNAS) trains every candidate of a layer exactly as
often as the others after *every* step. Each heatmap cell is a (layer, choice): its colour is the
candidate's updates divided by its fair share (the layer's updates / its number of choices, so 1 is
fair), its text the count. The curve is the fairness gap over steps: the largest, over layers, of
(most updated candidate - least updated candidate). It stays 0 for FairNAS and grows like sqrt(steps)
for SPOS. Any method that emits `sample` events can be shown (SPOS, FairNAS, ENAS, random, ...), and
several runs side by side in one figure (`SamplingFairness.compare`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nasbench.events import Event
from nasbench.widgets.base import SeveralRuns
from nasbench.widgets.board import downsample

RUN_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


class _Run:
    """Counts of one run: updates per (decision, choice) and the gap after each step."""

    def __init__(self):
        self.decisions: list[str] = []
        self.options: list[list[str]] = []
        self.counts: list[list[int]] = []       # (decisions, choices)
        self.steps: list[int] = []
        self.gaps: list[int] = []
        self.method = None

    def start(self, event: Event) -> None:
        space = event.get("space") or {}
        self.method = event.get("method")
        self.decisions = list(space.get("decisions", []))
        self.options = [list(o) for o in space.get("options", [])]
        self.counts = [[0] * len(o) for o in self.options]
        self.steps, self.gaps = [], []

    def add(self, step: int, choices: Sequence[int]) -> None:
        for d, c in enumerate(choices):
            while d >= len(self.counts):        # no run_start (a synthetic stream): grow as needed
                self.counts.append([])
            row = self.counts[d]
            row.extend([0] * (c + 1 - len(row)))
            row[c] += 1
        gap = max((max(r) - min(r) for r in self.counts if r), default=0)
        if self.steps and self.steps[-1] == step:
            self.gaps[-1] = gap                 # several paths in one step (FairNAS): the last wins
        else:
            self.steps.append(step)
            self.gaps.append(gap)

    def matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(counts, counts / fair share), padded with NaN where a layer has fewer choices."""
        k = max((len(r) for r in self.counts), default=0)
        n = np.full((len(self.counts), k), np.nan)
        for d, row in enumerate(self.counts):
            n[d, : len(row)] = row
        share = np.nansum(n, axis=1, keepdims=True) / np.array([[max(len(r), 1)] for r in self.counts])
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(share > 0, n / share, np.nan)
        return n, ratio


class SamplingFairness(SeveralRuns):
    """Layers x choices heatmap of updates per candidate (one per run) and the fairness gap."""

    Run = _Run

    def __init__(self, runs: Sequence[str] = ("run",), *, purpose: str = "train", **kwargs):
        self.purpose = purpose                 # count `train` samples: the paths that were updated
        super().__init__(runs, **kwargs)

    # -- the view --------------------------------------------------------------------------------
    def build(self):
        n = len(self.labels)
        fig = make_subplots(rows=1, cols=n + 1, subplot_titles=[*self.labels, "fairness gap"],
                            column_widths=[1.0] * n + [1.2], horizontal_spacing=0.1)
        for col, label in enumerate(self.labels, start=1):
            fig.add_trace(go.Heatmap(z=[[None]], meta=f"heat/{label}", coloraxis="coloraxis",
                                     texttemplate="%{text}", name=label), row=1, col=col)
            fig.update_yaxes(autorange="reversed", dtick=1, tickfont=dict(size=10), row=1, col=col,
                             showticklabels=col == 1, matches="y" if col > 1 else None)
            fig.update_xaxes(tickangle=40, tickfont=dict(size=10), row=1, col=col)
        for i, label in enumerate(self.labels):
            fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name=label, meta=f"gap/{label}",
                                     line=dict(color=RUN_COLORS[i % len(RUN_COLORS)], width=2)),
                          row=1, col=n + 1)
        fig.update_xaxes(title_text="step", row=1, col=n + 1)
        fig.update_yaxes(title_text="most - least updated", rangemode="tozero", row=1, col=n + 1)
        fig.update_layout(height=380, margin=dict(l=10, r=80, t=70, b=10), plot_bgcolor="white",
                          legend=dict(yanchor="top", y=0.99, xanchor="left", bgcolor="rgba(255,255,255,0.8)",
                                      x=fig.layout[f"xaxis{n + 1}"].domain[0] + 0.01),  # in the gap panel
                          coloraxis=dict(colorscale="RdBu_r", cmid=1.0, cmin=0.5, cmax=1.5,
                                         colorbar=dict(title=dict(text="x fair<br>share", side="top"),
                                                       x=1.0, xanchor="left", xpad=8, thickness=10,
                                                       len=0.9)),
                          title=dict(text="sampling fairness: updates per candidate", x=0, xanchor="left"))
        return self.new_figure(fig)

    def handle(self, event):
        run = self.runs[self._label]
        if event["type"] == "run_start":
            run.start(event)
            return True
        if event["type"] == "sample" and event.get("purpose", "train") == self.purpose:
            run.add(event["step"], event["choices"])
            return True
        return False

    def gap(self, label: str | None = None) -> int:
        """The current fairness gap of run `label` (the first run by default)."""
        gaps = self.runs[label or self.labels[0]].gaps
        return gaps[-1] if gaps else 0

    def render(self):
        index = {t.meta: i for i, t in enumerate(self.fig.data)}
        for label, run in self.runs.items():
            counts, ratio = run.matrix()
            if counts.size:
                heat = self.fig.data[index[f"heat/{label}"]]
                k = counts.shape[1]
                same = run.options and all(o == run.options[0] for o in run.options) and len(run.options[0]) == k
                names = run.options[0] if same else [f"choice {j}" for j in range(k)]
                rows = run.decisions if len(run.decisions) == len(counts) else [f"layer {d}" for d in range(len(counts))]
                heat.z = [[None if np.isnan(v) else float(v) for v in row] for row in ratio]  # JSON: no NaN
                heat.x, heat.y = names, rows
                heat.text = [["" if np.isnan(v) else str(int(v)) for v in row] for row in counts]
                heat.hovertemplate = "%{y} / %{x}: %{text} updates (%{z:.2f} x fair share)<extra></extra>"
                heat.textfont = dict(size=9 if len(counts) > 12 else 11)
                self.fig.layout.height = max(380, 19 * len(counts) + 190)
            x, y = downsample(run.steps, run.gaps)
            gap = self.fig.data[index[f"gap/{label}"]]
            gap.x, gap.y = x, y
            if run.method:
                gap.name = f"{label} ({run.method})" if run.method != label else label
