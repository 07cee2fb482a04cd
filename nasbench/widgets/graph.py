"""SupernetGraph: the search space drawn as its graph, restyled live by the search's events.

The graph comes from `run_start` (`space.graph`: nodes and edges, those that are decisions carry
their `decision` index). It is laid out once -- graphviz's `dot` when the binary is installed,
else a layered layout computed here -- and every later event only restyles it:

- `alpha` (DARTS and kin): each edge takes the colour of its strongest op and a width by that
  op's weight; hovering an edge's midpoint lists every candidate's weight.
- the current genotype: the edges it keeps are drawn solid, the others dotted, live. It is the
  last `genotype` event, or, once an `alpha` came after it, what that alpha keeps by the space's
  rule where the graph states one (DARTS' nodes carry `inputs`: 2, each keeping its two strongest
  incoming edges, each with its strongest op but `none`: quark0's `genotype()`).
- `sample` (SPOS, FairNAS, ENAS, ...; no `alpha`): the last sampled path is drawn in its ops'
  colours, the rest in grey; hover gives how often each option has been sampled.

A decision carried by a node (a chain of layers) colours the node instead of an edge.
Edges and nodes are Plotly scatter traces, so the same figure is live (a FigureWidget),
replayed from a log, or exported to HTML.
"""
from __future__ import annotations

import re
import shutil
import networkx as nx
import numpy as np
import plotly.graph_objects as go

from nasbench.widgets.base import EventView, op_color

GREY, DARK = "#c8c8c8", "#444444"


# -- layout (computed once per run) ---------------------------------------------------------
def _digraph(nodes: list[str], edges: list[tuple[str, str]]) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    return g


def components(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, str]:
    """Each node's weakly connected component, named by its first node (in node order)."""
    order = {n: i for i, n in enumerate(nodes)}
    component = {}
    for members in nx.weakly_connected_components(_digraph(nodes, edges)):
        root = min(members, key=order.get)
        component.update({n: root for n in members})
    return component


def layered_layout(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, tuple[float, float]]:
    """Left-to-right layers (networkx' topological generations: a node's column is its longest
    path from a source), nodes of a column spread vertically (`multipartite_layout`); separate
    components (DARTS' two cells) stacked top to bottom."""
    g = _digraph(nodes, edges)
    if not nx.is_directed_acyclic_graph(g):
        raise ValueError("the space's graph has a cycle")
    order = {n: i for i, n in enumerate(nodes)}
    pos, top = {}, 0.0
    for members in sorted(nx.weakly_connected_components(g), key=lambda c: min(order[n] for n in c)):
        sub = nx.DiGraph(g.subgraph(sorted(members, key=order.get)))
        column = {}
        for x, layer in enumerate(nx.topological_generations(sub)):
            column.update({n: x for n in layer})
        # longest path from a source (a generation can sit left of where its inputs allow)
        for n in nx.topological_sort(sub):
            column[n] = max([column[p] + 1 for p in sub.predecessors(n)], default=0)
        layers = {}
        for n in sorted(members, key=order.get):   # a layer's nodes in the space's order
            layers.setdefault(column[n], []).append(n)
        layers = dict(sorted(layers.items()))
        height = max(len(layer) for layer in layers.values())
        xy = nx.multipartite_layout(sub, subset_key=layers, align="vertical")
        # snapped to unit steps (layers 1 apart, a layer's nodes 1 apart, centred on the cell)
        xs = sorted({round(float(x), 9) for x, _ in xy.values()})
        for layer in layers.values():
            ranked = sorted(layer, key=lambda n: xy[n][1])        # in the order given, top down
            for k, n in enumerate(ranked):
                x = xs.index(round(float(xy[n][0]), 9))
                pos[n] = (float(x), top - (height - 1) / 2 - (k - (len(ranked) - 1) / 2))
        top -= height + 1.0
    return pos


def parse_plain(text: str) -> dict[str, tuple[float, float]]:
    """Node positions from graphviz's `-Tplain` output (`node NAME X Y ...` lines)."""
    pos = {}
    for line in text.splitlines():
        parts = re.findall(r'"[^"]*"|\S+', line)
        if parts[:1] == ["node"] and len(parts) >= 4:
            pos[parts[1].strip('"')] = (float(parts[2]), float(parts[3]))
    return pos


def dot_layout(nodes, edges) -> dict[str, tuple[float, float]] | None:
    """graphviz `dot` positions (left to right), or None when the binary is not installed."""
    if shutil.which("dot") is None:
        return None
    import graphviz
    g = graphviz.Digraph(graph_attr={"rankdir": "LR"})
    for n in nodes:
        g.node(n)
    for u, v in edges:
        g.edge(u, v)
    try:
        pos = parse_plain(g.pipe(format="plain", encoding="utf-8"))
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, ValueError):
        return None
    return pos if set(pos) == set(nodes) else None


def curve(p: tuple[float, float], q: tuple[float, float], bend: float, n: int = 13) -> np.ndarray:
    """Points of a quadratic Bezier from p to q whose middle is pushed sideways by `bend`."""
    p, q = np.asarray(p), np.asarray(q)
    normal = np.array([-(q - p)[1], (q - p)[0]]) / max(np.linalg.norm(q - p), 1e-9)
    control = (p + q) / 2 + 2 * bend * normal  # the curve's midpoint moves by `bend`
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p + 2 * (1 - t) * t * control + t ** 2 * q  # (n, 2)


def edge_paths(graph: dict, pos: dict[str, tuple[float, float]]) -> list[np.ndarray]:
    """The drawn points of every edge of `graph` (run_start's `space.graph`). An edge between
    neighbouring columns is straight; a longer one bows out, away from the middle of its component
    (so the edges from DARTS' two inputs fan out above and below), or, on the middle line, above
    for edges into inner nodes. Edges into an output (DARTS' concatenation into c_k) take turns
    below and above. Among the bowed edges into one node on one side, the longer an edge, the
    steeper it arrives (20, 34, 48 degrees...): nested arcs whose arrowheads do not pile up."""
    ids = [n["id"] for n in graph["nodes"]]
    kind = {n["id"]: n.get("kind") for n in graph["nodes"]}
    component = components(ids, [(e["source"], e["target"]) for e in graph["edges"]])
    centre = {c: np.mean([pos[n][1] for n in ids if component[n] == c]) for c in set(component.values())}
    span = [abs(pos[e["target"]][0] - pos[e["source"]][0]) for e in graph["edges"]]
    into = {}                                  # target -> its bowed edges
    for i, e in enumerate(graph["edges"]):
        if span[i] > 1:
            into.setdefault(e["target"], []).append(i)
    side, rank = {}, {}                        # edge index -> +1 (above) or -1 (below); its order there
    for target, edges in into.items():
        taken = {1: 0, -1: 0}                  # edges placed on each side so far, shortest first
        for n, i in enumerate(sorted(edges, key=lambda i: (span[i], i))):
            e = graph["edges"][i]
            offset = (pos[e["source"]][1] + pos[target][1]) / 2 - centre[component[target]]
            if abs(offset) > 1e-6:
                side[i] = 1 if offset > 0 else -1
            elif kind[target] == "output":
                side[i] = -1 if n % 2 == 0 else 1
            else:
                side[i] = 1
            rank[i] = taken[side[i]]
            taken[side[i]] += 1
    paths = []
    for i, e in enumerate(graph["edges"]):
        p, q = pos[e["source"]], pos[e["target"]]
        if i not in side:
            paths.append(curve(p, q, 0.0))
            continue
        angle = np.radians(20 + 14 * min(rank[i], 3))
        # a quadratic Bezier arrives at angle a to its chord when its middle moves by L/4 tan(a)
        bend = np.hypot(q[0] - p[0], q[1] - p[1]) / 4 * np.tan(angle)
        # curve() bends to the left of p -> q: up for an edge drawn left to right
        paths.append(curve(p, q, bend * (1 if (side[i] > 0) == (q[0] > p[0]) else -1)))
    return paths


def math_label(label: str) -> str:
    """`c_{k-2}` as math: an italic c with k-2 as a subscript (plotly's HTML subset)."""
    return re.sub(r"([A-Za-z]+)_\{([^}]*)\}", lambda m: f"<i>{m[1]}</i><sub>{m[2].replace('-', '−')}</sub>", label)


def derive(space: dict, probs: list[list[float]]) -> list[int] | None:
    """The genotype alpha keeps by the rule the space's graph states, or None when it states none:
    a node with `inputs` k keeps its k incoming edges whose strongest op but `none` weighs most
    (ties: the earlier edge), each with that op; its other edges get `none` (DARTS, quark0's
    `genotype()`). Decisions into no such node take their strongest option."""
    graph = space.get("graph") or {}
    keep = {n["id"]: n["inputs"] for n in graph.get("nodes", []) if isinstance(n.get("inputs"), int)}
    if not keep:
        return None
    options = space["options"]
    choices = [int(np.argmax(row)) for row in probs]
    incoming: dict[str, list[int]] = {}
    for e in graph.get("edges", []):
        if e["target"] in keep and e.get("decision") is not None:
            incoming.setdefault(e["target"], []).append(e["decision"])
    for node, ds in incoming.items():
        strength = {d: max((p for p, o in zip(probs[d], options[d]) if o != "none"), default=-1.0) for d in ds}
        kept = sorted(ds, key=lambda d: -strength[d])[:keep[node]]    # a stable sort: ties to the earlier
        for d in ds:
            if d in kept:
                choices[d] = max((k for k, o in enumerate(options[d]) if o != "none"), key=lambda k: (probs[d][k], -k))
            elif "none" in options[d]:
                choices[d] = options[d].index("none")
    return choices


# -- the view -------------------------------------------------------------------------------
class SupernetGraph(EventView):
    """The space's graph, coloured by alpha (or by the sampled path), genotype highlighted."""

    def __init__(self, layout: str = "auto", **kwargs):
        if layout not in ("auto", "dot", "layered"):
            raise ValueError(f"layout must be auto, dot or layered, got {layout!r}")
        self.layout_engine = layout
        self.space: dict | None = None      # run_start's `space`
        self.pos: dict[str, tuple[float, float]] = {}
        self.layouts = 0                     # how many times a graph was laid out
        self.layout_used = None              # "dot" or "layered"
        self.probs: list[list[float]] | None = None
        self.genotype: list[int] | None = None
        self.genotype_step = -1              # the step of the last genotype event, and of the last alpha
        self.alpha_step = -1
        self.sampled: list[int] | None = None
        self.counts: list[list[int]] | None = None  # samples per decision and option
        self.step = 0
        super().__init__(**kwargs)

    def build(self):
        fig = go.Figure()
        fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
                          hovermode="closest", title="supernet", legend=dict(orientation="h"),
                          xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"))
        return self.new_figure(fig)

    # -- events -> state ---------------------------------------------------------------------
    def handle(self, event):
        kind = event["type"]
        if kind == "run_start":
            self.space = event["space"]
            self.probs = self.genotype = self.sampled = None
            self.genotype_step = self.alpha_step = -1
            self.counts = [[0] * len(o) for o in self.space["options"]]
            self._lay_out()
            self._draw()  # the skeleton, once; events from now on only restyle it
            return True
        if self.space is None:
            return False
        if kind == "alpha":
            self.probs, self.step = event["probs"], event["step"]
            self.alpha_step = event["step"]
            return True
        if kind == "genotype":
            self.genotype, self.genotype_step = event["choices"], event["step"]
            return True
        if kind == "sample":
            self.sampled, self.step = event["choices"], event["step"]
            for d, c in enumerate(self.sampled):
                self.counts[d][c] += 1
            return True
        return False

    def _lay_out(self):
        graph = self.space.get("graph") or {"nodes": [], "edges": []}
        nodes = [n["id"] for n in graph["nodes"]]
        edges = [(e["source"], e["target"]) for e in graph["edges"]]
        pos = dot_layout(nodes, edges) if self.layout_engine in ("auto", "dot") else None
        if pos is not None:
            scale = max(max(abs(x) for x, _ in pos.values()), 1e-9)  # dot works in inches
            self.pos, self.layout_used = {n: (x / scale * 5, y / scale * 5) for n, (x, y) in pos.items()}, "dot"
        else:
            self.pos, self.layout_used = layered_layout(nodes, edges), "layered"
        self.layouts += 1

    def current_genotype(self) -> list[int] | None:
        """The genotype drawn now: the last `genotype` event, unless an `alpha` came after it and
        the space's graph says how a genotype is read off alpha (`derive`)."""
        if self.probs is None or (self.genotype is not None and self.genotype_step >= self.alpha_step):
            return self.genotype
        derived = derive(self.space, self.probs)
        return derived if derived is not None else self.genotype

    def choice_style(self, d: int) -> dict:
        """How decision d is drawn now: the op it shows, its weight, its colour and line width,
        and whether it is on the genotype / sampled path. Pure Python state (tested directly)."""
        options = self.space["options"][d]
        genotype = self.current_genotype()
        in_genotype = genotype is None or options[genotype[d]] != "none"
        if self.probs is not None:  # a distribution: its strongest option
            row = self.probs[d]
            k = int(np.argmax(row))
            return {"op": options[k], "weight": float(row[k]), "color": op_color(options[k]),
                    "width": 1.0 + 10.0 * float(row[k]), "solid": in_genotype,
                    "on_path": self.sampled is not None and self.sampled[d] == k}
        if self.sampled is not None:  # a sampler: the last path
            k = self.sampled[d]
            on = options[k] != "none"
            return {"op": options[k], "weight": 1.0, "color": op_color(options[k]) if on else GREY,
                    "width": 5.0 if on else 1.5, "solid": on, "on_path": on}
        if genotype is not None:
            k = genotype[d]
            return {"op": options[k], "weight": 1.0, "color": op_color(options[k]) if in_genotype else GREY,
                    "width": 4.0 if in_genotype else 1.5, "solid": in_genotype, "on_path": False}
        return {"op": None, "weight": 0.0, "color": GREY, "width": 2.0, "solid": True, "on_path": False}

    def option_style(self, d: int, j: int) -> dict:
        """How an edge that stands for option j of decision d is drawn (ENAS: the edge from node j
        into an input slot): on when the path, the genotype or the distribution picks j, with j's
        own probability as its weight."""
        genotype = self.current_genotype()
        pick = (self.sampled if self.sampled is not None else genotype)
        if self.probs is not None:
            w = float(self.probs[d][j])
            return {"op": self.space["options"][d][j], "weight": w, "color": DARK, "width": 1.0 + 10.0 * w,
                    "solid": genotype is None or genotype[d] == j,
                    "on_path": self.sampled is not None and self.sampled[d] == j}
        on = pick is not None and pick[d] == j
        return {"op": self.space["options"][d][j], "weight": 1.0 if on else 0.0, "color": DARK if on else GREY,
                "width": 4.0 if on else 1.5, "solid": on or pick is None, "on_path": on}

    def hover(self, d: int) -> str:
        options = self.space["options"][d]
        lines = [f"<b>{self.space['decisions'][d]}</b>"]
        if self.probs is not None:
            order = np.argsort(self.probs[d])[::-1]
            lines += [f"{options[k]}: {self.probs[d][k]:.3f}" for k in order]
        elif self.counts is not None and sum(self.counts[d]):
            lines += [f"{o}: sampled {n}x" for o, n in zip(options, self.counts[d])]
        genotype = self.current_genotype()
        if genotype is not None:
            derived = genotype is not self.genotype
            lines.append(f"genotype: {options[genotype[d]]}" + (" (read off this alpha)" if derived else ""))
        return "<br>".join(lines)

    # -- state -> figure ---------------------------------------------------------------------
    def _draw(self):
        """The skeleton of the laid-out graph, once per run (one message to a live figure): one
        line per edge, a marker trace on the edges' midpoints (hover), one for the nodes, and
        a legend entry per op."""
        graph = self.space.get("graph") or {"nodes": [], "edges": []}   # a log may carry no drawing
        nodes = graph["nodes"]
        traces, midpoints, self.edge_traces = [], [], []  # edge_traces: (trace index, decision)
        self.edge_options = [e.get("option") for e in graph["edges"]]    # an input edge's own choice
        for e, pts in zip(graph["edges"], edge_paths(graph, self.pos)):
            d = e.get("decision")
            self.edge_traces.append((len(traces), d))
            traces.append(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="lines", hoverinfo="skip",
                                     showlegend=False, line=dict(color=GREY, width=1.5)))
            if d is not None:
                midpoints.append((d, pts[len(pts) // 2]))
        self.mid_decisions = [d for d, _ in midpoints]
        self.mid_trace = len(traces)
        traces.append(go.Scatter(x=[m[0] for _, m in midpoints], y=[m[1] for _, m in midpoints],
                                 mode="markers", marker=dict(size=9, color=GREY), hoverinfo="text",
                                 showlegend=False, name="edges"))
        self.node_decisions = [n.get("decision") for n in nodes]
        self.node_sizes = [34 if n.get("kind") in ("input", "output") else 28 for n in nodes]
        self.node_trace = len(traces)
        traces.append(go.Scatter(
            x=[self.pos[n["id"]][0] for n in nodes], y=[self.pos[n["id"]][1] for n in nodes],
            mode="markers+text", text=[math_label(n.get("label", n["id"])) for n in nodes],
            textposition="middle center",
            textfont=dict(size=10), hoverinfo="text", hovertext=[n["id"] for n in nodes], showlegend=False,
            marker=dict(size=self.node_sizes, opacity=1.0,  # (a size list would fade them)
                        color=["#f0f0f0" if d is None else GREY for d in self.node_decisions],
                        line=dict(color=DARK, width=1))))
        for op in dict.fromkeys(o for opts in self.space["options"] for o in opts):  # the legend
            traces.append(go.Scatter(x=[None], y=[None], mode="lines", name=op,
                                     line=dict(color=op_color(op), width=4)))
        self.arrows = []   # (annotation index, decision) of each edge's arrowhead
        titles = []
        for e, pts in zip(graph["edges"], edge_paths(graph, self.pos)):
            target_kind = next((n.get("kind") for n in nodes if n["id"] == e["target"]), None)
            self.arrows.append((len(titles), e.get("decision")))
            titles.append(dict(x=pts[-1][0], y=pts[-1][1], ax=pts[-3][0], ay=pts[-3][1], xref="x", yref="y",
                               axref="x", ayref="y", text="", showarrow=True, arrowhead=2, arrowsize=0.9,
                               arrowwidth=1.5, arrowcolor=GREY if e.get("decision") is None else DARK,
                               standoff=17 if target_kind in ("input", "output") else 14))
        for cell in dict.fromkeys(n.get("cell") for n in nodes if n.get("cell")):
            xs, ys = zip(*[self.pos[n["id"]] for n in nodes if n.get("cell") == cell])
            titles.append(dict(x=min(xs), y=max(ys) + 0.9, text=f"<b>{cell} cell</b>", showarrow=False,
                               xanchor="left"))
        ys = [y for _, y in self.pos.values()] or [0]
        with self.fig.batch_update():
            self.fig.data = []
            self.fig.add_traces(traces)
            self.fig.layout.annotations = titles
            self.fig.layout.height = max(260, 110 * (max(ys) - min(ys) + 2))
            self.fig.layout.title = f"supernet: {self.space.get('name', '')}"

    def render(self):
        """One `plotly_update` for the whole redraw: top-level keys (`line`, `opacity`, `marker`,
        `hovertext`) for every styled trace, which plotly applies without per-attribute
        validation, and the live widget receives as a single message."""
        if self.space is None:
            return
        styles = [self.choice_style(d) for d in range(len(self.space["decisions"]))]
        edge_styles = [None if d is None else styles[d] if j is None else self.option_style(d, j)
                       for (_, d), j in zip(self.edge_traces, self.edge_options)]
        lines, opacity, markers, hover, traces = [], [], [], [], []
        for (i, d), s in zip(self.edge_traces, edge_styles):
            if d is not None:
                traces.append(i)
                lines.append(dict(color=s["color"], width=round(s["width"], 1),
                                  dash="solid" if s["solid"] else "dot"))
                opacity.append(1.0 if s["solid"] else 0.45)
                markers.append({})
                hover.append("")
        traces.append(self.mid_trace)
        lines.append(dict(width=0))
        opacity.append(1.0)
        markers.append(dict(size=9, opacity=1.0, color=[styles[d]["color"] for d in self.mid_decisions],
                            line=dict(color=DARK, width=[2 if styles[d]["on_path"] else 0
                                                         for d in self.mid_decisions])))
        hover.append([self.hover(d) for d in self.mid_decisions])
        if any(d is not None for d in self.node_decisions):
            nodes = (self.space.get("graph") or {"nodes": []})["nodes"]
            traces.append(self.node_trace)
            lines.append(dict(width=0))
            opacity.append(1.0)
            markers.append(dict(size=self.node_sizes, opacity=1.0, color=[
                "#f0f0f0" if d is None else styles[d]["color"] for d in self.node_decisions],
                line=dict(color=DARK, width=[1 if d is None or not styles[d]["solid"] else 3
                                             for d in self.node_decisions])))
            hover.append([n["id"] if d is None else self.hover(d) for n, d in zip(nodes, self.node_decisions)])
        what = "alpha" if self.probs is not None else "sampled path" if self.sampled is not None else ""
        title = f"supernet: {self.space.get('name', '')}" + (f" — {what} at step {self.step}" if what else "")
        arrows = {}
        for (i, d), s in zip(self.arrows, edge_styles):   # arrowheads in the edge's colour and width
            if d is not None:
                arrows[f"annotations[{i}].arrowcolor"] = s["color"] if s["solid"] else GREY
                arrows[f"annotations[{i}].arrowwidth"] = round(min(4.5, max(1.5, 0.45 * s["width"])), 1)
        self.fig.plotly_update(
            restyle_data={"line": lines, "opacity": opacity, "marker": markers, "hovertext": hover},
            relayout_data={"title": {"text": title}, **arrows}, trace_indexes=traces)
