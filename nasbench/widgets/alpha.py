"""AlphaEvolution: how a search's architecture distribution moves, from its `alpha` events.

One figure, three panels:

- left: for every decision (DARTS: every edge), its softmax(alpha) over steps as stacked areas,
  one stripe per op in the op's colour (the same colours as SupernetGraph), a stripe's thickness
  its probability. Each decision gets a band of its own, top to bottom in decision order;
- top right: the current decisions x ops table as a heatmap;
- bottom right: the collapse signals: the mean entropy of the distributions (nats; log #ops at a
  uniform start, 0 once every decision has settled); the share of alpha's weight on
  parameter-free ops (skip, pools), per cell when the decisions are named `cell:...` (DARTS'
  normal and reduction cells), a smooth early warning; and how many of the genotype's ops are
  parameter-free (DARTS' collapse shows as this count rising).

It works for any method that emits `alpha` (DARTS, ProxylessNAS, FBNet, GDAS, ENAS' controller).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nasbench.ops import PARAMETER_FREE
from nasbench.widgets.base import EventView, op_color

MAX_POINTS = 50    # per band sent to the browser; longer histories are averaged down
BAND = 0.9         # height of a decision's band (its probabilities stack up to 1)


def mean_entropy(probs) -> float:
    """Mean over decisions of -sum p log p (nats)."""
    return float(np.mean([-sum(p * np.log(p) for p in row if p > 0) for row in probs]))


def parameter_free_count(ops: list[str]) -> int:
    """Ops with no weights among the ones a genotype keeps (`none` marks an absent edge)."""
    return sum(op in PARAMETER_FREE for op in ops if op != "none")


def _json(a: np.ndarray) -> list:
    """A nested list with None for NaN: a live figure sends 2-D arrays as JSON, which has no
    NaN; plotly reads None as a gap."""
    return np.where(np.isnan(a), None, a).tolist()


def _average_down(x: np.ndarray, n: int) -> np.ndarray:
    """At most n rows of x (T, ...), each the mean of consecutive rows."""
    if len(x) <= n:
        return x
    k = int(np.ceil(len(x) / n))
    m = len(x) // k * k
    return x[:m].reshape(-1, k, *x.shape[1:]).mean(1)


class AlphaEvolution(EventView):
    """softmax(alpha) per decision over steps, the current table, entropy and parameter-free ops."""

    def __init__(self, **kwargs):
        self.decisions: list[str] = []
        self.options: list[list[str]] = []
        self.ops: list[str] = []                  # every option name, in first-seen order
        self.steps: list[int] = []                # of the alpha events
        self.history: list[np.ndarray] = []     # per alpha event: every decision's row, flattened
        self.entropy: list[float] = []            # per alpha event
        self.free_steps: list[int] = []           # of the genotype events
        self.free: list[int] = []                 # parameter-free ops in each genotype
        self.share: dict[str, list[float]] = {}   # per group of decisions: param-free weight
        self.genotype: list[int] | None = None
        super().__init__(**kwargs)

    def build(self):
        fig = make_subplots(
            rows=2, cols=2, column_widths=[0.58, 0.42], row_heights=[0.62, 0.38],
            specs=[[{"rowspan": 2}, {}], [None, {"secondary_y": True}]],
            horizontal_spacing=0.14, vertical_spacing=0.2,
            subplot_titles=("softmax(alpha) per decision over steps", "current softmax(alpha)",
                            "collapse signals"))
        fig.update_layout(height=460, margin=dict(l=10, r=10, t=50, b=30), plot_bgcolor="white",
                          legend=dict(orientation="h", y=-0.08), title="alpha")
        return self.new_figure(fig)

    # -- events -> state ---------------------------------------------------------------------
    def handle(self, event):
        kind = event["type"]
        if kind == "run_start":
            self._reset(event["space"])
            self._draw()
            return True
        if not self.decisions:
            return False
        if kind == "alpha":
            self.steps.append(event["step"])
            self.history.append(np.concatenate([np.asarray(row, dtype=float) for row in event["probs"]]))
            self.entropy.append(mean_entropy(event["probs"]))
            for group, rows in self.groups.items():  # mean over its decisions of sum p(free ops)
                self.share[group].append(float(np.mean([
                    self.history[-1][self.offsets[d]:self.offsets[d + 1]][self.free_mask[d]].sum()
                    for d in rows])))
            return True
        if kind == "genotype":
            self.genotype = event["choices"]
            self.free_steps.append(event["step"])
            self.free.append(parameter_free_count(
                [o[c] for o, c in zip(self.options, event["choices"])]))
            return True
        return False

    def _reset(self, space: dict):
        self.decisions, self.options = list(space["decisions"]), [list(o) for o in space["options"]]
        self.ops = list(dict.fromkeys(o for opts in self.options for o in opts))
        self.offsets = np.cumsum([0] + [len(o) for o in self.options])  # row d: offsets[d]:offsets[d+1]
        self.steps, self.history, self.entropy = [], [], []
        self.free_steps, self.free, self.genotype = [], [], None
        self.free_mask = [np.array([o in PARAMETER_FREE and o != "none" for o in opts]) for opts in self.options]
        self.groups = {}  # `normal:2<-0` -> group `normal`; names without a colon: one group
        for d, name in enumerate(self.decisions):
            self.groups.setdefault(name.split(":")[0] if ":" in name else "all", []).append(d)
        self.share = {group: [] for group in self.groups}

    def table(self) -> np.ndarray:
        """The latest probabilities as a decisions x ops array (NaN where a decision lacks an op)."""
        z = np.full((len(self.decisions), len(self.ops)), np.nan)
        if self.history:
            for d, opts in enumerate(self.options):
                for k, o in enumerate(opts):
                    z[d, self.ops.index(o)] = self.history[-1][self.offsets[d] + k]
        return z

    def bands(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per op, the (x, y) outline of its stripe in every decision's band: the band stacks the
        decision's softmax(alpha) bottom to top in option order, so a stripe's thickness is that
        op's probability. Closed polygons, NaN-separated (one trace per op, `fill="toself"`).
        1-D float arrays travel to a live figure as binary buffers, NaN and all."""
        steps = _average_down(np.asarray(self.steps, dtype=float), MAX_POINTS)
        history = (_average_down(np.stack(self.history), MAX_POINTS) if self.history
                   else np.zeros((0, self.offsets[-1])))  # (T, sum of #options)
        n, T = len(self.decisions), len(steps)
        x_band = np.concatenate([steps, steps[::-1], [np.nan]])                  # (2T + 1,)
        parts = {op: [] for op in self.ops}
        for d, opts in enumerate(self.options):
            probs = history[:, self.offsets[d]:self.offsets[d + 1]]            # (T, #options)
            top = (n - 1 - d) + BAND * np.cumsum(probs, axis=1)                  # stripe ceilings
            bottom = np.concatenate([np.full((T, 1), n - 1 - d), top[:, :-1]], axis=1)
            outline = np.concatenate([top, bottom[::-1], np.full((1, len(opts)), np.nan)])
            for op, y in zip(opts, outline.T):                                  # y: (2T + 1,)
                parts[op].append(y)
        return {op: (np.tile(x_band, len(ys)), np.concatenate(ys) if ys else np.array([]))
                for op, ys in parts.items()}

    # -- state -> figure ---------------------------------------------------------------------
    def _draw(self):
        """The traces for this space, once per run: a line per op, the heatmap, two curves."""
        fig, n = self.fig, len(self.decisions)
        fig.data = []
        for op in self.ops:
            fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name=op, fill="toself",
                                     fillcolor=op_color(op), line=dict(color=op_color(op), width=0.5),
                                     hoverinfo="skip"),
                          row=1, col=1)
        fig.add_trace(go.Heatmap(z=_json(self.table()), x=self.ops, y=self.decisions, zmin=0, zmax=1,
                                 colorscale="Blues", colorbar=dict(thickness=8, len=0.5, y=0.8),
                                 hovertemplate="%{y}<br>%{x}: %{z:.3f}<extra></extra>"), row=1, col=2)
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name="alpha entropy (nats)",
                                 line=dict(color="#444444")), row=2, col=2)
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines+markers", name="parameter-free ops in genotype",
                                 line=dict(color=op_color("skip_connect"), shape="hv")),
                      row=2, col=2, secondary_y=True)
        for k, group in enumerate(self.groups):
            fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name=f"param-free share of alpha ({group})",
                                     line=dict(color=op_color("skip_connect"), dash=["dot", "dash", "dashdot"][k % 3])),
                          row=2, col=2)
        self.heatmap, self.entropy_trace, self.free_trace = len(self.ops), len(self.ops) + 1, len(self.ops) + 2
        self.share_traces = list(range(len(self.ops) + 3, len(self.ops) + 3 + len(self.groups)))
        fig.update_yaxes(row=1, col=1, tickvals=[n - 1 - d + BAND / 2 for d in range(n)],
                         ticktext=self.decisions, range=[-0.2, n], showgrid=False, tickfont=dict(size=9))
        fig.update_xaxes(row=1, col=1, title_text="step")
        fig.update_yaxes(row=1, col=2, autorange="reversed", tickfont=dict(size=9), dtick=1)
        fig.update_xaxes(row=1, col=2, tickangle=45, tickfont=dict(size=9))
        fig.update_yaxes(row=2, col=2, title_text="entropy / share", rangemode="tozero")
        fig.update_yaxes(row=2, col=2, secondary_y=True, title_text="param-free", rangemode="tozero")
        fig.layout.height = max(460, 18 * n + 200)

    def render(self):
        """Two updates: the curves (and title) in one `plotly_update`, the heatmap in another
        (top-level keys only: plotly applies them without per-attribute validation)."""
        if not self.decisions:
            return
        fig = self.fig
        bands = list(self.bands().values())
        curves = [(self.steps, self.entropy), (self.free_steps, self.free)] + [
            (self.steps, self.share[group]) for group in self.groups]
        title = f"alpha at step {self.steps[-1] if self.steps else 0}"
        fig.plotly_update(  # float arrays: they travel as binary buffers
            restyle_data={"x": [x for x, _ in bands] + [np.array(x, float) for x, _ in curves],
                          "y": [y for _, y in bands] + [np.array(y, float) for _, y in curves]},
            relayout_data={"title": {"text": title}},
            trace_indexes=list(range(len(bands))) + [self.entropy_trace, self.free_trace, *self.share_traces])
        table = self.table()
        top = float(np.nanmax(table)) if np.isfinite(table).any() else 1.0
        fig.plotly_restyle({"z": [_json(table)], "zmax": top}, trace_indexes=[self.heatmap])
