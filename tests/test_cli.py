"""The run contract on the command line: outputs, one-line errors, nothing recorded is lost."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nasbench.cli import main
from nasbench.events import read_events, validate

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "C=4", "--set", "layers=1", "--set", "n_candidates=3", "--set", "n_top=1",
        "--set", "n_train=200", "--set", "batch_size=32", "--quiet"]


def strip_times(events):
    return [{k: v for k, v in e.items() if k not in ("t", "wall")} for e in events]


def one_line_error(capsys, rc, *words):
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("nasbench: error:"), err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err
    return err


def test_the_done_when_command_is_fast_valid_and_deterministic(tmp_path):
    """`nasbench run random --dataset digits --epochs 1 --out runs/r`, twice, as a real process."""
    logs = []
    for name in ("r1", "r2"):
        out = tmp_path / name
        proc = subprocess.run([sys.executable, "-m", "nasbench.cli", "run", "random", "--dataset", "digits",
                               "--epochs", "1", "--out", str(out), "--quiet"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        events = read_events(out / "events.jsonl")
        assert validate(events) == []
        summary = json.loads((out / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["best"] == events[-1]["best"]
        assert set(summary) >= {"method", "status", "best", "best_choices", "steps", "wall"}
        assert summary["wall"] < 60
        logs.append(events)
    assert strip_times(logs[0]) == strip_times(logs[1])


@pytest.mark.parametrize("args, words", [
    (["run", "nosuch", "--out", "X"], ["unknown method 'nosuch'", "random"]),
    (["run", "random", "--space", "nosuch", "--out", "X"], ["unknown space 'nosuch'"]),
    (["run", "random", "--dataset", "nosuch", "--out", "X"], ["unknown dataset 'nosuch'"]),
    (["run", "random", "--space", "nb201:ops=none", "--out", "X"], ["at least 2 ops"]),
    (["run", "random", "--space", "nb201:ops=none+conv_9x9", "--out", "X"], ["unknown op 'conv_9x9'"]),
    (["run", "random", "--epochs", "0", "--out", "X"], ["--epochs", "positive"]),
    (["run", "random", "--epochs", "-2", "--out", "X"], ["--epochs", "positive"]),
    (["run", "random", "--steps", "0", "--out", "X"], ["--steps", "positive"]),
    (["run", "random", "--set", "lr", "--out", "X"], ["key=value"]),
    (["run", "random", "--set", "nosuch=1", "--out", "X"], ["unknown setting 'nosuch'"]),
    (["run", "random", "--set", "lr=fast", "--out", "X"], ["'lr' expects float"]),
    (["run", "random", "--device", "tpu", "--out", "X"], ["unknown device"]),
    (["run", "random", "--preset", "huge", "--out", "X"], ["unknown preset"]),
    (["run", "random", "--dataset", "cifar10", "--out", "X"], ["cifar-10-batches-py"]),
])
def test_bad_input_gives_a_one_line_error(args, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NASBENCH_DATA", str(tmp_path / "nodata"))
    one_line_error(capsys, main(args), *words)
    assert not (tmp_path / "X" / "events.jsonl").exists()


@pytest.mark.parametrize("method, space, can", [
    ("snas", "chain-small", ["nb201", "nb201-small", "darts"]),
    ("fbnet", "darts", ["chain-small", "proxyless", "fbnet"]),
    ("single-path", "chain-mbv2", ["chain-small", "chain-singlepath"]),
    ("smash", "nb201", ["smash", "smash-small"]),
])
def test_a_space_the_method_cannot_search_is_one_line_naming_the_spaces_it_can(method, space, can, capsys,
                                                                                tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = one_line_error(capsys, main(["run", method, "--space", space, "--out", "X"]),
                         f"{method} cannot search the space {space!r}", *can)
    assert "unknown op" not in err and "ValueError" not in err
    assert not (tmp_path / "X" / "events.jsonl").exists()


def test_unknown_op_in_a_space_spec_is_named(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_line_error(capsys, main(["run", "random", "--space", "nb201:nodes=1", "--out", "X"]), "nodes")


def test_an_existing_run_is_never_overwritten_silently(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "random", "--epochs", "1", "--out", str(out), *TINY]) == 0
    before = (out / "events.jsonl").read_text()
    one_line_error(capsys, main(["run", "random", "--epochs", "1", "--out", str(out), *TINY]),
                   "already holds a run", "--resume")
    assert (out / "events.jsonl").read_text() == before
    assert main(["run", "random", "--epochs", "1", "--out", str(out), "--force", *TINY]) == 0


def test_a_corrupted_log_is_reported_in_one_line_and_left_as_it_was(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "random", "--epochs", "1", "--out", str(out), *TINY]) == 0
    path = out / "events.jsonl"
    lines = path.read_text().splitlines()
    broken = list(lines)
    broken[2] = broken[2][:-7]                                   # not JSON any more
    renamed = list(lines)
    renamed[2] = renamed[2].replace('"type"', '"ty###pe"', 1)    # JSON, but not an event
    for corrupted, where in (("\n".join(broken) + "\n", "events.jsonl:3"),
                             ("\n".join(renamed) + "\n", "event 3")):
        path.write_text(corrupted)
        one_line_error(capsys, main(["report", str(out)]), where)
        one_line_error(capsys, main(["validate", str(out)]), where)
        assert path.read_text() == corrupted and not (out / "report.html").exists()


def test_report_and_validate_and_list(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "random", "--epochs", "1", "--out", str(out), *TINY]) == 0
    assert main(["validate", str(out)]) == 0
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "<html" in page and "TrainingBoard" in page and "plotly" in page.lower()
    capsys.readouterr()
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    for word in ("methods:", "random", "spaces:", "nb201", "datasets:", "digits"):
        assert word in listing


def test_a_schema_problem_fails_validate(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "random", "--epochs", "1", "--out", str(out), *TINY]) == 0
    events = read_events(out / "events.jsonl")
    assert events[3]["type"] == "sample"
    n = len(events[3]["choices"])
    events[3]["choices"] = [99] * n
    (out / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    one_line_error(capsys, main(["validate", str(out)]), "1 problem(s)", "event 4 (sample)",
                   f"do not fit the space's {n} decisions")


def test_steps_counted_per_epoch_fail_validate_in_one_line(tmp_path, capsys):
    """A foreign loop that restarts `step` each epoch (logged by hand: the tracker refuses it)."""
    from nasbench.events import make_event
    space = {"name": "toy", "decisions": ["a"], "options": [["x", "y"]]}
    events = [make_event("run_start", 0, method="mine", dataset="d", seed=0, config={}, space=space)]
    for epoch in range(2):
        events += [make_event("step", epoch + 0.1 * k, step=k, epoch=epoch, phase="weights", loss=1.0)
                   for k in range(3)]
    events.append(make_event("run_end", 3, status="completed"))
    out = tmp_path / "run"
    out.mkdir()
    (out / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    one_line_error(capsys, main(["validate", str(out)]), "1 problem(s)", "event 5 (step): step 0 comes after step 2")


def test_resume_from_the_command_line(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "random", "--epochs", "2", "--out", str(out), *TINY]) == 0
    full = strip_times(read_events(out / "events.jsonl"))
    assert main(["run", "random", "--epochs", "2", "--out", str(out), "--resume", *TINY]) == 0
    # the checkpoint is at the end of the last epoch: resuming redoes only the selection
    assert strip_times(read_events(out / "events.jsonl")) == full


@pytest.mark.parametrize("change, words", [
    (["--seed", "1"], ["seed 0", "not 1"]),
    (["--dataset", "digits-bench"], ["data set 'digits (noise=0.0, shape=[1, 8, 8], size=None)'",
                                     "not 'digits (noise=0.4, shape=[1, 16, 16], size=16)'"]),
    (["--set", "n_train=300"], ["data set 'digits (n_train=200", "not 'digits (n_train=300"]),
    (["--space", "nb201-small"], ["space 'darts'", "'nb201-small'"]),
])
def test_resume_refuses_another_seed_data_set_or_space(tmp_path, capsys, change, words):
    out = tmp_path / "run"
    assert main(["run", "random", "--epochs", "2", "--out", str(out), *TINY]) == 0
    before = (out / "events.jsonl").read_text()
    capsys.readouterr()
    one_line_error(capsys, main(["run", "random", "--epochs", "2", "--out", str(out), "--resume",
                                 *TINY, *change]), "resume with the same", *words)
    assert (out / "events.jsonl").read_text() == before, "a refused resume leaves the log alone"


def test_resume_refuses_another_method(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "oneshot", "--space", "nb201-small", "--epochs", "1", "--out", str(out),
                 "--set", "C=4", "--set", "layers=1", "--set", "n_candidates=3", "--quiet"]) == 0
    capsys.readouterr()
    one_line_error(capsys, main(["run", "random", "--space", "nb201-small", "--epochs", "1", "--out",
                                 str(out), "--resume", *TINY]), "method 'oneshot'", "not 'random'")


def _import_graph():
    """Every `import` of every nasbench module (module level or inside a function; not those
    under `if TYPE_CHECKING:`, which never run), as a networkx digraph of module names, read
    with ast (no module is imported)."""
    import ast

    import networkx as nx
    g = nx.DiGraph()
    pkg = ROOT / "nasbench"
    for path in pkg.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for t in ast.walk(tree) if isinstance(t, ast.If)
                       and getattr(t.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(t)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nasbench"):
                g.add_edge(name, node.module)
            elif isinstance(node, ast.Import):
                g.add_edges_from((name, a.name) for a in node.names if a.name.startswith("nasbench"))
    return g


@pytest.mark.parametrize("a, b", [("nasbench.cli", "nasbench.bench.cli"),
                                  ("nasbench.cli", "nasbench.evaluate.latency_cli"),
                                  ("nasbench.spaces.smash", "nasbench.supernet.hypernet")])
def test_no_import_circle_between(a, b):
    import networkx as nx
    g = _import_graph()
    assert not (nx.has_path(g, a, b) and nx.has_path(g, b, a)), nx.find_cycle(g.subgraph(
        nx.node_connected_component(g.to_undirected(), a)), a)
