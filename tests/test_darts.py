"""DARTS: the architecture gradients against finite differences, the genotype rule against a
hand-worked table and brute force, the space's rules, gradients reach every op, and full runs."""
import itertools
import json
import re

import numpy as np
import pytest
import scipy.stats
import torch
from torch.func import functional_call
from torch.nn import functional as F

from nasbench.cli import main as cli
from nasbench.data import load
from nasbench.events import validate
from nasbench.methods import get_method, make_config
from nasbench.methods.darts import DartsConfig, first_order_alpha_grad, unrolled_alpha_grad
from nasbench.spaces import get_space
from nasbench.supernet import ChoiceEdge

WEIGHTED = {"sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"}  # ops with weights


# -- a tiny float64 problem for the gradient checks ----------------------------------------
@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    space = get_space("darts:steps=1")  # 2 edges per cell, 4 decisions x 8 ops
    net = space.supernet(C=2, layers=3, num_classes=3, in_channels=1).double()
    alpha = [torch.randn(8, dtype=torch.float64, requires_grad=True) for _ in space.options]
    g = torch.Generator().manual_seed(1)
    train = (torch.randn(6, 1, 5, 5, generator=g, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2]))
    val = (torch.randn(6, 1, 5, 5, generator=g, dtype=torch.float64), torch.tensor([2, 1, 0, 0, 2, 1]))
    return net, alpha, train, val


def loss_of(net, params, alpha, batch):
    """Reference loss, written out here: softmax mixing, cross-entropy, torch's functional_call."""
    x, y = batch
    return F.cross_entropy(functional_call(net, params, (x,), {"weights": [a.softmax(-1) for a in alpha]}), y)


def unrolled_val_loss(net, alpha, train, val, xi, momentum, wd, buffers):
    """L_val(w - xi * (momentum * buf + grad_w L_train(w, alpha) + wd * w), alpha), by hand."""
    w = dict(net.named_parameters())
    grads = torch.autograd.grad(loss_of(net, w, alpha, train), list(w.values()))
    w_next = {n: p - xi * (momentum * b + g + wd * p) for (n, p), g, b in zip(w.items(), grads, buffers)}
    return loss_of(net, w_next, alpha, val)


def finite_difference(f, alpha, h=1e-6):
    """Central differences of f() in every entry of alpha (brute force)."""
    out = []
    for a in alpha:
        g = torch.zeros_like(a)
        for k in range(len(a)):
            with torch.no_grad():
                a[k] += h
            up = float(f())
            with torch.no_grad():
                a[k] -= 2 * h
            down = float(f())
            with torch.no_grad():
                a[k] += h
            g[k] = (up - down) / (2 * h)
        out.append(g)
    return torch.cat(out)


def check_against_reference(net, alpha, train, val, xi, momentum, wd, buffers, r, tolerance):
    reference = finite_difference(
        lambda: unrolled_val_loss(net, alpha, train, val, xi, momentum, wd, buffers).detach(), alpha)
    darts, loss = unrolled_alpha_grad(net, alpha, train, val, xi, momentum, wd, buffers, r=r)
    darts = torch.cat(darts).detach()
    first = torch.cat(first_order_alpha_grad(net, alpha, val)[0])
    error = (darts - reference).norm()
    assert error <= tolerance * reference.norm(), (float(error), float(reference.norm()))
    # the check has teeth: dropping (or mis-scaling) the Hessian term would be far off
    assert (first - reference).norm() > 20 * error
    expected = unrolled_val_loss(net, alpha, train, val, xi, momentum, wd, buffers)
    assert float(loss) == pytest.approx(float(expected.detach()))


@pytest.mark.parametrize("momentum, wd", [(0.0, 0.0), (0.9, 3e-2)])
def test_second_order_gradient_matches_finite_differences_of_the_unrolled_loss(tiny, momentum, wd):
    """On the DARTS supernet itself. Its ReLUs and max-pools make the gradient piecewise smooth,
    so the Hessian-vector product's difference step is taken small (r) to compare exactly."""
    net, alpha, train, val = tiny
    g = torch.Generator().manual_seed(2)
    buffers = [torch.randn(p.shape, generator=g, dtype=p.dtype) for p in net.parameters()]
    check_against_reference(net, alpha, train, val, 0.5, momentum, wd, buffers, r=1e-6, tolerance=1e-5)


class SmoothSupernet(torch.nn.Module):
    """Two mixed edges of smooth candidates (tanh-linear, linear, identity), DARTS eq. (2)."""

    def __init__(self):
        super().__init__()
        ops = {"tanh": lambda: torch.nn.Sequential(torch.nn.Linear(5, 5), torch.nn.Tanh()),
               "linear": lambda: torch.nn.Linear(5, 5), "identity": torch.nn.Identity}
        self.stem, self.head = torch.nn.Linear(4, 5), torch.nn.Linear(5, 3)
        self.edges = torch.nn.ModuleList(ChoiceEdge(list(ops), lambda n: ops[n]()) for _ in range(2))

    def forward(self, x, weights):
        h = torch.tanh(self.stem(x))
        for edge, w in zip(self.edges, weights):
            h = edge(h, weights=w)
        return self.head(h)


@pytest.mark.parametrize("momentum, wd", [(0.0, 0.0), (0.9, 3e-2)])
def test_second_order_gradient_with_the_papers_step_on_a_smooth_network(momentum, wd):
    """With DARTS' own step (r = 0.01) on a smooth network, the finite-difference Hessian-vector
    product is accurate to O(r^2): a wrong scale (x eps instead of / eps) would show at once."""
    torch.manual_seed(3)
    net = SmoothSupernet().double()
    alpha = [torch.randn(3, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    train = (torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,)))
    val = (torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,)))
    buffers = [torch.randn_like(p) for p in net.parameters()]
    check_against_reference(net, alpha, train, val, 0.5, momentum, wd, buffers, r=0.01, tolerance=1e-3)


def test_first_order_gradient_is_the_plain_validation_gradient(tiny):
    net, alpha, _, val = tiny
    w = dict(net.named_parameters())
    reference = finite_difference(lambda: loss_of(net, w, alpha, val).detach(), alpha)
    grads, loss = first_order_alpha_grad(net, alpha, val)
    torch.testing.assert_close(torch.cat(grads), reference, rtol=1e-5, atol=1e-8)


# -- the genotype rule ----------------------------------------------------------------------
def test_genotype_rule_on_a_hand_worked_table():
    space = get_space("darts:steps=2")  # per cell: 2<-0, 2<-1, 3<-0, 3<-1, 3<-2
    # ops: none, max_pool, avg_pool, skip, sep3, sep5, dil3, dil5
    table = [
        [0.30, 0.05, 0.05, 0.10, 0.20, 0.10, 0.10, 0.10],  # normal 2<-0: sep_conv_3x3
        [0.65, 0.05, 0.05, 0.15, 0.02, 0.03, 0.03, 0.02],  # normal 2<-1: skip_connect
        [0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.65],  # normal 3<-0: dil_conv_5x5 (0.65)
        [0.90, 0.02, 0.02, 0.02, 0.01, 0.01, 0.01, 0.01],  # normal 3<-1: none is ignored: 0.02
        [0.10, 0.10, 0.30, 0.10, 0.10, 0.10, 0.10, 0.10],  # normal 3<-2: avg_pool_3x3 (0.30)
        [0.125] * 8,                                        # reduce 2<-0: tie: first, max_pool
        [0.30, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.20],  # reduce 2<-1: dil_conv_5x5
        [0.40, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.00],  # reduce 3<-0: max_pool 0.10
        [0.00, 0.00, 0.00, 0.00, 0.50, 0.50, 0.00, 0.00],  # reduce 3<-1: sep_conv_3x3 0.50
        [0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.30, 0.70],  # reduce 3<-2: dil_conv_5x5 0.70
    ]
    assert space.encode(space.derive(table)) == (
        "normal=sep_conv_3x3~0+skip_connect~1|dil_conv_5x5~0+avg_pool_3x3~2;"
        "reduce=max_pool_3x3~0+dil_conv_5x5~1|sep_conv_3x3~1+dil_conv_5x5~2")


def brute_force_genotype(space, probs):
    """Per node, the pair of inputs and ops with the largest total weight (none excluded)."""
    choices = [0] * len(space.decisions)
    for cell in ("normal", "reduce"):
        for node in range(2, space.steps + 2):
            edges = [d for d, name in enumerate(space.decisions)
                     if re.fullmatch(f"{cell}:{node}<-\\d+", name)]
            best = max(((probs[a][i] + probs[b][j], a, i, b, j)
                        for a, b in itertools.combinations(edges, 2)
                        for i in range(1, 8) for j in range(1, 8)))
            _, a, i, b, j = best
            choices[a], choices[b] = i, j
    return tuple(choices)


def test_genotype_rule_matches_brute_force_on_random_tables():
    space = get_space("darts")
    rng = np.random.default_rng(0)
    for _ in range(20):
        probs = rng.dirichlet(np.ones(8) * 0.5, size=len(space.decisions))
        assert space.derive(probs) == brute_force_genotype(space, probs)


def test_samples_mutations_and_enumeration_are_genotypes():
    space = get_space("darts")
    rng = np.random.default_rng(0)
    for _ in range(30):
        c = space.sample(rng)
        for choices in (c, space.mutate(c, rng, 0.3)):
            per_node = {}
            for name, k in zip(space.decisions, choices):
                cell, target = re.match(r"(\w+):(\d+)<-", name).groups()
                per_node[(cell, target)] = per_node.get((cell, target), 0) + (k != 0)
            assert sorted(set(per_node.values())) == [2]
            assert space.decode(space.encode(choices)) == choices
    small = get_space("darts:steps=1")
    everything = list(small.enumerate())
    assert len(everything) == len(set(everything)) == small.size == (7 * 7) ** 2


def test_stand_alone_network_holds_only_the_genotype_ops():
    space = get_space("darts")
    choices = space.sample(np.random.default_rng(1))
    net = space.build(choices, C=4, layers=3, num_classes=10, in_channels=1)
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    kept = sum(len(cell.ops) for cell in net.cells)
    cells = [cell.reduction for cell in net.cells]
    assert cells == [False, True, True]
    assert kept == 8 * len(cells)  # 4 nodes x 2 inputs, per cell
    assert all(m.affine for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))


# -- gradients reach everything -------------------------------------------------------------
@pytest.mark.parametrize("space_name", ["darts", "nb201"])
def test_every_op_in_every_cell_and_every_alpha_gets_a_gradient(space_name):
    torch.manual_seed(0)
    space = get_space(space_name)
    net = space.supernet(C=4, layers=3, num_classes=10, in_channels=1)
    alpha = [(1e-3 * torch.randn(len(o))).requires_grad_() for o in space.options]
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    F.cross_entropy(net(x, weights=[a.softmax(-1) for a in alpha]), y).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing[:5]
    assert all((a.grad.abs() > 0).all() for a in alpha)
    bn = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert sum(not m.affine for m in bn) > len(bn) // 2  # the ops' BN is non-affine in search


# -- the method -----------------------------------------------------------------------------
def test_config_defaults_are_the_papers_and_the_cpu_preset_says_what_it_changed():
    paper = DartsConfig()
    assert (paper.lr, paper.lr_min, paper.momentum, paper.weight_decay, paper.grad_clip) == (0.025, 0.001, 0.9, 3e-4, 5.0)
    assert (paper.arch_lr, paper.arch_beta1, paper.arch_beta2, paper.arch_weight_decay) == (3e-4, 0.5, 0.999, 1e-3)
    assert (paper.epochs, paper.batch_size, paper.C, paper.layers, paper.order) == (50, 64, 16, 8, 2)
    cpu = make_config(DartsConfig, "cpu")
    changed = {k for k, v in cpu.as_dict().items() if v != getattr(paper, k)}
    assert changed == set(DartsConfig.PRESETS["cpu"])
    assert all(f"{k}=" in DartsConfig.NOTES["cpu"] for k in changed), "the note names every change"


@pytest.fixture(scope="module")
def small_data():
    return load("digits", n_train=160)  # 80 train / 80 valid


@pytest.mark.parametrize("order", [1, 2])
def test_darts_runs_through_search_run_with_valid_events(order, small_data):
    Darts = get_method("darts")
    search = Darts("darts:steps=2", small_data, epochs=2, batch_size=32, C=2, layers=3, order=order,
                   alpha_every=2, arch_lr=0.05, progress=False)
    result = search.run()
    events = result.events
    assert result.status == "completed" and validate(events) == []
    # alpha stays out of the weight optimizer, and only alpha is in the architecture optimizer
    weights = {id(p) for g in search.optimizer.param_groups for p in g["params"]}
    alphas = {id(a) for a in search.alpha}
    assert not weights & alphas
    assert {id(p) for g in search.arch_optimizer.param_groups for p in g["params"]} == alphas
    steps = [e for e in events if e["type"] == "step"]
    assert [e["phase"] for e in steps[:4]] == ["arch", "weights", "arch", "weights"]
    assert len(steps) == 2 * 2 * 2  # 2 epochs x 2 batches x (arch, weights)
    alpha = [e for e in events if e["type"] == "alpha"]
    assert [e["step"] for e in alpha] == [1, 3]  # the 2nd and 4th steps (counted from 0)
    entropy = [e["value"] for e in events if e["type"] == "metric" and e["name"] == "alpha_entropy"]
    np.testing.assert_allclose(entropy, [np.mean([scipy.stats.entropy(r) for r in e["probs"]]) for e in alpha],
                               rtol=1e-4)
    assert any(abs(p - 1 / 8) > 1e-3 for e in alpha[-1:] for row in e["probs"] for p in row), "alpha never moved"
    genotypes = [e for e in events if e["type"] == "genotype"]
    free = [e["value"] for e in events if e["type"] == "metric" and e["name"] == "parameter_free_ops"]
    space = search.space
    for g, a, f in zip(genotypes, alpha, free):
        assert g["choices"] == list(space.derive(a["probs"]))
        ops = space.ops_of(g["choices"])
        assert f == sum(op not in WEIGHTED and op != "none" for op in ops)
    assert len(genotypes) == 2 and events[-1]["best"] == genotypes[-1]["arch"]


def test_darts_searches_the_nb201_cell_too(small_data):
    search = get_method("darts")("nb201-small", small_data, steps=2, batch_size=32, C=4, layers=3,
                                 progress=False)
    result = search.run()
    assert result.status == "completed" and validate(result.events) == []
    assert result.best is not None


def test_cli_runs_darts(tmp_path, capsys):
    out = tmp_path / "d"
    code = cli(["run", "darts", "--space", "darts:steps=1", "--dataset", "digits", "--steps", "2",
                "--set", "C=2", "--set", "layers=3", "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["method"] == "darts"


def test_resume_after_an_interrupt_gives_the_uninterrupted_run(tmp_path):
    """The architecture's batches restart with each epoch, so an epoch-end checkpoint replays
    exactly what the uninterrupted run saw (same events, timings aside)."""
    from nasbench import data
    from nasbench.events import read_events
    from nasbench.methods import get_method
    digits = data.load("digits", n_train=256)
    kw = dict(epochs=2, C=4, layers=3, batch_size=32, progress=False, device="cpu")
    strip = lambda ev: [{k: v for k, v in e.items() if k not in ("t", "wall")} for e in ev]
    full = get_method("darts")("nb201-small", digits, out=tmp_path / "full", **kw).run()

    def stop(event):
        if event["type"] == "step" and event["step"] == full.steps - 2 and event["phase"] == "weights":
            raise KeyboardInterrupt

    cut = get_method("darts")("nb201-small", digits, out=tmp_path / "cut", callbacks=[stop], **kw).run()
    assert cut.status == "interrupted"
    resumed = get_method("darts")("nb201-small", digits, out=tmp_path / "cut", resume=True, **kw).run()
    assert resumed.status == "completed"
    assert strip(read_events(tmp_path / "cut" / "events.jsonl")) == strip(full.events)


# -- the second-order step as the method takes it ------------------------------------------------
def smooth_problem(head_scale=1.0):
    """The smooth two-edge network in float64, its alpha, a training and a validation batch."""
    torch.manual_seed(3)
    net = SmoothSupernet().double()
    with torch.no_grad():
        net.head.weight.mul_(head_scale)
    alpha = [torch.randn(3, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    train = (torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,)))
    val = (torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,)))
    return net, alpha, train, val


def relative_error(got, reference):
    return float((torch.cat(got).detach() - reference).norm() / reference.norm())


def test_unrolled_gradient_defaults_are_one_plain_sgd_step_and_darts_r():
    """Called with xi only, w' = w - xi * grad_w L_train (no momentum, no weight decay) and the
    difference step is DARTS' r = 0.01 (accurate to 1e-3 here; r ~ 1 is 5% off). Momentum
    buffers passed without a momentum count for nothing."""
    net, alpha, train, val = smooth_problem()
    zeros = [torch.zeros_like(p) for p in net.parameters()]
    reference = finite_difference(
        lambda: unrolled_val_loss(net, alpha, train, val, 0.5, 0.0, 0.0, zeros).detach(), alpha)
    assert relative_error(unrolled_alpha_grad(net, alpha, train, val, 0.5)[0], reference) < 1e-3
    buffers = [torch.randn_like(p) for p in net.parameters()]
    got = unrolled_alpha_grad(net, alpha, train, val, 0.5, momentum_buffers=buffers)[0]
    assert relative_error(got, reference) < 1e-3


def test_unrolled_gradient_steps_r_along_the_gradient_whatever_its_norm():
    """eq. (8): w+- = w +- eps * v with eps = r / ||v||, so the weights move by r. On a steep
    network (||v|| ~ 4) that keeps the finite difference within 1e-2 of the exact gradient; a
    step of r * ||v|| (16x further) is 20% off."""
    net, alpha, train, val = smooth_problem(head_scale=30.0)
    zeros = [torch.zeros_like(p) for p in net.parameters()]
    reference = finite_difference(
        lambda: unrolled_val_loss(net, alpha, train, val, 0.5, 0.0, 0.0, zeros).detach(), alpha)
    assert relative_error(unrolled_alpha_grad(net, alpha, train, val, 0.5, r=0.01)[0], reference) < 1e-2


def test_arch_step_unrolls_the_weight_optimizers_momentum_step():
    """Darts.arch_step (order 2) sets alpha's gradient to that of L_val at the weights one step
    of the weight optimiser ahead: with its momentum buffers once it has them (DARTS'
    `moment = network_optimizer.state[v]['momentum_buffer'] * network_momentum`), none at the
    first step, and weight decay; finite differences of the unrolled loss written out here."""
    search = get_method("darts")("darts:steps=1", load("digits", n_train=64), order=2, momentum=0.9, batch_size=16,
                                 weight_decay=3e-2, progress=False, device="cpu")
    net, alpha, train, val = smooth_problem()
    search.supernet, search.alpha = net, alpha
    search.optimizer = torch.optim.SGD(net.parameters(), 0.1, momentum=0.9, weight_decay=3e-2)
    search.arch_optimizer = torch.optim.SGD(alpha, lr=0.0)  # keeps alpha where the reference is

    def check(buffers):
        reference = finite_difference(
            lambda: unrolled_val_loss(net, alpha, train, val, 0.5, 0.9, 3e-2, buffers).detach(), alpha)
        search.arch_step(train, val, xi=0.5)
        assert relative_error([a.grad for a in alpha], reference) < 1e-3
        return reference

    check([torch.zeros_like(p) for p in net.parameters()])  # no momentum buffers yet
    for _ in range(2):                                       # two weight steps make them
        search.optimizer.zero_grad()
        loss_of(net, dict(net.named_parameters()), alpha, train).backward()
        search.optimizer.step()
    buffers = [search.optimizer.state[p]["momentum_buffer"] for p in net.parameters()]
    with_momentum = check(buffers)
    without = finite_difference(
        lambda: unrolled_val_loss(net, alpha, train, val, 0.5, 0.0, 3e-2, buffers).detach(), alpha)
    assert (with_momentum - without).norm() > 0.01 * with_momentum.norm()  # the buffers matter here


# -- the collapse watch and the weight step the later methods share --------------------------------
def test_hessian_watch_every_hessian_every_steps_with_weight_decay_and_no_stop_unless_asked(monkeypatch):
    """hessian_every = 3 on 6 steps: measured after steps 2 and 5 (counted from 0), each time the
    Hessian's eigenvalue with the architecture weight decay on its diagonal (RobustDARTS). An
    eigenvalue that quadruples would stop DARTS-ES at once (window 1, delta 1, factor 2), yet
    with early_stop off the search runs to its end."""
    import nasbench.methods.darts as darts
    decays = []

    def scripted(loss, params, weight_decay=0.0, **kw):
        decays.append(weight_decay)
        return [1.0, 4.0][len(decays) - 1]
    monkeypatch.setattr(darts, "dominant_eigenvalue", scripted)
    result = get_method("darts")("darts:steps=2", load("digits", n_train=160), epochs=3, batch_size=32, C=2,
                                 layers=3, order=1, hessian_every=3, arch_weight_decay=0.02, es_window=1,
                                 es_delta=1, es_factor=2.0, es_start=0, progress=False, device="cpu").run()
    events = result.events
    measured = [(e["step"], e["value"]) for e in events if e.get("name") == "hessian_eigenvalue"]
    assert measured == [(2, 1.0), (5, 4.0)]
    assert decays == [0.02, 0.02]
    assert result.status == "completed" and result.steps == 6
    assert not any(e.get("name") == "early_stop" for e in events)


def test_weight_step_leaves_ops_that_did_not_run_bit_identical():
    """Darts.weight_step as GDAS takes it (one sampled op per edge runs): an op that ran in an
    earlier step, and so holds a momentum buffer, but not in this one, keeps its weights exactly:
    its gradient is None, so neither momentum nor weight decay moves it."""
    from nasbench.supernet.mixed import SampledEdge
    ran, before, checked = set(), {}, []

    def watch(event):
        ops = [op for m in search.supernet.modules() if isinstance(m, SampledEdge) for op in m.candidates]
        if event["type"] == "sample":                     # just before the weight step
            if not before:
                for op in ops:
                    op.register_forward_hook(lambda module, args, out: ran.add(module))
            ran.clear()
            before.update({p: p.detach().clone() for op in ops for p in op.parameters()})
        elif event["type"] == "step" and event["phase"] == "weights":
            moved = {p for op in ran for p in op.parameters()}
            for p, old in before.items():
                if p not in moved:
                    assert torch.equal(p, old)
                    checked.append("momentum_buffer" in search.optimizer.state.get(p, {}))

    search = get_method("gdas")("nb201-small", load("digits", n_train=160), epochs=2, batch_size=16, C=4,
                                layers=1, callbacks=[watch], progress=False, device="cpu")
    assert search.config.momentum > 0 and search.config.weight_decay > 0
    assert search.run().status == "completed"
    assert any(checked), "no op with a momentum buffer sat a step out"


def test_parameter_free_share_of_a_genotype_with_a_single_op(monkeypatch):
    """nb201-small (3 edges) with alpha held at none, none, avg_pool: the genotype keeps one op,
    a parameter-free one, so the collapse signal's share is 1 (not 1 / 2)."""
    import nasbench.methods.darts as darts
    monkeypatch.setattr(darts, "dominant_eigenvalue", lambda *a, **k: 1.0)
    search = get_method("darts")("nb201-small", load("digits", n_train=64), steps=1, batch_size=16, C=4,
                                 layers=1, arch_lr=0.0, hessian_every=1, progress=False, device="cpu")
    setup = search.setup

    def held_alpha():
        setup()
        with torch.no_grad():
            for a, best in zip(search.alpha, (0, 0, 4)):
                a.copy_(torch.eye(5)[best] * 10)
    search.setup = held_alpha
    events = search.run().events
    (share,) = [e["value"] for e in events if e.get("name") == "parameter_free_share"]
    assert share == 1.0
