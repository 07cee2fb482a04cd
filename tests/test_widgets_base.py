"""The view machinery on synthetic event streams: throttling, flushing, replay, export."""
import numpy as np
import pytest

from nasbench.events import make_event
from nasbench.widgets import TrainingBoard, op_color
from nasbench.widgets.board import downsample, smooth

SPACE = {"name": "toy", "decisions": ["a"], "options": [["x", "y"]]}


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def stream(n_steps, phases=("weights",)):
    yield make_event("run_start", 0, method="m", dataset="d", seed=3, config={}, space=SPACE)
    for s in range(n_steps):
        for p in phases:
            yield make_event("step", s, step=s, epoch=0, phase=p, loss=1.0 / (s + 1), acc=s / n_steps)
        if s % 10 == 0:
            yield make_event("metric", s, step=s, name="entropy", value=float(s))
    yield make_event("run_end", n_steps, status="completed")


def test_the_throttle_bounds_redraws_whatever_the_event_rate():
    clock = FakeClock()
    board = TrainingBoard(live=False, clock=clock, min_interval=0.25)
    events = list(stream(2000))
    for e in events:
        clock.now += 0.001          # 1000 events a second for 2 seconds
        board(e)
    # at most one redraw per 0.25 s of the ~2.2 s, plus the final flush at run_end
    assert 2 <= board.renders <= int(clock.now / 0.25) + 2
    assert board.events_seen == len(events)
    # the state holds every event even though few redraws were sent
    assert board.curves["weights"]["step"] == list(range(2000))
    assert board.metrics["entropy"]["step"] == list(range(0, 2000, 10))


def test_slow_events_each_get_a_redraw_and_nothing_is_redrawn_twice():
    clock = FakeClock()
    board = TrainingBoard(live=False, clock=clock, min_interval=0.25)
    events = list(stream(5))
    for e in events:
        clock.now += 1.0
        board(e)
    # every visible event arrived 1 s after the last redraw; run_end changes nothing visible
    assert board.renders == len(events) - 1
    board.flush()
    assert board.renders == len(events) - 1, "flush without changes must not send a redraw"


def test_replay_ends_in_the_same_state_as_live(tmp_path):
    events = list(stream(50, phases=("weights", "arch")))
    live = TrainingBoard(live=False)
    for e in events:
        live(e)
    replayed = TrainingBoard.from_events(events)
    assert dict(replayed.curves) == dict(live.curves)
    assert [t.meta for t in replayed.fig.data] == [t.meta for t in live.fig.data]
    for a, b in zip(replayed.fig.data, live.fig.data):
        np.testing.assert_array_equal(a.y, b.y)
    assert replayed.fig.layout.title.text == "m on d (seed 3)"


def test_figure_shows_the_curves():
    board = TrainingBoard.from_events(list(stream(30, phases=("weights", "arch"))))
    traces = {t.meta: t for t in board.fig.data}
    assert set(traces) >= {"weights/loss", "arch/loss", "weights/acc", "metric/entropy"}
    np.testing.assert_allclose(traces["weights/loss/raw"].y, [1.0 / (s + 1) for s in range(30)])
    html = board.to_html(include_plotlyjs=False)
    assert "weights phase" in html and "entropy" in html


def test_smooth_is_the_bias_corrected_moving_average():
    rng = np.random.default_rng(0)
    y = rng.normal(size=40)
    beta = 0.9
    # reference: the explicit weighted average sum_j (1-b) b^(i-j) y_j / (1 - b^(i+1))
    ref = [sum((1 - beta) * beta ** (i - j) * y[j] for j in range(i + 1)) / (1 - beta ** (i + 1))
           for i in range(len(y))]
    np.testing.assert_allclose(smooth(y, beta), ref, rtol=1e-10)
    assert smooth([5.0])[0] == pytest.approx(5.0)


def test_downsample_averages_runs_of_points():
    x = np.arange(10)
    y = np.arange(10) * 2.0
    xs, ys = downsample(x, y, n=5)
    np.testing.assert_allclose(xs, [0.5, 2.5, 4.5, 6.5, 8.5])
    np.testing.assert_allclose(ys, 2 * xs)
    xs, ys = downsample(x, y, n=100)
    np.testing.assert_array_equal(xs, x)


def test_live_mode_keeps_a_plain_figure_and_a_small_widget():
    import plotly.graph_objects as go
    board = TrainingBoard(live=True)
    assert type(board.fig) is go.Figure    # the browser side follows it by diffs (test_widgets_live)
    for e in stream(5):
        board(e)
    assert len(board.fig.data) > 0


def test_op_colours_are_stable_and_distinct_for_the_cell_ops():
    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    assert len({op_color(o) for o in ops}) == len(ops)
    assert op_color("some_new_block") == op_color("some_new_block")


class SlowView(TrainingBoard):
    """A TrainingBoard whose every redraw costs `cost` seconds on the shared fake clock."""

    def __init__(self, clock, cost, **kwargs):
        self.cost = cost
        super().__init__(live=False, clock=clock, **kwargs)

    def render(self):
        super().render()
        self.clock.now += self.cost


@pytest.mark.parametrize("n_views", [1, 3])
def test_all_views_together_redraw_within_their_budget(n_views):
    """Redraws costing 20 ms, an event every 50 ms: whatever the number of views, the time spent
    redrawing (counted on the clock) stays within `budget` of the whole, and the views share it."""
    clock = FakeClock()
    views = [SlowView(clock, cost=0.02) for _ in range(n_views)]
    start = clock.now
    events = list(stream(2000))
    for e in events[:-1]:       # (not run_end: its final redraw is unthrottled by design)
        clock.now += 0.05
        for v in views:
            v(e)
    elapsed = clock.now - start
    spent = sum(v.renders * v.cost for v in views)
    budget = views[0].budget
    assert spent / elapsed <= budget * 1.05, (spent / elapsed, budget)
    assert spent / elapsed >= budget * 0.6            # and uses it (the views still redraw often)
    counts = [v.renders for v in views]
    assert max(counts) - min(counts) <= 2              # shared evenly
