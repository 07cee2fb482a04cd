"""CollapseView on synthetic event streams: the eigenvalue and parameter-free curves, the DARTS-ES
mark against the events they came from, two runs side by side, and the Dashboard's choice."""
import pytest

from nasbench.events import make_event
from nasbench.spaces import Space
from nasbench.widgets import CollapseView
from nasbench.widgets.dashboard import views_for

SPACE = Space(["e0", "e1"], [["skip_connect", "sep_conv_3x3"]] * 2)
EIGEN = [0.1, 0.12, 0.2, 0.5, 0.9]
SHARE = [0.0, 0.0, 0.5, 0.5, 1.0]


def stream(stop=None, scale=1.0, measured=True):
    ev = [make_event("run_start", 0, method="darts", dataset="digits", seed=0, config={},
                     space=SPACE.describe())]
    for k, (lam, share) in enumerate(zip(EIGEN, SHARE)):
        step = 2 * k + 1
        ev.append(make_event("step", 0, step=step, epoch=0, phase="arch", loss=1.0))
        ev.append(make_event("metric", 0, step=step, name="alpha_entropy", value=0.6))
        if measured:
            ev.append(make_event("metric", 0, step=step, name="hessian_eigenvalue", value=scale * lam))
            ev.append(make_event("metric", 0, step=step, name="parameter_free_share", value=share))
    if stop is not None:
        ev.append(make_event("metric", 0, step=9, name="early_stop", value=stop))
    ev.append(make_event("run_end", 0, status="completed"))
    return ev


def trace(view, meta):
    return next(t for t in view.fig.data if t.meta == meta)


@pytest.mark.parametrize("live", [False, True])
def test_curves_follow_the_events(live):
    view = CollapseView.from_events(stream(), live=live)
    eig, share = trace(view, "run/hessian_eigenvalue"), trace(view, "run/parameter_free_share")
    assert list(eig.x) == [1, 3, 5, 7, 9] == list(share.x)
    assert list(eig.y) == EIGEN and list(share.y) == SHARE
    assert not [t for t in view.fig.data if "stop" in t.meta]          # no DARTS-ES, no mark
    assert "eigenvalue 0.9" in view.fig.layout.title.text and "100%" in view.fig.layout.title.text


def test_the_early_stop_is_marked_where_its_architecture_was():
    view = CollapseView.from_events(stream(stop=3))
    eig, share = trace(view, "run/stop/hessian_eigenvalue"), trace(view, "run/stop/parameter_free_share")
    # step 3 is the 2nd measurement: eigenvalue 0.12, share 0
    assert list(eig.x) == [3] and list(eig.y) == [0.12]
    assert list(share.x) == [3] and list(share.y) == [0.0]
    line = trace(view, "run/stopline/hessian_eigenvalue")
    assert list(line.x) == [3, 3] and max(line.y) == 0.9
    assert "DARTS-ES stop at step 3" in view.fig.layout.title.text
    # between measurements: the last value before the stop step
    assert list(trace(CollapseView.from_events(stream(stop=4)), "run/stop/hessian_eigenvalue").y) == [0.12]


def test_two_runs_side_by_side():
    view = CollapseView.compare({"darts": stream(scale=2.0), "darts-es": stream(stop=5)})
    assert list(trace(view, "darts/hessian_eigenvalue").y) == [2 * v for v in EIGEN]
    assert list(trace(view, "darts-es/stop/hessian_eigenvalue").y) == [0.2]
    assert not [t for t in view.fig.data if t.meta.startswith("darts/stop")]
    assert "darts: eigenvalue 1.8" in view.fig.layout.title.text


def test_the_dashboard_shows_it_only_when_the_eigenvalue_is_logged():
    assert "CollapseView" in [e.name for e in views_for(stream())]
    assert "CollapseView" not in [e.name for e in views_for(stream(measured=False))]
    assert CollapseView.shows(stream()) and not CollapseView.shows(stream(measured=False))
