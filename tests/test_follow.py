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

from nasbench.cli import main
from nasbench.events import EventLogError, make_event, read_events, validate
from nasbench.follow import Follow, follow
from nasbench.widgets import AlphaEvolution, SamplingFairness, TrainingBoard

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
