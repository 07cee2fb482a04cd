"""ParetoView: chain-small's whole accuracy-latency trade-off on one device, with each search's pick.

Every one of chain-small's 125 networks is a point: its latency as the device's table predicts it
(LAT = base + sum_l LUT[l][c_l]) against its stand-alone accuracy from the ground-truth table
(`nasbench.bench.load_table("chain-small")`). The Pareto front joins the networks that no other
network beats on both axes (as fast or faster and as accurate or more, better on one). Each run's
pick is its latest `genotype` event, so live it moves as the search goes; at `run_end` it is the
returned network. The events carry the run's method (run_start) and, when it searched with a
latency table, that table's device (`config.lut.device`), shown on hover.

    view = ParetoView(device="pixel1", runs=["ProxylessNAS", "FBNet"])
    search = ProxylessNAS(..., callbacks=[view.feed("ProxylessNAS")])
    pareto_figure("pixel1", {"ProxylessNAS": "runs/p/events.jsonl", ...})   # recorded runs

`device`: "this" (this machine's measured table; taken from a run that searched with it, or
measured with the CPU presets' sizes), a named device of `nasbench.evaluate.latency_devices`
("pixel1", "proxyless-mobile"), or a LatencyTable.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import plotly.graph_objects as go

from nasbench.events import Event
from nasbench.widgets.base import SeveralRuns

SPACE = "chain-small"
RUN_SYMBOLS = ["star", "diamond", "square", "triangle-up", "cross", "x", "pentagon", "hexagon"]
RUN_COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def pareto_front(latency: Sequence[float], accuracy: Sequence[float]) -> list[int]:
    """Indices of the non-dominated points, fastest first: no other point is as fast or faster
    and as accurate or more, and strictly better in one of the two. (Sorted by latency, then by
    accuracy best first, a point is on the front iff it is more accurate than every point before,
    or a twin of the last point kept: equal on both axes, neither dominates the other.)"""
    order = sorted(range(len(latency)), key=lambda i: (latency[i], -accuracy[i]))
    front: list[int] = []
    for i in order:
        last = front[-1] if front else None
        if last is None or accuracy[i] > accuracy[last] or (
                accuracy[i] == accuracy[last] and latency[i] == latency[last]):
            front.append(i)
    return front


def device_latency_table(device, like: dict | None = None):
    """The LatencyTable of `device` for chain-small. "this": the table in `like` (a run's
    `config.lut`) when one is given, else this machine's table at the CPU presets' sizes
    (C=8, digits 1x8x8, batch `nasbench.methods.latency_aware.MEASURE_BATCH`; cached)."""
    from nasbench.evaluate.latency import LatencyTable, latency_table
    from nasbench.evaluate.latency_devices import DEVICES, device_table
    from nasbench.methods.latency_aware import MEASURE_BATCH

    if isinstance(device, LatencyTable):
        return device
    if device in DEVICES:
        return device_table(device, SPACE)
    if device != "this":
        raise ValueError(f"unknown device {device!r}: 'this', {', '.join(map(repr, DEVICES))} or a LatencyTable")
    if like and like.get("lut") and like.get("device") not in DEVICES:
        return LatencyTable(space=SPACE, device=like.get("device", "cpu"), threads=like.get("threads", 1),
                            torch_version="", batch_size=0, lut=like["lut"], spread=like.get("spread", []),
                            base_ms=like["base_ms"], device_name=like.get("device_name", ""),
                            options=like.get("options", []))
    return latency_table(SPACE, input_shape=(1, 8, 8), C=8, num_classes=10, batch_size=MEASURE_BATCH,
                         progress=False)


class _Run:
    def __init__(self):
        self.method = None
        self.searched_on = None   # the device of the run's own latency table
        self.pick: tuple[str, list[int]] | None = None
        self.trail: list[str] = []  # every genotype the run returned on the way, in order
        self.lut_info: dict = {}

    def handle(self, event: Event) -> bool:
        kind = event["type"]
        if kind == "run_start":
            self.__init__()
            self.method = event.get("method")
            config = event.get("config") or {}
            lut = config.get("lut") or config.get("latency") or {}
            self.searched_on = lut.get("device")
            self.lut_info = lut
            return True
        if kind == "genotype":
            self.pick = (event["arch"], list(event["choices"]))
            if not self.trail or self.trail[-1] != event["arch"]:
                self.trail.append(event["arch"])
            return True
        if kind == "run_end" and event.get("best"):
            return self.pick is not None
        return False


class ParetoView(SeveralRuns):
    """All 125 chain-small networks (truth vs the device's latency), the Pareto front, each run's pick."""

    Run = _Run

    def __init__(self, device="pixel1", runs: Iterable[str] = ("run",), **kwargs):
        from nasbench.bench import load_table

        self.device = device
        self.truth_table = load_table(SPACE)
        self.table = None if device == "this" else device_latency_table(device)
        super().__init__(runs=runs, **kwargs)
        if self.table is not None:
            self._draw_points()

    # -- the points and the front -----------------------------------------------------------
    def points(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(arch, latency ms, truth) of every network of the table."""
        entries = list(self.truth_table.entries.values())
        lat = np.array([self.table.predict(e.choices) for e in entries])
        acc = np.array([e.test_acc for e in entries])
        return [e.arch for e in entries], lat, acc

    def front(self) -> list[str]:
        """The archs on the Pareto front, fastest first."""
        archs, lat, acc = self.points()
        return [archs[i] for i in pareto_front(lat, acc)]

    def build(self):
        fig = go.Figure()
        fig.add_trace(go.Scatter(meta="all", mode="markers", name="every network", x=[], y=[],
                                 marker=dict(color="#9e9e9e", size=6, opacity=0.6),
                                 hovertemplate="%{text}<br>%{x:.3f} ms, truth %{y:.3f}<extra></extra>"))
        fig.add_trace(go.Scatter(meta="front", mode="lines+markers", name="Pareto front", x=[], y=[],
                                 line=dict(color="black", shape="hv", width=1.5), marker=dict(size=7, color="black"),
                                 hovertemplate="%{text}<br>%{x:.3f} ms, truth %{y:.3f}<extra>front</extra>"))
        return self.new_figure(fig, height=420, margin=dict(l=60, r=20, t=50, b=50),
                               xaxis_title="predicted latency (ms)", yaxis_title="stand-alone accuracy (truth)",
                               legend=dict(orientation="h", y=-0.2))

    def _draw_points(self):
        archs, lat, acc = self.points()
        idx = pareto_front(lat, acc)
        all_ = next(t for t in self.fig.data if t.meta == "all")
        all_.x, all_.y, all_.text = list(lat), list(acc), archs
        front = next(t for t in self.fig.data if t.meta == "front")
        front.x, front.y, front.text = [lat[i] for i in idx], [acc[i] for i in idx], [archs[i] for i in idx]
        name = self.table.device_name or self.table.device
        self.fig.update_layout(title=dict(text=f"chain-small on {self.device if isinstance(self.device, str) else name}: "
                                               f"{len(idx)} of {len(archs)} networks on the front", x=0.01))

    # -- events -----------------------------------------------------------------------------
    def handle(self, event: Event) -> bool:
        changed = self.runs[self._label].handle(event)
        if event["type"] == "run_start" and self.table is None:
            self.table = device_latency_table("this", like=self.runs[self._label].lut_info)
            self._draw_points()
        return changed

    def picks(self) -> dict[str, str | None]:
        """Each run's current pick (arch), by label."""
        return {label: (run.pick[0] if run.pick else None) for label, run in self.runs.items()}

    def render(self):
        if self.table is None:
            return
        front = set(self.front())
        for n, (label, run) in enumerate(self.runs.items()):
            if run.pick is None:
                continue
            arch, choices = run.pick
            lat, acc = self.table.predict(choices), self.truth_table.truth(arch)
            where = "on the front" if arch in front else "off the front"
            tag = label if label != "run" else (run.method or label)
            searched = f" (searched with {run.searched_on})" if run.searched_on else ""
            key = f"pick/{label}"
            i = next((i for i, t in enumerate(self.fig.data) if t.meta == key), None)
            if i is None:
                self.fig.add_trace(go.Scatter(meta=key, mode="markers", name=tag,
                                              marker=dict(symbol=RUN_SYMBOLS[n % len(RUN_SYMBOLS)], size=15,
                                                          color=RUN_COLORS[n % len(RUN_COLORS)],
                                                          line=dict(color="white", width=1))))
                i = len(self.fig.data) - 1
            t = self.fig.data[i]
            t.name = tag
            t.x, t.y = [lat], [acc]
            t.hovertemplate = (f"{tag}{searched}<br>{arch}<br>%{{x:.3f}} ms, truth %{{y:.3f}}, {where}"
                               "<extra></extra>")


def _events(run) -> "str | os.PathLike | list":
    """A run given as a directory, an events.jsonl path or a list of events, as `replay` takes it."""
    if isinstance(run, (str, os.PathLike)) and Path(run).is_dir():
        return Path(run) / "events.jsonl"
    return run


def pareto_figure(device, runs=None) -> go.Figure:
    """The Pareto front of chain-small on `device` with each run's pick: `runs` maps a label to a
    run (a run directory, an events.jsonl path, or a list of events), or is a list of run
    directories (labelled "method sSEED"). Returns the plotly figure (`ParetoView.compare`)."""
    return pareto_view(device, runs).fig


def pareto_view(device, runs=None) -> ParetoView:
    """`pareto_figure`'s view (its `picks()` and `front()` are there to check)."""
    from nasbench.events import read_events

    runs = runs or {}
    if not isinstance(runs, dict):
        labelled = {}
        for run in runs:
            events = read_events(_events(run))
            start = events[0] if events else {}
            labelled[f"{start.get('method', '?')} s{start.get('seed', '?')}"] = events
        runs = labelled
    runs = {label: _events(run) for label, run in runs.items()}
    if not runs:
        view = ParetoView(device=device, live=False)
        if view.table is None:
            view.table = device_latency_table(device)
            view._draw_points()
        view.finish()
        return view
    return ParetoView.compare(runs, device=device)
