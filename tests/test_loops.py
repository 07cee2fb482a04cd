"""Each method's algorithm box, pinned at the loop: a real tiny run of the method with spies on its
own steps (forward pre-hooks on the supernet, wrappers around the optimisers' `step`, the samplers
the method calls), checked against references written here (scipy's softmax, hand-written
schedules, chi-square tests at fixed seeds), never against the method's own formulas.

What each test pins is said in its docstring; which mutation of the method it was seen to catch is
listed in docs/testing.md."""
import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import softmax

from nasbench import data as datasets
from nasbench.methods import get_method

# the smallest settings, applied where a method has the field
TINY = {"C": 4, "layers": 1, "n_train": 64, "batch_size": 16, "ghost_batch": 8,
        "n_candidates": 3, "eval_batches": 1, "n_top": 1, "kl_examples": 16, "population": 3,
        "generations": 1, "parents": 2, "mutations": 1, "crossovers": 1, "recal_batches": 1,
        "warmup_epochs": 1, "n_random": 2, "standalone": 0, "n_derive": 3, "train_steps": 2,
        "num_aggregate": 2, "rank_limit": 1}
TINY_FOR = {"pc-darts": {"C": 8}}


def make(name, space=None, **overrides):
    Method = get_method(name)
    fields = {f.name for f in dataclasses.fields(Method.Config)}
    kw = {k: v for k, v in {**TINY, **TINY_FOR.get(name, {})}.items() if k in fields}
    seed = overrides.pop("seed", 3)
    kw.update(overrides)
    return Method(space, "digits", seed=seed, progress=False, device="cpu", **kw)


def freeze_alpha(search, row):
    """Every alpha row set to `row` (with arch_lr = 0 it stays there: a known distribution)."""
    with torch.no_grad():
        for a in search.alpha:
            a.copy_(torch.tensor(row))


def after_setup(search, install):
    """Run `install(search)` right after the method's own setup() inside run()."""
    setup = search.setup

    def wrapped():
        setup()
        install(search)
    search.setup = wrapped


def split_of(search, x) -> str:
    """'train' or 'valid': the split every image of batch x comes from (by content)."""
    for name in ("train", "valid"):
        rows = {r.numpy().tobytes() for r in getattr(search.data, name).x}
        if all(r.numpy().tobytes() in rows for r in x):
            return name
    return "mixed"


def record_forwards(search, module_attr="supernet", snapshot=()):
    """Every forward of `search.<module_attr>`: its input's split, its kwargs (weights detached,
    with whether they carried a gradient), and clones of the `snapshot` attributes' parameters."""
    calls = []

    def hook(module, args, kwargs):
        w = kwargs.get("weights")
        calls.append({
            "split": split_of(search, args[0]),
            "weights": None if w is None else [t.detach().clone() for t in w],
            "weights_grad": None if w is None else any(t.requires_grad for t in w),
            "choices": kwargs.get("choices"),
            "grad_enabled": torch.is_grad_enabled(),
            "step": search.step, "epoch": search.epoch,
            **{a: [p.detach().clone() for p in getattr(search, a)] for a in snapshot},
        })

    def install(s):
        getattr(s, module_attr).register_forward_pre_hook(hook, with_kwargs=True)
    after_setup(search, install)
    return calls


def wrap_step(search, attr, before=None, after=None):
    """Call before(search) / after(search) around every `search.<attr>.step()`."""
    log = []

    def install(s):
        opt = getattr(s, attr)
        step = opt.step

        def wrapped(*a, **k):
            log.append(before(s) if before else None)
            out = step(*a, **k)
            if after:
                log[-1] = (log[-1], after(s))
            return out
        opt.step = wrapped
    after_setup(search, install)
    return log


def params(module):
    return [p.detach().clone() for p in module.parameters()]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def cosine(lr, lr_min, t, T):
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * t / T))


def np_alpha(alpha):
    return [a.detach().numpy().astype(float) for a in alpha]


# -- DARTS ----------------------------------------------------------------------------------------
def test_darts_loop_arch_on_valid_then_weights_on_train_with_softmax_alpha():
    """Per batch: first an alpha step whose forward mixes with softmax(alpha) carrying alpha's
    gradient, on a validation batch; then a weight step on the training batch with softmax of the
    *updated* alpha, detached. The weight optimiser runs at the cosine lr of the epoch; the alpha
    step leaves the weights alone and the weight step leaves alpha alone; each epoch ends with
    the argmax genotype of softmax(alpha) (NB201 cell)."""
    s = make("darts", "nb201-small", epochs=3)
    calls = record_forwards(s, snapshot=("alpha",))
    around_arch = wrap_step(s, "arch_optimizer", before=lambda s: (params(s.supernet), [a.grad.clone() for a in s.alpha]),
                            after=lambda s: params(s.supernet))
    around_w = wrap_step(s, "optimizer", before=lambda s: (np_alpha(s.alpha), s.optimizer.param_groups[0]["lr"],
                                                           [p.grad is not None for p in s.supernet.parameters()]),
                         after=lambda s: np_alpha(s.alpha))
    result = s.run()
    n = s.steps_per_epoch * 3
    assert len(calls) == 2 * n and len(around_arch) == len(around_w) == n
    for arch, weights in zip(calls[::2], calls[1::2]):
        assert (arch["split"], arch["weights_grad"]) == ("valid", True)
        assert (weights["split"], weights["weights_grad"]) == ("train", False)
        for w, a in zip(arch["weights"], arch["alpha"]):
            np.testing.assert_allclose(w.numpy(), softmax(a.numpy()), rtol=1e-6)
        for w, a in zip(weights["weights"], weights["alpha"]):
            np.testing.assert_allclose(w.numpy(), softmax(a.numpy()), rtol=1e-6)
        assert not same(arch["alpha"], weights["alpha"]), "alpha moved between the two steps"
    for (before, grads), after in around_arch:
        assert same(before, after), "the alpha step moved the weights"
        assert all(g.abs().sum() > 0 for g in grads)
    for i, ((alpha_before, lr, has_grad), alpha_after) in enumerate(around_w):
        assert all(np.array_equal(a, b) for a, b in zip(alpha_before, alpha_after))
        assert lr == pytest.approx(cosine(s.config.lr, s.config.lr_min, i // s.steps_per_epoch, 3))
        assert all(has_grad)
    genotypes = [e for e in result.events if e["type"] == "genotype"]
    assert len(genotypes) == 3
    assert tuple(genotypes[-1]["choices"]) == tuple(int(np.argmax(a)) for a in np_alpha(s.alpha))


def test_darts_minus_beta_decays_linearly_in_every_forward():
    """Every forward of epoch e runs the auxiliary skip with beta = beta0 * (1 - e / epochs)."""
    from nasbench.supernet.mixed import AuxiliarySkipEdge
    s = make("darts-minus", "nb201-small", epochs=4, skip_beta=0.8)
    seen = []

    def install(s):
        for m in s.supernet.modules():
            if isinstance(m, AuxiliarySkipEdge):
                m.register_forward_pre_hook(lambda mod, args: seen.append((s.epoch, mod.beta)))
    after_setup(s, install)
    s.run()
    assert {e for e, _ in seen} == {0, 1, 2, 3}
    for epoch, beta in seen:
        assert beta == pytest.approx(0.8 * (4 - epoch) / 4)


def test_darts_minus_skip_adds_beta_times_x():
    """The edge's output is the mixture plus beta * x (identity skip on a normal edge)."""
    from nasbench.supernet.mixed import AuxiliarySkipEdge
    s = make("darts-minus", "nb201-small", epochs=1)
    s._seed_everything()
    s.setup()
    edge = next(m for m in s.supernet.modules() if isinstance(m, AuxiliarySkipEdge)
                and isinstance(m.skip, torch.nn.Identity))
    x = torch.randn(2, s.config.C, 8, 8)
    w = torch.softmax(torch.randn(len(edge.candidates)), 0)
    edge.eval()
    edge.beta = 0.0
    plain = edge(x, weights=w)
    edge.beta = 0.3
    torch.testing.assert_close(edge(x, weights=w), plain + 0.3 * x)


# -- GDAS -----------------------------------------------------------------------------------------
def test_gdas_loop_samples_at_the_epochs_tau_weights_on_train_alpha_on_valid():
    """Per batch: a weight step on the training batch with a detached one-hot h, then an alpha step
    on a validation batch with a fresh one-hot h that carries alpha's gradient; every sample at
    tau = 10 - 9.9 * e / (epochs - 1); the alpha step moves no weight."""
    import nasbench.methods.gdas as gdas
    s = make("gdas", "nb201-small", epochs=3)
    taus = []
    real = gdas.straight_through_gumbel

    def spy(alpha, tau, g=None):
        taus.append((s.epoch, tau))
        return real(alpha, tau, g)
    calls = record_forwards(s)
    around_arch = wrap_step(s, "arch_optimizer", before=lambda s: (params(s.supernet), params(s.alpha)),
                            after=lambda s: (params(s.supernet), params(s.alpha)))
    gdas.straight_through_gumbel = spy
    try:
        s.run()
    finally:
        gdas.straight_through_gumbel = real
    n = s.steps_per_epoch * 3
    assert len(calls) == 2 * n and len(taus) == 2 * n and len(around_arch) == n
    for epoch, tau in taus:
        assert tau == pytest.approx(10 - 9.9 * epoch / 2)
    for w, a in zip(calls[::2], calls[1::2]):
        assert (w["split"], w["weights_grad"]) == ("train", False)
        assert (a["split"], a["weights_grad"]) == ("valid", True)
        for call in (w, a):
            for row in call["weights"]:
                assert sorted(row.tolist()) == [0.0] * (len(row) - 1) + [1.0]
    for (w0, a0), (w1, a1) in around_arch:
        assert same(w0, w1) and not same(a0, a1), "the alpha step must move alpha, not the weights"


def test_gdas_tau_reaches_tau_min_in_the_last_epoch():
    import nasbench.methods.gdas as gdas
    s = make("gdas", "nb201-small", epochs=2)
    taus, real = [], gdas.straight_through_gumbel
    gdas.straight_through_gumbel = lambda alpha, tau, g=None: (taus.append((s.epoch, tau)), real(alpha, tau, g))[1]
    try:
        s.run()
    finally:
        gdas.straight_through_gumbel = real
    assert {e: t for e, t in taus} == pytest.approx({0: 10.0, 1: 0.1})
    # the temperature view reads the `temperature` metric: one per epoch, the tau it sampled at
    logged = [(e["step"], e["value"]) for e in s.events if e["type"] == "metric" and e["name"] == "temperature"]
    assert logged == [(0, pytest.approx(10.0)), (s.steps_per_epoch, pytest.approx(0.1))]


def test_gdas_samples_follow_softmax_alpha():
    """The paths GDAS' loop logs are draws from softmax(alpha) (Gumbel-max): chi-square at a
    fixed seed, alpha frozen at a known non-uniform row (arch_lr = 0)."""
    s = make("gdas", "nb201-small", epochs=1, n_train=400, batch_size=2, arch_lr=0.0, arch_weight_decay=0.0)
    row = np.array([1.5, 0.0, -1.0, 0.5, 0.0])
    after_setup(s, lambda s: freeze_alpha(s, row))
    result = s.run()
    picks = np.array([e["choices"] for e in result.events if e["type"] == "sample"]).ravel()
    counts = np.bincount(picks, minlength=5)
    expected = softmax(row) * counts.sum()
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    assert stats.chisquare(counts).pvalue < 1e-6  # and visibly not uniform


# -- SNAS -----------------------------------------------------------------------------------------
def test_snas_loop_one_batch_one_loss_annealed_tau():
    """Per batch one forward on the training batch with a soft Z (rows on the simplex, not one-hot)
    that carries alpha's gradient; both optimisers step from that one backward (alpha and the
    weights both have gradients); tau is constant within an epoch, strictly decreasing from
    epoch to epoch, within [tau_min, tau0], and is the value the `temperature` metric reports."""
    import nasbench.methods.snas as snas
    s = make("snas", "nb201-small", epochs=4)
    taus = []
    real = snas.relaxed_one_hot

    def spy(alpha, tau):
        taus.append((s.epoch, tau))
        return real(alpha, tau)
    calls = record_forwards(s)
    grads = wrap_step(s, "arch_optimizer", before=lambda s: (
        [a.grad is not None and bool(a.grad.abs().sum() > 0) for a in s.alpha],
        sum(float(p.grad.abs().sum()) for p in s.supernet.parameters() if p.grad is not None)))
    snas.relaxed_one_hot = spy
    try:
        result = s.run()
    finally:
        snas.relaxed_one_hot = real
    n = s.steps_per_epoch * 4
    assert len(calls) == len(taus) == len(grads) == n
    for call in calls:
        assert (call["split"], call["weights_grad"]) == ("train", True)
        for row in call["weights"]:
            assert float(row.sum()) == pytest.approx(1.0, abs=1e-5)
    # relaxed, not hard, samples: the last epoch runs at exactly tau_min, where a relaxed sample
    # can round to one-hot in float32, but the earlier ones are visibly soft
    assert any(float(row.max()) < 0.999 for call in calls for row in call["weights"])
    for alpha_has_grad, weight_grad in grads:
        assert all(alpha_has_grad) and weight_grad > 0
    per_epoch = {}
    for epoch, tau in taus:
        per_epoch.setdefault(epoch, set()).add(tau)
    assert all(len(v) == 1 for v in per_epoch.values())
    values = [per_epoch[e].pop() for e in range(4)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert s.config.tau_min <= min(values) and max(values) <= s.config.tau0
    reported = [e["value"] for e in result.events if e["type"] == "metric" and e["name"] == "temperature"]
    assert reported == pytest.approx(values)


def test_snas_mixes_with_gumbel_softmax_samples_of_alpha():
    """The Z each forward mixes with is a fresh relaxed sample: its argmax is a draw from
    softmax(alpha) (Gumbel-max; chi-square at a fixed seed, alpha frozen by arch_lr = 0), so it is
    not softmax(alpha) itself and differs from step to step."""
    s = make("snas", "nb201-small", epochs=1, n_train=400, batch_size=2, arch_lr=0.0, arch_weight_decay=0.0)
    row = np.array([1.5, 0.0, -1.0, 0.5, 0.0])
    after_setup(s, lambda s: freeze_alpha(s, row))
    calls = record_forwards(s)
    s.run()
    Z = np.array([[w.numpy() for w in c["weights"]] for c in calls if c["split"] == "train"])  # (steps, D, n)
    counts = np.bincount(Z.argmax(-1).ravel(), minlength=5)
    assert stats.chisquare(counts, softmax(row) * counts.sum()).pvalue > 1e-3
    assert stats.chisquare(counts).pvalue < 1e-6
    assert np.abs(Z - softmax(row)).max(axis=(1, 2)).min() > 1e-3


def test_snas_resource_term_penalises_resources():
    """With the resource constraint on, alpha's gradient is the CE's plus +eta * R per option
    (the sample's derivative): the term is added, not subtracted (compared with eta = 0 on the
    same seed, the difference is a push away from big ops)."""
    def first_grads(eta):
        s = make("snas", "nb201-small", epochs=2, steps=1, resource_lambda=eta, arch_grad_clip=1e9)
        got = wrap_step(s, "arch_optimizer", before=lambda s: [a.grad.clone() for a in s.alpha])
        s.run()
        return got[0], s
    with_eta, s = first_grads(5.0)
    without, _ = first_grads(0.0)
    diff = torch.stack(with_eta) - torch.stack(without)       # eta * dZ/dalpha^T R, per edge
    # the gradient of eta * Z.R wrt alpha moves weight to cheaper ops: the op with the most
    # parameters gets a larger gradient (descent lowers its alpha) than the cheapest op in each row
    R = s.resource
    big, small = R.argmax(1), R.argmin(1)
    rows = torch.arange(len(R))
    assert (diff[rows, big] > diff[rows, small]).all()


# -- PC-DARTS -------------------------------------------------------------------------------------
def test_pc_darts_warmup_then_alpha_and_beta_on_valid_with_softmax_edge_normalisation():
    """Epochs before warmup_epochs run weight steps only (alpha and beta bit-identical, no forward
    on a validation batch); afterwards each batch runs an arch forward on a validation batch then
    a weight step on the training batch. Every forward mixes edge (i, j) with
    softmax_over_node(beta)_(i,j) * softmax(alpha_(i,j)) (the node groups of the NB201 cell)."""
    s = make("pc-darts", "nb201-small", epochs=3, warmup_epochs=2)
    calls = record_forwards(s, snapshot=("alpha", "beta"))
    s.run()
    steps = s.steps_per_epoch
    warm = [c for c in calls if c["epoch"] < 2]
    after = [c for c in calls if c["epoch"] >= 2]
    assert len(warm) == 2 * steps and len(after) == 2 * steps
    assert all(c["split"] == "train" and not c["weights_grad"] for c in warm)
    assert all(same(c["alpha"], warm[0]["alpha"]) and same(c["beta"], warm[0]["beta"]) for c in warm)
    assert [c["split"] for c in after] == ["valid", "train"] * steps
    assert [c["weights_grad"] for c in after] == [True, False] * steps
    edges = s.space.edges
    for c in calls:
        beta = np.array([float(b) for b in c["beta"]])
        for d, (i, j) in enumerate(edges):
            group = [k for k, (_, jj) in enumerate(edges) if jj == j]
            scale = softmax(beta[group])[group.index(d)]
            np.testing.assert_allclose(c["weights"][d].numpy(), scale * softmax(c["alpha"][d].numpy()),
                                       rtol=1e-5)
    assert not same(after[-1]["beta"], warm[0]["beta"]), "beta is learned after the warm-up"


# -- NASP -----------------------------------------------------------------------------------------
def test_nasp_loop_gradient_at_the_discrete_point_and_weights_of_the_kept_ops():
    """Per batch: an arch forward on a validation batch whose weights are prox_C1(alpha) (one-hot
    at each row's largest alpha), carrying a gradient; then a weight step on the training batch
    with the one-hot of the alpha after the update, detached; the logged path is that one-hot's
    argmax."""
    s = make("nasp", "nb201-small", epochs=2)
    calls = record_forwards(s, snapshot=("alpha",))
    result = s.run()
    samples = [e["choices"] for e in result.events if e["type"] == "sample"]
    assert len(calls) == 2 * len(samples) == 2 * s.steps_per_epoch * 2
    for (arch, weights), path in zip(zip(calls[::2], calls[1::2]), samples):
        assert (arch["split"], arch["weights_grad"]) == ("valid", True)
        assert (weights["split"], weights["weights_grad"]) == ("train", False)
        for call in (arch, weights):
            for w, a in zip(call["weights"], call["alpha"]):
                assert w.tolist() == np.eye(len(a))[int(np.argmax(a.numpy()))].tolist()
        assert path == [int(np.argmax(a.numpy())) for a in weights["alpha"]]


def test_nasp_clip_keeps_alpha_in_the_box_when_a_step_leaves_it():
    """A large arch_lr makes Adam's first steps move alpha by ~0.5 from 0.5 +- jitter, out of
    [0, 1] before the clip (seen right after the optimiser's step); after each loop step every
    alpha is inside, and equals np.clip of the unclipped value."""
    s = make("nasp", "nb201-small", epochs=1, arch_lr=0.8, arch_weight_decay=0.0)
    raw = wrap_step(s, "arch_optimizer", after=lambda s: np_alpha(s.alpha))
    calls = record_forwards(s, snapshot=("alpha",))
    s.run()
    unclipped = [after for _, after in raw]
    assert any((a < 0).any() or (a > 1).any() for step in unclipped for a in step), "no step left the box"
    clipped_then = [c["alpha"] for c in calls[1::2]]   # alpha as the weight step sees it
    for before, now in zip(unclipped, clipped_then):
        for b, a in zip(before, now):
            np.testing.assert_allclose(a.numpy(), np.clip(b, 0, 1), rtol=0, atol=0)


# -- chain supernets: which candidates a weight step trains ---------------------------------------
def candidate_grads(net):
    """{(layer, candidate): whether any of its parameters holds a gradient now}."""
    import re
    has = {}
    for name, p in net.named_parameters():
        m = re.match(r"layers\.(\d+)\.candidates\.(\d+)\.", name)
        if m:
            key = (int(m[1]), int(m[2]))
            has[key] = has.get(key, False) or (p.grad is not None and bool(p.grad.abs().sum() > 0))
    return has


def chi_square_by_layer(paths, probs):
    """Chi-square p-value of the (layer, option) counts of `paths` against per-layer `probs`."""
    paths = np.asarray(paths)
    observed, expected = [], []
    for layer, p in enumerate(probs):
        counts = np.bincount(paths[:, layer], minlength=len(p))
        observed += list(counts)
        expected += list(np.asarray(p) * len(paths))
    dof = sum(len(p) - 1 for p in probs)
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected))
    return stats.chi2.sf(statistic, dof)


# -- ProxylessNAS ---------------------------------------------------------------------------------
def test_proxyless_weight_step_path_is_drawn_from_p():
    """Weight steps draw their path from p = softmax(alpha), not uniformly: alpha frozen at
    known non-uniform rows (no architecture step happens in 2 epochs with 1 warm-up epoch)."""
    s = make("proxyless", epochs=2, warmup_epochs=1, n_train=600, batch_size=2)
    rows = []

    def install(s):
        with torch.no_grad():
            for a in s.alpha:
                a.copy_(torch.linspace(1.5, -1.0, len(a)))
                rows.append(softmax(a.numpy().astype(float)))
    after_setup(s, install)
    result = s.run()
    paths = [e["choices"] for e in result.events if e["type"] == "sample"]
    assert len(paths) == 2 * s.steps_per_epoch
    assert chi_square_by_layer(paths, rows) > 1e-3
    assert chi_square_by_layer(paths, [np.ones(len(r)) / len(r) for r in rows]) < 1e-6


def test_proxyless_loop_schedule_warmup_and_two_path_updates():
    """Weight steps: the sampled path's candidates alone get gradients, alpha does not move, the
    lr is the per-batch cosine of the warm-up, then of the search. Architecture steps: only after
    the first search epoch, every `grad_update_arch_param_every` batches, on a validation batch;
    they leave every path outside the two drawn ones at its probability and the pair's total."""
    E, W, every = 4, 1, 2
    s = make("proxyless", epochs=E, warmup_epochs=W, grad_update_arch_param_every=every)
    arch = []

    def install(s):
        step = s.arch_step

        def spy(x, y):
            before = [softmax(a.detach().numpy().astype(float)) for a in s.alpha]
            out = step(x, y)
            after = [softmax(a.detach().numpy().astype(float)) for a in s.alpha]
            arch.append((s.epoch, s.step, split_of(s, x), before, after, s.last_pairs))
            return out
        s.arch_step = spy
    after_setup(s, install)
    weight = wrap_step(s, "optimizer", before=lambda s: (
        s.optimizer.param_groups[0]["lr"], candidate_grads(s.supernet), np_alpha(s.alpha)),
        after=lambda s: np_alpha(s.alpha))
    result = s.run()
    n = s.steps_per_epoch
    paths = [e["choices"] for e in result.events if e["type"] == "sample"]
    assert len(weight) == len(paths) == E * n
    for t, (((lr, grads, a0), a1), path) in enumerate(zip(weight, paths)):
        epoch, i = divmod(t, n)
        if epoch < W:
            want = 0.5 * s.config.warmup_lr * (1 + math.cos(math.pi * t / (W * n)))
        else:
            want = 0.5 * s.config.lr * (1 + math.cos(math.pi * (t - W * n) / ((E - W) * n)))
        assert lr == pytest.approx(want)
        assert all(np.array_equal(a, b) for a, b in zip(a0, a1))
        assert {k for k, v in grads.items() if v} <= {(l, c) for l, c in enumerate(path)}
    want_arch = [(e, e * n + i) for e in range(W + 1, E) for i in range(n) if (i + 1) % every == 0]
    assert [(e, st) for e, st, *_ in arch] == want_arch
    for _, _, split, before, after, pairs in arch:
        assert split == "valid"
        for b, a, (on, off) in zip(before, after, pairs):
            rest = [k for k in range(len(b)) if k not in (on, off)]
            np.testing.assert_allclose(a[rest], b[rest], rtol=1e-5)
            assert a[on] + a[off] == pytest.approx(b[on] + b[off], rel=1e-5)
    assert any(not np.allclose(b, a) for *_, before, after, _ in arch for b, a in zip(before, after))


def test_proxyless_arch_step_moves_the_pair_against_the_gate_gradient():
    """Each architecture step (latency term off) shifts alpha_active - alpha_inactive of every
    layer against dL/dg_active - dL/dg_inactive, the gate gradients taken
    with autograd on a forward of the two-path network written here (active path gate 1, the
    other 0, neither detached) on the step's batch:
    eq. (4) on two paths gives dL/dalpha_a = p_a p_b (dL/dg_a - dL/dg_b), and Adam with beta1 = 0
    steps against its sign."""
    s = make("proxyless", epochs=3, warmup_epochs=1, grad_update_arch_param_every=1, latency_loss="none")
    checked = []

    def install(s):
        step = s.arch_step

        def spy(x, y):
            before = [a.detach().clone() for a in s.alpha]
            out = step(x, y)
            pairs = s.last_pairs

            gates = [torch.tensor([1.0, 0.0], requires_grad=True) for _ in pairs]
            h = s.supernet.stem(x)
            for edge, (on, off), g in zip(s.supernet.layers, pairs, gates):
                h = g[0] * edge.candidates[on](h) + g[1] * edge.candidates[off](h)
            dgs = torch.autograd.grad(torch.nn.functional.cross_entropy(s.supernet.head(h), y), gates)
            for layer, ((on, off), a0, a1, dg) in enumerate(zip(pairs, before, s.alpha, dgs)):
                if s.space.options[layer][on] == "zero":
                    continue
                moved = float((a1[on] - a1[off]) - (a0[on] - a0[off]))
                if abs(float(dg[0] - dg[1])) > 1e-4:
                    checked.append((np.sign(moved), -np.sign(float(dg[0] - dg[1])), moved, float(dg[0] - dg[1])))
            return out
        s.arch_step = spy
    after_setup(s, install)
    s.run()
    assert len(checked) >= 5
    assert all(c[0] == c[1] for c in checked), [c for c in checked if c[0] != c[1]]


def test_proxyless_latency_term_uses_the_pairs_probabilities_and_penalises_latency():
    """The expected latency of an architecture step weighs each layer's two drawn paths by their
    renormalised probabilities softmax(alpha_a, alpha_b) (scipy, from alpha before the step), and
    the mul#log loss grows with it: dL/dE = a * CE * b * r^(b-1) / (E log(ref)) > 0 with
    r = log E / log ref (logs in log_unit_ms), by hand."""
    s = make("proxyless", epochs=3, warmup_epochs=1, grad_update_arch_param_every=1)
    seen = []

    def install(s):
        expected, step = s.table.expected, s.arch_step

        def spy_expected(rows):
            lat = expected(rows)
            if lat.requires_grad:
                seen.append({"rows": [r.detach().numpy().copy() for r in rows], "lat": float(lat)})
                lat.register_hook(lambda g: seen[-1].update(grad=float(g)))
            return lat

        def spy_step(x, y):
            alpha = np_alpha(s.alpha)
            out = step(x, y)
            seen[-1].update(alpha=alpha, pairs=s.last_pairs)
            return out
        s.table.expected, s.arch_step = spy_expected, spy_step
    after_setup(s, install)
    result = s.run()
    ces = [e["value"] for e in result.events if e["type"] == "metric" and e["name"] == "task_loss"]
    c, u = s.config, s.config.log_unit_ms
    assert len(seen) == len(ces) > 0
    for record, ce in zip(seen, ces):
        for row, a, (on, off) in zip(record["rows"], record["alpha"], record["pairs"]):
            want = np.zeros(len(a))
            want[[on, off]] = softmax(a[[on, off]])
            np.testing.assert_allclose(row, want, rtol=1e-5, atol=1e-7)
        E, ref = record["lat"], s.ref_ms
        r = math.log(E / u) / math.log(ref / u)
        assert record["grad"] == pytest.approx(c.reg_alpha * ce * c.reg_beta * r ** (c.reg_beta - 1) / (E * math.log(ref / u)), rel=1e-4)
        assert record["grad"] > 0


# -- FBNet ----------------------------------------------------------------------------------------
def test_fbnet_loop_weights_on_80_theta_on_20_percent_after_warmup():
    """Weight steps: training split, masks without theta's gradient, theta unchanged. After the
    warm-up: theta steps on the other split with masks that carry theta's gradient, theta gets
    a non-zero gradient and moves, the weights do not. The Gumbel samples of each epoch use that
    epoch's reported temperature, which strictly decreases over the search epochs."""
    import nasbench.methods.fbnet as fbnet
    E, W = 4, 1
    s = make("fbnet", epochs=E, warmup_epochs=W, n_train=160)
    calls = record_forwards(s)
    taus = []
    real = fbnet.gumbel_softmax
    fbnet.gumbel_softmax = lambda theta, tau, generator=None: (taus.append((s.epoch, tau)), real(theta, tau, generator))[1]
    arch = wrap_step(s, "arch_optimizer", before=lambda s: (params(s.supernet), [t.grad.clone() for t in s.theta],
                                                            np_alpha(s.theta)),
                     after=lambda s: (params(s.supernet), np_alpha(s.theta)))
    weights = wrap_step(s, "optimizer", before=lambda s: np_alpha(s.theta), after=lambda s: np_alpha(s.theta))
    try:
        result = s.run()
    finally:
        fbnet.gumbel_softmax = real
    n_train, n_valid = len(s.data.train), len(s.data.valid)
    assert n_valid == pytest.approx(s.config.arch_fraction * (n_train + n_valid), abs=1)
    for call in calls:
        assert (call["split"], call["weights_grad"]) in (("train", False), ("valid", True))
        assert call["split"] == "train" or call["epoch"] >= W
    arch_epochs = {c["epoch"] for c in calls if c["split"] == "valid"}
    assert arch_epochs == set(range(W, E))
    for (w0, grads, t0), (w1, t1) in arch:
        assert same(w0, w1) and all(g.abs().sum() > 0 for g in grads)
        assert not all(np.array_equal(a, b) for a, b in zip(t0, t1))
    for t0, t1 in weights:
        assert all(np.array_equal(a, b) for a, b in zip(t0, t1))
    reported = {e["step"]: e["value"] for e in result.events if e["type"] == "metric" and e["name"] == "temperature"}
    per_epoch = {}
    for epoch, tau in taus:
        per_epoch.setdefault(epoch, set()).add(tau)
    assert all(len(v) == 1 for v in per_epoch.values())
    values = [per_epoch[e].pop() for e in range(E)]
    assert sorted(reported.values(), reverse=True) == list(reported.values()) and list(reported.values()) == pytest.approx(values)
    assert all(a > b for a, b in zip(values[W:], values[W + 1:])) and values[W] <= s.config.tau0


def test_fbnet_latency_term_penalises_latency():
    """dL/dLAT of the architecture loss is CE * alpha * beta * (log LAT)^(beta-1) / LAT > 0 (by
    hand), so descent on theta prefers faster blocks."""
    s = make("fbnet", epochs=2, warmup_epochs=1, n_train=160)
    seen = []

    def install(s):
        expected = s.table.expected

        def spy(masks):
            lat = expected(masks)
            if lat.requires_grad:
                lat.register_hook(lambda g, lat=lat: seen.append((float(lat), float(g))))
            return lat
        s.table.expected = spy
    after_setup(s, install)
    result = s.run()
    ces = [e["value"] for e in result.events if e["type"] == "metric" and e["name"] == "task_loss"]
    c = s.config
    assert len(seen) == len(ces) > 0
    for (lat, grad), ce in zip(seen, ces):
        L = math.log(lat / c.log_unit_ms)
        assert grad == pytest.approx(ce * c.reg_alpha * c.reg_beta * L ** (c.reg_beta - 1) / lat, rel=1e-4)
        assert grad > 0


# -- Single-Path NAS ------------------------------------------------------------------------------
def test_single_path_runtime_term_sign_and_warmup():
    """dL/dR = lambda * 1e3 / R after the warm-up and 0 during it (by hand): the runtime term is
    added to the loss, so slower decisions cost; the warm-up forwards drop indicators with the
    keep probability, the later ones do not."""
    s = make("single-path", epochs=3, warmup_epochs=1.0)
    seen, keeps = [], []

    def install(s):
        runtime = s.runtime

        def spy():
            R = runtime()
            if R.requires_grad:
                R.register_hook(lambda g, R=R, step=s.step: seen.append((step, float(R), float(g))))
            return R
        s.runtime = spy
        s.supernet.register_forward_pre_hook(lambda m, a, k: keeps.append((s.step, k.get("keep"))), with_kwargs=True)
    after_setup(s, install)
    s.run()
    warm = s.warmup_steps
    assert warm == s.steps_per_epoch and len(seen) == 3 * warm
    for step, R, g in seen:
        assert g == pytest.approx(0.0 if step < warm else s.config.runtime_lambda * 1e3 / R, rel=1e-5)
    train = [(st, k) for st, k in keeps if st < 3 * warm][: 3 * warm]
    assert all(k == (s.config.indicator_keep if st < warm else None) for st, k in train)


# -- SPOS and FairNAS -----------------------------------------------------------------------------
def test_spos_paths_are_uniform_and_only_the_path_learns():
    """Weight-step paths are uniform over each layer's blocks (chi-square at a fixed seed); at each
    step only the path's blocks hold gradients; the lr decays linearly to 0 over the steps."""
    s = make("spos", epochs=1, n_train=600, batch_size=2, generations=0)
    got = wrap_step(s, "optimizer", before=lambda s: (s.optimizer.param_groups[0]["lr"], candidate_grads(s.supernet)))
    result = s.run()
    paths = [e["choices"] for e in result.events if e["type"] == "sample"]
    T = s.total_steps
    assert len(paths) == len(got) == T
    assert chi_square_by_layer(paths, [np.ones(len(o)) / len(o) for o in s.space.options]) > 1e-3
    for t, ((lr, grads), path) in enumerate(zip(got, paths)):
        assert lr == pytest.approx(s.config.lr * (1 - t / T))
        assert {k for k, v in grads.items() if v} == {(l, c) for l, c in enumerate(path)}


def test_fairnas_every_block_once_per_step_then_one_update():
    """Each step logs m paths whose choices per layer are a permutation of the m blocks, runs m
    forwards on the same training batch, then one optimiser step at which every block of every
    layer holds a gradient; lr follows the cosine over the steps."""
    s = make("fairnas", epochs=2, generations=0)
    calls = record_forwards(s)
    got = wrap_step(s, "optimizer", before=lambda s: (s.optimizer.param_groups[0]["lr"], candidate_grads(s.supernet),
                                                      len(calls)))
    result = s.run()
    m = len(s.space.options[0])
    paths = np.array([e["choices"] for e in result.events if e["type"] == "sample"])
    T = s.total_steps
    assert len(got) == T and len(paths) == T * m and len(calls) == T * m
    for t, (lr, grads, n_forwards) in enumerate(got):
        block = paths[t * m:(t + 1) * m]
        assert all(sorted(col) == list(range(m)) for col in block.T)
        assert n_forwards == (t + 1) * m and all(grads.values()) and len(grads) == m * len(s.space.options)
        assert lr == pytest.approx(0.5 * s.config.lr * (1 + math.cos(math.pi * t / T)))
        assert all(c["split"] == "train" for c in calls[t * m:(t + 1) * m])
        assert [tuple(c["choices"]) for c in calls[t * m:(t + 1) * m]] == [tuple(p) for p in block]



def test_fairnas_step_loss_is_the_mean_of_its_m_paths_label_smoothed_cross_entropies():
    """The `step` event's loss is the mean over the m paths of each path's cross-entropy with
    label smoothing eps, computed here from the logits a hook saw:
    (1 - eps) * (-log p_y) + eps * mean_k(-log p_k)."""
    s = make("fairnas", epochs=1, generations=0, label_smoothing=0.1)
    eps = s.config.label_smoothing
    labels, seen = {}, []

    def install(s):
        labels.update({img.numpy().tobytes(): int(y) for img, y in zip(s.data.train.x, s.data.train.y)})

        def hook(module, args, kwargs, out):
            if torch.is_grad_enabled():
                y = torch.tensor([labels[img.numpy().tobytes()] for img in args[0]])
                logp = torch.log_softmax(out.detach().double(), 1)
                nll, uniform = -logp[torch.arange(len(y)), y], -logp.mean(1)
                seen.append(float(((1 - eps) * nll + eps * uniform).mean()))
        s.supernet.register_forward_hook(hook, with_kwargs=True)
    after_setup(s, install)
    result = s.run()
    m = len(s.space.options[0])
    steps = [e["loss"] for e in result.events if e["type"] == "step"]
    assert eps > 0 and len(seen) == m * len(steps)
    assert steps == pytest.approx([np.mean(seen[t * m:(t + 1) * m]) for t in range(len(steps))], rel=1e-5)


# -- random search with weight sharing ------------------------------------------------------------
def test_random_ws_paths_are_uniform_and_the_best_full_score_wins():
    s = make("random", "nb201-small", epochs=1, n_train=600, batch_size=2, n_candidates=4, n_top=2)
    calls = record_forwards(s)
    result = s.run()
    paths = [e["choices"] for e in result.events if e["type"] == "sample"]
    assert chi_square_by_layer(paths, [np.ones(len(o)) / len(o) for o in s.space.options]) > 1e-3
    assert [tuple(c["choices"]) for c in calls[:len(paths)]] == [tuple(p) for p in paths]
    assert all(c["split"] == "train" for c in calls[:len(paths)])
    full = [e for e in result.events if e["type"] == "eval" and e["metric"] == "valid_acc_shared"]
    assert result.best == max(full, key=lambda e: e["score"])["arch"]


# -- ENAS -----------------------------------------------------------------------------------------
def test_enas_loop_children_on_train_controller_on_valid_and_the_best_child():
    """Shared-weight steps: each trains the child the controller just sampled, on a training
    batch, and leaves the controller untouched; controller steps: children scored on validation
    batches, the controller gets a gradient, the shared weights do not move; the result is the
    first best of the derived children's validation rewards."""
    s = make("enas", "nb201-small", epochs=2)
    calls = record_forwards(s)
    w = wrap_step(s, "optimizer", before=lambda s: params(s.controller), after=lambda s: params(s.controller))
    ctl = []

    def install(s):
        opt = s.reinforce.optimizer
        step = opt.step

        def spy(*a, **k):
            before = params(s.supernet)
            grads = [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in s.controller.parameters()]
            out = step(*a, **k)
            ctl.append((before, params(s.supernet), any(grads)))
            return out
        opt.step = spy
    after_setup(s, install)
    result = s.run()
    samples = [e["choices"] for e in result.events if e["type"] == "sample"]
    n = 2 * s.steps_per_epoch
    assert len(samples) == len(w) == n and len(ctl) == 2 * s.config.train_steps
    train_calls = [c for c in calls if c["split"] == "train"]
    assert [tuple(c["choices"]) for c in train_calls] == [tuple(p) for p in samples]
    assert len([c for c in calls if c["split"] == "valid"]) >= 2 * s.config.train_steps * s.config.num_aggregate
    for before, after in w:
        assert same(before, after)
    for before, after, controller_grad in ctl:
        assert same(before, after) and controller_grad
    evals = [e for e in result.events if e["type"] == "eval" and e["metric"] == "valid_acc_minibatch"]
    assert len(evals) == s.config.n_derive
    best = max(evals, key=lambda e: e["score"])   # max() keeps the first of equal scores
    assert result.best == best["arch"]


def test_enas_controller_steps_average_num_aggregate_children_and_track_the_baseline():
    """Each controller step scores num_aggregate children (one validation batch each) and reports
    the moving-average baseline b <- b - (1 - bl_dec)(b - R) over their rewards (entropy weight 0:
    R is the accuracy the child got), by hand from the rewards seen."""
    s = make("enas", "nb201-small", epochs=1, entropy_weight=0.0, bl_dec=0.6, num_aggregate=3, train_steps=3)
    rewards = []

    def install(s):
        reward = s.reward

        def spy(choices, x, y):
            r = reward(choices, x, y)
            rewards.append((s.controller_steps, r, split_of(s, x)))
            return r
        s.reward = spy
    after_setup(s, install)
    result = s.run()
    reported = [e["value"] for e in result.events if e["type"] == "metric" and e["name"] == "baseline"]
    assert len(reported) == 3
    b = 0.0
    for k in range(3):
        mine = [r for step, r, _ in rewards if step == k]
        assert len(mine) == 3
        for r in mine:
            b = b - (1 - 0.6) * (b - r)
        assert reported[k] == pytest.approx(b)
    assert all(split == "valid" for *_, split in rewards)


# -- SMASH ----------------------------------------------------------------------------------------
def test_smash_loop_trains_the_hypernet_through_generated_weights():
    """Each step samples an architecture, runs the net on a training batch with weights the
    hypernet generated for it, and Adam steps with a non-zero gradient on the hypernet at
    lr * (1 + cos(pi t / T)) / 2; the result is the best SMASH score."""
    s = make("smash", epochs=2, n_random=4)
    calls = record_forwards(s, module_attr="net")
    got = wrap_step(s, "optimizer", before=lambda s: (
        s.optimizer.param_groups[0]["lr"],
        sum(float(p.grad.abs().sum()) for p in s.net.hypernet.parameters() if p.grad is not None)))
    result = s.run()
    T = s.total_steps
    train = [c for c in calls if c["split"] == "train"]
    assert len(got) == len(train) == T
    for t, (lr, hyper_grad) in enumerate(got):
        assert lr == pytest.approx(0.5 * s.config.lr * (1 + math.cos(math.pi * t / T)))
        assert hyper_grad > 0
    scores = [e for e in result.events if e["type"] == "eval" and e["metric"] == "smash_score"]
    assert len(scores) == 4 and result.best == max(scores, key=lambda e: e["score"])["arch"]


# -- One-Shot -------------------------------------------------------------------------------------
def test_oneshot_loop_ghost_batches_and_linear_drop_rate():
    """Each step splits its training batch into batch/ghost ghost batches, each with its own
    path-dropout pattern drawn at r_t = r * t / (T - 1); one optimiser step per batch; the
    result is the candidate with the best one-shot validation accuracy."""
    s = make("oneshot", epochs=3, drop_rate=0.5, n_candidates=4)
    calls = record_forwards(s)
    rates = []

    def install(s):
        sample = s.sample_paths
        s.sample_paths = lambda r: (rates.append((s.step, r)), sample(r))[1]
    after_setup(s, install)
    steps = wrap_step(s, "optimizer")
    result = s.run()
    T = s.total_steps
    ghosts = s.config.batch_size // s.config.ghost_batch
    assert len(steps) == T and len(rates) == T * ghosts
    for step, r in rates:
        assert r == pytest.approx(0.5 * step / (T - 1))
    train = [c for c in calls if c["split"] == "train" and c["grad_enabled"]]
    assert len(train) == T * ghosts
    patterns = [tuple(tuple(w.tolist()) for w in c["weights"]) for c in train]
    assert len(set(patterns)) > 1
    evals = [e for e in result.events if e["type"] == "eval" and e["metric"] == "valid_acc_oneshot"]
    assert result.best == max(evals, key=lambda e: e["score"])["arch"]


def test_oneshot_loss_adds_l2_of_the_kept_paths():
    """Each step's reported loss is the mean over its ghost batches of CE (recomputed from the
    logits and the images' labels) + (wd / 2) ||w||^2 over the shared weights and the kept paths'
    weights (summed here)."""
    s = make("oneshot", epochs=4, drop_rate=0.9, weight_decay=1e-2)
    seq = []

    def install(s):
        labels = {img.numpy().tobytes(): int(y) for img, y in zip(s.data.train.x, s.data.train.y)}
        sample = s.sample_paths

        def spy_sample(r):
            kept = sample(r)
            params = list(s.shared) + [p for path in kept for p in s.owned.get(path, [])]
            seq.append(("kept", kept, 0.5 * s.config.weight_decay * sum(float(p.double().square().sum()) for p in params)))
            return kept
        s.sample_paths = spy_sample

        def hook(module, args, kwargs, out):
            keys = [img.numpy().tobytes() for img in args[0]]
            if torch.is_grad_enabled() and all(k in labels for k in keys):
                y = torch.tensor([labels[k] for k in keys])
                seq.append(("ce", float(torch.nn.functional.cross_entropy(out.detach(), y))))
        s.supernet.register_forward_hook(hook, with_kwargs=True)
    after_setup(s, install)
    result = s.run()
    losses = [e["loss"] for e in result.events if e["type"] == "step"]
    ghosts = s.config.batch_size // s.config.ghost_batch
    kept = [x for x in seq if x[0] == "kept"]
    ces = [x[1] for x in seq if x[0] == "ce"]
    assert len(kept) == len(ces) == ghosts * len(losses)
    for t, loss in enumerate(losses):
        parts = [ce + l2 for ce, (_, _, l2) in zip(ces[t * ghosts:(t + 1) * ghosts], kept[t * ghosts:(t + 1) * ghosts])]
        assert loss == pytest.approx(sum(parts) / ghosts, rel=1e-5)


def test_smash_kernel_annealing_bounds_the_sampled_kernels():
    """Training samples with a largest kernel that never shrinks, starts below the space's largest
    and reaches it; every sampled conv's kernel is one the official sampler draws at that bound."""
    s = make("smash", epochs=4, n_random=1)
    seen = []

    def install(s):
        sample = s.space.sample

        def spy(rng, max_kernel=None, **kw):
            choices = sample(rng, max_kernel=max_kernel, **kw)
            if max_kernel is not None:
                kernels = [max(c.kernel) for ops in s.space.arch(choices) for op in ops for c in op.convs if c is not None]
                seen.append((s.step, max_kernel, max(kernels)))
            return choices
        s.space.sample = spy
    after_setup(s, install)
    s.run()
    bounds = [mk for _, mk, _ in seen]
    assert len(seen) == s.total_steps
    assert all(a <= b for a, b in zip(bounds, bounds[1:]))
    assert bounds[0] < s.space.max_kernel == bounds[-1]
    assert all(k in range(3, mk + 2, 2) for _, mk, k in seen)  # SMASH.py: range(3, max_kernel + 2, 2)
