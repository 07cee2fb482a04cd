"""Notebook 10 reads a recording of its default comparison (`nasbench.compare.record`): a recording
read again gives the table it was written with, an edited log is refused, the shipped recording is
the notebook's default mode (every method, seed and setting), and Ray runs the same searches."""
import json
import os
from pathlib import Path

import nbformat
import pytest

from nasbench import bench
from nasbench.compare import (CELL_METHODS, CHAIN_METHODS, RECORDING, load_recording, rank_in_table, record,
                              run_methods)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "notebooks" / "recorded" / "10_compare"
TINY = {"random": {"C": 4, "layers": 1, "n_candidates": 4, "n_top": 1}, "darts": {"C": 4, "layers": 1}}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("recorded")
    made = record(out, seeds=(0,), steps=2, settings=TINY, proxy_seeds=(0,), proxy_archs=5,
                  methods={"nb201": ["random", "darts"]}, progress=False)
    return out, made


def test_a_recording_read_again_gives_the_table_it_was_made_with(tiny):
    out, made = tiny
    again = load_recording(out)
    table = bench.load_table("nb201-small")
    for a, b in zip(made.rows["nb201"], again.rows["nb201"], strict=True):
        assert (a.method, a.status, a.best, a.truth, a.rank, a.tau) == (b.method, b.status, b.best, b.truth,
                                                                        b.rank, b.tau)
        assert b.truth == table.truth(b.best) and b.rank == rank_in_table(table, b.best)
        assert b.peak_memory_mb == a.peak_memory_mb and b.peak_memory_mb > 0
    assert not list(out.glob("*/*/checkpoint.pt"))           # the views and the table need only the logs
    assert again.settings["steps"] == 2 and again.settings["methods"] == {"nb201": ["random", "darts"]}
    assert set(again.proxy_rho) == {"nb201-small"} and all(len(v) == 1 for v in again.proxy_rho["nb201-small"].values())


def test_the_baseline_gets_the_median_search_time(tiny):
    out, made = tiny
    walls = sorted(r.wall for r in made.rows["nb201"])
    assert made.baseline[0]["budget"] == pytest.approx(sum(walls) / 2)   # the median of two runs


def test_an_edited_log_is_refused(tiny, tmp_path):
    import shutil
    out, _ = tiny
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    log = copy / "nb201" / "darts-seed0" / "events.jsonl"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    table = bench.load_table("nb201-small")
    other = next(a for a in table.entries if a != events[-1]["best"])
    events[-1]["best"] = other
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    with pytest.raises(ValueError, match="darts-seed0: its log no longer gives what recording.json recorded"):
        load_recording(copy)
    assert load_recording(copy, check=False).rows["nb201"][1].best == other
    with pytest.raises(FileNotFoundError, match="make recordings"):
        load_recording(tmp_path)


def _notebook_defaults():
    """The parameters cell of notebook 10 in its default mode (not smoke)."""
    nb = nbformat.read(ROOT / "notebooks" / "10_compare.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    env = dict(os.environ)
    os.environ.pop("NASBENCH_SMOKE", None)
    try:
        scope = {}
        exec(cell.source, scope)
    finally:
        os.environ.clear()
        os.environ.update(env)
    return scope


def test_the_shipped_recording_is_the_notebooks_default_comparison():
    p = _notebook_defaults()
    shipped = load_recording(SHIPPED)       # check=True: every log gives the recorded table
    s = shipped.settings
    assert (s["seeds"], s["steps"], s["settings"], s["proxy_seeds"], s["proxy_archs"]) == (
        list(p["SEEDS"]), p["STEPS"], p["SETTINGS"], list(p["PROXY_SEEDS"]), p["PROXY_ARCHS"])
    assert p["RECORDED"] == "recorded/10_compare" and not p["RERUN"]
    assert s["methods"] == {"nb201": list(CELL_METHODS), "chain": list(CHAIN_METHODS)}
    for key, methods in s["methods"].items():
        rows = shipped.rows[key]
        assert [(r.method, r.seed) for r in rows] == [(m, seed) for m in methods for seed in p["SEEDS"]]
        assert all(r.status == "completed" for r in rows), [(r.method, r.seed, r.status) for r in rows]
        for r in rows:   # each ran under the notebook's budget (a preset shorter than it ends sooner)
            with open(SHIPPED / key / f"{r.method}-seed{r.seed}" / "events.jsonl") as f:
                start = json.loads(f.readline())
            assert start["type"] == "run_start" and start["config"]["steps"] == p["STEPS"], (r.method, r.seed)
            assert 0 < r.steps <= p["STEPS"] + 1, (r.method, r.seed, r.steps)
    assert len(shipped.baseline) == len(p["SEEDS"])
    assert set(shipped.proxy_rho) == {"nb201-small", "chain-small"}


@pytest.mark.slow
def test_ray_runs_the_same_searches_and_table_trials_as_processes(tiny, tmp_path):
    """One Ray start (tens of seconds on a busy machine) for both users of `nasbench.scale`: the
    searches of notebook 10 and the trials of a table build."""
    ray = pytest.importorskip("ray")
    from nasbench.bench.build import run_trial, run_trials
    from nasbench.scale import start_ray
    out, made = tiny
    start_ray(ray)
    try:
        rows = run_methods(["darts"], "nb201-small", tmp_path, seeds=(0,), steps=2, settings=TINY,
                           backend="ray", progress=False)
        setting = {"data": {"name": "digits", "n_train": 300}, "train": {"epochs": 2, "C": 4, "layers": 1}}
        trials = [("nb201-small", (1, 1, 1), 0, setting), ("nb201-small", (3, 0, 2), 1, setting)]
        on_ray = run_trials(trials, backend="ray")
    finally:
        ray.shutdown()
    alphas = lambda d: [e["probs"] for e in map(json.loads, (Path(d) / "events.jsonl").read_text().splitlines())
                        if e["type"] == "alpha"]
    assert rows[0].best == made.rows["nb201"][1].best
    assert alphas(rows[0].dir) == alphas(made.rows["nb201"][1].dir) and alphas(rows[0].dir)
    assert [r["test_acc"] for r in on_ray] == [run_trial(*t)["test_acc"] for t in trials]


# -- single recorded runs (nasbench.recorded) -----------------------------------------------------
from nasbench import recorded  # noqa: E402
from nasbench.events import validate  # noqa: E402


@pytest.mark.parametrize("name", sorted(recorded.RUNS))
def test_a_recorded_run_is_the_search_its_notebook_would_run(name):
    """The log's run_start is what `recorded.search(name)` would write (method, data, seed, every
    config value, the space), the run completed, and its notebook replays it from that path."""
    events = recorded.events(name)
    assert not validate(events, complete=True)
    expected = json.loads(json.dumps(recorded.search(name)._run_start_fields()))
    assert {k: events[0][k] for k in expected} == expected
    assert events[-1]["status"] == "completed"
    assert not (recorded.ROOT / name / "checkpoint.pt").exists()
    notebook, _ = name.split("/", 1)
    source = (ROOT / "notebooks" / f"{notebook}.ipynb").read_text()
    assert f"recorded/{name}/events.jsonl" in source and f'recorded.search(\\"{name}\\"' in source


def test_same_run_ignores_times_and_finds_a_changed_decision():
    log = recorded.events("04_darts/collapse")
    later = [{**e, "t": e["t"] + 5} for e in log]
    later[-1] = {**later[-1], "wall": log[-1]["wall"] * 2}
    assert recorded.same_run(log, later) == []
    changed = [dict(e) for e in log]
    i = next(i for i, e in enumerate(changed) if e["type"] == "genotype")
    changed[i]["arch"] = "something else"
    assert recorded.same_run(log, changed) == [f"event {i}: " + str({k: v for k, v in log[i].items() if k != "t"})
                                                + " != " + str({k: v for k, v in changed[i].items() if k != "t"})]
    assert recorded.same_run(log, log[:-1]) == [f"{len(log)} events != {len(log) - 1} events"]


def test_the_shipped_recording_shows_what_notebook_10_says_of_the_chain_methods():
    """§3's prose describes the recorded chain runs; a recording made again must keep it true."""
    rows = {(r.method, r.seed): r for r in load_recording(SHIPPED, check=False).rows["chain"]}
    seeds = sorted({seed for _, seed in rows})
    assert seeds == [0, 1, 2]

    def kept(method, seed):         # layers that kept a convolution
        return sum(not part.endswith("=skip") for part in rows[method, seed].best.split(","))

    proxyless = sorted(kept("proxyless", s) for s in seeds)
    assert proxyless == [0, 0, 1]
    assert all(rows["proxyless", s].rank == 125 for s in seeds if kept("proxyless", s) == 0)
    fbnet = sorted(seeds, key=lambda s: kept("fbnet", s))
    assert kept("fbnet", fbnet[0]) == 1 and all(rows["fbnet", s].rank <= 40 for s in fbnet[1:])
    for s in seeds:
        r = rows["single-path", s]
        assert r.best == ",".join(f"layer{i}=mbconv_k5_e6" for i in range(3))
        with open(SHIPPED / "chain" / f"single-path-seed{s}" / "events.jsonl") as f:
            c = json.loads(f.readline())["config"]
        warmup_steps = c["warmup_epochs"] * (c["data"]["sizes"]["train"] // c["batch_size"])
        assert r.steps <= c["steps"] < warmup_steps      # the whole run inside the warm-up
