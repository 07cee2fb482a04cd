"""Following a growing log from another process: the worked examples of docs/your-search.md (a
plain PyTorch DARTS and SPOS, no nasbench.methods) and our own CLI, each written by a subprocess
while views in this process follow the file; and the tail's edge cases, written by hand."""
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nasbench import formats
from nasbench.cli import main
from nasbench.events import EventLogError, make_event, read_events, validate
from nasbench.follow import Follow, follow
from nasbench.spaces import get_space
from nasbench.tracker import Tracker
from nasbench.widgets import AlphaEvolution, Dashboard, SamplingFairness, SupernetGraph, TrainingBoard
from nasbench.widgets.dashboard import views_for

ROOT = Path(__file__).resolve().parents[1]
SPACE = {"name": "toy", "decisions": ["a"], "options": [["x", "y"]],
         "graph": {"nodes": [{"id": "a", "kind": "choice", "decision": 0}], "edges": []}}


class Growth:
    """A consumer that notes, at each flush (one per batch of new lines), how many events it has
    seen and whether the writer was still running."""

    def __init__(self, writer=None):
        self.writer, self.events, self.batches = writer, [], []

    def __call__(self, event):
        self.events.append(event)

    def flush(self):
        self.batches.append((len(self.events), self.writer is not None and self.writer.poll() is None))


def start(*args):
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(writer):
    out, _ = writer.communicate(timeout=120)
    assert writer.returncode == 0, out
    return out


def test_a_foreign_spos_loop_followed_live_grows_the_views_while_it_runs(tmp_path, capsys):
    run = tmp_path / "spos"
    writer = start("examples/foreign_spos.py", "--out", str(run), "--steps", "150", "--paths", "4")
    growth, board, fairness = Growth(writer), TrainingBoard(live=False, min_interval=0), SamplingFairness(live=False)
    events = follow(run, growth, board, fairness, poll=0.05, timeout=120)  # waits for the file
    finish(writer)
    alive = [n for n, running in growth.batches if running]
    assert len(set(alive)) >= 3, f"the views grew in {growth.batches} (events, writer running)"
    assert board.renders >= 3 and board.events_seen == len(events)
    assert events == read_events(run / "events.jsonl") == growth.events
    assert events[-1]["type"] == "run_end" and validate(events) == []
    assert sum(fairness.runs["run"].counts[0]) == 150  # every sampled path counted
    assert main(["validate", str(run)]) == 0 and main(["report", str(run)]) == 0
    assert "SamplingFairness" in (run / "report.html").read_text()


def test_the_foreign_darts_example_shows_its_collapse_signals(tmp_path):
    run = tmp_path / "darts"
    writer = start("examples/foreign_darts.py", "--out", str(run), "--steps", "12", "--nodes", "2")
    alpha = AlphaEvolution(live=False)
    events = follow(run, alpha, poll=0.1, timeout=120)
    finish(writer)
    assert validate(events) == [] and events[-1]["status"] == "completed"
    assert len(alpha.entropy) == 4 and set(alpha.share) == {"normal", "reduce"}  # steps 0, 5, 10, 11
    assert abs(alpha.entropy[0] - __import__("math").log(8)) < 1e-3  # alpha starts near uniform
    assert len(alpha.free) == 4  # parameter-free ops in each genotype
    assert main(["report", str(run)]) == 0
    assert "AlphaEvolution" in (run / "report.html").read_text()


@pytest.mark.parametrize("order", ["1", "2"])
def test_an_official_style_darts_rerun_is_followed_live_validated_and_reported(tmp_path, order):
    """quark0/darts' search code as it is (tests/official_darts_loop.py: model_search.py's
    Network and genotype(), architect.py's Architect, first order and unrolled), instrumented
    with the lines docs/your-search.md gives, run again into a folder that holds yesterday's
    finished run, and followed from here: none of the frictions of issue 23."""
    run = tmp_path / "darts"
    space = "darts:steps=2,multiplier=2"
    Tracker(run, space=space, method="darts-official").end()                 # the previous run
    old = read_events(run / "events.jsonl")
    growth = Growth()
    graph, alpha, dashboard = SupernetGraph(live=False), AlphaEvolution(live=False), Dashboard(live=False)
    solid = []                       # edges standing out in the graph at each batch, while it runs

    class Watch(Growth):
        def flush(self):
            super().flush()
            if graph.probs is not None:
                solid.append(sum(graph.choice_style(d)["solid"] for d in range(len(graph.space["decisions"]))))

    growth = Watch()
    following = Follow(run, growth, graph, alpha, dashboard, poll=0.05, timeout=120, new=True).start()
    time.sleep(0.3)
    assert following.events == [] and "waiting for a new run" in repr(following)   # not the old one
    growth.writer = writer = start("tests/official_darts_loop.py", str(run), order)
    out = finish(writer)
    following.join(60)
    events = read_events(run / "events.jsonl")
    assert following.events == events == growth.events and events[0]["run_id"] != old[0]["run_id"]
    assert following.run_id == events[0]["run_id"] and "ended (completed)" in repr(following)
    alive = [n for n, running in growth.batches if running]
    assert len(set(alive)) >= 3, f"the views grew in {growth.batches} (events, writer running)"
    # valid: steps over the run (2 epochs of 5), acc a fraction, the arch loss of every step
    assert validate(events) == [] and main(["validate", str(run)]) == 0
    steps = [e for e in events if e["type"] == "step"]
    assert [e["step"] for e in steps if e["phase"] == "weights"] == list(range(10))
    assert [e["step"] for e in steps if e["phase"] == "arch"] == list(range(10))
    assert {e["epoch"] for e in steps} == {0, 1} and all(0 <= e["acc"] <= 1 for e in steps if "acc" in e)
    # the genotype: the official one, as logged and as read off the logged alpha
    official = formats.from_darts(out.split("genotype = ")[1].strip(), events[0]["space"])
    last_alpha = [e for e in events if e["type"] == "alpha"][-1]
    assert [e for e in events if e["type"] == "genotype"][-1]["choices"] == official
    assert list(get_space(space).derive(last_alpha["probs"])) == official == graph.current_genotype()
    assert events[-1]["best"] == get_space(space).encode(official)
    summary = __import__("json").loads((run / "summary.json").read_text())        # and out again
    assert formats.from_darts(summary["best_foreign"], events[0]["space"]) == official
    assert min(solid) == max(solid) == 2 * 2 * 2        # live: 2 inputs per node, 2 nodes, 2 cells
    # the views: picked by the events (method "darts-official"), the same in the report
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    picked = [e.name for e in views_for(events)]
    assert picked == list(dashboard.views) and {"SupernetGraph", "AlphaEvolution", "TrainingBoard"} <= set(picked)
    assert all(f"<h2>{name}</h2>" in page for name in picked)
    assert "Genotype(normal=[(&#x27;" in page                                   # quark0's form, escaped
    assert alpha.steps == list(range(10)) and len(alpha.free) == 10


def test_following_an_already_finished_log_says_how_to_follow_a_rerun(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(lines(log())))
    with pytest.warns(UserWarning, match="pass new=True"):
        assert follow(path, poll=0.01, timeout=1) == log()
    waiting = Follow(path, poll=0.01, timeout=0.3, new=True)
    with pytest.warns(UserWarning, match="no new run started"):
        waiting._run()                                    # in the foreground: the old run is skipped
    assert waiting.events == []


def test_a_step_that_goes_back_stops_the_follow_naming_the_line(tmp_path):
    path = tmp_path / "events.jsonl"
    events = log()
    events.insert(3, make_event("step", 0.15, step=0, epoch=1, phase="weights", loss=1.0))
    path.write_bytes(b"".join(lines(events)))
    with pytest.raises(EventLogError, match=r"events.jsonl:4: step 0 comes after step 1"):
        follow(path, poll=0.01, timeout=1)


def test_our_own_cli_runs_can_be_followed_too(tmp_path):
    run = tmp_path / "cli"
    writer = start("-m", "nasbench.cli", "run", "random", "--epochs", "2", "--out", str(run), "--quiet",
                   "--set", "C=4", "--set", "layers=1", "--set", "n_candidates=2", "--set", "n_top=1",
                   "--set", "n_train=200", "--set", "batch_size=32")
    board = TrainingBoard(live=False)
    following = Follow(run, board, poll=0.05, timeout=120).start()
    finish(writer)
    following.join(30)
    assert not following.running and following.events == read_events(run / "events.jsonl")
    assert "ended (completed)" in repr(following) and board.events_seen == len(following.events)


# -- the tail's edge cases ------------------------------------------------------------------
def lines(events):
    import json
    return [(json.dumps(e) + "\n").encode() for e in events]


def log():
    return [make_event("run_start", 0, method="m", dataset="d", seed=0, config={}, space=SPACE),
            *(make_event("step", 0.1 * k, step=k, epoch=0, phase="weights", loss=1.0) for k in range(3)),
            make_event("run_end", 1, status="completed", wall=1)]


def test_a_file_not_yet_there_and_a_half_written_line_are_waited_for(tmp_path):
    path, events = tmp_path / "late" / "events.jsonl", log()
    data = b"".join(lines(events))
    cut = data.index(b"\n", data.index(b'"step"')) - 7  # inside the first step line

    def write():
        time.sleep(0.2)
        path.parent.mkdir()
        with open(path, "wb") as f:
            for part in (data[:cut], data[cut:]):  # the writer stops mid-line, then finishes it
                f.write(part)
                f.flush()
                time.sleep(0.3)

    writer = threading.Thread(target=write)
    writer.start()
    growth = Growth()
    got = follow(path.parent, growth, poll=0.02, timeout=10)
    writer.join()
    assert got == events == growth.events
    assert len(growth.batches) >= 2  # the half line waited for the next poll


def test_a_broken_line_or_a_schema_break_is_named(tmp_path):
    path = tmp_path / "events.jsonl"
    good = lines(log())
    path.write_bytes(good[0] + b"{not json\n" + good[1])
    with pytest.raises(EventLogError, match=r"events.jsonl:2: not a JSON event"):
        follow(path, poll=0.01, timeout=1)
    bad = make_event("step", 0.2, step=0, epoch=0, phase="weights", loss="high")
    path.write_bytes(good[0] + lines([bad])[0])
    with pytest.raises(EventLogError, match=r"events.jsonl:2: .*'loss'"):
        follow(path, poll=0.01, timeout=1)


def test_a_log_that_stops_without_run_end_times_out_with_a_warning(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(lines(log()[:2])))
    with pytest.warns(UserWarning, match="no run_end"):
        got = follow(path, poll=0.01, timeout=0.2)
    assert len(got) == 2


def test_a_background_follow_can_be_stopped(tmp_path):
    following = Follow(tmp_path / "never", poll=0.01).start()
    assert following.running
    following.stop()
    assert not following.running and following.events == [] and "stopped" in repr(following)


def test_in_a_kernel_a_background_follow_updates_live_views_between_cells(tmp_path):
    """The notebook way: one cell starts the run and `Follow(...).start()` and returns; the live
    FigureWidgets are then redrawn from the follow thread, between cells and during them."""
    import nbformat
    from nbclient import NotebookClient
    run = tmp_path / "spos"
    cells = [
        "import subprocess, sys, time\n"
        "from nasbench.follow import Follow\n"
        "from nasbench.widgets import TrainingBoard, SamplingFairness\n"
        "board, fair = TrainingBoard(), SamplingFairness()\n"
        f"writer = subprocess.Popen([sys.executable, 'examples/foreign_spos.py', '--out', {str(run)!r},"
        " '--steps', '100', '--paths', '2'])\n"
        f"following = Follow({str(run)!r}, board, fair, poll=0.1, timeout=120).start()\n"
        "board",
        "deadline = time.time() + 120\n"
        "while following.running and time.time() < deadline:\n"
        "    time.sleep(0.2)\n"
        "following.join(); writer.wait()\n"
        "print(type(board.widget).__name__, board.live, board.renders >= 3, fair.gap() >= 0, repr(following))",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    text = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    assert text.startswith("LiveFigure True True True") and "ended (completed)" in text, text
