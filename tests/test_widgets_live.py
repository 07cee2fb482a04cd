"""The machinery under every view: diffs that rebuild the figure, one plotly.js per kernel, the
static figure a finished view leaves in the notebook (the same as a replay of its log)."""
import base64
import copy
import gzip
import json
from pathlib import Path

import numpy as np
import plotly
import plotly.graph_objects as go
import pytest

from nasbench.events import make_event
from nasbench.spaces import get_space
from nasbench.widgets import AlphaEvolution, SamplingFairness, SupernetGraph, TrainingBoard, live
from nasbench.widgets.live import PLOTLY_MIME, WIDGET_MIME, diff, figure_dict


def apply(fig: dict, d: dict) -> dict:
    """What view.js does with a diff, written out again: cut to n traces, put the new ones,
    patch changed keys (None removes a key) of the traces and the layout."""
    fig = copy.deepcopy(fig)
    fig["data"] = fig["data"][:d["n"]]
    for i, trace in d["new"].items():
        i = int(i)
        fig["data"] += [None] * (i + 1 - len(fig["data"]))
        fig["data"][i] = trace
    for i, keys in d["traces"].items():
        for k, v in keys.items():
            if v is None:
                fig["data"][int(i)].pop(k, None)
            else:
                fig["data"][int(i)][k] = v
    for k, v in d["layout"].items():
        if v is None:
            fig["layout"].pop(k, None)
        else:
            fig["layout"][k] = v
    return fig


def decode(spec) -> np.ndarray:
    """plotly.js' typed-array spec {dtype, bdata, shape} back to numbers, written out again."""
    dtypes = {"i1": np.int8, "u1": np.uint8, "i2": np.int16, "u2": np.uint16, "i4": np.int32, "u4": np.uint32,
              "f4": np.float32, "f8": np.float64}
    array = np.frombuffer(base64.b64decode(spec["bdata"]), dtype=dtypes[spec["dtype"]])
    return array.reshape([int(n) for n in spec["shape"].split(",")]) if "shape" in spec else array


def test_numeric_arrays_travel_as_typed_arrays_and_come_back():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50).tolist()
    z = rng.random((6, 4)).tolist()
    trace = {"x": list(range(50)), "y": y, "z": z, "text": ["a"] * 10, "gaps": [1.0, None] * 5, "short": [1, 2],
             "big": [2**40] * 10, "flags": [True] * 10}
    out = live.compact(trace)
    assert decode(out["x"]).tolist() == list(range(50)) and out["x"]["dtype"] == "i4"
    np.testing.assert_allclose(decode(out["y"]), y, rtol=1e-7)       # float32: 7 significant digits
    np.testing.assert_allclose(decode(out["z"]), z, rtol=1e-7)
    assert decode(out["z"]).shape == (6, 4)
    assert decode(out["big"]).tolist() == [2**40] * 10                # beyond int32: float64
    assert out["text"] == trace["text"] and out["gaps"] == trace["gaps"] and out["short"] == [1, 2]
    assert out["flags"] == [True] * 10
    # plotly.py makes the same spec from a numpy array (what plotly.js decodes)
    assert out["x"] == go.Figure(go.Scatter(x=np.arange(50, dtype=np.int32))).to_dict()["data"][0]["x"]


def over_json(d):
    return json.loads(plotly.io.json.to_json_plotly(d))


def figures():
    """A sequence of figures changing in every way a view changes its figure."""
    f = go.Figure(layout=dict(height=300, title="a"))
    yield f
    f.add_trace(go.Scatter(x=np.arange(3.0), y=[1, 2, 3], name="s"))
    yield f
    f.data[0].y = [3, 2, 1]
    f.update_layout(title="b", xaxis_title="step")
    yield f
    f.add_trace(go.Heatmap(z=[[1, 2], [3, 4]]))
    f.data[0].line.color = "red"
    yield f
    f.data = []
    f.add_trace(go.Bar(x=[1], y=[2]))                  # fewer traces, another type
    f.layout.xaxis.title = None
    yield f
    f.plotly_restyle({"marker": [dict(color="blue")]}, trace_indexes=[0])
    yield f


def test_diffs_rebuild_each_figure_from_the_first():
    seen = None
    for f in figures():
        now = over_json(figure_dict(f))
        if seen is None:
            seen = now
            continue
        d = diff(seen, now)
        if d is not None:
            seen = apply(seen, over_json(d))
        assert seen == now


def test_no_change_sends_nothing():
    f = next(figures())
    assert diff(figure_dict(f), figure_dict(f)) is None


def darts_stream(n=40):
    space = get_space("darts")
    rng = np.random.default_rng(0)
    events = [make_event("run_start", 0, method="darts", dataset="d", seed=0, config={},
                         space=space.describe())]
    for step in range(n):
        probs = [list(rng.dirichlet(np.ones(len(o)))) for o in space.options]
        events.append(make_event("alpha", step, step=step, probs=probs))
        events.append(make_event("step", step, step=step, epoch=0, phase="weights", loss=1.0 / (step + 1)))
        choices = [int(np.argmax(p)) for p in probs]
        events.append(make_event("genotype", step, step=step, arch=space.encode(choices), choices=choices))
    events.append(make_event("run_end", n, status="completed", best=events[-1]["arch"], wall=1.0))
    return events


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def browser_figure(widget) -> dict:
    """What view.js draws from the widget's synced state: the base, patched."""
    base = json.loads(widget._figure)
    return apply(base, json.loads(widget._patch)) if widget._patch else base


@pytest.mark.parametrize("cls", [AlphaEvolution, SupernetGraph, TrainingBoard])
def test_a_live_view_sends_its_figure_once_then_small_patches_that_rebuild_it(cls):
    events = darts_stream()
    clock = FakeClock()
    view = cls(live=True, clock=clock)
    widget = view.widget
    updates = []    # every state update the browser receives: {trait: new value}
    widget.observe(lambda change: updates.append(change["name"]), names=["_figure", "_patch", "_seq"])
    sizes = []
    widget.observe(lambda change: sizes.append(len(change["new"])), names=["_figure", "_patch"])
    for e in events:
        clock.now += 0.05
        view(e)
        # a browser that missed every update before this one still draws the current figure
        assert browser_figure(widget) == over_json(figure_dict(view.fig))
    assert view.renders >= 3 and widget._seq == updates.count("_seq") <= view.renders
    full = len(plotly.io.json.to_json_plotly(figure_dict(view.fig)))
    # patches, not the whole figure on every redraw (the template and skeleton go once)
    assert sum(sizes) < full * widget._seq
    assert widget.bytes == sum(sizes)


def test_a_patch_bigger_than_its_base_becomes_the_base():
    f = go.Figure(go.Scatter(x=[0], y=[0]))
    widget = live.LiveFigure(f)
    f.data[0].x, f.data[0].y = list(range(5000)), list(range(5000))
    widget.push(f)                                  # the patch would dwarf the 1-point base (and its template)
    assert widget._patch == "" and decode(json.loads(widget._figure)["data"][0]["x"]).tolist() == list(range(5000))
    f.layout.title = "small change"
    widget.push(f)                                  # now a patch: only the title
    assert json.loads(widget._patch) == {"n": 1, "new": {}, "traces": {}, "layout": {"title": {"text": "small change"}}}
    seq = widget._seq
    widget.push(f)                                  # nothing changed: nothing sent
    assert widget._seq == seq == 2


def test_every_view_shares_one_plotly_bundle_per_kernel():
    a, b = AlphaEvolution(live=True), SamplingFairness(live=True)
    assert a.widget._loader is b.widget._loader
    source = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    assert gzip.decompress(a.widget._loader.bundle) == source
    assert len(a.widget._loader.bundle) < len(source) / 2
    assert len(a.widget._esm) < 10_000     # the views' own module is small


def test_a_finished_view_leaves_the_replayed_figure_in_the_notebook():
    events = darts_stream(12)
    view = AlphaEvolution(live=True, min_interval=0)
    assert WIDGET_MIME in view._bundle()        # live while the run goes on
    for e in events[:-1]:
        view(e)
    assert WIDGET_MIME in view._bundle()
    view(events[-1])
    bundle = view._bundle()                     # run_end: a static figure
    assert WIDGET_MIME not in bundle and PLOTLY_MIME in bundle
    replayed = AlphaEvolution.from_events(events)
    want = over_json(figure_dict(replayed.fig))
    got = bundle[PLOTLY_MIME]
    assert got["data"] == want["data"]
    assert {k: v for k, v in got["layout"].items() if k != "template"} == \
           {k: v for k, v in want["layout"].items() if k != "template"}


def test_a_new_run_into_a_finished_view_makes_it_live_again():
    events = darts_stream(3)
    view = TrainingBoard(live=True, min_interval=0)
    for e in events:
        view(e)
    assert view.finished and WIDGET_MIME not in view._bundle()
    view(events[0])
    assert not view.finished and WIDGET_MIME in view._bundle()


def test_static_bundles_of_the_darts_views_are_small():
    events = darts_stream(200)
    sizes = {cls.__name__: len(json.dumps(live.static_bundle(cls.from_events(events).fig)))
             for cls in (AlphaEvolution, SupernetGraph, TrainingBoard)}
    assert max(sizes.values()) < 250_000, sizes
