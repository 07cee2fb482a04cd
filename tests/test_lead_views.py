"""Views details checked against independent expectations: ENAS input edges in SupernetGraph, a log
without a drawing, and KLRanking's ceiling."""
import numpy as np
from scipy.stats import kendalltau

from nasbench import bench
from nasbench.events import make_event
from nasbench.spaces import get_space
from nasbench.widgets import KLRanking, SupernetGraph


def test_enas_input_edges_show_the_sampled_input_only():
    space = get_space("enas:nodes=2")
    choices = space.sample(np.random.default_rng(0))
    view = SupernetGraph.from_events([
        make_event("run_start", 0, method="enas", dataset="d", seed=0, config={}, space=space.describe()),
        make_event("sample", 1, step=0, choices=list(choices), arch=space.encode(choices), purpose="train")])
    edges = space.describe()["graph"]["edges"]
    checked = 0
    for (trace, d), e in zip(view.edge_traces, edges):
        if e.get("option") is None:
            continue
        on = choices[d] == e["option"]       # the slot reads node `option` exactly when sampled so
        assert view.fig.data[trace].line.width == (4.0 if on else 1.5), e
        checked += 1
    inputs = [d for d, name in enumerate(space.decisions) if any(e.get("decision") == d and e.get("option") is not None
                                                                 for e in edges)]
    assert checked > len(inputs)             # every input decision has several candidate edges


def test_a_log_without_a_drawing_still_draws():
    view = SupernetGraph.from_events([
        make_event("run_start", 0, method="x", dataset="d", seed=0, config={},
                   space={"name": "s", "decisions": ["a"], "options": [["p", "q"]]}),
        make_event("alpha", 1, step=0, probs=[[0.3, 0.7]])])
    assert view.fig.layout.title.text.startswith("supernet: s")


def test_ranking_title_carries_the_tables_ceiling():
    table = bench.load_table("nb201-small")
    accs = np.array([e.test_accs for e in table.entries.values()])
    expected = np.mean([kendalltau(accs[:, i], np.delete(accs, i, 1).mean(1))[0] for i in range(3)])
    space = table.space
    data = {**bench.BENCH_DATA}
    start = make_event("run_start", 0, method="m", dataset="digits", seed=0, config={"data": data},
                       space=space.describe())
    evals = [make_event("eval", 1, arch=e.arch, choices=list(e.choices), score=e.test_acc + 0.01 * i,
                        metric="acc", truth=e.test_acc) for i, e in enumerate(list(table.entries.values())[:6])]
    view = KLRanking.from_events([start, *evals])
    assert f"ceiling {expected:.2f}" in view.fig.layout.title.text
    other = KLRanking.from_events([{**start, "config": {}}, *evals])   # another data set: no table
    assert "ceiling" not in other.fig.layout.title.text


def test_names_with_markup_are_shown_as_text_in_every_view():
    from nasbench.widgets.base import as_text
    event = {"type": "alpha", "probs": [[0.5, 0.5]], "name": "<b>x</b>", "options": [["<a href='http://e'>l</a>", "ok"]]}
    out = as_text(event)
    assert out["name"] == "&lt;b&gt;x&lt;/b&gt;" and out["options"][0][0].startswith("&lt;a href=")
    assert out["probs"] is event["probs"] and event["name"] == "<b>x</b>"      # the log is left as is
    plain = {"type": "step", "phase": "weights", "loss": 1.0}
    assert as_text(plain) is plain
    space = {"name": "<b>bold</b>", "decisions": ["<i>d</i>"], "options": [["<a href='http://x'>op</a>", "q"]]}
    view = SupernetGraph.from_events([
        make_event("run_start", 0, method="<script>m</script>", dataset="d", seed=0, config={}, space=space),
        make_event("alpha", 1, step=0, probs=[[0.3, 0.7]])])
    shown = view.fig.to_json()
    assert "<b>bold" not in shown and "<a href" not in shown and "\\u003cb\\u003ebold" not in shown
