"""KLRanking on a synthetic event stream: state, Kendall tau against scipy, throttled redraws,
replay from a file, HTML export, and the report picking it up."""
import json

import numpy as np
import pytest
from scipy import stats

from nasbench.events import make_event
from nasbench.widgets.ranking import KLRanking


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _stream(n=40, seed=0, with_kl=True):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.6, 0.95, n)
    score = truth + rng.normal(0, 0.05, n)            # the one-shot score tracks the truth
    kl = 1.0 - truth + rng.normal(0, 0.05, n)          # low KL for good architectures
    events = [make_event("run_start", 0.0, method="oneshot", dataset="digits", seed=0, config={},
                         space={"name": "nb201-small", "decisions": ["a"], "options": [["x", "y"]]})]
    for i in range(n):
        extra = {"kl": float(kl[i])} if with_kl else {}
        events.append(make_event("eval", 0.1 * i, arch=f"arch-{i}", choices=[0], score=float(score[i]),
                                 metric="valid_acc_oneshot", truth=float(truth[i]), **extra))
    events.append(make_event("eval", 5.0, arch="arch-unknown", choices=[0], score=0.5, metric="valid_acc_oneshot"))
    events.append(make_event("run_end", 6.0, status="completed", wall=6.0))
    return events, truth, score, kl


def test_state_and_tau_match_scipy():
    events, truth, score, kl = _stream()
    view = KLRanking.from_events(events, n_boot=100)
    assert view.names() == ["valid_acc_oneshot", "kl"]
    assert view.without_truth == 1
    est = view.tau("valid_acc_oneshot")
    assert est.value == pytest.approx(stats.kendalltau(score, truth).statistic)
    assert est.low <= est.value <= est.high
    assert view.tau("kl").value == pytest.approx(stats.kendalltau(-kl, truth).statistic)
    assert view.tau("kl").value > 0.5                   # low KL <-> high truth in this stream


def test_figure_shows_one_score_with_hover_and_dropdown():
    events, truth, score, _ = _stream()
    view = KLRanking.from_events(events, metric="kl")
    visible = [t.visible for t in view.fig.data]
    assert visible == [False, True]                     # KL shown first when asked
    kl_trace = view.fig.data[1]
    assert list(kl_trace.x) == pytest.approx(list(truth))
    assert kl_trace.text[3] == "arch-3"                 # hover names the architecture
    buttons = view.fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["valid_acc_oneshot", "KL"]
    assert "Kendall tau(-KL, truth)" in view.fig.layout.title.text
    assert "1 evaluations without truth" in view.fig.layout.title.text
    default = KLRanking.from_events(events)
    assert [t.visible for t in default.fig.data] == [True, False]
    assert list(default.fig.data[0].y) == pytest.approx(list(score))


def test_redraws_are_throttled_by_the_clock_and_flushed_at_run_end():
    events, *_ = _stream(n=40)
    clock = FakeClock()
    view = KLRanking(live=False, clock=clock, min_interval=1.0, n_boot=20)
    for i, event in enumerate(events):
        clock.now = i * 0.25                            # four events a second
        view(event)
    # 43 events over ~10.5 s at one redraw per second at most, plus the flush at run_end
    assert 5 <= view.renders <= 13
    assert len(view.fig.data[0].x) == 40                # the final state is complete


def test_no_truth_yet_is_said_not_drawn():
    events, *_ = _stream(n=3)
    stripped = [{k: v for k, v in e.items() if k != "truth"} for e in events]
    view = KLRanking.from_events(stripped)
    assert view.names() == [] and view.without_truth == 4
    assert "no evaluation with a ground truth" in view.fig.layout.title.text


def test_replay_from_file_and_html_export(tmp_path):
    events, *_ = _stream(n=10, with_kl=False)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    view = KLRanking.from_events(path)
    assert view.names() == ["valid_acc_oneshot"]
    html = view.to_html(include_plotlyjs=False)
    assert "Kendall tau" in html and "arch-7" in html


def test_report_includes_the_ranking_view(tmp_path):
    from nasbench.report import write_report
    events, *_ = _stream(n=8)
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    page = write_report(tmp_path).read_text()
    assert "KLRanking" in page
