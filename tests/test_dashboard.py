"""Dashboard: the table picks the views by the events a run carries (never its method's name),
the same live, played back and in the report; a recorded run plays back through the same views."""
import numpy as np
import pytest

from nasbench.events import make_event
from nasbench.spaces import get_space
from nasbench.widgets import AlphaEvolution, Dashboard, EventView, KLRanking, live
from nasbench.widgets import dashboard as dash


def stream(method="darts", evals=0):
    space = get_space("nb201-small")
    rng = np.random.default_rng(0)
    events = [make_event("run_start", 0, method=method, dataset="d", seed=0, config={}, space=space.describe())]
    for t in range(20):
        events.append(make_event("step", t, step=t, epoch=0, phase="weights", loss=1.0 / (t + 1)))
        probs = [list(rng.dirichlet(np.ones(len(o)))) for o in space.options]
        if method == "darts":
            events.append(make_event("alpha", t, step=t, probs=probs))
        else:
            c = space.sample(rng)
            events.append(make_event("sample", t, step=t, choices=list(c), arch=space.encode(c), purpose="train"))
    for i in range(evals):
        c = space.sample(rng)
        events.append(make_event("eval", 20 + i, arch=space.encode(c), choices=list(c), score=float(rng.random()),
                                 metric="acc", truth=float(rng.random())))
    events.append(make_event("run_end", 30, status="completed", best="", wall=1.0))
    return events


@pytest.mark.parametrize("method", ["darts", "darts-official", "foreign-darts", "no-such-method"])
def test_the_events_pick_the_views_whatever_the_method_is_called(method, tmp_path):
    """Alpha events: the graph and alpha views; sampled paths: the graph and fairness; the same
    for a Dashboard fed live, a replay, and the report."""
    from nasbench.events import Recorder
    from nasbench.report import write_report
    for kind, expected in (("darts", {"TrainingBoard", "SupernetGraph", "AlphaEvolution"}),
                           ("spos", {"TrainingBoard", "SupernetGraph", "SamplingFairness"})):
        events = stream(kind)
        events[0]["method"] = method
        live_board = Dashboard(live=False)
        for e in events:
            live_board(e)
        assert set(live_board.views) == expected
        assert list(live_board.views) == [e.name for e in dash.views_for(events)]    # in the table's order
        assert set(Dashboard.replay(events).dashboard.views) == expected
        with Recorder(tmp_path / kind / "events.jsonl") as rec:
            for e in events:
                rec(e)
        page = write_report(tmp_path / kind).read_text()
        assert {e.name for e in dash.TABLE if f"<h2>{e.name}</h2>" in page} == expected


def test_views_keyed_on_events_appear_when_they_come_and_see_the_whole_run():
    events = stream("darts", evals=6)
    board = Dashboard(live=False)
    for e in events[:1]:
        board(e)
    assert set(board.views) == {"SupernetGraph"}   # run_start carries the space: its graph is drawn at once
    for e in events[1:]:
        board(e)
    assert {"TrainingBoard", "KLRanking"} <= set(board.views)
    ranking = board["KLRanking"]
    alone = KLRanking.from_events(events)
    assert ranking.series == alone.series and ranking.title == alone.title   # run_start reached it too
    np.testing.assert_allclose(board["AlphaEvolution"].entropy, AlphaEvolution.from_events(events).entropy)


def test_a_new_view_registers_with_one_line():
    class Latency(EventView):
        def build(self):
            self.values = []
            return self.new_figure()

        def handle(self, event):
            if event["type"] == "metric":
                self.values.append(event["value"])
                return True
            return event["type"] == "run_start"

        def render(self):
            pass

    import sys
    sys.modules[__name__].Latency = Latency
    dash.register(f"{__name__}:Latency", events={"metric:latency"})
    try:
        board = Dashboard(live=False)
        for e in stream("darts")[:3]:
            board(e)
        board(make_event("metric", 3, step=3, name="reward", value=1.0))
        assert "Latency" not in board.views
        board(make_event("metric", 4, step=4, name="latency", value=12.5))
        assert board["Latency"].values == [1.0, 12.5] and board["Latency"].events_seen == 5
    finally:
        dash.TABLE[:] = [e for e in dash.TABLE if not e.view.endswith(":Latency")]


def test_replay_plays_a_recorded_run_back_and_forth():
    pytest.importorskip("ipywidgets")
    events = stream("spos", evals=4)
    replay = Dashboard.replay(events)
    assert replay.at == len(events)                       # opens on the whole run
    whole = live.figure_dict(replay.dashboard["SamplingFairness"].fig)
    replay.slider.value = 5                               # back to step 5
    assert replay.at == replay.upto(5) < len(events)
    assert all(e.get("step", 0) <= 5 for e in events[:replay.at] if isinstance(e.get("step"), int))
    assert replay.dashboard["SamplingFairness"].runs["run"].steps[-1] == 5
    replay.slider.value = len(replay.steps) - 1           # forward again: the same figure
    assert live.figure_dict(replay.dashboard["SamplingFairness"].fig) == whole
