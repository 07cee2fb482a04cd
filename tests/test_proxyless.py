"""ProxylessNAS: the BinaryConnect gradient (by hand and against autograd), the two-path rescaling
(unsampled probabilities unchanged), memory flat in the number of candidates, the latency loss
forms, events, determinism and resume."""
import math

import pytest
import torch
from torch.nn import functional as F

from nasbench import data as datasets
from nasbench.events import validate
from nasbench.evaluate.latency import LatencyTable
from nasbench.methods import get_method
from nasbench.methods.proxyless import (ProxylessConfig, ProxylessNAS, binary_connect_grad,
                                        latency_regularised, rescale_pair)
from nasbench.spaces import get_space
from nasbench.supernet.memory import activation_bytes

SPACE = "proxyless:stages=2,per_stage=2,stem_stride=1"


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", n_train=256)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A fixed, made-up table of SPACE (so runs do not depend on timing)."""
    space = get_space(SPACE)
    lut = [[0.1 * (k + 1) if o != "zero" else 0.0 for k, o in enumerate(opts)] for opts in space.options]
    t = LatencyTable(space=space.name, device="cpu", threads=1, torch_version=torch.__version__, batch_size=1,
                     lut=lut, spread=[[0.0] * len(r) for r in lut], base_ms=0.5, options=space.options)
    return str(t.save(tmp_path_factory.mktemp("lut") / "lut.json"))


def _search(digits, table, **kw):
    kw = {"epochs": 4, "warmup_epochs": 1, "batch_size": 32, "steps": None, "latency_table": table, **kw}
    return ProxylessNAS(SPACE, digits, progress=False, **kw)


def test_binary_connect_by_hand():
    # p = (0.7, 0.3), dL/dg = (1, -2):
    # dL/da_0 = 1*0.7*(1-0.7) + (-2)*0.3*(0-0.7) = 0.21 + 0.42 = 0.63;  dL/da_1 = -0.63
    grad = binary_connect_grad(torch.tensor([1.0, -2.0]), torch.tensor([0.7, 0.3]))
    assert torch.allclose(grad, torch.tensor([0.63, -0.63]), atol=1e-6)


def test_binary_connect_is_the_softmax_jacobian():
    """sum_j dL/dg_j p_j (delta_ij - p_i) is d/dalpha_i of sum_j dL/dg_j softmax(alpha)_j."""
    torch.manual_seed(0)
    for n in (2, 5):
        alpha = torch.randn(n, dtype=torch.float64, requires_grad=True)
        g = torch.randn(n, dtype=torch.float64)
        (F.softmax(alpha, 0) * g).sum().backward()
        assert torch.allclose(binary_connect_grad(g, F.softmax(alpha.detach(), 0)), alpha.grad)


def test_rescaling_keeps_the_unsampled_probabilities():
    torch.manual_seed(1)
    alpha = torch.randn(7)
    before = F.softmax(alpha, 0)
    pair = [2, 5]
    old = alpha[pair].clone()
    alpha[pair] += torch.tensor([0.8, -0.3])  # an Adam step on the two
    rescale_pair(alpha, pair, old)
    after = F.softmax(alpha, 0)
    others = [i for i in range(7) if i not in pair]
    assert torch.allclose(after[others], before[others], rtol=0, atol=1e-7)
    assert after[pair].sum() == pytest.approx(before[pair].sum().item(), abs=1e-7)
    assert after[2] > before[2] and after[5] < before[5]  # the update itself survives


def test_architecture_step_changes_only_the_sampled_pairs(digits, table):
    s = _search(digits, table, steps=1)
    s.run()
    before = [p.clone() for p in s.probs()]
    s.arch_step(digits.valid.x[:32], digits.valid.y[:32])
    for d, (b, a) in enumerate(zip(before, s.probs())):
        others = [i for i in range(len(b)) if i not in s.last_pairs[d]]
        assert torch.allclose(a[others], b[others], rtol=0, atol=1e-6), d
    assert any(not torch.allclose(a, b) for a, b in zip(before, s.probs()))


def _weight_step_bytes(spec, mix):
    space = get_space(spec)
    torch.manual_seed(0)
    net = space.supernet(C=8, in_channels=1)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    path = [0] * len(space.decisions)  # mbconv_k3_e3 everywhere, in both spaces
    if mix:  # DARTS-style: every candidate runs, weighted by softmax(alpha)
        weights = [torch.full((len(o),), 1.0 / len(o)) for o in space.options]
        step = lambda: F.cross_entropy(net(x, weights=weights), y)  # noqa: E731
    else:  # ProxylessNAS weight step: one path
        step = lambda: F.cross_entropy(net(x, choices=path), y)  # noqa: E731
    return activation_bytes(step, exclude=net.parameters())


def test_weight_step_memory_does_not_grow_with_candidates():
    two = "proxyless:stages=2,per_stage=2,stem_stride=1,ops=mbconv_k3_e3"  # 1 MBConv (+ zero): 1-2
    seven = "proxyless:stages=2,per_stage=2,stem_stride=1"                 # 6 MBConvs (+ zero): 6-7
    assert [len(o) for o in get_space(two).options] == [1, 2, 1, 2]
    assert [len(o) for o in get_space(seven).options] == [6, 7, 6, 7]
    assert _weight_step_bytes(two, mix=False) == _weight_step_bytes(seven, mix=False)
    # the reference that does grow: DARTS-style mixing on the same chain
    assert _weight_step_bytes(seven, mix=True) > 3 * _weight_step_bytes(two, mix=True)


def test_latency_loss_forms_by_hand():
    ce, e = torch.tensor(2.0), torch.tensor(3.0)
    c = ProxylessConfig(latency_loss="mul#log", reg_alpha=0.2, reg_beta=0.3, log_unit_ms=1.0)
    assert float(latency_regularised(ce, e, 2.0, c)) == pytest.approx(0.2 * 2.0 * (math.log(3) / math.log(2)) ** 0.3)
    c = ProxylessConfig(latency_loss="add#linear", reg_lambda=0.1)
    assert float(latency_regularised(ce, e, 2.0, c)) == pytest.approx(2.0 + 0.1 * (3.0 - 2.0) / 2.0)


def test_defaults_are_the_official_codes():
    c = ProxylessConfig()
    assert (c.arch_lr, c.arch_beta1, c.arch_beta2, c.arch_eps, c.grad_update_arch_param_every) == (1e-3, 0.0, 0.999, 1e-8, 5)
    assert (c.reg_alpha, c.reg_beta, c.reg_lambda, c.warmup_epochs) == (0.2, 0.3, 0.1, 40)


def test_run_events_and_latency_pressure(digits, table):
    light = _search(digits, table, latency_loss="none").run()
    heavy = _search(digits, table, latency_loss="add#linear", reg_lambda=20.0, target=0.0).run()
    assert not validate(light.events) and not validate(heavy.events)
    start = light.events[0]
    assert start["config"]["lut"]["lut"] and start["config"]["lut"]["target_ms"] > 0
    names = {e["name"] for e in heavy.events if e["type"] == "metric"}
    assert {"expected_latency_ms", "latency_loss", "task_loss"} <= names
    samples = [e for e in heavy.events if e["type"] == "sample"]
    assert len(samples) == sum(e["type"] == "step" and e["phase"] == "weights" for e in heavy.events)

    def final(events):
        return [e["value"] for e in events if e["type"] == "metric" and e["name"] == "expected_latency_ms"][-1]
    assert final(heavy.events) < final(light.events)  # the latency term pushes towards fast paths

    def parts(events):
        """Per architecture step: (its loss, the task_loss and latency_loss metrics logged with it)."""
        arch = [e["loss"] for e in events if e["type"] == "step" and e["phase"] == "arch"]
        metric = lambda n: [e["value"] for e in events if e["type"] == "metric" and e["name"] == n]  # noqa: E731
        return list(zip(arch, metric("task_loss"), metric("latency_loss")))
    # the latency part of the architecture loss is what it adds to the task loss: 0 without one
    assert parts(light.events) and all(lat == 0 and loss == pytest.approx(task) for loss, task, lat in parts(light.events))
    assert all(loss == pytest.approx(task + lat, abs=1e-5) for loss, task, lat in parts(heavy.events))
    assert any(abs(lat) > 0.01 for _, _, lat in parts(heavy.events))


def _strip(events):
    return [{k: v for k, v in e.items() if k not in ("t", "wall")} for e in events]


def test_same_seed_same_events_and_resume(digits, table, tmp_path):
    a = _search(digits, table).run()
    b = _search(digits, table).run()
    assert _strip(a.events) == _strip(b.events)

    class Stop:
        def __init__(self):
            self.n = 0

        def __call__(self, e):
            if e["type"] == "step" and e["epoch"] == 2:
                raise KeyboardInterrupt

    out = tmp_path / "run"
    s = _search(digits, table)
    s.out, s.callbacks = out, [Stop()]
    assert s.run().status == "interrupted"
    r = _search(digits, table)
    r.out, r.resume = out, True
    resumed = r.run()
    assert resumed.status == "completed"
    assert _strip(resumed.events) == _strip(a.events)


def test_registered():
    assert get_method("proxyless") is ProxylessNAS


def test_cli_bad_setting_is_one_line(tmp_path, capsys):
    from nasbench.cli import main
    assert main(["run", "proxyless", "--set", "latency_loss=bogus", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "latency_loss" in err


def test_the_zero_rule_fires_for_the_chain_spaces_skip(digits, tmp_path):
    """MixedEdge.set_arch_param_grad: when the active path is Zero (the layer skipped), that
    layer's alpha is not updated. chain-small calls the identity `skip` (every layer is stride 1
    and keeps its width). With alpha making `skip` nearly certain to be drawn and active, an
    architecture step must leave every layer's alpha exactly as it was."""
    space = get_space("chain-small")
    lut = [[0.1 * (k + 1) for k in range(len(o))] for o in space.options]
    t = LatencyTable(space=space.name, device="cpu", threads=1, torch_version=torch.__version__, batch_size=1,
                     lut=lut, spread=[[0.0] * len(r) for r in lut], base_ms=0.5, options=space.options)
    s = ProxylessNAS("chain-small", digits, progress=False, epochs=4, warmup_epochs=1, batch_size=32, steps=1,
                     latency_table=str(t.save(tmp_path / "lut.json")))
    s.run()
    assert all(o[-1] == "skip" for o in space.options)
    with torch.no_grad():
        for a in s.alpha:
            a.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 30.0]))
    before = [a.detach().clone() for a in s.alpha]
    s.arch_step(digits.valid.x[:32], digits.valid.y[:32])
    assert all(pair[0] == 4 for pair in s.last_pairs)  # skip was active in every layer
    for a, b in zip(s.alpha, before):
        assert torch.equal(a.detach(), b)


def test_the_zero_rule_knows_the_paper_spaces_zero():
    """`zero` (the paper space's name for a skipped layer) is the Zero op on every stride-1 layer
    that keeps its width, and nowhere else; a real block never is."""
    from nasbench.methods.proxyless import is_zero
    space = get_space(SPACE)
    for d, (w_in, w_out, stride) in enumerate(space.layout):
        for op in space.options[d]:
            assert is_zero(space, d, op) == (op == "zero" and stride == 1 and w_in == w_out), (d, op)
    assert any(is_zero(space, d, "zero") for d in range(len(space.options)))


def test_an_architecture_step_pairs_two_different_paths(digits, table):
    """The two paths of each layer are drawn from p without replacement (MixedEdge MODE 'two')."""
    s = _search(digits, table, steps=1)
    s.run()
    for _ in range(20):
        s.arch_step(digits.valid.x[:32], digits.valid.y[:32])
        assert all(len(set(pair)) == 2 for pair in s.last_pairs), s.last_pairs


# -- the weight loop: schedule, loss, which weights move ---------------------------------------
def test_lr_is_a_per_batch_cosine_over_the_warm_up_then_over_the_search(digits, table):
    """nas_manager.warm_up and the search's cosine, per batch t = epoch * n + batch: the warm-up
    (W epochs) anneals warmup_lr to 0, then the search (E - W epochs) anneals lr to 0 again; with
    W = 2 the second warm-up epoch continues the first one's curve."""
    s = _search(digits, table, epochs=5, warmup_epochs=2, warmup_lr=0.05, lr=0.025)
    n, W, E = s.steps_per_epoch, 2, 5
    assert n > 1
    for epoch in range(E):
        for batch in range(n):
            t = epoch * n + batch
            if epoch < W:
                want = 0.5 * 0.05 * (1 + math.cos(math.pi * t / (W * n)))
            else:
                want = 0.5 * 0.025 * (1 + math.cos(math.pi * (t - W * n) / ((E - W) * n)))
            assert s.lr_at(epoch, batch) == pytest.approx(want, rel=1e-12), (epoch, batch)


def test_weight_steps_are_label_smoothed_ce_and_move_only_the_paths_candidates(digits, table):
    """Two warm-up weight steps. Each step event's loss is CE with label smoothing 0.1 computed
    here from the supernet's logits, (1 - 0.1) (-log p_y) + 0.1 mean_k (-log p_k); across step 2
    every candidate off its path keeps its weights bit for bit, also one that ran in step 1 (a
    zero-filled gradient would let momentum and weight decay move it)."""
    import re
    s = _search(digits, table)
    s._seed_everything()
    s.setup()
    batches = [(digits.train.x[i * 32:(i + 1) * 32], digits.train.y[i * 32:(i + 1) * 32]) for i in range(2)]
    s.batches = lambda: iter(batches)
    logits = []
    s.supernet.register_forward_hook(lambda m, args, out: logits.append(out.detach().double()))
    before_step = []
    step = s.optimizer.step

    def spy(*args, **kwargs):
        before_step.append({n: p.detach().clone() for n, p in s.supernet.named_parameters()})
        return step(*args, **kwargs)
    s.optimizer.step = spy
    s.train_epoch(0)
    paths = [e["choices"] for e in s.events if e["type"] == "sample"]
    losses = [e["loss"] for e in s.events if e["type"] == "step" and e["phase"] == "weights"]
    assert len(paths) == len(losses) == len(logits) == 2
    for z, (_, y), loss in zip(logits, batches, losses):
        log_p = z - torch.logsumexp(z, 1, keepdim=True)
        want = -(0.9 * log_p[torch.arange(len(y)), y] + 0.1 * log_p.mean(1)).mean()
        assert loss == pytest.approx(float(want), rel=1e-5)
    moved_in_1 = 0
    for name, p in s.supernet.named_parameters():
        m = re.match(r"layers\.(\d+)\.candidates\.(\d+)\.", name)
        if m and paths[1][int(m[1])] != int(m[2]):
            assert torch.equal(p.detach(), before_step[1][name]), name
            moved_in_1 += paths[0][int(m[1])] == int(m[2])
    assert moved_in_1 > 0, "some candidate ran in step 1 and not in step 2"


def test_architecture_steps_follow_every_grad_update_arch_param_every_th_batch(digits, table):
    """The official loop: after the first search epoch, an architecture step after batch i when
    (i + 1) % grad_update_arch_param_every == 0; with 3 and 4 batches an epoch, after batch 2."""
    s = _search(digits, table, epochs=4, warmup_epochs=1, grad_update_arch_param_every=3)
    s._seed_everything()
    s.setup()
    assert s.steps_per_epoch == 4
    at = []
    s.arch_step = lambda x, y: at.append((s.epoch_now, s.step))
    for epoch in range(4):
        s.epoch_now = epoch
        s.train_epoch(epoch)
    assert at == [(2, 2 * 4 + 2), (3, 3 * 4 + 2)]


def test_alpha_starts_at_1e_3_randn_and_an_architecture_step_is_one_adam_step_then_the_rescale(digits, table):
    """arch_init_ratio: alpha ~ 1e-3 N(0, 1). One architecture step from fresh Adam state (beta1
    0: m = g, v bias-corrected to g^2) moves alpha_i by -lr g_i / (|g_i| + eps); the rescale then
    subtracts one offset from both paths of the pair, so the pair's difference moves by exactly
    -lr (g_a / (|g_a| + eps) - g_b / (|g_b| + eps)), g the gradient the step left in alpha.grad."""
    lr, eps = 0.05, 1e-2
    s = _search(digits, table, arch_lr=lr, arch_eps=eps, latency_loss="none")
    s._seed_everything()
    s.setup()
    alpha = torch.cat([a.detach() for a in s.alpha])
    assert float(alpha.abs().max()) < 5e-3 and 0.5e-3 < float(alpha.std()) < 1.5e-3
    before = [a.detach().clone() for a in s.alpha]
    s.arch_step(digits.valid.x[:32], digits.valid.y[:32])
    checked = 0
    for a, b, (on, off) in zip(s.alpha, before, s.last_pairs):
        if a.grad is None:   # the Zero op was active: the layer is left alone
            continue
        adam = [float(a.grad[i]) / (abs(float(a.grad[i])) + eps) for i in (on, off)]
        moved = float((a.detach()[on] - a.detach()[off]) - (b[on] - b[off]))
        assert moved == pytest.approx(-lr * (adam[0] - adam[1]), rel=1e-4, abs=1e-7)
        checked += abs(adam[0]) > 0.05
    assert checked > 0


def test_resume_after_architecture_steps_restores_alpha_and_its_adam_state(digits, table, tmp_path):
    """The resume test above stops in epoch 2, resuming from the end of epoch 1, before the first
    architecture step (they start after the first search epoch): alpha and its Adam are still as
    set up there. Stopped in epoch 3, the checkpoint of epoch 2 must hold the trained alpha and the
    Adam moments."""
    full = _search(digits, table).run()

    def stop(e):
        if e["type"] == "step" and e["epoch"] == 3:
            raise KeyboardInterrupt

    s = _search(digits, table)
    s.out, s.callbacks = tmp_path / "run", [stop]
    assert s.run().status == "interrupted"
    assert any(e["type"] == "step" and e["phase"] == "arch" for e in s.events)
    r = _search(digits, table)
    r.out, r.resume = tmp_path / "run", True
    resumed = r.run()
    assert resumed.status == "completed"
    assert _strip(resumed.events) == _strip(full.events)
