"""GDAS, SNAS, PC-DARTS, NASP and DARTS- against independent references: a hand-computed
straight-through gradient, Gumbel-max frequencies, DARTS' own mixed op and supernet, a brute-force
proximal step, the gradient of a plain DARTS supernet at the discrete point; then full runs
(determinism, resume, both cells)."""
import numpy as np
import pytest
import scipy.special
import torch
from torch.nn import functional as F

from nasbench.data import load
from nasbench.events import read_events, validate
from nasbench.methods import get_method
from nasbench.methods.gdas import straight_through_gumbel
from nasbench.methods.nasp import Nasp, proximal_step
from nasbench.methods.snas import relaxed_one_hot
from nasbench.ops import build_op
from nasbench.spaces import get_space
from nasbench.supernet import ChoiceEdge
from nasbench.supernet.mixed import (AuxiliarySkipEdge, PartialChannelEdge, SampledEdge,
                                     partial_channels, set_beta)

NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
AFTER_DARTS = ["gdas", "snas", "pc-darts", "nasp", "darts-minus"]


def set_up(method, space, data, **kw):
    """A search of `method` built, seeded and set up by hand (no run), as its loop would start."""
    search = get_method(method)(space, data, progress=False, **kw)
    search._seed_everything()
    search.setup()
    return search


def edge_of(cls, C=4, stride=1, **kw):
    torch.manual_seed(0)
    build = lambda op, c=C: build_op(op, c, stride, affine=False)  # noqa: E731
    return cls(NB201_OPS, build, C, **kw) if cls is not ChoiceEdge else cls(NB201_OPS, build)


# -- GDAS -----------------------------------------------------------------------------------
def test_gdas_runs_only_the_sampled_op_and_its_forward_is_that_op():
    edge = edge_of(SampledEdge).double()
    calls = [0] * len(edge.candidates)
    for k, op in enumerate(edge.candidates):
        op.register_forward_hook(lambda m, i, o, k=k: calls.__setitem__(k, calls[k] + 1))
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    torch.manual_seed(3)
    h, index = straight_through_gumbel(torch.randn(1, 5, dtype=torch.float64), tau=1.0)
    k = int(index[0])
    assert h[0].tolist() == pytest.approx(np.eye(5)[k].tolist(), abs=1e-12)  # a one-hot value
    out = edge(x, weights=h[0])
    assert calls == [int(j == k) for j in range(5)], "only the sampled op may run"
    assert torch.allclose(out, edge.candidates[k](x), atol=1e-12)


@pytest.mark.parametrize("tau", [10.0, 1.0, 0.1])
def test_gdas_gradient_reaching_alpha_is_the_straight_through_gradient_by_hand(tau):
    """L = sum(R * edge(x)). With h = one_hot - p.detach() + p the official cell adds op_k(x)
    for the sampled k and the bare weight for the others, so dL/dh_k = <R, op_k(x)> and
    dL/dh_j = sum(R); then dL/dalpha = J^T dL/dh with J = (diag(p) - p p^T) / tau, the Jacobian
    of p = softmax((log_softmax(alpha) + g) / tau) (log_softmax only shifts, softmax ignores it)."""
    edge = edge_of(SampledEdge).double()
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    R = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    alpha = torch.randn(1, 5, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(7)
    h, index = straight_through_gumbel(alpha, tau)
    (edge(x, weights=h[0]) * R).sum().backward()
    # the same Gumbel draw, by hand in numpy
    torch.manual_seed(7)
    g = (-torch.empty(1, 5, dtype=torch.float64).exponential_().log()).numpy()[0]
    a = alpha.detach().numpy()[0]
    p = scipy.special.softmax((a - scipy.special.logsumexp(a) + g) / tau)
    k = int(np.argmax(p))
    assert k == int(index[0])
    with torch.no_grad():
        dL_dh = np.array([float((R * edge.candidates[j](x)).sum()) if j == k else float(R.sum())
                          for j in range(5)])
    expected = (np.diag(p) - np.outer(p, p)) @ dL_dh / tau
    np.testing.assert_allclose(alpha.grad.numpy()[0], expected, rtol=1e-9, atol=1e-12)


def test_gdas_noise_that_overflows_the_softmax_is_drawn_again():
    """The official code redraws Gumbel noise until the softmax is finite: noise of 3e38 at
    tau = 0.1 overflows float32, and a fresh draw gives a finite one-hot sample."""
    alpha = torch.zeros(3, 5)
    torch.manual_seed(0)
    h, index = straight_through_gumbel(alpha, 0.1, g=torch.full((3, 5), 3e38))
    assert torch.isfinite(h).all()
    assert h.detach().sum(-1).tolist() == [1.0] * 3 and h.detach().max(-1).values.tolist() == [1.0] * 3
    assert index.tolist() == h.detach().argmax(-1).tolist()


def test_gdas_temperature_goes_linearly_from_10_to_0_1():
    gdas = get_method("gdas")("nb201-small", load("digits", n_train=128, seed=0), epochs=5,
                              progress=False)
    taus = [gdas.temperature(e) for e in range(5)]
    assert taus == pytest.approx(np.linspace(10, 0.1, 5).tolist())


# -- SNAS -----------------------------------------------------------------------------------
def test_snas_relaxed_one_hot_argmax_is_a_softmax_alpha_sample_at_any_temperature():
    """Gumbel-max: argmax_k (alpha_k + g_k) ~ Categorical(softmax(alpha)), and dividing by tau
    does not move the argmax, so the sample's argmax frequencies are softmax(alpha) at every tau
    (binomial tolerance, 5 sigma)."""
    torch.manual_seed(0)
    alpha = torch.tensor([1.5, 0.0, -1.0, 0.5, 0.2], dtype=torch.float64)
    n = 40000
    target = scipy.special.softmax(alpha.numpy())
    for tau in (0.03, 1.0, 30.0):
        Z = relaxed_one_hot(alpha.expand(n, 5), tau)
        assert torch.allclose(Z.sum(-1), torch.ones(n, dtype=torch.float64))
        freq = np.bincount(Z.argmax(-1).numpy(), minlength=5) / n
        assert np.all(np.abs(freq - target) < 5 * np.sqrt(target * (1 - target) / n))


def test_snas_sample_mean_is_softmax_alpha_only_as_tau_goes_to_zero_and_uniform_at_high_tau():
    """What is true of the sample MEAN: as tau -> 0 the samples become one-hot, so their mean
    tends to the argmax frequencies, softmax(alpha). As tau grows, Z -> 1/n + O(1/tau) for every
    sample: the mean tends to the uniform vector, not to softmax(alpha)."""
    torch.manual_seed(1)
    alpha = torch.tensor([2.0, 0.0, -1.0, 0.5], dtype=torch.float64)
    n = 40000
    target = scipy.special.softmax(alpha.numpy())
    cold = relaxed_one_hot(alpha.expand(n, 4), 0.01)
    assert float(cold.max(-1).values.mean()) > 0.99  # nearly one-hot
    assert np.abs(cold.mean(0).numpy() - target).max() < 0.015
    hot = relaxed_one_hot(alpha.expand(n, 4), 1000.0)
    assert np.abs(hot.mean(0).numpy() - 0.25).max() < 0.002
    assert np.abs(hot.mean(0).numpy() - target).max() > 0.3


# -- PC-DARTS -------------------------------------------------------------------------------
@pytest.mark.parametrize("space", ["nb201-small", "darts:steps=2"])
def test_pc_darts_with_K1_and_no_edge_normalisation_is_the_darts_supernet(space):
    space = get_space(space)
    torch.manual_seed(0)
    darts = space.supernet(C=8, layers=3, num_classes=3, in_channels=1).double()
    pc = space.supernet(C=8, layers=3, num_classes=3, in_channels=1, edge=partial_channels(1)).double()
    pc.load_state_dict(darts.state_dict())
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    w = [torch.softmax(torch.randn(len(o), dtype=torch.float64), 0) for o in space.options]
    assert torch.equal(pc(x, weights=w), darts(x, weights=w))


def test_pc_darts_K4_sends_a_quarter_of_the_channels_through_the_ops_and_shuffles():
    edge = edge_of(PartialChannelEdge, C=8, K=4).double()
    seen = []
    for op in edge.candidates:
        op.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[1]))
    x = torch.randn(2, 8, 5, 5, dtype=torch.float64)
    w = torch.softmax(torch.randn(5, dtype=torch.float64), 0)
    out = edge(x, weights=0.3 * w)  # beta = 0.3
    assert seen == [2] * 5, "every op sees C/K = 2 channels"
    with torch.no_grad():
        mixed = sum(wk * op(x[:, :2]) for wk, op in zip(0.3 * w, edge.candidates))
    # channel shuffle by hand: output channel i*K + g is channel g*(C/K) + i of [mixed, beta * rest]
    cat = torch.cat([mixed, 0.3 * x[:, 2:]], 1)
    expected = torch.stack([cat[:, g * 2 + i] for i in range(2) for g in range(4)], 1)
    assert torch.allclose(out, expected, atol=1e-12)


def test_pc_darts_reduction_edge_pools_the_bypass():
    edge = edge_of(PartialChannelEdge, C=8, stride=2, K=4)
    edge.candidates = torch.nn.ModuleList(build_op(op, 2, 2, False) for op in ["max_pool_3x3", "skip_connect"])
    out = edge(torch.randn(2, 8, 6, 6), weights=torch.tensor([0.5, 0.5]))
    assert out.shape == (2, 8, 3, 3)


def test_pc_darts_genotype_reads_softmax_alpha_times_beta():
    """Node 3 of a 2-step DARTS cell: edge 0 has the strongest op by alpha alone, but its beta
    is small: with edge normalisation the genotype takes edges 1 and 2."""
    search = set_up("pc-darts", "darts:steps=2", load("digits", n_train=128, seed=0), C=8, layers=3)
    with torch.no_grad():
        for a in search.alpha:
            a.zero_()
        for b in search.beta:
            b.zero_()
        space = search.space
        node3 = [d for d in range(len(space.edges)) if space.edges[d][1] == 3]  # normal cell
        search.alpha[node3[0]][4] = 3.0   # strong sep_conv_3x3 on input 0 ...
        search.beta[node3[0]].fill_(-5.0)  # ... but a tiny edge weight
        search.alpha[node3[1]][5] = 1.0
        search.alpha[node3[2]][6] = 1.0
    choices = search.derive()
    assert [choices[d] for d in node3] == [space.none, 5, 6]
    search.config.edge_normalization = False
    assert search.derive()[node3[0]] == 4


# -- NASP -----------------------------------------------------------------------------------
def test_nasp_proximal_step_is_a_one_hot_per_edge_and_two_edges_per_node_brute_force():
    rng = np.random.default_rng(0)
    space = get_space("darts")
    nodes = [incoming for _, _, incoming in space.nodes()]
    for _ in range(20):
        alpha = rng.uniform(0, 1, size=(len(space.decisions), 8))
        bar = proximal_step(torch.tensor(alpha), nodes).numpy()
        assert set(np.unique(bar)) <= {0.0, 1.0}
        for incoming in nodes:
            kept = [d for d in incoming if bar[d].any()]
            # brute force: the pair of incoming edges whose best alpha values sum highest
            best_pair = max(((i, j) for i in incoming for j in incoming if i < j),
                            key=lambda ij: alpha[ij[0]].max() + alpha[ij[1]].max())
            assert sorted(kept) == sorted(best_pair)
            for d in kept:
                assert bar[d].sum() == 1 and bar[d].argmax() == alpha[d].argmax()
    flat = proximal_step(torch.tensor(rng.uniform(0, 1, size=(3, 5))))  # NB201: no node rule
    assert torch.equal(flat.sum(-1), torch.ones(3))


@pytest.fixture(scope="module")
def nasp_one_step():
    """A NASP search on the DARTS cell set up by hand, its state before and after one step."""
    digits = load("digits", n_train=128, seed=0)
    search = set_up("nasp", "darts:steps=2", digits, C=4, layers=3, steps=1, batch_size=16, arch_lr=0.05)
    before = {k: v.clone() for k, v in search.supernet.state_dict().items()}
    alpha_before = torch.stack(list(search.alpha)).detach().clone()
    search.train_epoch(0)
    return search, before, alpha_before


def test_nasp_weights_of_ops_that_did_not_run_are_untouched(nasp_one_step):
    search, before, _ = nasp_one_step
    ran = [e for e in search.events if e["type"] == "sample"][0]["choices"]
    after = search.supernet.state_dict()
    changed_ops = unchanged_ops = 0
    for c, cell in enumerate(search.supernet.cells):
        for k, edge in enumerate(cell.ops):
            d = cell.decisions[k]
            for j, op in enumerate(edge.candidates):
                names = [f"cells.{c}.ops.{k}.candidates.{j}.{n}" for n, _ in op.named_parameters()]
                if not names:
                    continue
                moved = any(not torch.equal(before[n], after[n]) for n in names)
                if j == ran[d]:
                    changed_ops += moved
                else:
                    unchanged_ops += 1
                    assert not moved, f"op {j} of decision {d} did not run but its weights moved"
    assert changed_ops > 0 and unchanged_ops > 0


def test_nasp_alpha_update_uses_the_gradient_at_the_discrete_architecture():
    """Reference: a plain DARTS supernet (ChoiceEdge, every op) with the same weights, its loss
    differentiated at alpha_bar = prox(alpha); NASP's arch step must leave exactly that in
    alpha.grad, which differs from the gradient at softmax(alpha)."""
    digits = load("digits", n_train=128, seed=0)
    search = set_up("nasp", "nb201-small", digits, C=4, layers=3, batch_size=16)
    reference = search.space.supernet(**search.net_kwargs())
    reference.load_state_dict(search.supernet.state_dict())
    xv, yv = next(search.endless(search.data.valid))
    alpha = torch.stack(list(search.alpha)).detach()
    bar = torch.zeros_like(alpha).scatter_(-1, alpha.argmax(-1, keepdim=True), 1.0).requires_grad_()
    (expected,) = torch.autograd.grad(F.cross_entropy(reference(xv, weights=list(bar)), yv), bar)
    soft = alpha.softmax(-1).requires_grad_()
    (at_soft,) = torch.autograd.grad(F.cross_entropy(reference(xv, weights=list(soft)), yv), soft)
    search.arch_step(xv, yv)
    got = torch.stack([a.grad for a in search.alpha])
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(got, at_soft, atol=1e-3)
    assert all(0 <= float(a.detach().min()) and float(a.detach().max()) <= 1 for a in search.alpha), \
        "alpha is clipped to [0, 1]"


# -- DARTS- ---------------------------------------------------------------------------------
@pytest.mark.parametrize("space", ["nb201-small", "darts:steps=2"])
def test_darts_minus_with_beta_0_is_darts_and_with_beta_1_adds_a_skip(space):
    space = get_space(space)
    torch.manual_seed(0)
    darts = space.supernet(C=4, layers=3, num_classes=3, in_channels=1).double()
    minus = space.supernet(C=4, layers=3, num_classes=3, in_channels=1, edge=AuxiliarySkipEdge).double()
    minus.load_state_dict(darts.state_dict(), strict=False)  # the auxiliary skips' own weights aside
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    w = [torch.softmax(torch.randn(len(o), dtype=torch.float64), 0) for o in space.options]
    set_beta(minus, 0.0)
    assert torch.equal(minus(x, weights=w), darts(x, weights=w))
    set_beta(minus, 1.0)
    assert not torch.allclose(minus(x, weights=w), darts(x, weights=w))
    edge_minus, edge_darts = edge_of(AuxiliarySkipEdge).double(), edge_of(ChoiceEdge).double()
    edge_minus.load_state_dict(edge_darts.state_dict())
    h = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    edge_minus.beta = 0.7
    assert torch.allclose(edge_minus(h, weights=w[0]) - edge_darts(h, weights=w[0]), 0.7 * h)


def test_darts_minus_beta_decays_linearly_per_epoch():
    search = get_method("darts-minus")("nb201-small", load("digits", n_train=128, seed=0),
                                       epochs=4, progress=False)
    assert [search.beta(e) for e in range(4)] == pytest.approx([1.0, 0.75, 0.5, 0.25])


# -- full runs ------------------------------------------------------------------------------
def strip_times(events):
    return [{k: v for k, v in e.items() if k not in ("t", "wall")} for e in events]


TINY = dict(epochs=2, C=8, layers=3, batch_size=32)


@pytest.fixture(scope="module")
def digits():
    return load("digits", n_train=200, seed=0)


@pytest.mark.parametrize("method", AFTER_DARTS)
@pytest.mark.parametrize("space", ["nb201-small", "darts:steps=2"])
def test_runs_on_both_cells_with_valid_events_and_same_seed_same_events(method, space, digits):
    kw = dict(progress=False, device="cpu", **TINY, **({"warmup_epochs": 1} if method == "pc-darts" else {}))
    Method = get_method(method)
    a = Method(space, digits, seed=0, **kw).run()
    b = Method(space, digits, seed=0, **kw).run()
    assert a.status == "completed" and validate(a.events) == []
    assert strip_times(a.events) == strip_times(b.events)
    types = {e["type"] for e in a.events}
    assert {"alpha", "genotype", "step"} <= types
    if method in ("gdas", "nasp"):
        samples = [e for e in a.events if e["type"] == "sample"]
        assert len(samples) == a.steps, "one sample event per weight step (the path that ran)"
    assert a.best is not None and get_space(space).decode(a.best)


@pytest.mark.parametrize("method", AFTER_DARTS)
def test_resume_after_an_interrupt_gives_the_uninterrupted_run(method, digits, tmp_path):
    kw = dict(progress=False, device="cpu", **TINY, **({"warmup_epochs": 1} if method == "pc-darts" else {}))
    Method = get_method(method)
    full = Method("nb201-small", digits, out=tmp_path / "full", **kw).run()
    stop_at = full.steps - 2

    def stop(event):
        if event["type"] == "step" and event["step"] == stop_at:
            raise KeyboardInterrupt

    cut = Method("nb201-small", digits, out=tmp_path / "cut", callbacks=[stop], **kw).run()
    assert cut.status == "interrupted"
    resumed = Method("nb201-small", digits, out=tmp_path / "cut", resume=True, **kw).run()
    assert resumed.status == "completed"
    assert strip_times(read_events(tmp_path / "cut" / "events.jsonl")) == strip_times(full.events)


# -- the memory measure of the benchmark and the notebook -------------------------------------
def test_saved_activations_counts_each_saved_storage_once_while_alive():
    from nasbench.evaluate.memory import SavedActivations
    a = torch.randn(1000, requires_grad=True)  # float32: 4000 bytes
    with SavedActivations() as memory:
        b = a * a          # saves a twice: one storage
        c = b.exp()        # saves its output: another 4000 bytes
        assert memory.bytes == 8000
        c.sum().backward()
        del b, c
    assert memory.peak == 8000 and memory.bytes == 0
    with memory:
        for _ in range(3):  # graphs dropped without a backward are released too
            d = a.exp().sum()
            del d
    assert memory.bytes == 0


def test_snas_resource_constraint_moves_alpha_away_from_the_largest_op(digits):
    """lambda * the log resource penalty: with a strong lambda the largest op (nor_conv_3x3)
    ends as the least likely op of every edge, and less likely than in the same run without the
    constraint (Adam, so that alpha moves far enough in 12 steps)."""
    space = get_space("nb201-small")
    conv3 = space.options[0].index("nor_conv_3x3")
    probs = {}
    for eta in (0.0, 1.0):
        search = get_method("snas")(space, digits, progress=False, resource_lambda=eta, arch_optimizer="adam",
                                    **TINY)
        search.run()
        probs[eta] = torch.stack(search.probs())  # (edges, ops)
    assert (probs[1.0].argmin(-1) == conv3).all()
    assert float(probs[1.0][:, conv3].mean()) < float(probs[0.0][:, conv3].mean()) - 0.03


def test_snas_op_resources_are_the_official_counts():
    """SNAS/operations.py by hand: SepConv size 2 C k^2 + (C + C) C, FLOPs size y^2, MAC
    y^2 (7C + C) + size (stride 1), y^2 (10C + C) + size (stride 2); pools 9 y^2 C and 2 / 5 y^2 C;
    Identity MAC 2 C h^2; FactorizedReduce size 2 C (C/2), MAC 2 y^2 (4C + C/2) + size."""
    from nasbench.methods.snas import op_resources
    assert op_resources("sep_conv_3x3", 16, 8, 1) == (800, 800 * 64, 64 * 128 + 800)
    assert op_resources("sep_conv_5x5", 16, 8, 2) == (2 * 16 * 25 + 512, 1312 * 16, 16 * 176 + 1312)
    assert op_resources("dil_conv_3x3", 16, 8, 1) == (16 * 9 + 256, 400 * 64, 64 * 64 + 400)
    assert op_resources("max_pool_3x3", 16, 8, 2) == (0, 9 * 16 * 16, 5 * 16 * 16)
    assert op_resources("skip_connect", 16, 8, 1) == (0, 0, 2 * 16 * 64)
    assert op_resources("skip_connect", 16, 8, 2) == (256, 256 * 16, 2 * 16 * (64 + 8) + 256)
    assert op_resources("none", 16, 8, 1) == (0, 0, 0)


def test_snas_log_penalty_over_the_darts_supernet_by_hand(digits):
    """Z one-hot at sep_conv_3x3 everywhere, darts:steps=2, C=8, 3 cells on 8x8: cell 0 normal
    (C 8, 8x8), cells 1 and 2 reductions (C 16 at 8 -> 4, C 32 at 4 -> 2; edges from the two
    inputs stride 2). Penalty = sum over cells and edges of mean(log size, log FLOPs, log MAC)
    divided by the cells of the type (1 normal, 2 reductions)."""
    import math
    search = get_method("snas")("darts:steps=2", digits, progress=False, **TINY)
    search.setup()
    ops = search.space.options[0]
    Z = torch.zeros(len(search.space.decisions), len(ops))
    Z[:, ops.index("sep_conv_3x3")] = 1.0

    def edge(C, h, s):
        y = h // s
        size = 2 * C * 9 + 2 * C * C
        mac = y * y * ((7 if s == 1 else 10) * C + C) + size
        return (math.log(size) + math.log(size * y * y) + math.log(mac)) / 3

    sources = [j for i in range(2, 4) for j in range(i)]     # 5 edges: 0, 1 | 0, 1, 2
    assert search.data.shape[-1] == 8 and search.config.C == 8
    normal = sum(edge(8, 8, 1) for _ in sources)
    reduce = sum(edge(C, h, 2) if j < 2 else edge(C, h // 2, 1) for C, h in ((16, 8), (32, 4)) for j in sources)
    assert float(search.resource_penalty(Z)) == pytest.approx(normal / 1 + reduce / 2, rel=1e-6)


def test_snas_drops_each_edge_per_sample_with_probability_0_3_in_training():
    from nasbench.supernet.mixed import DropPathEdge
    assert get_method("snas").Config().drop_path_prob == 0.3
    edge = edge_of(DropPathEdge)
    edge.drop_prob = 0.3
    x = torch.randn(4000, 4, 3, 3)
    w = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0])  # the skip alone: out = x where kept
    with torch.no_grad():
        out = edge.train()(x, weights=w)
        assert torch.equal(edge.eval()(x, weights=w), x)  # no drop-path in eval mode
    dropped = (out.flatten(1).abs().sum(1) == 0).float().mean()
    assert abs(float(dropped) - 0.3) < 5 * (0.3 * 0.7 / 4000) ** 0.5
    kept = out.flatten(1).abs().sum(1) > 0
    assert torch.allclose(out[kept], x[kept] / 0.7, atol=1e-6)


# -- round three: the official schedules, counts and rules ------------------------------------
def test_snas_epoch_e_trains_at_tau_of_e_plus_1_over_epochs_and_the_last_at_tau_min():
    """SNAS/utils.py Temp_Scheduler steps before each epoch: epoch e uses
    tau = (1 - (e+1)/E)(tau0 - tau_min) + tau_min; with E = 10: 0.903, 0.806, ..., 0.03."""
    snas = get_method("snas")("nb201-small", load("digits", n_train=128, seed=0), epochs=10,
                              progress=False)
    hand = [1 - 0.97 * (e + 1) / 10 for e in range(10)]
    assert [snas.temperature(e) for e in range(10)] == pytest.approx(hand)
    assert snas.temperature(9) == 0.03


def test_snas_paper_defaults_are_the_iclr_release_batch_64_and_plain_sgd_on_alpha(digits):
    c = get_method("snas").Config
    assert (c.batch_size, c.arch_lr, c.arch_optimizer) == (64, 3e-4, "sgd")
    snas = set_up("snas", "nb201-small", digits, **TINY)
    opt = snas.arch_optimizer
    assert type(opt) is torch.optim.SGD
    # one step is alpha - lr * grad: no momentum, no weight decay
    a = snas.alpha[0]
    before = a.detach().clone()
    a.grad = torch.ones_like(a)
    opt.step()
    assert opt.param_groups[0]["lr"] == snas.config.arch_lr
    assert torch.allclose(a.detach(), before - snas.config.arch_lr)


def test_gdas_paper_preset_has_15_cells_five_per_stage():
    """GDAS.sh: num_cells=5 is per stage; NB201Network with layers=15 stacks 5 cells per stage."""
    gdas = get_method("gdas")(None, load("digits", n_train=600, seed=0), preset="paper", progress=False)
    assert gdas.config.layers == 15
    net = gdas.space.supernet(C=4, layers=gdas.config.layers)
    from nasbench.spaces.nb201 import Cell
    assert sum(isinstance(m, Cell) for m in net.layers) == 15
    darts = get_method("gdas")(None, load("digits", n_train=600, seed=0), preset="paper-darts", progress=False)
    assert (darts.space.name, darts.config.layers, darts.config.batch_size) == ("darts", 6, 256)


def test_gdas_on_the_darts_cell_runs_only_h_k_op_k_so_other_entries_get_no_gradient():
    """search_model_gdas_nasnet.py: out = h_k * op_k(x). With L = sum(R * out):
    dL/dh_k = <R, op_k(x)> and dL/dh_j = 0 for j != k (the NB201 rule would give sum(R))."""
    from nasbench.supernet.mixed import SampledOpEdge
    edge = edge_of(SampledOpEdge).double()
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    R = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    k = 3
    h = torch.zeros(5, dtype=torch.float64)
    h[k] = 1.0
    h.requires_grad_()
    (R * edge(x, weights=h)).sum().backward()
    expected = np.zeros(5)
    expected[k] = float((R * edge.candidates[k](x)).sum().detach())
    assert h.grad.numpy() == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("space", ["darts:steps=2", "nb201-small"])
def test_gdas_search_gives_each_cell_its_official_gradient_to_the_unsampled_entries(space, digits):
    """The official code has two rules: on the NB201 cell (search_cells.py `forward_gdas`) every
    unsampled entry h_j is added bare, so dL/dh_j = sum(dL/dout); on the DARTS cell
    (search_model_gdas_nasnet.py) only h_k * op_k(x) is added, so dL/dh_j = 0. Checked on an edge
    of the search's own supernet, with an input it sees in a forward, against those hand values."""
    search = set_up("gdas", space, digits, **TINY)
    edge = next(m for m in search.supernet.modules() if isinstance(m, SampledEdge))
    seen = []
    handle = edge.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    with torch.no_grad():
        search.supernet(search.data.train.x[:2], weights=list(search.sample(1.0)[0]))
    handle.remove()
    x, k = seen[0], 1
    h = torch.zeros(len(edge.candidates))
    h[k] = 1.0
    h.requires_grad_()
    out = edge(x, weights=h)
    R = torch.randn_like(out)
    (R * out).sum().backward()
    others = [j for j in range(len(h)) if j != k]
    expected = 0.0 if space.startswith("darts") else float(R.sum())
    assert h.grad[others].tolist() == pytest.approx([expected] * len(others), abs=1e-4)
    assert float(h.grad[k]) == pytest.approx(float((R * edge.candidates[k](x)).sum()), rel=1e-4, abs=1e-4)


def test_nasp_proximal_step_never_picks_none_on_the_darts_cell(digits):
    """NASP's op list has no `none`: with `none` the largest alpha of every row, the step picks
    each row's largest other op (brute force over the row), as the search does on the DARTS cell."""
    rng = np.random.default_rng(1)
    space = get_space("darts")
    alpha = rng.uniform(0, 1, size=(len(space.decisions), 8))
    alpha[:, space.none] = 2.0
    bar = proximal_step(torch.tensor(alpha), exclude=space.none).numpy()
    for row, a in zip(bar, alpha):
        assert row.sum() == 1 and row[space.none] == 0
        assert row.argmax() == max((k for k in range(8) if k != space.none), key=lambda k: a[k])
    search = Nasp("darts:steps=2", digits, progress=False, **TINY)
    search.setup()
    with torch.no_grad():
        for a in search.alpha:
            a[search.space.none] = 1.0
    assert all(row[search.space.none] == 0 and row.sum() <= 1 for row in search.discrete())


def test_nasp_l2_burden_covers_the_normal_cell_only(digits):
    """model_search.py: the complexity term sums over alphas_normal alone. Reduction rows carry no
    burden; a normal row's burden is each op's parameters over the row's total (counted here by
    summing numel of a freshly built op)."""
    search = Nasp("darts:steps=2", digits, progress=False, l2=1.0, **TINY)
    search.setup()
    for name, row, ops in zip(search.space.decisions, search.burden, search.space.options):
        if name.startswith("reduce:"):
            assert torch.all(row == 0), name
        else:
            n = [sum(p.numel() for p in build_op(op, search.config.C).parameters()) for op in ops]
            assert row.tolist() == pytest.approx([k / sum(n) for k in n]), name


def test_nasp_l2_term_adds_twice_l2_alpha_bar_times_burden_to_the_alpha_gradient(digits):
    """model_search.py `_loss`: loss + l2 * sum(alpha_bar^2 * PARAMS share). Its gradient with
    respect to alpha_bar is 2 * l2 * alpha_bar * share on the normal rows (0 on the reduction
    rows): two searches from the same seed and batch, l2 = 0 and l2 = 0.7, differ in alpha.grad by
    exactly that, with the shares counted here from freshly built ops."""
    grads = {}
    for l2 in (0.0, 0.7):
        search = set_up("nasp", "darts:steps=2", digits, l2=l2, **TINY)
        bar = search.discrete()
        batch = next(search.endless(search.data.valid))
        search.arch_step(*batch)
        grads[l2] = torch.stack([a.grad for a in search.alpha])
    share = torch.zeros_like(bar)
    for d, (name, ops) in enumerate(zip(search.space.decisions, search.space.options)):
        n = [sum(p.numel() for p in build_op(op, search.config.C).parameters()) for op in ops]
        if not name.startswith("reduce:"):
            share[d] = torch.tensor(n, dtype=share.dtype) / sum(n)
    expected = 2 * 0.7 * bar * share
    assert expected.abs().max() > 0.01, "some kept op has parameters"
    assert torch.allclose(grads[0.7] - grads[0.0], expected, atol=1e-6)


def test_nasp_search_keeps_two_edges_per_node_on_the_darts_cell(digits):
    """The search's own alpha_bar on the DARTS cell (what both steps run): one op per kept edge,
    never `none`, and per node exactly the two incoming edges whose best non-`none` alpha is
    largest (brute force over the pairs)."""
    search = Nasp("darts:steps=3", digits, progress=False, **TINY)
    search.setup()
    rng = np.random.default_rng(2)
    none = search.space.none
    for _ in range(5):
        with torch.no_grad():
            for a in search.alpha:
                a.copy_(torch.tensor(rng.uniform(0, 1, size=a.shape)))
        alpha = torch.stack(list(search.alpha)).detach().numpy().copy()
        alpha[:, none] = -np.inf
        bar = search.discrete().numpy()
        for _, _, incoming in search.space.nodes():
            incoming = list(incoming)
            pair = max(((i, j) for i in incoming for j in incoming if i < j),
                       key=lambda ij: alpha[ij[0]].max() + alpha[ij[1]].max())
            assert sorted(d for d in incoming if bar[d].any()) == sorted(pair)
            for d in pair:
                assert bar[d].sum() == 1 and bar[d].argmax() == alpha[d].argmax()
        assert sum(len(list(inc)) > 2 for _, _, inc in search.space.nodes()) >= 2, "nodes with a choice"


def test_nasp_logs_the_edges_it_drops_as_none_wherever_none_sits_in_the_op_list(digits):
    """The path NASP's `sample` events show: the kept op of every kept edge, and `none` for the
    edges the two-per-node rule drops, also on a DARTS cell whose op list has `none` second."""
    from nasbench.spaces.darts import DartsSpace
    space = DartsSpace(steps=2, ops=("skip_connect", "none", "sep_conv_3x3", "avg_pool_3x3"))
    search = Nasp(space, digits, progress=False, **{**TINY, "epochs": 1})
    events = search.run().events
    for e in (e for e in events if e["type"] == "sample"):
        for _, _, incoming in space.nodes():
            incoming = list(incoming)
            assert sum(e["choices"][d] == space.none for d in incoming) == len(incoming) - 2
    assert space.none == 1 and any(len(list(inc)) > 2 for _, _, inc in space.nodes())


def test_darts_minus_builds_darts_supernet_weights_seed_for_seed():
    """With beta = 0 DARTS- is DARTS: built from the same seed its supernet holds DARTS' weights
    (the reduction edges' auxiliary skips draw from a forked RNG) and the RNG is left where DARTS
    leaves it (so alpha is the same too); the outputs at beta = 0 are DARTS' outputs."""
    space = get_space("darts:steps=2")
    torch.manual_seed(0)
    darts = space.supernet(C=4, layers=3, num_classes=10, in_channels=1)
    after_darts = torch.randn(3)
    torch.manual_seed(0)
    minus = space.supernet(C=4, layers=3, num_classes=10, in_channels=1, edge=AuxiliarySkipEdge)
    after_minus = torch.randn(3)
    assert any(isinstance(m.skip, torch.nn.Module) and len(list(m.skip.parameters()))
               for m in minus.modules() if isinstance(m, AuxiliarySkipEdge))  # there are reduction skips
    theirs = minus.state_dict()
    for name, value in darts.state_dict().items():
        assert torch.equal(value, theirs[name]), name
    assert torch.equal(after_darts, after_minus)
    set_beta(minus, 0.0)
    x = torch.randn(2, 1, 8, 8)
    weights = [torch.softmax(torch.randn(8), 0) for _ in space.decisions]
    assert torch.allclose(darts(x, weights=weights), minus(x, weights=weights), atol=1e-6)


@pytest.mark.parametrize("method, bad, words", [
    ("gdas", {"order": 2}, "GDAS has only a first-order architecture step: order must be 1"),
    ("gdas", {"tau_min": 20.0}, "need 0 < tau_min <= tau_max, got 20.0 and 10.0"),
    ("snas", {"order": 2}, "SNAS is single-level: order must be 1"),
    ("snas", {"tau_min": 0.0}, "need 0 < tau_min <= tau0"),
    ("snas", {"resource_lambda": -1.0}, "resource_lambda must be >= 0"),
    ("nasp", {"l2": -1.0}, "l2 must be >= 0"),
    ("pc-darts", {"order": 2}, "order must be 1"),
    ("darts-minus", {"skip_beta": -0.5}, "skip_beta must be >= 0"),
])
def test_the_shared_config_checks_name_the_setting(method, bad, words):
    from nasbench.methods import ConfigError, make_config
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        make_config(get_method(method).Config, "cpu", **bad)


def test_snas_genotype_is_genotype_edge_all_every_edge_its_argmax_none_included(digits):
    """model_search.py genotype_edge_all: per edge the argmax of softmax(alpha), `none` included,
    every edge kept (here a node gets three inputs and another none); the stand-alone network of
    that genotype builds and runs."""
    search = get_method("snas")("darts:steps=2", digits, progress=False, **TINY)
    search.setup()
    rng = np.random.default_rng(0)
    alpha = rng.normal(size=(len(search.space.decisions), 8))
    alpha[[2, 3, 4], :] += 5 * np.eye(8)[[4, 5, 6]]   # node 3 of the normal cell: three ops
    alpha[[0, 1], search.space.none] = 9.0            # node 2 of the normal cell: no input
    with torch.no_grad():
        for a, row in zip(search.alpha, alpha):
            a.copy_(torch.tensor(row))
    choices = search.derive()
    assert choices == [int(np.argmax(row)) for row in alpha]
    net = search.space.build(choices, C=4, layers=3, num_classes=10, in_channels=1)
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert search.space.decode(search.space.encode(choices)) == tuple(choices)


# -- round four: what the third mutation run found unpinned --------------------------------
def test_nasp_alpha_starts_at_one_half_plus_a_1e_3_jitter(digits):
    """model_search.py: alphas = torch.ones / 2, plus the 1e-3 * randn jitter of NOTES["paper"]:
    every entry within 5 sigma of 0.5, the spread of the 80 draws about 1e-3."""
    search = set_up("nasp", "darts:steps=2", digits, **TINY)
    alpha = torch.stack(list(search.alpha)).detach()
    assert alpha.numel() == 80 and float((alpha - 0.5).abs().max()) < 5e-3
    assert 0.7e-3 < float(alpha.std()) < 1.3e-3


def test_pc_darts_edge_normalisation_is_a_softmax_of_beta_over_each_nodes_incoming_edges(digits):
    """Eq. (4) on the NB201 cell (4 nodes, 6 edges): the scale of edge (i, j) is
    exp(beta_ij) / sum over the edges (k, j) into the same node of exp(beta_kj), by hand."""
    search = set_up("pc-darts", "nb201", digits, **TINY)
    b = np.random.default_rng(0).normal(size=len(search.space.decisions))
    with torch.no_grad():
        for p, v in zip(search.beta, b):
            p.fill_(float(v))
    edges = search.space.edges
    assert len(edges) == 6
    expected = [np.exp(b[d]) / sum(np.exp(b[e]) for e, (_, k) in enumerate(edges) if k == j)
                for d, (_, j) in enumerate(edges)]
    assert [float(s.detach()) for s in search.edge_scale()] == pytest.approx(expected, rel=1e-6)


def test_pc_darts_beta_starts_like_alpha_at_1e_3_randn(digits):
    """train_search.py: betas_normal = 1e-3 * torch.randn(14), as alpha: 28 draws of the DARTS
    cell, none beyond 5 sigma, their spread about 1e-3."""
    search = set_up("pc-darts", "darts", digits, **TINY)
    beta = torch.stack(list(search.beta)).detach()
    assert beta.numel() == 28 and float(beta.abs().max()) < 5e-3
    assert 0.5e-3 < float(beta.std()) < 1.5e-3


def test_pc_darts_settings_it_cannot_use_are_config_errors_that_say_why(digits):
    from nasbench.methods import ConfigError
    from nasbench.methods.pc_darts import incoming_edges
    with pytest.raises(ConfigError, match="C/K must be even"):
        get_method("pc-darts")("darts:steps=2", digits, progress=False, **{**TINY, "K": 8}).setup()
    with pytest.raises(ConfigError, match="needs a cell space"):
        incoming_edges(get_space("oneshot"))


def test_pc_darts_resume_after_the_warm_up_restores_the_trained_beta_and_its_adam_state(digits, tmp_path):
    """The resume test above stops PC-DARTS after its warm-up epoch, where beta and the
    architecture Adam are still as set up; here alpha and beta train from epoch 0, so the
    checkpoint must hold the trained beta and the Adam moments of alpha and beta."""
    kw = dict(progress=False, device="cpu", **TINY, warmup_epochs=0)
    Method = get_method("pc-darts")
    full = Method("nb201-small", digits, out=tmp_path / "full", **kw).run()
    stop_at = full.steps - 2

    def stop(event):
        if event["type"] == "step" and event["step"] == stop_at:
            raise KeyboardInterrupt

    assert Method("nb201-small", digits, out=tmp_path / "cut", callbacks=[stop], **kw).run().status == "interrupted"
    resumed = Method("nb201-small", digits, out=tmp_path / "cut", resume=True, **kw).run()
    assert resumed.status == "completed"
    assert strip_times(read_events(tmp_path / "cut" / "events.jsonl")) == strip_times(full.events)


@pytest.mark.parametrize("form", ["log", "linear"])
def test_snas_resource_penalty_of_a_mixed_sample_by_hand(digits, form):
    """Z = a on sep_conv_3x3 and 1 - a on `none` on every edge (none costs nothing), so each
    edge's (Z.size, Z.FLOPs, Z.MAC) is a * the op's counts. a = 1.5 / (the normal edges' size)
    puts Z.size of the normal cell at 1.5: the log form takes log 1.5 there (only values below 1
    count as 1). The linear form: 0.43 (2 Z.size + Z.FLOPs / 4000 + Z.MAC / 100). Both per edge,
    divided by the cells of its type (1 normal, 2 reductions), summed."""
    import math
    search = get_method("snas")("darts:steps=2", digits, progress=False, resource_form=form, **TINY)
    search.setup()
    ops = search.space.options[0]

    def counts(C, h, s):
        y = h // s
        size = 2 * C * 9 + 2 * C * C
        return size, size * y * y, y * y * ((7 if s == 1 else 10) * C + C) + size

    a = 1.5 / counts(8, 8, 1)[0]
    Z = torch.zeros(len(search.space.decisions), len(ops), dtype=torch.float64)
    Z[:, ops.index("sep_conv_3x3")] = a
    Z[:, search.space.none] = 1 - a

    def edge(C, h, s):
        v = [a * n for n in counts(C, h, s)]
        if form == "log":
            return sum(math.log(max(x, 1.0)) for x in v) / 3
        return 0.43 * (2 * v[0] + v[1] / 4000 + v[2] / 100)

    sources = [j for i in range(2, 4) for j in range(i)]
    normal = sum(edge(8, 8, 1) for _ in sources)
    reduce = sum(edge(C, h, 2) if j < 2 else edge(C, h // 2, 1) for C, h in ((16, 8), (32, 4)) for j in sources)
    assert math.log(a * counts(8, 8, 1)[0]) == pytest.approx(math.log(1.5))
    search.resource = search.resource.double()
    assert float(search.resource_penalty(Z)) == pytest.approx(normal / 1 + reduce / 2, rel=1e-9)


def test_snas_pools_at_stride_1_move_2_y2_c_and_at_stride_2_5_y2_c():
    """SNAS/operations.py: a 3x3 pool has no weights, FLOPs 9 y^2 C, MAC 2 y^2 C at stride 1 and
    5 y^2 C at stride 2 (y the output side), max and avg alike."""
    from nasbench.methods.snas import op_resources
    for pool in ("max_pool_3x3", "avg_pool_3x3"):
        assert op_resources(pool, 16, 8, 1) == (0, 9 * 64 * 16, 2 * 64 * 16)
        assert op_resources(pool, 16, 8, 2) == (0, 9 * 16 * 16, 5 * 16 * 16)


def test_snas_dil_conv_and_relu_conv_bn_counts_at_both_strides():
    """operations.py by hand (y the output side, FLOPs = size y^2): DilConv size C k^2 + C^2,
    MAC y^2 (3C + C) + size at stride 1 and y^2 (6C + C) + size at stride 2; ReLUConvBN (NB201's
    nor_conv) size C^2 k^2, MAC y^2 (C + C) + size and y^2 (4C + C) + size."""
    from nasbench.methods.snas import op_resources
    assert op_resources("dil_conv_5x5", 16, 8, 2) == (656, 656 * 16, 16 * (6 * 16 + 16) + 656)
    assert op_resources("dil_conv_5x5", 16, 8, 1) == (656, 656 * 64, 64 * (3 * 16 + 16) + 656)
    assert op_resources("nor_conv_3x3", 16, 8, 1) == (2304, 2304 * 64, 64 * 32 + 2304)
    assert op_resources("nor_conv_1x1", 16, 8, 2) == (256, 256 * 16, 16 * 80 + 256)
    from nasbench.methods import ConfigError
    with pytest.raises(ConfigError, match="does not know the op 'conv_7x1_1x7'"):
        op_resources("conv_7x1_1x7", 16, 8, 1)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")  # epochs without batches
def test_darts_minus_each_epoch_sets_and_logs_its_beta(digits):
    """Every auxiliary skip of the supernet carries beta(epoch) = 1 - epoch / epochs during the
    epoch, and the epoch's `skip_beta` metric says so (4 epochs: 1, 0.75, 0.5, 0.25)."""
    search = set_up("darts-minus", "nb201-small", digits, **{**TINY, "epochs": 4})
    search.batches = lambda: iter([])
    seen = []
    for epoch in range(4):
        search.train_epoch(epoch)
        seen.append({float(m.beta) for m in search.supernet.modules() if isinstance(m, AuxiliarySkipEdge)})
    assert seen == [{1.0}, {0.75}, {0.5}, {0.25}]
    logged = [e["value"] for e in search.events if e["type"] == "metric" and e["name"] == "skip_beta"]
    assert logged == [1.0, 0.75, 0.5, 0.25]


def test_darts_alpha_starts_at_1e_3_randn(digits):
    """quark0/darts model_search.py: alphas = 1e-3 * torch.randn(k, num_ops): 80 draws on the
    2-step DARTS cell, none beyond 5 sigma, their spread about 1e-3."""
    search = set_up("darts", "darts:steps=2", digits, **TINY)
    alpha = torch.stack(list(search.alpha)).detach()
    assert alpha.numel() == 80 and float(alpha.abs().max()) < 5e-3
    assert 0.7e-3 < float(alpha.std()) < 1.3e-3


@pytest.mark.parametrize("method", ["gdas", "snas", "pc-darts", "nasp"])
def test_hessian_every_outside_the_darts_loop_is_a_config_error_that_names_the_loop(method, digits):
    from nasbench.methods import ConfigError
    search = get_method(method)("nb201-small", digits, progress=False, hessian_every=5, **TINY)
    with pytest.raises(ConfigError, match=r"hessian_every is measured in the loop of darts, darts-minus; "):
        search.setup()


def test_a_space_whose_supernet_takes_no_other_edge_is_a_config_error_that_says_so(digits):
    """A chain space under an unregistered name passes the family check; its supernet has no
    `edge=`, so GDAS (which needs one) stops at setup with a message naming the space."""
    import copy
    from nasbench.methods import ConfigError
    space = copy.copy(get_space("chain-small"))
    space.name = "my-chain"
    search = get_method("gdas")(space, digits, progress=False, **TINY)
    with pytest.raises(ConfigError, match="needs a cell space whose supernet takes other edges.*my-chain has none"):
        search.setup()


@pytest.mark.parametrize("method, nesterov", [("darts", False), ("pc-darts", False), ("gdas", True)])
def test_the_first_weight_step_is_sgd_with_momentum_nesterov_only_for_gdas(method, nesterov, digits):
    """quark0/darts: torch.optim.SGD(momentum 0.9, weight decay 3e-4), no Nesterov; GDAS.sh:
    Nesterov. From an empty buffer the first step moves w by -lr (g + wd w), times (1 + momentum)
    with Nesterov, g the (clipped) gradient the step left in .grad."""
    search = set_up(method, "nb201-small", digits, **TINY)
    c = search.config
    x, y = search.data.train.x[:32], search.data.train.y[:32]
    before = [p.detach().clone() for p in search.supernet.parameters()]
    weights = [torch.softmax(torch.randn(len(o)), 0) for o in search.space.options]
    search.weight_step(x, y, weights, c.lr)
    factor = 1 + c.momentum if nesterov else 1.0
    moved = 0
    for p, w in zip(search.supernet.parameters(), before):
        if p.grad is None:
            assert torch.equal(p.detach(), w)
            continue
        expected = w - c.lr * factor * (p.grad + c.weight_decay * w)
        assert torch.allclose(p.detach(), expected, atol=1e-7, rtol=1e-5)
        moved += bool(p.grad.abs().max() > 1e-3)
    assert moved > 0
