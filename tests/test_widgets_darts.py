"""SupernetGraph and AlphaEvolution on synthetic event streams: Python-side state against values
worked out from the stream itself, the throttle under a fake clock, replay, HTML export, report."""
import math

import numpy as np
import pytest
import scipy.stats

from nasbench.events import Recorder, make_event, read_events
from nasbench.report import write_report
from nasbench.widgets.dashboard import TABLE
from nasbench.spaces import Space, get_space
from nasbench.widgets import AlphaEvolution, SupernetGraph, op_color
from nasbench.widgets.alpha import MAX_POINTS
from nasbench.widgets.graph import dot_layout, edge_paths, layered_layout, parse_plain

DARTS = get_space("darts")


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def start(space):
    return make_event("run_start", 0, method="test", dataset="digits", seed=0, config={},
                      space=space.describe())


def random_probs(space, rng, sharpness=1.0):
    rows = []
    for opts in space.options:
        p = rng.dirichlet(np.full(len(opts), 1.0 / sharpness))
        rows.append([float(v) for v in p / p.sum()])
    return rows


def alpha_stream(space, n, seed=0):
    """run_start, n alpha events (a genotype every 10), run_end; also returns the probs."""
    rng = np.random.default_rng(seed)
    events, all_probs = [start(space)], []
    for t in range(1, n + 1):
        probs = random_probs(space, rng)
        all_probs.append(probs)
        events.append(make_event("alpha", t, step=t, probs=probs))
        if t % 10 == 0:
            c = space.derive(probs)
            events.append(make_event("genotype", t, step=t, arch=space.encode(c), choices=list(c)))
    events.append(make_event("run_end", n + 1, status="completed"))
    return events, all_probs


def edge_trace(view, d):
    """The figure trace that draws decision d's edge."""
    return view.fig.data[next(i for i, dd in view.edge_traces if dd == d)]


# -- SupernetGraph ---------------------------------------------------------------------------
def test_graph_colours_each_edge_by_its_strongest_op_and_lists_every_weight():
    events, probs = alpha_stream(DARTS, 25)
    view = SupernetGraph.from_events(events)
    last = probs[-1]
    genotype = DARTS.derive(last)  # the last genotype event was at step 20: alpha at 25 is newer
    for d, row in enumerate(last):
        best = DARTS.options[d][int(np.argmax(row))]
        style = view.choice_style(d)
        assert style["op"] == best and style["color"] == op_color(best)
        assert math.isclose(style["weight"], max(row))
        assert style["solid"] == (DARTS.options[d][genotype[d]] != "none")
        trace = edge_trace(view, d)
        assert trace.line.color == op_color(best)
        assert trace.line.dash == ("solid" if style["solid"] else "dot")
        hover = view.fig.data[view.mid_trace].hovertext[view.mid_decisions.index(d)]
        for op, p in zip(DARTS.options[d], row):
            assert f"{op}: {p:.3f}" in hover
    widths = [view.choice_style(d)["width"] for d in range(len(last))]
    order = np.argsort([max(r) for r in last])
    assert all(np.diff(np.asarray(widths)[order]) >= 0), "a heavier op must not be drawn thinner"


def test_graph_highlights_the_genotype_live_before_any_genotype_event():
    """quark0's rule, written out as its loops (model_search.py `genotype()`), on alphas near
    ties; the view's genotype before any `genotype` event is the one the loop would print, and the
    logged one wins when it is at least as new as the alpha."""
    rng = np.random.default_rng(3)
    none = DARTS.options[0].index("none")
    view = SupernetGraph(live=False)
    view(start(DARTS))
    for draw in range(50):
        probs = np.asarray(random_probs(DARTS, rng, sharpness=0.05 if draw % 2 else 1.0))
        probs = np.round(probs, 2) / np.round(probs, 2).sum(1, keepdims=True) if draw % 5 == 0 else probs  # ties
        view(make_event("alpha", draw, step=draw, probs=probs.tolist()))
        expected = [none] * len(DARTS.decisions)
        for cell in (0, 14):
            start_, n = 0, 2
            for i in range(4):
                W = probs[cell + start_:cell + start_ + n]
                edges = sorted(range(i + 2), key=lambda x: -max(W[x][k] for k in range(8) if k != none))[:2]
                for j in edges:
                    k_best = None
                    for k in range(8):
                        if k != none and (k_best is None or W[j][k] > W[j][k_best]):
                            k_best = k
                    expected[cell + start_ + j] = k_best
                start_ += n
                n += 1
        assert view.current_genotype() == expected
        solid = [view.choice_style(d)["solid"] for d in range(len(DARTS.decisions))]
        assert sum(solid) == 16 and solid == [c != none for c in expected]   # 2 edges per node stand out
    logged = list(DARTS.sample(rng))
    view(make_event("genotype", 49, step=49, arch=DARTS.encode(logged), choices=logged))
    assert view.current_genotype() == logged


def test_graph_is_laid_out_once_and_restyled_without_moving():
    events, _ = alpha_stream(DARTS, 30)
    clock = FakeClock()
    view = SupernetGraph(live=False, clock=clock)
    view(events[0])
    positions = dict(view.pos)
    xy = [(list(t.x), list(t.y)) for t in view.fig.data]
    for e in events[1:]:
        clock.now += 1.0
        view(e)
    assert view.layouts == 1 and view.renders > 20
    assert view.pos == positions
    assert [(list(t.x), list(t.y)) for t in view.fig.data] == xy


def test_layered_layout_puts_edges_left_to_right_and_stacks_the_two_cells():
    g = DARTS.graph()
    pos = layered_layout(list(g.nodes), list(g.edges))
    assert set(pos) == set(g.nodes)
    assert all(pos[v][0] > pos[u][0] for u, v in g.edges)
    normal = [pos[n][1] for n in g.nodes if n.startswith("normal")]
    reduce = [pos[n][1] for n in g.nodes if n.startswith("reduce")]
    assert min(normal) > max(reduce)
    assert len(set(pos.values())) == len(pos), "two nodes drawn on the same spot"


def test_edges_into_one_node_arrive_at_distinct_angles_on_the_darts_cell():
    """The arrowheads into a node (c_k's four concatenation edges, node 3's five inputs) must not
    pile up: measured on the drawn points, any two edges into the same node arrive at least 10
    degrees apart, and no bowed edge leaves the band between the cells."""
    space = get_space("darts")
    view = SupernetGraph.from_events([start(space)])
    graph = space.describe()["graph"]
    paths = edge_paths(graph, view.pos)
    arrivals = {}
    for e, pts in zip(graph["edges"], paths):
        dx, dy = pts[-1] - pts[-2]
        arrivals.setdefault(e["target"], []).append(np.degrees(np.arctan2(dy, dx)))
    into_output = [a for t, a in arrivals.items() if t.endswith(":out")]
    assert into_output and max(len(a) for a in into_output) == 4
    for target, angles in arrivals.items():
        angles = sorted(angles)
        gaps = np.diff(angles)
        assert len(angles) < 2 or gaps.min() >= 10, (target, angles)
    ys = {n: xy[1] for n, xy in view.pos.items()}
    normal = [y for n, y in ys.items() if n.startswith("normal")]
    reduce = [y for n, y in ys.items() if n.startswith("reduce")]
    gap = (min(normal) + max(reduce)) / 2
    for e, pts in zip(graph["edges"], paths):
        above = e["target"].startswith("normal")
        assert (pts[:, 1] > gap).all() if above else (pts[:, 1] < gap).all(), e


def test_dot_is_optional_and_its_output_is_parsed(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert dot_layout(["a", "b"], [("a", "b")]) is None
    view = SupernetGraph.from_events([start(DARTS)])
    assert view.layout_used == "layered"
    plain = 'graph 1 3 1\nnode a 0.5 0.5 0.75 0.5 a solid ellipse black lightgrey\n' \
            'node "c:1" 2.5 0.25 0.75 0.5 "c:1" solid ellipse black lightgrey\nedge a "c:1" 4 0.8 0.5 1 0.5 2 0.3 2.2 0.25 solid black\nstop\n'
    assert parse_plain(plain) == {"a": (0.5, 0.5), "c:1": (2.5, 0.25)}


def test_graph_highlights_the_sampled_path_and_counts_samples():
    space = get_space("nb201-small")
    rng = np.random.default_rng(0)
    events, counts = [start(space)], np.zeros((3, 5), int)
    for t in range(40):
        c = space.sample(rng)
        counts[np.arange(3), c] += 1
        events.append(make_event("sample", t, step=t, choices=list(c), arch=space.encode(c), purpose="train"))
    view = SupernetGraph.from_events(events)
    assert view.counts == counts.tolist()
    for d, k in enumerate(c):
        op = space.options[d][k]
        style = view.choice_style(d)
        assert style["on_path"] == (op != "none")
        assert edge_trace(view, d).line.color == (op_color(op) if op != "none" else "#c8c8c8")
        hover = view.fig.data[view.mid_trace].hovertext[view.mid_decisions.index(d)]
        assert f"{space.options[d][0]}: sampled {counts[d][0]}x" in hover


def test_graph_colours_decision_nodes_of_a_chain():
    space = Space(["layer0", "layer1", "layer2"], [["k3", "k5", "skip"]] * 3)
    choices = [2, 0, 1]
    events = [start(space), make_event("sample", 1, step=1, choices=choices,
                                       arch=space.encode(choices), purpose="train")]
    view = SupernetGraph.from_events(events)
    nodes = view.space["graph"]["nodes"]
    colors = view.fig.data[view.node_trace].marker.color
    for node, color in zip(nodes, colors):
        if "decision" in node:
            assert color == op_color(space.options[node["decision"]][choices[node["decision"]]])
    assert sum("decision" in n for n in nodes) == 3


# -- AlphaEvolution --------------------------------------------------------------------------
def test_alpha_view_keeps_the_table_entropy_and_parameter_free_counts():
    events, probs = alpha_stream(DARTS, 30)
    view = AlphaEvolution.from_events(events)
    assert view.steps == list(range(1, 31))
    table = view.table()
    assert table.shape == (28, 8)
    np.testing.assert_allclose(table, np.array(probs[-1]))
    reference = [np.mean([scipy.stats.entropy(row) for row in p]) for p in probs]
    np.testing.assert_allclose(view.entropy, reference, rtol=1e-9)
    skipless = {"none", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"}
    # on the reduction cell's input edges (`reduce:i<-0`, `reduce:i<-1`) DARTS builds skip_connect
    # as a FactorizedReduce: 1x1 convolutions, not parameter-free
    strided = [name.startswith("reduce:") and name.split("<-")[1] in "01" for name in DARTS.decisions]
    free = lambda d, op: op not in skipless and not (op == "skip_connect" and strided[d])  # noqa: E731
    expected = [sum(free(d, DARTS.options[d][c]) for d, c in enumerate(DARTS.derive(probs[t - 1])))
                for t in (10, 20, 30)]
    assert view.free_steps == [10, 20, 30] and view.free == expected
    # share of alpha on max_pool, avg_pool, skip_connect (indices 1-3; 1-2 on strided edges), per cell
    for cell, rows in (("normal", range(0, 14)), ("reduce", range(14, 28))):
        np.testing.assert_allclose(view.share[cell], [np.mean([np.array(p)[d, 1:(3 if strided[d] else 4)].sum()
                                                               for d in rows]) for p in probs])
    np.testing.assert_allclose(view.fig.data[view.heatmap].z, table)


def test_alpha_leading_op_and_the_picker_follow_the_probabilities():
    events, probs = alpha_stream(DARTS, 12)
    view = AlphaEvolution.from_events(events)
    index, prob = view.leading()
    assert index.shape == prob.shape == (28, 12)
    for d in (0, 5, 27):
        for t in (0, 6, 11):
            k = int(np.argmax(probs[t][d]))
            assert view.ops[index[d, t]] == DARTS.options[d][k] and prob[d, t] == pytest.approx(probs[t][d][k])
    free = [sum(p for o, p in zip(DARTS.options[d], probs[-1][d]) if o in ("skip_connect", "avg_pool_3x3",
                                                                          "max_pool_3x3"))
            for d in range(28)]
    assert view.collapsing() == int(np.argmax(free))
    # shown: the most parameter-free decision's areas, stacked to 1
    ys = np.array([view.fig.data[i].y for i in view.area_traces])
    np.testing.assert_allclose(ys.sum(0), 1.0, atol=1e-5)
    np.testing.assert_allclose(ys[:, -1], probs[-1][view.collapsing()], atol=1e-6)
    # the final figure's picker: a button per decision carrying its areas (2 digits)
    buttons = view.fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == DARTS.decisions
    for d in (0, 13, 27):
        y = np.array(buttons[d].args[0]["y"])
        np.testing.assert_allclose(y[:, -1], probs[-1][d], atol=0.006)
        assert buttons[d].args[0]["name"] == DARTS.options[d]


def test_alpha_history_is_averaged_down_for_the_browser():
    events, _ = alpha_stream(get_space("nb201-small"), 3 * MAX_POINTS + 7)
    view = AlphaEvolution.from_events(events)
    steps, history = view.series()
    assert len(view.steps) == 3 * MAX_POINTS + 7
    assert len(steps) <= MAX_POINTS and len(history) == len(steps)
    assert len(view.fig.data[view.area_traces[0]].x) <= MAX_POINTS


# -- both: throttle, replay, export ----------------------------------------------------------
@pytest.mark.parametrize("cls", [SupernetGraph, AlphaEvolution])
def test_throttle_lets_a_few_redraws_a_second_through_whatever_the_rate(cls):
    events, _ = alpha_stream(DARTS, 400)
    clock = FakeClock()
    view = cls(live=True, clock=clock)  # shown live: count the messages its widget sends
    sent = []
    view.widget.send = lambda *a, **k: sent.append("diff")
    view(events[0])  # run_start draws the skeleton (once per run)
    sent.clear()
    for e in events[1:]:
        clock.now += 0.002  # 500 events a second: 400 alphas in ~0.9 s
        view(e)
    seconds = clock.now
    assert view.renders <= seconds / view.min_interval + 2   # + the first and the run_end flush
    assert view.renders >= 2
    assert len(sent) <= view.renders    # one diff per redraw at most
    assert view.events_seen == len(events)


@pytest.mark.parametrize("cls", [SupernetGraph, AlphaEvolution])
def test_replay_from_a_recorded_log_equals_the_live_view(cls, tmp_path):
    events, _ = alpha_stream(DARTS, 15)
    with Recorder(tmp_path / "events.jsonl") as rec:
        for e in events:
            rec(e)
    live = cls(live=False, min_interval=0)
    for e in events:
        live(e)
    replayed = cls.from_events(tmp_path / "events.jsonl")
    assert replayed.fig.to_json() == live.fig.to_json()
    html = replayed.to_html(include_plotlyjs=False)
    assert "<div" in html and "normal:2" in html


def test_report_includes_both_views(tmp_path):
    names = [entry.view for entry in TABLE]
    assert "nasbench.widgets.graph:SupernetGraph" in names
    assert "nasbench.widgets.alpha:AlphaEvolution" in names
    events, _ = alpha_stream(DARTS, 5)
    with Recorder(tmp_path / "events.jsonl") as rec:
        for e in events:
            rec(e)
    page = write_report(tmp_path).read_text()
    assert "SupernetGraph" in page and "AlphaEvolution" in page
    assert len(read_events(tmp_path / "events.jsonl")) == len(events)


def test_before_any_alpha_the_title_says_so_and_nodes_carry_the_decisions_state_indices():
    alpha = AlphaEvolution(live=False)
    alpha(start(DARTS))
    alpha.flush()
    assert alpha.fig.layout.title.text == "alpha (no alpha event yet)"
    graph = SupernetGraph(live=False)
    graph(start(DARTS))
    described = DARTS.describe()["graph"]
    label = {n["id"]: n["label"] for n in described["nodes"]}
    for e in described["edges"]:
        if "decision" in e:          # `normal:3<-1`: from the node drawn 1 (c_{k-1}) into the node drawn 3
            cell, rest = DARTS.decisions[e["decision"]].split(":")
            i, j = rest.split("<-")
            assert label[e["target"]] == i
            assert label[e["source"]] == (["c_{k-2}", "c_{k-1}"][int(j)] if int(j) < 2 else j)
    shown = graph.fig.data[graph.node_trace].text
    assert [t for t in shown if t.isdigit()] == ["2", "3", "4", "5"] * 2
