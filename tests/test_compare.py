"""`nasbench compare` on recorded runs: a completed, a failed, an interrupted, an unfinished and an
unreadable one; truth, rank and tau checked against the table and scipy directly."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau

from nasbench import bench
from nasbench.cli import main
from nasbench.compare import compare, format_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    done = root / "done"
    subprocess.run([sys.executable, "-m", "nasbench.cli", "run", "random", "--space", "nb201-small",
                    "--dataset", "digits-bench", "--epochs", "1", "--set", "C=4", "--set", "layers=1",
                    "--set", "n_candidates=12", "--set", "n_top=2", "--quiet", "--out", str(done)],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    events = [json.loads(line) for line in (done / "events.jsonl").read_text().splitlines()]

    def variant(name, last):
        (root / name).mkdir()
        lines = [json.dumps(e) for e in events[:-1]] + ([json.dumps(last)] if last else [])
        (root / name / "events.jsonl").write_text("\n".join(lines) + "\n")
        return root / name

    end = events[-1]
    failed = variant("failed", {**end, "status": "failed", "error": "the weights loss became nan"})
    interrupted = variant("interrupted", {**end, "status": "interrupted"})
    unfinished = variant("unfinished", None)
    (root / "broken").mkdir()
    (root / "broken" / "events.jsonl").write_text('{"v": 1, "type": "step"}\n{"v": 1}\n')
    return {"done": done, "failed": failed, "interrupted": interrupted, "unfinished": unfinished,
            "broken": root / "broken", "events": events}


def test_every_run_is_listed_with_its_status(runs):
    rows = compare([runs[k] for k in ("done", "failed", "interrupted", "unfinished", "broken")])
    assert [r.status for r in rows] == ["completed", "failed", "interrupted", "unfinished", "unreadable"]
    assert rows[1].error == "the weights loss became nan"
    assert rows[4].error
    text = format_table(rows)
    for name in ("done", "failed", "interrupted", "unfinished", "broken"):
        assert any(line.startswith(name) for line in text.splitlines()), text


def test_truth_rank_and_tau_agree_with_the_table_and_scipy(runs):
    row = compare([runs["done"]])[0]
    table = bench.load_table("nb201-small")
    best = runs["events"][-1]["best"]
    assert row.best == best
    assert row.truth == pytest.approx(np.mean(table.query(best).test_accs))
    better = sum(e.test_acc > table.query(best).test_acc for e in table.entries.values())
    assert row.rank == better + 1       # ties share the better place
    scored = {}
    for e in runs["events"]:
        if e["type"] == "eval":
            scored[e["arch"]] = e["score"]
    assert row.n_eval == len(scored) >= 3
    expected = kendalltau(list(scored.values()), [table.truth(a) for a in scored])[0]
    assert row.tau[0] == pytest.approx(expected)
    assert row.tau[1] <= row.tau[0] <= row.tau[2]


def test_the_cli_prints_the_table_and_writes_html(runs, tmp_path, capsys):
    html = tmp_path / "c.html"
    rc = main(["compare", str(runs["done"]), str(runs["failed"]), "--html", str(html)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "completed" in out and "failed" in out and "table ceiling" in out
    assert "<table>" in html.read_text() and "plotly" in html.read_text()


def test_the_cli_refuses_a_missing_directory(tmp_path, capsys):
    rc = main(["compare", str(tmp_path / "nope")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("nasbench: error: not a run directory") and len(err.splitlines()) == 1


def test_the_table_ceiling_matches_a_direct_computation():
    table = bench.load_table("nb201-small")
    accs = np.array([e.test_accs for e in table.entries.values()])
    held_out = [kendalltau(accs[:, i], np.delete(accs, i, 1).mean(1))[0] for i in range(3)]
    c = table.ceiling()
    assert c["tau_seed_vs_rest"] == pytest.approx(np.mean(held_out))
    assert 0.3 < c["tau_seed_vs_rest"] < 0.95    # a real table: informative, and noisy


def test_run_methods_runs_each_in_its_own_process_and_keeps_refusals(tmp_path):
    from nasbench.compare import run_methods
    rows = run_methods(["random", "no-such-method"], "nb201-small", tmp_path, steps=5, progress=False,
                       settings={"random": {"C": 4, "layers": 1, "n_candidates": 3, "n_top": 1}})
    assert [r.status for r in rows] == ["completed", "refused"]
    assert rows[0].steps == 5 and rows[0].truth is not None and rows[0].peak_memory_mb > 0
    assert "unknown method 'no-such-method'" in rows[1].error


def test_random_standalone_baseline_spends_its_budget_and_ranks_its_pick():
    from nasbench.compare import random_standalone
    out = random_standalone("nb201-small", seconds=0.01, progress=False)
    assert out["trained"] == 1                       # the budget ran out after the first trial
    table = bench.load_table("nb201-small")
    assert out["truth"] == pytest.approx(table.query(out["best"]).test_acc)
    assert out["rank"] == 1 + sum(e.test_acc > out["truth"] for e in table.entries.values())


def test_rankings_are_judged_on_the_common_architectures_of_a_seed(runs):
    from nasbench.compare import on_common_set
    a, b = compare([runs["done"]])[0], compare([runs["done"]])[0]
    archs = list(a.extra["scored"])
    b.extra["scored"] = {k: -v for k, v in list(a.extra["scored"].items())[:5]}   # a subset, reversed
    on_common_set([a, b])
    table = bench.load_table("nb201-small")
    common = sorted(archs[:5])
    expected = kendalltau([a.extra["scored"][k] for k in common], [table.truth(k) for k in common])[0]
    assert a.n_eval == b.n_eval == 5
    assert a.tau[0] == pytest.approx(expected) and b.tau[0] == pytest.approx(-expected)
