"""MemoryBankView: a SMASH architecture's reads and writes across memory banks (the paper's
Fig. 2), redrawn as the sampler draws, and the norms of the hypernet's generated weights per op.

Left: one panel per block. Rows are banks (the block's input fills the shaded first ones);
each op is a column, in order: a blue dot where it reads a bank, an orange triangle where it
writes (adds to) one, a grey line spanning them. It shows the latest `sample` event (the
architecture of the current batch) and, once the search has returned one, the `genotype`.
Right: the norm of each op's generated 1x1 weight before weight normalisation (`metric` events
named `wnorm/b0.op1`), op slots x steps: do some ops get much larger weights than others, and
do the norms settle as the hypernet trains?

Everything comes from events: the space's decision names and options in `run_start` say which
decision is which bank's read / write (`b0.op1.read3`), so the view never touches a model.
"""
from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nasbench.widgets.base import EventView

READ, WRITE, LINE, GRID = "#1f77b4", "#ff7f0e", "#9e9e9e", "#e0e0e0"
_NAME = re.compile(r"^b(\d+)\.op(\d+)\.(convs|width|read(\d+)|write(\d+))$")


def ops_of(decisions, options, choices) -> list[list[dict]]:
    """Per block, the present ops as {reads, writes, width, pattern}, read from decision names."""
    ops: dict[tuple[int, int], dict] = defaultdict(lambda: {"reads": [], "writes": [], "pattern": "absent", "width": "-"})
    for name, opts, c in zip(decisions, options, choices):
        m = _NAME.match(name)
        if not m:
            continue
        key, field = (int(m.group(1)), int(m.group(2))), m.group(3)
        value = opts[c]
        if field == "convs":
            ops[key]["pattern"] = value
        elif field == "width":
            ops[key]["width"] = value
        elif value == "on":
            ops[key]["reads" if field.startswith("read") else "writes"].append(int(m.group(4) or m.group(5)))
    blocks = max((b for b, _ in ops), default=-1) + 1
    return [[dict(ops[(b, j)], op=j) for b_, j in sorted(ops) if b_ == b and ops[(b, j)]["pattern"] != "absent"]
            for b in range(blocks)]


class MemoryBankView(EventView):
    """Reads and writes of the sampled architecture across banks; generated weight norms per op."""

    def __init__(self, **kwargs):
        self.decisions: list[str] = []
        self.options: list[list[str]] = []
        self.banks: list[int] = []
        self.in_banks: list[int] = []
        self.choices: list[int] | None = None
        self.what = ""                           # "sampled at step 12" / "returned"
        self.samples = 0
        self.norms: dict[str, dict[int, float]] = {}   # op slot -> step -> norm
        super().__init__(**kwargs)

    @classmethod
    def of(cls, space, choices, label: str = "drawn by hand", **kwargs) -> "MemoryBankView":
        """The view of one architecture of a memory-bank space (no run needed)."""
        from nasbench.events import make_event
        kwargs.setdefault("live", False)
        view = cls(**kwargs)
        view(make_event("run_start", 0.0, method="-", dataset="-", seed=0, config={}, space=space.describe()))
        view(make_event("genotype", 0.0, step=0, arch=space.encode(choices), choices=list(choices)))
        view.what, view._dirty = label, True
        view.flush()
        return view

    @staticmethod
    def shows(events) -> bool:
        """Only runs on a memory-bank space (for the report)."""
        start = events[0] if events and events[0].get("type") == "run_start" else {}
        return "smash" in (start.get("space") or {})

    def build(self):
        fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.1,
                            subplot_titles=("reads and writes across memory banks",
                                            "generated 1x1 weight norm per op"))
        for name, color, symbol in (("read", READ, "circle"), ("write", WRITE, "triangle-right")):
            fig.add_trace(go.Scatter(x=[], y=[], mode="markers", name=name, hovertext=[], hoverinfo="text",
                                     marker=dict(color=color, symbol=symbol, size=9)), row=1, col=1)
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines", line=dict(color=LINE, width=1), hoverinfo="skip",
                                 showlegend=False), row=1, col=1)
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines", line=dict(color=GRID, width=1), hoverinfo="skip",
                                 showlegend=False), row=1, col=1)
        fig.add_trace(go.Scatter(x=[], y=[], mode="markers", name="block input", hoverinfo="skip",
                                 marker=dict(color="#bdbdbd", symbol="square", size=9)), row=1, col=1)
        fig.add_trace(go.Heatmap(z=[], x=[], y=[], colorscale="Viridis", colorbar=dict(thickness=8, x=1.02),
                                 hovertemplate="%{y} at step %{x}: %{z:.3f}<extra></extra>"), row=1, col=2)
        fig.update_xaxes(row=1, col=1, title_text="ops of each block, in order", showgrid=False, zeroline=False)
        fig.update_yaxes(row=1, col=1, title_text="bank", showgrid=False, zeroline=False)
        fig.update_xaxes(row=1, col=2, title_text="step")
        fig.update_layout(height=460, margin=dict(l=10, r=10, t=80, b=40), plot_bgcolor="white",
                          legend=dict(orientation="h", y=-0.15),
                          title=dict(text="memory banks", y=0.98, yanchor="top"))
        return self.new_figure(fig)

    # -- events -> state ---------------------------------------------------------------------
    def handle(self, event):
        kind = event["type"]
        if kind == "run_start":
            space = event.get("space") or {}
            self.decisions, self.options = list(space.get("decisions", [])), space.get("options", [])
            sizes = space.get("smash") or {}
            self.banks, self.in_banks = list(sizes.get("banks", [])), list(sizes.get("in_banks", []))
            self.choices, self.samples, self.norms, self.what = None, 0, {}, ""
            return True
        if kind == "sample" and self.decisions:
            self.samples += 1
            self.choices, self.what = event["choices"], f"sample {self.samples}, step {event['step']}"
            return True
        if kind == "genotype" and self.decisions:
            self.choices, self.what = event["choices"], "returned by the search"
            return True
        if kind == "metric" and event["name"].startswith("wnorm/"):
            self.norms.setdefault(event["name"][len("wnorm/"):], {})[event["step"]] = float(event["value"])
            return True
        return False

    def layout(self):
        """Marker positions of the current architecture: x = column, y = bank."""
        reads, writes, lines, hover_r, hover_w = [], [], [], [], []
        grid, inputs, x0 = [], [], 0
        for b, ops in enumerate(ops_of(self.decisions, self.options, self.choices) if self.choices else []):
            n_cols = len(ops) + 1
            for m in range(self.banks[b] if b < len(self.banks) else 0):
                grid += [(x0 - 0.4, m), (x0 + n_cols - 0.6, m), (None, None)]
                if m < self.in_banks[b]:
                    inputs.append((x0, m))
            for k, op in enumerate(ops):
                x = x0 + k + 1
                label = f"b{b}.op{op['op']}: G={op['width']}, convs {op['pattern']}"
                reads += [(x - 0.12, m) for m in op["reads"]]
                hover_r += [f"{label}<br>reads bank {m}" for m in op["reads"]]
                writes += [(x + 0.12, m) for m in op["writes"]]
                hover_w += [f"{label}<br>writes bank {m}" for m in op["writes"]]
                span = op["reads"] + op["writes"]
                lines += [(x, min(span)), (x, max(span)), (None, None)]
            x0 += n_cols + 1
        return reads, writes, lines, grid, inputs, hover_r, hover_w

    def norm_table(self):
        """(op slots, steps, norms) with NaN where the slot's op was absent."""
        slots = sorted(self.norms, key=lambda s: tuple(int(t) for t in re.findall(r"\d+", s)))
        steps = sorted({t for v in self.norms.values() for t in v})
        z = [[self.norms[s].get(t) for t in steps] for s in slots]
        return slots, steps, z

    def render(self):
        reads, writes, lines, grid, inputs, hover_r, hover_w = self.layout()
        xy = lambda pts: ([p[0] for p in pts], [p[1] for p in pts])
        for i, (pts, hover) in enumerate(((reads, hover_r), (writes, hover_w))):
            self.fig.data[i].x, self.fig.data[i].y = xy(pts)
            self.fig.data[i].hovertext = hover
        for i, pts in ((2, lines), (3, grid), (4, inputs)):
            self.fig.data[i].x, self.fig.data[i].y = xy(pts)
        slots, steps, z = self.norm_table()
        heat = self.fig.data[5]
        heat.x, heat.y, heat.z = steps, slots, z
        self.fig.layout.title.text = f"memory banks: the architecture {self.what}" if self.what else "memory banks"
