"""ControllerPanel on a hand-made event stream (what it must show is known exactly)."""
import numpy as np
import pytest

from nasbench.events import make_event
from nasbench.spaces import NB201Space
from nasbench.widgets import ControllerPanel

SPACE = NB201Space(nodes=3, ops=["none", "skip_connect", "nor_conv_3x3"])


def stream():
    yield make_event("run_start", 0.0, method="enas", dataset="digits", seed=0, config={},
                     space=SPACE.describe())
    probs = [[[0.2, 0.3, 0.5]] * 3, [[0.1, 0.8, 0.1], [0.6, 0.2, 0.2], [0.3, 0.3, 0.4]]]
    for k, (r, b, h) in enumerate([(0.5, 0.05, 3.2), (0.7, 0.12, 2.9)]):
        yield make_event("step", 1.0 + k, step=4, epoch=0, phase="controller", loss=0.1)
        for name, value in (("reward", r), ("baseline", b), ("advantage", r - b), ("entropy", h)):
            yield make_event("metric", 1.0 + k, step=4, name=name, value=value)
        yield make_event("alpha", 1.0 + k, step=4, probs=probs[k])
    yield make_event("run_end", 3.0, status="completed")


@pytest.mark.parametrize("live", [False, True])
def test_panel_shows_reward_baseline_entropy_and_top_probabilities(live):
    view = ControllerPanel.from_events(list(stream()), live=live)
    reward, baseline, entropy, heat = view.fig.data
    assert list(reward.y) == [0.5, 0.7] and list(baseline.y) == [0.05, 0.12]
    assert list(entropy.y) == [3.2, 2.9] and list(reward.x) == [1, 2]
    assert np.allclose(np.array(heat.z), [[0.5, 0.8], [0.5, 0.6], [0.5, 0.4]])
    assert [list(r) for r in heat.text] == [["nor_conv_3x3", "skip_connect"], ["nor_conv_3x3", "none"],
                                            ["nor_conv_3x3", "nor_conv_3x3"]]
    assert "after 2 updates" in view.fig.layout.title.text


def test_report_shows_the_panel_only_for_controller_runs():
    events = list(stream())
    assert ControllerPanel.shows(events)
    assert not ControllerPanel.shows([e for e in events if e.get("name") != "reward"])


def test_a_redraw_between_reward_and_baseline_is_fine():
    view = ControllerPanel(live=False, min_interval=0.0)
    view.budget = float("inf")            # no adaptive wait after a slow redraw: redraw after every event
    for event in stream():
        view(event)
    assert view.renders > 5 and list(view.fig.data[0].y) == [0.5, 0.7]
