"""ENAS: the micro space, the LSTM controller, REINFORCE, and the method's run.

References: networkx for the cell DAGs and their loose ends; exact enumeration of tiny spaces
for the policy (its probabilities sum to 1, sampling frequencies match them) and for the
REINFORCE gradient, whose expectation must equal autograd's gradient of E_pi[R]."""
import math

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

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
        trainer = Reinforce(controller, lr=0.03, bl_dec=0.9, num_aggregate=4)  # TF Adam: eps 31.6x at first
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


# -- round three: the official child's details --------------------------------------------------
def test_a_cell_input_is_converted_only_when_its_width_differs():
    """micro_child._maybe_calibrate_size: the first input gets relu-1x1 conv-BN only when
    c[0] != out_filters (a factorized reduction when its resolution is twice the cell's). With 6
    layers of 20 filters (stem 60): cells 0, 1 convert (60 -> 20), the reduction cells 2 and 5
    reduce, cells 3, 4, 6, 7 pass their first input through (the official net has no conv there)."""
    from nasbench.ops import FactorizedReduce, ReLUConvBN
    net = get_space("enas").supernet(C=20, layers=6)
    kinds = [type(cell.calibrate_0) for cell in net.cells]
    assert kinds == [ReLUConvBN, ReLUConvBN, FactorizedReduce, nn.Identity, nn.Identity,
                     FactorizedReduce, nn.Identity, nn.Identity]


def test_the_stage_reduction_has_no_relu_and_the_classifier_no_bias():
    """micro_child._model: x = _factorized_reduction(x, ...) with no ReLU before it; logits = x @ w.
    A negative input therefore passes the reduction's convs (a ReLU would zero it)."""
    net = get_space("enas").supernet(C=8, layers=3)
    assert net.classifier.bias is None
    reduce = net.reductions[str(net.pool_layers[0])].eval()
    x = -torch.rand(1, reduce.conv_1.in_channels, 4, 4)
    assert reduce(x).abs().sum() > 0 and not torch.allclose(reduce(x), reduce(torch.zeros_like(x)))


def test_shared_weights_are_he_normal_over_the_number_of_possible_inputs():
    """create_weight: he_normal = a normal of std sqrt(2 / fan_in) truncated at 2 std (std
    0.8796 of it, scipy's truncnorm). The shared weights are [num_possible_inputs, ...], so
    fan_in = i for node i's convs (_enas_conv: curr_cell + 2) and nodes + 2 for final_conv."""
    import scipy.stats
    torch.manual_seed(0)
    space = get_space("enas")
    net = space.supernet(C=20, layers=6)
    shrink = scipy.stats.truncnorm(-2, 2).std()
    cell = net.cells[0]
    for branch in cell.branches:
        w = torch.cat([m.weight.flatten() for m in branch.modules() if isinstance(m, nn.Conv2d)])
        assert float(w.std()) == pytest.approx(shrink * (2 / branch.i) ** 0.5, rel=0.03), branch.i
    assert float(cell.final_w.std()) == pytest.approx(shrink * (2 / (space.nodes + 2)) ** 0.5, rel=0.03)
    stem = net.stem[0].weight  # [3, 3, 3, 60]: fan_in 27
    assert float(stem.std()) == pytest.approx(shrink * (2 / 27) ** 0.5, rel=0.1)


def test_controller_adam_is_tensorflows_eps_before_bias_correction():
    """TF AdamOptimizer, step 1, beta1 = 0: theta -= lr sqrt(1 - b2) g / (sqrt((1 - b2) g^2) + eps),
    computed by hand here; PyTorch's Adam would put eps after the bias correction."""
    from nasbench.optim import TFAdam
    lr, b2, eps = 0.0035, 0.999, 1e-3
    g = torch.tensor([1e-4, -3e-3, 0.2], dtype=torch.float64)
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = TFAdam([p], lr, betas=(0.0, b2), eps=eps)
    p.grad = g.clone()
    opt.step()
    hand = -lr * (1 - b2) ** 0.5 * g / ((1 - b2) ** 0.5 * g.abs() + eps)
    assert torch.allclose(p.detach(), hand, rtol=1e-9, atol=0)
    # step 2, g the same: m = g, v = (1 - b2^2) g^2 (beta1 = 0)
    before = p.detach().clone()
    p.grad = g.clone()
    opt.step()
    v = (1 - b2) * (b2 * g ** 2) + (1 - b2) * g ** 2
    hand = -lr * (1 - b2 ** 2) ** 0.5 * g / (v.sqrt() + eps)
    assert torch.allclose(p.detach() - before, hand, rtol=1e-9, atol=0)


def test_the_search_child_has_the_official_aux_head_after_the_last_reduction(digits):
    """cifar10_micro_search.sh --child_use_aux_heads: aux_head_indices = [pool_layers[-1] + 1];
    on 32x32 CIFAR the head pools the 8x8 map 5x5 / 3 to 2x2 and a 2x2 conv to 768 x 1x1;
    training only; the loss is CE + 0.4 CE(aux)."""
    assert get_method("enas").Config().aux_weight == 0.4
    net = get_space("enas").supernet(C=20, layers=6, aux_head=True, image_size=32)
    assert net.aux_layer == net.pool_layers[-1] + 1 == 6
    assert net.aux_head.body[3].kernel_size == (2, 2) and net.aux_head.classifier.bias is None
    choices = get_space("enas").sample(np.random.default_rng(0))
    x = torch.randn(2, 3, 32, 32)
    net.train()(x, choices=choices)
    assert net.aux_logits.shape == (2, 10)
    net.eval()(x, choices=choices)
    assert net.aux_logits is None
    search = get_method("enas")("enas:nodes=2", digits, progress=False, epochs=1, batch_size=32, C=8, layers=3)
    search.setup()
    assert search.supernet.aux_head is not None


def _set_up(space, data, **kw):
    search = get_method("enas")(space, data, progress=False, device="cpu", C=4, layers=1, batch_size=16, **kw)
    search._seed_everything()
    search.setup()
    return search


# -- the shared-weight update, by hand ---------------------------------------------------------
@pytest.mark.parametrize("grad_clip", [None, 0.05])
def test_a_weight_step_is_nesterov_sgd_on_ce_plus_aux_with_l2_on_every_weight(digits, grad_clip):
    """One step of phase 1 by hand (src/utils.py get_train_ops): the loss CE + 0.4 CE(aux head)
    of the sampled child, its gradient (clipped to norm `grad_clip` when set), plus 2 * l2_reg * w
    on EVERY shared weight, the ones off the child too (TF gives them a zero gradient, not none);
    the first Nesterov step from an empty buffer moves w by -lr (1 + momentum) d. The reference is
    a copy of the supernet differentiated here (dropout off: keep_prob 1)."""
    import copy
    search = _set_up("enas:nodes=2", digits, epochs=2, keep_prob=1.0, l2_reg=0.05, train_every=2,
                     grad_clip=grad_clip)
    net = copy.deepcopy(search.supernet)
    x, y = search.data.train.x[:16], search.data.train.y[:16]
    search.batches = lambda: iter([(x, y)])
    search.train_epoch(0)
    choices = next(e for e in search.events if e["type"] == "sample")["choices"]
    c = search.config
    net.train()
    logits = net(x, choices=choices)
    ce = nn.functional.cross_entropy(logits, y)
    aux = nn.functional.cross_entropy(net.aux_logits, y)
    # the step event: the child's CE (not the aux total), its accuracy counted here, epoch 0's lr
    (step,) = [e for e in search.events if e["type"] == "step"]
    assert step["phase"] == "weights" and step["lr"] == c.lr_max
    assert step["loss"] == pytest.approx(float(ce.detach()), rel=1e-6)
    assert step["acc"] == sum(int(logits[i].argmax()) == int(y[i]) for i in range(len(y))) / len(y)
    params = list(net.parameters())
    raw = torch.autograd.grad(ce + 0.4 * aux, params, allow_unused=True, retain_graph=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, raw)]
    if grad_clip is not None:
        norm = float(torch.cat([g.flatten() for g in grads]).norm())
        assert norm > 10 * grad_clip, "the clip must be active"
        grads = [g * grad_clip / (norm + 1e-6) for g in grads]
    lr = c.lr_max
    off_child = 0
    for (name, p), g, after in zip(net.named_parameters(), grads, search.supernet.parameters()):
        expected = p.detach() - lr * (1 + c.momentum) * (g + 2 * c.l2_reg * p.detach())
        assert torch.allclose(after.detach(), expected, atol=1e-6, rtol=1e-5), name
        off_child += bool(g.abs().sum() == 0 and p.abs().sum() > 0)
    assert off_child > 0, "some weights are off the child (decayed, not left alone)"
    # the aux head's share of the step is far above the tolerance: dropping it would show
    g_aux = [g for g in torch.autograd.grad(aux, params, allow_unused=True) if g is not None]
    assert lr * (1 + c.momentum) * 0.4 * max(float(g.abs().max()) for g in g_aux) > 1e-3


def test_the_controller_trains_after_every_train_every_th_epoch(digits):
    """main.py: `epoch` counts the epochs done (from 1) and the controller trains when
    epoch % controller_train_every == 0: with train_every 3, after the 3rd and the 6th epoch."""
    search = _set_up("enas:nodes=2", digits, epochs=6, train_every=3)
    x, y = search.data.train.x[:16], search.data.train.y[:16]
    search.batches = lambda: iter([(x, y)])
    after = []
    for epoch in range(6):
        search.train_controller = lambda: after.append(epoch)  # noqa: B023 (called inside the loop)
        search.train_epoch(epoch)
    assert after == [2, 5]


def test_a_controller_phase_logs_each_step_and_ends_on_the_policys_greedy_mode(digits):
    """With every child's accuracy 0.25 (stubbed), each controller step event has acc 0.25 and
    the controller's lr; the phase's genotype is the greedy decode: at every decision the most
    likely choice given the ones before it (the controller's own conditional probabilities)."""
    search = _set_up("enas:nodes=2", digits, train_steps=2, num_aggregate=2, entropy_weight=0.0)
    search.reward = lambda choices, x, y: 0.25
    search.train_controller()
    steps = [e for e in search.events if e["type"] == "step"]
    assert [(e["phase"], e["acc"], e["lr"]) for e in steps] == [("controller", 0.25, 0.0035)] * 2
    (genotype,) = [e["choices"] for e in search.events if e["type"] == "genotype"]
    with torch.no_grad():
        probs = search.controller(genotype).probs
    assert len(genotype) > 10
    assert [int(np.argmax(p)) for p in probs] == genotype


def test_derive_keeps_the_first_of_equally_good_children_and_ranks_a_space_of_exactly_rank_limit():
    """Sec. 2.2 "Deriving Architectures": the best of n_derive sampled children, the first one on
    a tie (every child's accuracy stubbed to 0.5); a space of exactly `rank_limit` cells is ranked
    cell by cell (27 log-probabilities)."""
    digits = datasets.load("digits", n_train=128, seed=0)
    search = _set_up(TINY_NB201, digits, n_derive=6, rank_limit=27, eval_batches=1)
    search.reward = lambda choices, x, y: 0.5
    search.finish()
    evals = [e for e in search.events if e["type"] == "eval"]
    derived = [e for e in evals if e["metric"] == "valid_acc_minibatch"]
    assert len(derived) == 6 and max(e["choices"] for e in derived) != derived[0]["choices"]
    assert list(search.best) == derived[0]["choices"]
    assert len([e for e in evals if e["metric"] == "controller_log_prob"]) == 27


def test_the_controllers_logits_are_divided_by_temperature_and_squashed_by_tanh_constant(digits):
    """micro_controller.py: logits / temperature, then tanh_constant * tanh(.) (ops: divided by
    op_tanh_reduce too), then the ops' fixed bias. Without tanh, the log-odds of the same
    controller (same seed) given the same choices at temperatures 1, 2, 4 are raw + b, raw / 2 + b,
    raw / 4 + b: the first gap is twice the second. With the weights blown up (tanh saturated), no
    decision's probabilities differ by more than a factor exp(2 * 1.1) (ops: exp(2 * 0.44) times
    their bias's, which stays below it)."""
    runs = [_set_up("enas:nodes=2", digits, tanh_constant=None, temperature=t) for t in (None, 2.0, 4.0)]
    choices = runs[0].space.sample(np.random.default_rng(0))
    with torch.no_grad():
        probs = [run.controller(choices).probs for run in runs]
        for p1, p2, p4 in zip(*probs):
            lo1, lo2, lo4 = (np.log(p) - np.log(p[0]) for p in (p1, p2, p4))
            assert lo1 - lo2 == pytest.approx(2 * (lo2 - lo4), abs=1e-4)
        gaps = [np.log(p1 / p2) - np.log(p1[0] / p2[0]) for p1, p2 in zip(probs[0], probs[1])]
        assert max(float(np.abs(g).max()) for g in gaps) > 0.01, "temperature 2 changes the policy"
        squashed = _set_up("enas:nodes=2", digits, tanh_constant=1.1)
        for p in squashed.controller.parameters():
            p.mul_(100.0)
        probs = squashed.controller(choices).probs
    assert max(float(p.max() / p.min()) for p in probs) <= math.exp(2 * 1.1) * (1 + 1e-5)


def test_aux_weight_0_builds_no_aux_head(digits):
    """`aux_weight: 0: no head` (the search script's --child_use_aux_heads off)."""
    assert _set_up("enas:nodes=2", digits, aux_weight=0.0).supernet.aux_head is None
    assert _set_up("enas:nodes=2", digits).supernet.aux_head is not None


def test_shared_weight_scores_use_each_batchs_own_bn_statistics(digits):
    """The supernet keeps no BN running averages (NAS-Bench-201's weight-sharing baselines; the
    official child normalises with the batch): on the NB201 cell, which has no dropout, the eval
    forward rank_every_cell scores with is the training forward."""
    search = _set_up(TINY_NB201, digits)
    x = search.data.valid.x[:16]
    choices = TINY_NB201.sample(np.random.default_rng(0))
    with torch.no_grad():
        scored = search.supernet.eval()(x, choices=choices)
        trained = search.supernet.train()(x, choices=choices)
    assert torch.allclose(scored, trained, atol=1e-5)


def test_the_fixed_op_bias_is_added_in_the_normal_cell_only(digits):
    """micro_controller.py builds the normal cell's sampler with use_bias=True and the reduction
    cell's with use_bias=False: with every learned weight at 0 (so every logit is 0), a normal-cell
    op is drawn from softmax(0.25, 0.25, -0.25, ...) and a reduction-cell op uniformly."""
    search = _set_up("enas:nodes=2", digits)
    with torch.no_grad():
        for p in search.controller.parameters():
            p.zero_()
        probs = search.controller(search.space.sample(np.random.default_rng(0))).probs
    ops = [(name, p) for name, p in zip(search.space.decisions, probs) if name.endswith("_op")]
    n = len(ops[0][1])
    b = np.array([0.25, 0.25] + [-0.25] * (n - 2))
    for name, p in ops:
        expected = np.exp(b) / np.exp(b).sum() if name.startswith("normal:") else np.full(n, 1 / n)
        np.testing.assert_allclose(p, expected, rtol=1e-5, err_msg=name)
    assert {name.split(":")[0] for name, _ in ops} == {"normal", "reduce"}


def test_the_reward_adds_entropy_weight_times_the_samples_entropy():
    """Reinforce: reward = acc + entropy_weight * H, with H the sum over the sample's decisions of
    -sum p log p (computed here from the probabilities the sample reports)."""
    controller = Controller(TINY_NB201, lstm_size=8)
    trainer = Reinforce(controller, bl_dec=0.9, entropy_weight=0.5, num_aggregate=1)
    torch.manual_seed(0)
    stats = trainer.step(lambda choices: 0.25)
    H = sum(float(-(p * np.log(p)).sum()) for p in stats["probs"])
    assert stats["entropy"] == pytest.approx(H, rel=1e-5)
    assert stats["reward"] == pytest.approx(0.25 + 0.5 * H, rel=1e-5)
