"""AlphaEvolution: how a search's architecture distribution moves, from its `alpha` events.

Made to be read at the paper's scale (DARTS' 28 edges x 8 ops, a 19-layer MobileNetV2 chain):

- top left, every decision at a glance: a decisions x steps heatmap of the *leading* op, in the
  op's colour (the same colours as SupernetGraph), pale while it leads narrowly, full once its
  probability nears 1. An edge turning into a skip connection shows as its row turning purple;
- top right, the current decisions x ops table of softmax(alpha), sharing the decisions' axis;
- bottom left, one decision in full: its softmax(alpha) over steps as stacked areas. The picker
  (a dropdown) chooses the decision; until one is picked it follows the decision with the most
  weight on parameter-free ops, the one collapsing first;
- bottom right, the collapse signals, each on its own axis: the mean entropy of the distributions
  (nats; log #ops at a uniform start, 0 once every decision has settled), and the share of
  alpha's weight on parameter-free ops (per cell when decisions are named `cell:...`: DARTS'
  normal and reduction cells) with the count of parameter-free ops in the genotype (DARTS'
  collapse shows as this count rising). `skip_connect` on a stride-2 edge (the space's graph
  says which) is not parameter-free: DARTS builds it as a FactorizedReduce.

It works for any method that emits `alpha` (DARTS, ProxylessNAS, FBNet, GDAS, ENAS' controller).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nasbench.ops import PARAMETER_FREE
from nasbench.widgets.base import EventView, op_color

MAX_POINTS = 50    # steps per decision sent to the browser; longer histories are averaged down


def mean_entropy(probs) -> float:
    """Mean over decisions of -sum p log p (nats)."""
    return float(np.mean([-sum(p * np.log(p) for p in row if p > 0) for row in probs]))


def free_masks(space: dict) -> list[np.ndarray]:
    """Per decision, which of its options have no weights: the parameter-free ops but `none`
    (an absent edge), except `skip_connect` on an edge of stride 2 (the space's graph says so),
    which DARTS builds as a FactorizedReduce: two 1x1 convolutions."""
    strided = {e.get("decision") for e in (space.get("graph") or {}).get("edges", []) if e.get("stride", 1) > 1}
    return [np.array([o in PARAMETER_FREE and o != "none" and not (o == "skip_connect" and d in strided)
                      for o in opts], dtype=bool) for d, opts in enumerate(space["options"])]


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
        fig = go.Figure(layout=dict(height=300, title="alpha (waiting for run_start)", plot_bgcolor="white",
                                    xaxis=dict(visible=False), yaxis=dict(visible=False)))
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
            self.free.append(int(sum(self.free_mask[d][c] for d, c in enumerate(event["choices"]))))
            return True
        return False

    def _reset(self, space: dict):
        self.decisions, self.options = list(space["decisions"]), [list(o) for o in space["options"]]
        self.ops = list(dict.fromkeys(o for opts in self.options for o in opts))
        self.offsets = np.cumsum([0] + [len(o) for o in self.options])  # row d: offsets[d]:offsets[d+1]
        self.steps, self.history, self.entropy = [], [], []
        self.free_steps, self.free, self.genotype = [], [], None
        self.free_mask = free_masks(space)
        self.groups = {}  # `normal:2<-0` -> group `normal`; names without a colon: one group
        for d, name in enumerate(self.decisions):
            self.groups.setdefault(name.split(":")[0] if ":" in name else "all", []).append(d)
        self.share = {group: [] for group in self.groups}

    def finish(self) -> None:
        self._dirty = bool(self.decisions)   # the final figure carries every decision's areas
        super().finish()

    def table(self) -> np.ndarray:
        """The latest probabilities as a decisions x ops array (NaN where a decision lacks an op)."""
        z = np.full((len(self.decisions), len(self.ops)), np.nan)
        if self.history:
            for d, opts in enumerate(self.options):
                for k, o in enumerate(opts):
                    z[d, self.ops.index(o)] = self.history[-1][self.offsets[d] + k]
        return z

    def series(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, history) averaged down to at most MAX_POINTS rows: (T,), (T, sum of #options)."""
        steps = _average_down(np.asarray(self.steps, dtype=float), MAX_POINTS)
        history = (_average_down(np.stack(self.history), MAX_POINTS) if self.history
                   else np.zeros((0, self.offsets[-1])))
        return steps, history

    def leading(self) -> tuple[np.ndarray, np.ndarray]:
        """Per decision and (averaged) step, the leading op's index into `self.ops` and its
        probability: two (decisions, T) arrays."""
        _, history = self.series()
        index = np.zeros((len(self.decisions), len(history)), dtype=int)
        prob = np.zeros(index.shape)
        for d, opts in enumerate(self.options):
            probs = history[:, self.offsets[d]:self.offsets[d + 1]]              # (T, #options)
            k = probs.argmax(1) if len(probs) else np.zeros(0, int)
            index[d] = [self.ops.index(opts[j]) for j in k]
            prob[d] = probs[np.arange(len(k)), k]
        return index, prob

    def collapsing(self) -> int:
        """The decision with the most weight on parameter-free ops now (the picker's default)."""
        if not self.history:
            return 0
        last = self.history[-1]
        return int(np.argmax([last[self.offsets[d]:self.offsets[d + 1]][self.free_mask[d]].sum()
                              for d in range(len(self.decisions))]))

    def _areas(self, d: int, history: np.ndarray, digits: int | None = None) -> dict[str, list]:
        """Decision d's stacked areas as restyle values for the K area traces (an op per trace;
        traces beyond its options empty): y, name, colours."""
        opts, K = self.options[d], len(self.area_traces)
        ys = [history[:, self.offsets[d] + j].astype(np.float32) for j in range(len(opts))]
        if digits is not None:   # a picker button: short JSON lists
            ys = [[round(float(v), digits) for v in y] for y in ys]
        pad = K - len(opts)
        colors = [op_color(o) for o in opts] + ["#ffffff"] * pad
        return {"y": ys + [[]] * pad, "name": list(opts) + [""] * pad, "fillcolor": colors,
                "line.color": colors}

    # -- state -> figure ---------------------------------------------------------------------
    def _colorscale(self) -> list:
        """z = op index + shade in [0, 1): each op's band runs from a pale to its full colour."""
        K, scale = len(self.ops), []
        for k, op in enumerate(self.ops):
            scale += [[k / K, _pale(op_color(op))], [(k + 0.999) / K, op_color(op)]]
        scale[-1][0] = 1.0
        return scale

    def _draw(self):
        """The figure for this space, once per run: the heatmaps, one stacked-area trace per
        (decision, op) (only the picked decision's visible), the collapse curves, the picker."""
        n = len(self.decisions)
        top, low, gap, mid = max(150, 17 * n), 170, 130, 70   # px: rows, the gaps between them
        plot = top + gap + 2 * low + mid                        # the plotting area's height
        fig = make_subplots(
            rows=3, cols=2, column_widths=[0.64, 0.36],
            specs=[[{}, {}], [{"rowspan": 2}, {}], [None, {"secondary_y": True}]],
            horizontal_spacing=0.09,
            subplot_titles=("leading op per decision over steps (pale: it leads narrowly)",
                            "softmax(alpha) now", "softmax(alpha) over steps of the decision picked here",
                            "mean entropy of alpha (nats)", "parameter-free ops"))
        # the rows' heights in px: domains [bottom, top] as fractions of the plotting area
        domains = {(1, 1): (plot - top, plot), (1, 2): (plot - top, plot), (2, 1): (0, 2 * low + mid),
                   (2, 2): (low + mid, 2 * low + mid), (3, 2): (0, low)}
        for (r, c), (y0, y1) in domains.items():
            fig.update_yaxes(domain=[y0 / plot, y1 / plot], row=r, col=c)
        for ann, (r, c) in zip(fig.layout.annotations, [(1, 1), (1, 2), (2, 1), (2, 2), (3, 2)]):
            ann.update(y=domains[(r, c)][1] / plot, yanchor="bottom")
        fig.add_trace(go.Heatmap(z=[[None]], colorscale=self._colorscale(), zmin=0, zmax=len(self.ops),
                                 showscale=False, xgap=0, ygap=1,
                                 hovertemplate="%{y}, step %{x}: %{text}<extra></extra>"), row=1, col=1)
        fig.add_trace(go.Heatmap(z=[[None]], x=self.ops, y=self.decisions, zmin=0, zmax=1,
                                 colorscale="Blues", ygap=1,
                                 colorbar=dict(thickness=10, len=top / plot, lenmode="fraction", x=1.0,
                                               xanchor="left", xpad=6, yanchor="top", y=1.0,
                                               title=dict(text="p", side="top")),
                                 hovertemplate="%{y}<br>%{x}: %{z:.3f}<extra></extra>"), row=1, col=2)
        self.heatmap = 1
        K = max(len(o) for o in self.options)
        self.area_traces = list(range(len(fig.data), len(fig.data) + K))   # the shown decision's ops
        for j in range(K):
            fig.add_trace(go.Scatter(x=[], y=[], mode="lines", stackgroup="shown", showlegend=False,
                                     line=dict(width=0.5), hoverinfo="x+y+name"), row=2, col=1)
        self.entropy_trace = len(fig.data)
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name="mean entropy", showlegend=False,
                                 line=dict(color="#444444")), row=2, col=2)
        self.share_traces = []
        for k, group in enumerate(self.groups):
            self.share_traces.append(len(fig.data))
            fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name=f"share of alpha ({group})",
                                     line=dict(color=op_color("skip_connect"),
                                               dash=["solid", "dash", "dot"][k % 3])), row=3, col=2)
        self.free_trace = len(fig.data)
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines+markers", name="in the genotype (right axis)",
                                 line=dict(color="#d62728", shape="hv"), marker=dict(size=5)),
                      row=3, col=2, secondary_y=True)
        for op in self.ops:                                     # the ops' colours, once
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=op, legendgroup=op,
                                     marker=dict(size=11, symbol="square", color=op_color(op))))
        margin = dict(l=10, r=60, t=90, b=110)                  # b: the step axis, then the legend
        fig.update_layout(
            height=plot + margin["t"] + margin["b"], plot_bgcolor="white", margin=margin,
            title=dict(text="alpha", x=0, xanchor="left"), hovermode="closest",
            legend=dict(orientation="h", yanchor="top", y=-60 / plot, x=0, font=dict(size=11)))
        self._picker_y = (2 * low + mid + 34) / plot
        fig.layout.annotations[2].update(x=0.15, xanchor="left", y=(2 * low + mid + 38) / plot,
                                         yanchor="bottom", font=dict(size=13))
        fig.update_yaxes(row=1, col=1, autorange="reversed", tickfont=dict(size=10), automargin=True)
        fig.update_yaxes(row=1, col=2, autorange="reversed", showticklabels=False, matches="y")
        fig.update_xaxes(row=1, col=1, title_text="step", title_standoff=4)
        fig.update_xaxes(row=1, col=2, tickangle=35, tickfont=dict(size=10), side="bottom")
        fig.update_xaxes(row=2, col=1, title_text="step")
        fig.update_yaxes(row=2, col=1, title_text="softmax(alpha)", range=[0, 1])
        fig.update_yaxes(row=2, col=2, rangemode="tozero")
        fig.update_xaxes(row=3, col=2, title_text="step")
        fig.update_yaxes(row=3, col=2, secondary_y=False, title_text="share of alpha", range=[0, 1])
        fig.update_yaxes(row=3, col=2, secondary_y=True, title_text="ops in genotype", rangemode="tozero",
                         showgrid=False)
        self.fig = self.new_figure(fig)

    def render(self):
        if not self.decisions:
            return
        fig = self.fig
        steps, history = self.series()
        x = steps.astype(np.float32)
        index, prob = self.leading()
        K = np.array([len(o) for o in self.options], dtype=float)[:, None]
        shade = np.clip((prob - 1 / K) / np.maximum(1 - 1 / K, 1e-9), 0, 0.999)
        lead = fig.data[0]
        lead.z, lead.x, lead.y = (index + shade).astype(np.float32), x, self.decisions
        lead.text = [[f"{self.ops[k]} {p:.2f}" for k, p in zip(ks, ps)] for ks, ps in zip(index, prob)]
        table = self.table()
        fig.data[self.heatmap].z = _json(table)
        picked = self.collapsing()
        for key, values in self._areas(picked, history).items():
            for i, v in zip(self.area_traces, values):
                fig.data[i][key] = v
        for i in self.area_traces:
            fig.data[i].x = x
        fig.layout.annotations[2].text = ("softmax(alpha) over steps of the decision picked here "
                                          f"(until picked: the most parameter-free, {self.decisions[picked]})")
        if self.finished:   # the picker: every decision's areas, in the final figure only
            fig.layout.updatemenus = [dict(
                buttons=[dict(label=name, method="restyle", args=[self._areas(d, history, 2), self.area_traces])
                         for d, name in enumerate(self.decisions)],
                direction="down", x=0, xanchor="left", y=self._picker_y, yanchor="bottom", active=picked,
                font=dict(size=11), pad=dict(t=0, b=0, l=0, r=0))]
        elif fig.layout.updatemenus:
            fig.layout.updatemenus = []
        fig.data[self.entropy_trace].update(x=np.array(self.steps, float), y=np.array(self.entropy, float))
        for group, i in zip(self.groups, self.share_traces):
            fig.data[i].update(x=np.array(self.steps, float), y=np.array(self.share[group], float))
        fig.data[self.free_trace].update(x=np.array(self.free_steps, float), y=np.array(self.free, float))
        fig.layout.title.text = f"alpha at step {self.steps[-1]}" if self.steps else "alpha (no alpha event yet)"


def _pale(color: str, keep: float = 0.25) -> str:
    """`color` mixed with white (keep of the colour)."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(255 - keep * (255 - v)):02x}" for v in (r, g, b))
