"""ControllerPanel: an RL controller learning (ENAS), from its `metric` and `alpha` events.

Three panels, x = controller update (one per `step` event of phase `controller`):

- reward and baseline: REINFORCE pushes up the children whose reward beats the baseline; the
  gap between the curves is the advantage;
- entropy of the policy (nats, summed over decisions): it falls as the controller commits;
- per decision, the probability of its most likely option over updates (a heatmap, rows =
  decisions): a row turning dark is a decision the controller has made up its mind about;
  hover names the option.

Events only, so it works live, replayed and in the HTML report.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nasbench.widgets.base import EventView

MAX_COLUMNS = 60   # heatmap columns sent to the browser; longer histories keep every k-th


class ControllerPanel(EventView):
    """Reward vs baseline, entropy, and each decision's top probability over controller updates."""

    def __init__(self, **kwargs):
        self.decisions: list[str] = []
        self.options: list[list[str]] = []
        self.curves: dict[str, list[float]] = {}
        self.top: list[list[float]] = []       # per alpha event: each decision's top probability
        self.top_option: list[list[str]] = []
        super().__init__(**kwargs)

    @staticmethod
    def shows(events) -> bool:
        """For the report: only runs with a controller (they log `reward`)."""
        return any(e.get("type") == "metric" and e.get("name") == "reward" for e in events)

    def build(self):
        fig = make_subplots(rows=2, cols=2, specs=[[{}, {"rowspan": 2}], [{}, None]],
                            column_widths=[0.45, 0.55], vertical_spacing=0.16, horizontal_spacing=0.16,
                            subplot_titles=("reward and baseline", "top probability per decision",
                                            "policy entropy (nats)"))
        for name, color, dash in (("reward", "#1f77b4", "solid"), ("baseline", "#d62728", "dash")):
            fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name=name,
                                     line=dict(color=color, dash=dash)), row=1, col=1)
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name="entropy", line=dict(color="#444444")),
                      row=2, col=1)
        fig.add_trace(go.Heatmap(z=[[]], zmin=0, zmax=1, colorscale="Blues", colorbar=dict(thickness=8),
                                 hovertemplate="%{y}, update %{x}<br>%{text}: %{z:.3f}<extra></extra>"),
                      row=1, col=2)
        fig.update_xaxes(title_text="controller update", row=2, col=1)
        fig.update_xaxes(title_text="controller update", row=1, col=2)
        fig.update_yaxes(autorange="reversed", tickfont=dict(size=8), row=1, col=2)
        # title, then the legend, then the panels' titles: each on its own line
        fig.update_layout(height=470, margin=dict(l=10, r=10, t=95, b=30), plot_bgcolor="white",
                          legend=dict(orientation="h", x=0, y=1.09, yanchor="bottom"),
                          title=dict(text="controller", y=0.985, yanchor="top"))
        return self.new_figure(fig)

    def handle(self, event):
        kind = event["type"]
        if kind == "run_start":
            self.decisions = list(event["space"]["decisions"])
            self.options = [list(o) for o in event["space"]["options"]]
            self.curves = {"reward": [], "baseline": [], "advantage": [], "entropy": []}
            self.top, self.top_option = [], []
            return True
        if kind == "metric" and event["name"] in self.curves:
            self.curves[event["name"]].append(float(event["value"]))
            return True
        if kind == "alpha" and self.decisions:
            rows = event["probs"]
            self.top.append([float(max(r)) for r in rows])
            self.top_option.append([o[int(np.argmax(r))] for o, r in zip(self.options, rows)])
            return True
        return False

    def render(self):
        fig = self.fig
        for i, name in enumerate(("reward", "baseline", "entropy")):
            y = self.curves.get(name, [])
            fig.data[i].x, fig.data[i].y = list(range(1, len(y) + 1)), y
        if self.top:
            keep = list(range(0, len(self.top), int(np.ceil(len(self.top) / MAX_COLUMNS))))
            if keep[-1] != len(self.top) - 1:
                keep.append(len(self.top) - 1)
            z = np.array([self.top[t] for t in keep]).T                       # (decisions, T)
            text = [[self.top_option[t][d] for t in keep] for d in range(len(self.decisions))]
            fig.data[3].update(z=z.tolist(), x=[t + 1 for t in keep], y=self.decisions, text=text)
        n = len(self.curves.get("reward", []))
        last = (f": reward {self.curves['reward'][-1]:.3f}, baseline {self.curves['baseline'][-1]:.3f}"
                if n and self.curves["baseline"] else "")   # live: a redraw may fall between the two
        fig.layout.title.text = f"controller after {n} updates{last}"
