"""ENAS: the micro space, the LSTM controller, REINFORCE, and the method's run.

References: networkx for the cell DAGs and their loose ends; exact enumeration of tiny spaces
for the policy (its probabilities sum to 1, sampling frequencies match them) and for the
REINFORCE gradient, whose expectation must equal autograd's gradient of E_pi[R]."""
import math

import networkx as nx
import numpy as np
import pytest
import torch

from nasbench import data as datasets
from nasbench.events import read_events, validate
from nasbench.methods import ConfigError, get_method
from nasbench.spaces import EnasSpace, NB201Space, get_space
from nasbench.supernet.controller import Controller, Reinforce, reinforce_loss, update_baseline

TINY_ENAS = EnasSpace(nodes=1, ops=["sep_conv_3x3", "max_pool_3x3", "skip_connect"])  # 36 x 36 cells
TINY_NB201 = NB201Space(nodes=3, ops=["none", "skip_connect", "nor_conv_3x3"])  # 27 cells
RUN = dict(epochs=2, C=4, layers=1, batch_size=64, train_steps=2, num_aggregate=2, n_derive=2)


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", n_train=256, seed=0)


def strip_times(events):
    return [{k: v for k, v in e.items() if k not in ("t", "wall")} for e in events]


def cell_dag(space, arc: str) -> nx.DiGraph:
    """The reference DAG of one cell from the official arc string `x x_op y y_op ...`."""
    values = [int(v) for v in arc.split()]
    g = nx.DiGraph()
    g.add_nodes_from(range(space.nodes + 2))
    for n in range(space.nodes):
        g.add_edge(values[4 * n], n + 2)
        g.add_edge(values[4 * n + 2], n + 2)
    return g


# -- the space ----------------------------------------------------------------------------------
def test_sampled_cells_are_dags_and_the_loose_ends_are_the_nodes_nobody_reads():
    space = get_space("enas")
    rng = np.random.default_rng(0)
    for _ in range(300):
        choices = space.sample(rng)
        for cell, arc in enumerate(space.arc(choices)):
            g = cell_dag(space, arc)
            assert nx.is_directed_acyclic_graph(g)
            assert all(u < v for u, v in g.edges)
            assert space.loose_ends(choices, cell) == sorted(n for n in g if g.out_degree(n) == 0)


def test_the_cell_output_concatenates_exactly_the_loose_ends():
    """The final 1x1 conv holds one C x C block per node: a block gets a gradient iff its node
    is concatenated, and the reference says which ones must be."""
    space = EnasSpace(nodes=4)
    torch.manual_seed(0)
    net = space.supernet(C=4, layers=1, num_classes=10, in_channels=1)
    rng = np.random.default_rng(1)
    for _ in range(5):
        choices = space.sample(rng)
        net.zero_grad(set_to_none=True)
        net(torch.randn(4, 1, 8, 8), choices=choices).square().sum().backward()
        for cell in net.cells:
            g = cell_dag(space, space.arc(choices)[cell.cell])
            loose = {n for n in g if g.out_degree(n) == 0}
            grad = cell.final_w.grad.view(cell.C, space.nodes + 2, cell.C)
            touched = {j for j in range(space.nodes + 2) if grad[:, j].abs().sum() > 0}
            assert touched == loose


def test_only_the_sampled_child_gets_gradients():
    space = EnasSpace(nodes=3)
    torch.manual_seed(0)
    net = space.supernet(C=4, layers=1, num_classes=10, in_channels=1)
    choices = space.sample(np.random.default_rng(2))
    net(torch.randn(4, 1, 8, 8), choices=choices).sum().backward()
    for cell in net.cells:
        arcs = space.cell_nodes(choices, cell.cell)
        for b, branch in enumerate(cell.branches):
            node, slot = divmod(b, 2)
            chosen = f"{arcs[node][2 * slot]}_{arcs[node][2 * slot + 1]}"
            for key, op in branch.ops.items():
                for p in op.parameters():
                    assert (p.grad is not None) == (key == chosen), key


def test_tiny_space_enumerates_every_cell_once_and_round_trips():
    archs = list(TINY_ENAS.enumerate())
    assert len(archs) == len(set(archs)) == TINY_ENAS.size == 36 ** 2
    for choices in archs[::17]:
        assert TINY_ENAS.decode(TINY_ENAS.encode(choices)) == choices
    # the paper's space: 5 nodes, per cell prod_i (i * 5)^2
    assert get_space("enas").size == math.prod((5 * i) ** 2 for i in range(2, 7)) ** 2


def test_stand_alone_child_holds_only_its_ops():
    space = get_space("enas")
    choices = space.sample(np.random.default_rng(0))
    child = space.build(choices, C=4, layers=1, num_classes=10, in_channels=1)
    supernet = space.supernet(C=4, layers=1, num_classes=10, in_channels=1)
    assert sum(p.numel() for p in child.parameters()) < sum(p.numel() for p in supernet.parameters()) / 5
    assert child(torch.randn(2, 1, 8, 8)).shape == (2, 10)


# -- the controller --------------------------------------------------------------------------------
@pytest.mark.parametrize("space", [TINY_ENAS, TINY_NB201], ids=["enas", "nb201"])
def test_policy_is_a_distribution_and_sampling_follows_it(space):
    torch.manual_seed(0)
    controller = Controller(space, lstm_size=16, tanh_constant=2.5)  # larger: less uniform
    with torch.no_grad():
        probs = {a: float(controller(a).log_prob.exp()) for a in space.enumerate()}
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
        n = 3000
        counts = {}
        for _ in range(n):
            sample = controller()
            assert float(sample.log_prob) == pytest.approx(math.log(probs[sample.choices]), abs=1e-4)
            counts[sample.choices] = counts.get(sample.choices, 0) + 1
    # total variation between frequencies and pi, against its sampling noise
    tv = 0.5 * sum(abs(counts.get(a, 0) / n - p) for a, p in probs.items())
    assert tv < 0.5 * sum(math.sqrt(p * (1 - p) / n) for p in probs.values()) * 2.5


@pytest.mark.parametrize("space", [TINY_ENAS, TINY_NB201], ids=["enas", "nb201"])
def test_reinforce_gradient_expectation_is_the_gradient_of_the_expected_reward(space):
    """sum_a pi(a) grad[-loss(a)] (the estimator's expectation, exact) == grad sum_a pi(a) R(a)."""
    torch.manual_seed(0)
    controller = Controller(space, lstm_size=12).double()
    archs = list(space.enumerate())
    reward = dict(zip(archs, np.random.default_rng(0).random(len(archs))))
    params = list(controller.parameters())
    baseline = 0.37
    estimator = [torch.zeros_like(p) for p in params]
    for a in archs:
        log_prob = controller(a).log_prob
        grads = torch.autograd.grad(reinforce_loss(log_prob, reward[a], baseline), params, allow_unused=True)
        weight = float(log_prob.detach().exp())
        for e, g in zip(estimator, grads):
            if g is not None:
                e -= weight * g
    expected = sum(controller(a).log_prob.exp() * reward[a] for a in archs)
    exact = torch.autograd.grad(expected, params, allow_unused=True)
    for e, g in zip(estimator, exact):
        g = torch.zeros_like(e) if g is None else g
        assert torch.allclose(e, g, atol=1e-12, rtol=1e-8)
    assert sum(float(g.abs().sum()) for g in exact if g is not None) > 1e-4


def test_baseline_is_the_moving_average_of_the_rewards():
    assert update_baseline(0.0, 1.0, 0.5) == 0.5
    assert update_baseline(0.5, 0.0, 0.5) == 0.25
    torch.manual_seed(0)
    trainer = Reinforce(Controller(TINY_NB201, lstm_size=8), bl_dec=0.9, entropy_weight=0.0, num_aggregate=3)
    for _ in range(4):
        stats = trainer.step(lambda choices: 0.8)
    assert trainer.baseline == pytest.approx(0.8 * (1 - 0.9 ** 12)) == stats["baseline"]
    assert stats["reward"] == pytest.approx(0.8)


@pytest.mark.parametrize("space, target", [(TINY_NB201, (2, 1, 2)), (TINY_ENAS, (1, 2, 0, 2, 0, 2, 1, 2))], ids=["nb201", "enas"])
def test_a_reward_that_favours_one_architecture_raises_its_probability(space, target):

    def reward(choices):  # share of the target's decisions matched: the target alone scores 1
        return float(np.mean([a == b for a, b in zip(choices, target)]))

    curves = []
    for seed in range(8):
        torch.manual_seed(seed)
        controller = Controller(space, lstm_size=16)
        trainer = Reinforce(controller, lr=0.01, bl_dec=0.9, num_aggregate=4)
        curve = []
        for step in range(61):
            if step % 10 == 0:
                with torch.no_grad():
                    curve.append(float(controller(target).log_prob.exp()))
            trainer.step(reward)
        curves.append(curve)
    mean = np.mean(curves, axis=0)
    assert all(np.diff(mean) > 0), mean
    assert mean[-1] > 1.5 * mean[0]


# -- the method ------------------------------------------------------------------------------------
def test_run_events_follow_the_algorithm(digits):
    run = get_method("enas")("enas:nodes=2", digits, progress=False, device="cpu", **RUN).run()
    events = run.events
    assert run.status == "completed" and validate(events) == []
    weights = [e for e in events if e["type"] == "step" and e["phase"] == "weights"]
    samples = [e for e in events if e["type"] == "sample"]
    assert len(samples) == len(weights) == run.steps and all(s["purpose"] == "train" for s in samples)
    controller = [e for e in events if e["type"] == "step" and e["phase"] == "controller"]
    assert len(controller) == RUN["epochs"] * RUN["train_steps"]
    alphas = [e for e in events if e["type"] == "alpha"]
    space = get_space("enas:nodes=2")
    assert len(alphas) == len(controller)
    for a in alphas:
        assert [len(r) for r in a["probs"]] == [len(o) for o in space.options]
        assert all(abs(sum(r) - 1) < 1e-4 for r in a["probs"])
    names = {e["name"] for e in events if e["type"] == "metric"}
    assert {"reward", "baseline", "advantage", "entropy", "best_valid_acc_minibatch"} <= names
    evals = [e for e in events if e["type"] == "eval"]
    assert len(evals) == RUN["n_derive"]
    assert run.best == max(evals, key=lambda e: e["score"])["arch"]


def test_same_seed_same_events_and_resume_gives_the_uninterrupted_run(digits, tmp_path):
    make = lambda **kw: get_method("enas")("enas:nodes=2", digits, progress=False, device="cpu", **RUN, **kw)
    full = make(out=tmp_path / "full").run()
    again = make().run()
    other = make(seed=1).run()
    assert strip_times(full.events) == strip_times(again.events)
    assert strip_times(full.events) != strip_times(other.events)
    stop_at = full.steps - 1   # in the last epoch, after the first checkpoint

    def stop(event):
        if event["type"] == "step" and event["step"] == stop_at:
            raise KeyboardInterrupt

    assert make(out=tmp_path / "cut", callbacks=[stop]).run().status == "interrupted"
    resumed = make(out=tmp_path / "cut", resume=True).run()
    assert resumed.status == "completed"
    assert strip_times(read_events(tmp_path / "cut" / "events.jsonl")) == strip_times(full.events)


def test_ranking_on_nb201_small_scores_every_cell_against_the_truth():
    run = get_method("enas")("nb201-small", "digits-bench", progress=False, device="cpu",
                             **{**RUN, "epochs": 1, "eval_batches": 1}).run()
    assert run.status == "completed"
    evals = [e for e in run.events if e["type"] == "eval"]
    for metric in ("controller_log_prob", "valid_acc_shared"):
        rows = [e for e in evals if e["metric"] == metric]
        assert len({e["arch"] for e in rows}) == 125 and all("truth" in e for e in rows)
    log_p = [e["score"] for e in evals if e["metric"] == "controller_log_prob"]
    assert sum(math.exp(v) for v in log_p) == pytest.approx(1.0, abs=1e-3)
    names = {e["name"] for e in run.events if e["type"] == "metric"}
    assert {"kendall_tau_log_prob", "kendall_tau_acc"} <= names


@pytest.mark.parametrize("args, words", [
    (["--set", "C=5"], "C must be even"),
    (["--set", "bl_dec=1.5"], "bl_dec"),
    (["--set", "num_aggregate=0"], "num_aggregate"),
    (["--space", "darts"], "every combination"),
])
def test_cli_bad_settings_are_one_line_errors(args, words, tmp_path, capsys):
    from nasbench.cli import main
    assert main(["run", "enas", "--quiet", "--out", str(tmp_path / "x"), *args]) != 0
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_cli_runs_on_the_cpu_preset(tmp_path):
    from nasbench.cli import main
    out = tmp_path / "enas"
    argv = ["run", "enas", "--space", "enas:nodes=2", "--steps", "4", "--quiet", "--out", str(out),
            "--set", "C=4", "--set", "train_steps=2", "--set", "num_aggregate=2", "--set", "n_derive=2"]
    assert main(argv) == 0
    events = read_events(out / "events.jsonl")
    assert not validate(events) and events[0]["config"]["preset"] == "cpu"
    assert main(["report", str(out)]) == 0 and (out / "report.html").exists()


# -- the notebook's exercises ----------------------------------------------------------------------
def test_exercise_checks_accept_right_and_reject_wrong_answers(capsys):
    from nasbench.exercises import attempt
    from nasbench.exercises import enas as ex

    def not_written(*args):
        raise NotImplementedError

    cases = [
        (ex.check_reinforce_loss, ex.reinforce_loss_reference,
         lambda lp, r, b: lp * (r - b),                                  # wrong sign
         lambda lp, r, b: -lp * (r - b)),                                # right
        (ex.check_attention, ex.attention_reference,
         lambda a, h, W1, W2, v: torch.tanh(a @ W1 + h @ W2) @ v,        # W transposed: wrong
         lambda a, h, W1, W2, v: torch.stack([v @ torch.tanh(W1 @ a[j] + W2 @ h) for j in range(len(a))])),
    ]
    for check, reference, wrong, right in cases:
        assert attempt(right, reference, check, name="x") is right
        assert "correct" in capsys.readouterr().out
        assert attempt(wrong, reference, check, name="x") is reference
        assert "not quite" in capsys.readouterr().out
        assert attempt(not_written, reference, check, name="x") is reference
        assert "not written yet" in capsys.readouterr().out
