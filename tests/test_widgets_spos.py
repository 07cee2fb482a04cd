"""SamplingFairness and EvolutionPanel on synthetic event streams: state against independent
counts, throttled redraws with a fake clock, replay, side-by-side runs, export and the report."""
import numpy as np
import plotly.graph_objects as go
import pytest

from nasbench.events import Recorder, make_event, validate
from nasbench.report import write_report
from nasbench.spaces import Space
from nasbench.widgets.evolution import EvolutionPanel, pareto_front
from nasbench.widgets.fairness import SamplingFairness

L, K = 3, 4
OPTIONS = [[f"op{k}" for k in range(K)]] * L


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def run_start(method="spos"):
    space = Space([f"layer{d}" for d in range(L)], OPTIONS)
    return make_event("run_start", 0, method=method, dataset="digits", seed=0, config={},
                      space=space.describe())


def spos_stream(steps, seed=0):
    rng = np.random.default_rng(seed)
    paths = rng.integers(K, size=(steps, L))
    events = [run_start()] + [make_event("sample", 0, step=s, choices=p.tolist(), arch="a", purpose="train")
                              for s, p in enumerate(paths)]
    return events, paths


def fair_stream(steps, seed=0):
    rng = np.random.default_rng(seed)
    events = [run_start("fairnas")]
    for s in range(steps):
        perms = [rng.permutation(K) for _ in range(L)]
        events += [make_event("sample", 0, step=s, choices=[int(p[j]) for p in perms], arch="a", purpose="train")
                   for j in range(K)]
    return events


def test_fairness_counts_and_gap_match_independent_counts():
    events, paths = spos_stream(40)
    view = SamplingFairness.from_events(events + [make_event("run_end", 0, status="completed")])
    counts, ratio = view.runs["run"].matrix()
    expected = np.stack([np.bincount(paths[:, d], minlength=K) for d in range(L)])
    assert np.array_equal(counts, expected)
    assert np.allclose(ratio, expected / (40 / K))
    gaps = [max(np.ptp(np.bincount(paths[: s + 1, d], minlength=K)) for d in range(L)) for s in range(40)]
    assert view.runs["run"].gaps == gaps and view.gap() == gaps[-1] > 0
    heat = view.fig.data[0]
    assert list(heat.x) == OPTIONS[0] and list(heat.y) == [f"layer{d}" for d in range(L)]
    assert heat.text[0][0] == str(expected[0, 0])


def test_strict_fairness_shows_zero_gap_and_fair_shares():
    view = SamplingFairness.from_events(fair_stream(10))
    run = view.runs["run"]
    assert run.gaps == [0] * 10 and run.steps == list(range(10))
    counts, ratio = run.matrix()
    assert np.all(counts == 10) and np.allclose(ratio, 1.0)


def test_eval_samples_are_not_counted_as_updates():
    events, _ = spos_stream(5)
    events.append(make_event("sample", 0, step=5, choices=[0, 0, 0], arch="a", purpose="eval"))
    view = SamplingFairness.from_events(events)
    assert np.nansum(view.runs["run"].matrix()[0]) == 5 * L


def test_compare_puts_two_runs_in_one_figure():
    spos, _ = spos_stream(30)
    view = SamplingFairness.compare({"SPOS": spos, "FairNAS": fair_stream(30)})
    assert isinstance(view.fig, go.Figure)
    heats = [t for t in view.fig.data if isinstance(t, go.Heatmap)]
    gaps = [t for t in view.fig.data if t.meta and t.meta.startswith("gap/")]
    assert len(heats) == 2 and len(gaps) == 2
    assert view.gap("FairNAS") == 0 and view.gap("SPOS") > 0
    assert "SPOS" in view.to_html(include_plotlyjs=False)


def test_live_feeds_are_throttled_with_a_fake_clock():
    clock = FakeClock()
    view = SamplingFairness(runs=["SPOS", "FairNAS"], live=False, clock=clock, min_interval=1.0)
    a, b = view.feed("SPOS"), view.feed("FairNAS")
    spos, _ = spos_stream(50)
    fair = fair_stream(50)
    for e in spos:
        a(e)           # the clock stands still: one redraw for the first event, then none
    for e in fair:
        b(e)
    assert view.renders == 1
    clock.now = 5.0
    b(make_event("sample", 0, step=50, choices=[0, 1, 2], arch="a", purpose="train"))
    assert view.renders == 2
    a(make_event("run_end", 0, status="completed"))   # run_end flushes what is pending
    assert view.renders == 2                          # nothing was pending
    b(make_event("sample", 0, step=51, choices=[0, 1, 2], arch="a", purpose="train"))
    view.flush()
    assert view.renders == 3
    with pytest.raises(KeyError):
        view.feed("ENAS")


def test_live_view_has_a_widget_and_replay_matches(tmp_path):
    events, _ = spos_stream(20)
    with Recorder(tmp_path / "events.jsonl") as rec:
        for e in events:
            rec(e)
    live = SamplingFairness(live=True, min_interval=0)
    assert type(live.fig) is go.Figure and live.widget is not None
    for e in events:
        live(e)
    replayed = SamplingFairness.from_events(tmp_path / "events.jsonl")
    assert live.runs["run"].counts == replayed.runs["run"].counts
    assert live.runs["run"].gaps == replayed.runs["run"].gaps


def test_fairness_without_run_start_grows_its_table():
    view = SamplingFairness.from_events(
        [make_event("sample", 0, step=s, choices=[s % 2, s % 3], arch="a", purpose="train") for s in range(6)])
    counts, _ = view.runs["run"].matrix()
    assert counts.shape == (2, 3) and np.isnan(counts[0, 2]) and counts[1].tolist() == [2, 2, 2]


# -- EvolutionPanel ----------------------------------------------------------------------------
def evolution_stream(generations=4, per_gen=6, seed=0, cost="flops"):
    rng = np.random.default_rng(seed)
    events = []
    for g in range(generations):
        for i in range(per_gen):
            events.append(make_event("eval", 0, arch=f"g{g}i{i}", choices=[g % K, i % K, 0], score=float(rng.random()),
                                     metric="valid_acc_shared", generation=g, **{cost: float(rng.integers(100, 200))}))
    return events


def dominated(i, costs, scores):
    return any(costs[j] <= costs[i] and scores[j] >= scores[i] and (costs[j], scores[j]) != (costs[i], scores[i])
               for j in range(len(costs)))


def test_pareto_front_against_pairwise_dominance():
    rng = np.random.default_rng(1)
    costs, scores = rng.integers(0, 20, 60).astype(float).tolist(), rng.random(60).tolist()
    front = pareto_front(costs, scores)
    assert set(front) == {i for i in range(60) if not dominated(i, costs, scores)}
    assert [costs[i] for i in front] == sorted(costs[i] for i in front)


def test_evolution_panel_state_against_the_stream():
    events = evolution_stream()
    view = EvolutionPanel.from_events(events)
    scores = [e["score"] for e in events]
    assert view.best() == (events[int(np.argmax(scores))]["arch"], max(scores))
    gens, best, means = view.by_generation()
    assert gens == [0, 1, 2, 3]
    for g in gens:
        upto = [e["score"] for e in events if e["generation"] <= g]
        this = [e["score"] for e in events if e["generation"] == g]
        assert best[g] == max(upto) and means[g] == pytest.approx(np.mean(this))
    d = {t.meta: t for t in view.fig.data}
    assert list(d["population"].x) == [e["flops"] for e in events]
    assert list(d["population"].marker.color) == [e["generation"] for e in events]
    assert d["best"].y[0] == max(scores)
    assert view.fig.layout.xaxis.title.text == "flops"
    costs = [e["flops"] for e in events]
    assert len(d["front"].x) == sum(not dominated(i, costs, scores) for i in range(len(events)))


def test_evolution_panel_cost_fallbacks():
    view = EvolutionPanel.from_events(evolution_stream(cost="params"))
    assert view.fig.layout.xaxis.title.text == "params"
    plain = [make_event("eval", 0, arch=f"a{i}", choices=[i], score=i / 10, metric="acc") for i in range(5)]
    view = EvolutionPanel.from_events(plain)
    assert view.generations == [0] * 5 and view.costs == [0, 1, 2, 3, 4]
    assert view.fig.layout.xaxis.title.text == "order scored"


def test_evolution_panel_is_throttled_and_exportable():
    clock = FakeClock()
    view = EvolutionPanel(live=False, clock=clock, min_interval=10)
    for e in evolution_stream():
        view(e)
        clock.now += 1.0       # 24 events over 24 s: a redraw at 0, 10 and 20 s
    assert view.renders == 3
    view(make_event("run_end", 0, status="completed"))
    assert view.renders == 4 and view.events_seen == 25
    assert "evolutionary search" in view.to_html(include_plotlyjs=False)


def test_report_includes_both_views(tmp_path):
    events, _ = spos_stream(10)
    events += evolution_stream(2, 3)
    events.append(make_event("run_end", 1.0, status="completed"))
    assert not validate(events)
    with Recorder(tmp_path / "events.jsonl") as rec:
        for e in events:
            rec(e)
    page = write_report(tmp_path).read_text()
    assert "<h2>SamplingFairness</h2>" in page and "<h2>EvolutionPanel</h2>" in page


def test_fairness_figure_holds_no_nan_before_any_sample():
    """A live figure's state goes to the browser as JSON, where NaN is not allowed."""
    view = SamplingFairness(live=False, min_interval=0)
    view(run_start())
    z = view.fig.data[0].z
    assert view.renders == 1 and all(v is None for row in z for v in row)
