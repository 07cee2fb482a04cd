"""Notebook 10 reads a recording of its default comparison (`nasbench.compare.record`): a recording
read again gives the table it was written with, an edited log is refused, the shipped recording is
the notebook's default mode (every method, seed and setting), and Ray runs the same searches; the single runs other notebooks replay
(`nasbench.recorded`) are the searches those notebooks would run, and their prose holds for them."""
import json
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest

from nasbench import bench
from nasbench.compare import (CELL_METHODS, CHAIN_METHODS, RECORDING, load_recording, rank_in_table, record,
                              run_methods, with_defaults)

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
        list(p["SEEDS"]), p["STEPS"], with_defaults(p["SETTINGS"]), list(p["PROXY_SEEDS"]), p["PROXY_ARCHS"])
    # the hardware-aware searches ran against the Pixel 1 table
    assert all(s["settings"][m]["latency_device"] == "pixel1" for m in ("proxyless", "fbnet", "single-path"))
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
    group, rest = name.split("/", 1)
    label = rest.rsplit("-seed", 1)[0]
    for notebook in recorded.RUNS[name]["notebooks"]:   # each reads it by its label (04: seed 0 by name)
        source = (ROOT / "notebooks" / f"{notebook}.ipynb").read_text()
        if group == "collapse":
            assert "recorded/collapse/" in source and "recorded.collapse(" in source, notebook
            assert f'\\"{label}\\"' in source or f"recorded.COLLAPSE_METHODS" in source, (notebook, label)
        else:                                            # 03: every rate of recorded.DROPOUT_RATES, by name
            assert group == "dropout" and float(label[1:]) in recorded.DROPOUT_RATES
            assert "recorded.DROPOUT_RATES" in source and 'f\\"dropout/r{r:.2f}-seed{s}\\"' in source, notebook


def test_same_run_ignores_times_and_finds_a_changed_decision():
    log = recorded.events("collapse/darts-seed0")
    later = [{**e, "t": e["t"] + 5} for e in log]
    later[-1] = {**later[-1], "wall": log[-1]["wall"] * 2}
    assert recorded.same_run(log, later) == []
    changed = [dict(e) for e in log]
    i = next(i for i, e in enumerate(changed) if e["type"] == "genotype")
    changed[i]["arch"] = "something else"
    assert recorded.same_run(log, changed) == [f"event {i}: " + str({k: v for k, v in log[i].items() if k != "t"})
                                                + " != " + str({k: v for k, v in changed[i].items() if k != "t"})]
    assert recorded.same_run(log, log[:-1]) == [f"{len(log)} events != {len(log) - 1} events"]


def test_collapse_reads_the_returned_genotype_the_eigenvalues_and_the_stop_of_a_log():
    """A hand-made log: the share counts skips and pools among the returned genotype's ops, `none`
    left out (here 2 of 4), whatever the earlier genotypes were."""
    space = {"name": "nb201", "decisions": [], "options": []}
    best = "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
    log = [{"type": "run_start", "space": space},
           {"type": "step", "step": 0}, {"type": "step", "step": 1},
           {"type": "genotype", "step": 1, "arch": "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|"
                                                     "skip_connect~1|skip_connect~2|"},
           {"type": "metric", "step": 0, "name": "hessian_eigenvalue", "value": 0.5},
           {"type": "metric", "step": 1, "name": "hessian_eigenvalue", "value": 2.0},
           {"type": "metric", "step": 2, "name": "hessian_eigenvalue", "value": 1.5},
           {"type": "metric", "step": 2, "name": "early_stop", "value": 1},
           {"type": "run_end", "status": "completed", "best": best}]
    r = recorded.collapse("darts-es", 4, log=log)
    assert (r["free"], r["kept"], r["share"]) == (2, 4, 0.5)
    assert (r["eig_first"], r["eig_max"], r["eig_last"], r["stop"], r["steps"]) == (0.5, 2.0, 1.5, 1, 2)
    assert (r["method"], r["seed"], r["best"]) == ("darts-es", 4, best)


def test_the_shipped_recording_shows_what_notebook_10_says_of_the_chain_methods():
    """§3's prose describes the recorded chain runs; a recording made again must keep it true."""
    rows = {(r.method, r.seed): r for r in load_recording(SHIPPED, check=False).rows["chain"]}
    seeds = sorted({seed for _, seed in rows})
    assert seeds == [0, 1, 2]

    def kept(method, seed):         # layers that kept a convolution
        return sum(not part.endswith("=skip") for part in rows[method, seed].best.split(","))

    # on the Pixel 1 table: ProxylessNAS one MBConv on every seed, at the front's fast end
    assert [rows["proxyless", s].best for s in seeds] == [
        "layer0=skip,layer1=mbconv_k5_e3,layer2=skip", "layer0=mbconv_k3_e3,layer1=skip,layer2=skip",
        "layer0=skip,layer1=mbconv_k5_e3,layer2=skip"]
    from nasbench.widgets.pareto import device_latency_table
    table, truth = device_latency_table("pixel1"), bench.load_table("chain-small")
    entries = list(truth.entries.values())

    def gap(best):      # the most accurate network as fast or faster, less the pick's truth
        pick = truth.entries[best]
        mine = table.predict(pick.choices)
        return max(e.test_acc for e in entries if table.predict(e.choices) <= mine + 1e-9) - pick.test_acc
    assert all(gap(rows["proxyless", s].best) == 0 for s in seeds)
    # FBNet: an MBConv in every layer on every seed, good networks a little below the front
    assert all(kept("fbnet", s) == 3 and rows["fbnet", s].rank <= 40 and 0 <= gap(rows["fbnet", s].best) < 0.1
               for s in seeds)
    for s in seeds:
        r = rows["single-path", s]
        assert r.best == ",".join(f"layer{i}=mbconv_k5_e6" for i in range(3))
        with open(SHIPPED / "chain" / f"single-path-seed{s}" / "events.jsonl") as f:
            c = json.loads(f.readline())["config"]
        warmup_steps = c["warmup_epochs"] * (c["data"]["sizes"]["train"] // c["batch_size"])
        assert r.steps <= c["steps"] < warmup_steps      # the whole run inside the warm-up


def test_the_collapse_recordings_show_what_notebooks_04_and_11_say():
    """04 §6 and 11 §5 describe the nine recorded collapse runs; a recording made again must keep
    their prose true (or the prose must change with it)."""
    runs = {(m, s): recorded.collapse(m, s) for m in recorded.COLLAPSE_METHODS for s in (0, 1, 2)}
    convs = {k: sum(op.startswith("nor_conv") for op in r["best"].replace("|", " ").replace("+", " ").split())
             for k, r in runs.items()}
    # 04: two seeds of three mostly parameter-free (1 and 2 convolutions), the third keeps 4
    assert sorted(convs["darts", s] for s in (0, 1, 2)) == [1, 2, 4]
    assert sum(runs["darts", s]["share"] >= 0.6 for s in (0, 1, 2)) == 2
    # 11: DARTS- keeps more convolutions on two seeds, never `none`, a lower mean share within the spread
    assert sum(convs["darts-minus", s] > convs["darts", s] for s in (0, 1, 2)) == 2
    assert all(runs["darts-minus", s]["kept"] == 6 for s in (0, 1, 2))
    share = {m: [runs[m, s]["share"] for s in (0, 1, 2)] for m in recorded.COLLAPSE_METHODS}
    assert np.mean(share["darts-minus"]) < np.mean(share["darts"])
    assert np.mean(share["darts"]) - np.mean(share["darts-minus"]) < np.std(share["darts"], ddof=1)
    # DARTS-' eigenvalue: a fifth or less of DARTS' over the first two thirds, higher at the end
    for s in (0, 1, 2):
        eig = {m: [e["value"] for e in recorded.events(f"collapse/{m}-seed{s}")
                   if e["type"] == "metric" and e["name"] == "hessian_eigenvalue"] for m in ("darts", "darts-minus")}
        assert np.median(eig["darts-minus"][:20]) <= 0.2 * np.median(eig["darts"][:20])
        assert np.mean(eig["darts-minus"][-10:]) > np.mean(eig["darts-minus"][:10])
    # DARTS-ES stops early on every seed, at the steps 11 names, with DARTS' own mean share
    assert [runs["darts-es", s]["stop"] for s in (0, 1, 2)] == [35, 20, 38]
    assert all(runs["darts-es", s]["steps"] < 90 for s in (0, 1, 2))
    assert abs(np.mean(share["darts-es"]) - np.mean(share["darts"])) < 0.05


def test_the_dropout_sweep_shows_what_notebook_03_says():
    """03 §6 describes the fifteen recorded one-shot runs (five rates, three seeds); its numbers
    come from notebooks/expected.json, its sentences are checked here, with scipy's tau-b."""
    from scipy.stats import kendalltau
    tau, kl = {}, {}
    for r in recorded.DROPOUT_RATES:
        for s in (0, 1, 2):
            ev = [e for e in recorded.events(f"dropout/r{r:.2f}-seed{s}") if e["type"] == "eval"]
            assert len(ev) == 125
            truth = [e["truth"] for e in ev]
            tau[r, s] = kendalltau([e["score"] for e in ev], truth).statistic
            kl[r, s] = kendalltau([-e["kl"] for e in ev], truth).statistic
    mean = {r: np.mean([tau[r, s] for s in (0, 1, 2)]) for r in recorded.DROPOUT_RATES}
    sd = np.mean([np.std([tau[r, s] for s in (0, 1, 2)], ddof=1) for r in recorded.DROPOUT_RATES])
    dropped = [r for r in recorded.DROPOUT_RATES if r > 0]
    gain = np.mean([mean[r] for r in dropped]) - mean[0.0]
    # "a little better than without ... about the size of the spread between seeds"
    assert 0 < gain < 1.5 * sd and gain > 0.5 * sd
    # "between r = 0.25 and r = 0.9 the means differ by less than that spread"
    assert max(mean[r] for r in dropped) - min(mean[r] for r in dropped) < sd
    # the KL: "about 0" without dropout, "among the worst" (strongly negative) with it
    assert abs(np.mean([kl[0.0, s] for s in (0, 1, 2)])) < 0.1
    assert all(kl[r, s] < -0.3 for r in dropped for s in (0, 1, 2))


@pytest.mark.parametrize("rerun_differs", [False, True])
def test_recorded_check_compares_the_recording_with_the_run_made_again(monkeypatch, capsys, rerun_differs):
    """`python -m nasbench.recorded check NAME`: the search made again lands in a temporary
    directory and is compared with the recording (here a stand-in search writes the recorded log,
    or the log with one decision changed, where the real one would run for minutes)."""
    import shutil
    name = "collapse/darts-es-seed1"

    def fake_record(run, root=recorded.ROOT, progress=True):
        out = Path(root) / run
        out.mkdir(parents=True)
        shutil.copy(recorded.ROOT / run / "events.jsonl", out / "events.jsonl")
        if rerun_differs:
            log = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
            i = next(i for i, e in enumerate(log) if e["type"] == "genotype")
            log[i]["arch"] = "changed"
            (out / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
        return out

    monkeypatch.setattr(recorded, "record", fake_record)
    assert recorded.main(["check", name]) == int(rerun_differs)
    said = capsys.readouterr().out
    assert ("changed" in said) == rerun_differs and ("is what its search makes again" in said) != rerun_differs


def test_the_record_command_passes_on_its_own_command_line(monkeypatch, tmp_path):
    """`python -m nasbench.compare record DIR ...` records the command a user types (the
    recording then says how to make it again); it once failed before recording anything."""
    import nasbench.compare as compare
    seen = {}

    def fake_record(out, **kwargs):
        seen.update(kwargs, out=out)
        return compare.Recording({}, [], {}, {}, {})
    monkeypatch.setattr(compare, "record", fake_record)
    monkeypatch.setattr("sys.argv", ["compare.py", "record", str(tmp_path), "--backend", "ray", "--seeds", "0"])
    assert compare.main() == 0   # as `python -m` calls it: the arguments from sys.argv
    assert seen["command"] == f"python -m nasbench.compare record {tmp_path} --backend ray --seeds 0"
    assert (seen["out"], seen["backend"], seen["seeds"]) == (str(tmp_path), "ray", [0])
