"""LatencyPanel on synthetic event streams: curves, target, temperature, norms vs thresholds and the
LUT heatmap against the events they came from; two runs side by side; the report."""
from nasbench.events import Recorder, make_event
from nasbench.report import write_report
from nasbench.spaces import Space
from nasbench.widgets import LatencyPanel

OPTIONS = [["a", "b"], ["a", "b", "zero"]]
LATENCY = {"lut": [[1.0, 2.0], [0.5, 1.5, 0.0]], "options": OPTIONS, "base_ms": 0.3, "target_ms": 2.2}


def stream(scale=1.0, singlepath=False):
    space = Space(["layer0", "layer1"], OPTIONS)
    ev = [make_event("run_start", 0, method="proxyless", dataset="digits", seed=0,
                     config={"lut": LATENCY}, space=space.describe())]
    for s in range(6):
        ev.append(make_event("metric", 0, step=s, name="expected_latency_ms", value=scale * (3 - 0.1 * s)))
        ev.append(make_event("metric", 0, step=s, name="task_loss", value=2.0 - 0.1 * s))
        ev.append(make_event("metric", 0, step=s, name="latency_loss", value=0.05 * s))
        if s % 2 == 0:
            ev.append(make_event("metric", 0, step=s, name="temperature", value=5.0 / (s + 1)))
        if singlepath:
            for layer in (0, 3):
                ev.append(make_event("metric", 0, step=s, name=f"ring_norm/L{layer}", value=0.1 * s + layer))
                ev.append(make_event("metric", 0, step=s, name=f"threshold/L{layer}", value=0.2 + layer))
    ev.append(make_event("run_end", 0, status="completed"))
    return ev


def _trace(view, meta):
    return next(t for t in view.fig.data if t.meta == meta)


def test_curves_target_temperature_and_lut_follow_the_events():
    view = LatencyPanel.from_events(stream(singlepath=True))
    lat = _trace(view, "run/lat")
    assert list(lat.x) == list(range(6)) and list(lat.y) == [3 - 0.1 * s for s in range(6)]
    target = _trace(view, "run/target")
    assert list(target.y) == [2.2, 2.2]
    assert list(_trace(view, "run/latency_loss").y) == [0.05 * s for s in range(6)]
    tau = _trace(view, "run/tau")
    assert list(tau.x) == [0, 2, 4] and list(tau.y) == [5.0, 5.0 / 3, 1.0]
    # the latest norm and threshold of each layer (L0 and L3)
    norms, thresholds = _trace(view, "run/ring_norm"), _trace(view, "run/threshold")
    assert list(norms.x) == ["L0", "L3"] and list(norms.y) == [0.5, 3.5]
    assert list(thresholds.y) == [0.2, 3.2]
    heat = _trace(view, "lut")
    assert list(heat.x) == ["a", "b", "zero"] and list(heat.y) == ["layer0", "layer1"]
    assert [list(r) for r in heat.z] == [[1.0, 2.0, None], [0.5, 1.5, 0.0]]
    assert view.latest("expected_latency_ms") == 3 - 0.5


def test_no_single_path_metrics_no_bars():
    view = LatencyPanel.from_events(stream())
    assert not [t for t in view.fig.data if t.type == "bar"]


def test_two_budgets_side_by_side():
    view = LatencyPanel.compare({"tight": stream(0.5), "loose": stream(1.0)})
    assert list(_trace(view, "tight/lat").y) == [0.5 * (3 - 0.1 * s) for s in range(6)]
    assert list(_trace(view, "loose/lat").y) == [3 - 0.1 * s for s in range(6)]
    assert _trace(view, "tight/lat").name.startswith("tight")


def test_live_feed_matches_replay():
    live = LatencyPanel(runs=["x"], live=False, min_interval=0)
    for e in stream():
        live.feed("x")(e)
    replayed = LatencyPanel.compare({"x": stream()})
    assert live.fig.to_json() == replayed.fig.to_json()


def test_report_has_the_panel(tmp_path):
    with Recorder(tmp_path / "events.jsonl") as rec:
        for e in stream():
            rec(e)
    assert "<h2>LatencyPanel</h2>" in write_report(tmp_path).read_text()


# -- only the panels a method fills (real short runs of each hardware-aware method) ---------------
import pytest  # noqa: E402

SHORT = {"proxyless": {"epochs": 3, "warmup_epochs": 1, "grad_update_arch_param_every": 1},
         "fbnet": {"epochs": 2, "warmup_epochs": 1, "n_train": 320},  # theta's 20%: two batches
         "single-path": {"epochs": 2, "warmup_epochs": 1.0, "log_every": 1}}


@pytest.mark.parametrize("method", sorted(SHORT))
def test_panels_are_those_the_stream_fills(method, tmp_path):
    """Each row-1 panel shown holds a trace, and the temperature / norm panels are shown exactly
    when the run's events carry a temperature / per-layer norms."""
    from nasbench.methods import get_method
    events = []
    get_method(method)("chain-small", "digits-bench", progress=False, latency_device="pixel1", batch_size=32,
                       out=tmp_path, callbacks=[events.append], **{"n_train": 128, **SHORT[method]}).run()
    names = {e["name"] for e in events if e["type"] == "metric"}
    view = LatencyPanel.from_events(events)
    expected = ["lat", "loss"] + (["tau"] if "temperature" in names else []) + (
        ["norms"] if any(n.startswith("ring_norm/") for n in names) else [])
    assert view.panels() == expected
    assert expected == {"proxyless": ["lat", "loss"], "fbnet": ["lat", "loss", "tau"],
                        "single-path": ["lat", "loss", "norms"]}[method]
    titles = [a.text for a in view.fig.layout.annotations]
    assert len(titles) == len(expected) + 1 and titles[-1] == "latency table (ms)"
    # no empty panel: every row-1 axis pair holds at least one trace, the LUT its heatmap
    axes = {(t.xaxis or "x") for t in view.fig.data}
    assert axes == {"x" if i == 0 else f"x{i + 1}" for i in range(len(expected) + 1)}
    heat = next(t for t in view.fig.data if t.meta == "lut")
    assert heat.z is not None and len(heat.z) == 3 and heat.z[0][0] is not None
