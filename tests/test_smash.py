"""SMASH: the memory-bank space, the hypernet's generated weights, the method, its exercises."""
import dataclasses

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from nasbench import data as datasets
from nasbench.events import read_events, validate
from nasbench.exercises import smash as ex
from nasbench.methods import ConfigError
from nasbench.methods.smash import Smash
from nasbench.spaces import InvalidArchitecture, get_space
from nasbench.spaces.smash import Conv, Op
from nasbench.supernet.hypernet import Embedding, SmashNet, weight_norm

TINY = dict(epochs=2, batch_size=32, n_random=4, standalone=2, standalone_epochs=1, log_every=2)


@pytest.fixture(scope="module")
def small():
    return get_space("smash-small")


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", n_train=160, seed=0)


def strip_times(events):
    return [{k: v for k, v in e.items() if k not in ("t", "wall")} for e in events]


# -- the space -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["smash-small", "smash"])
def test_encoding_round_trips_and_samples_are_valid(name):
    space = get_space(name)
    rng = np.random.default_rng(0)
    for _ in range(60 if name == "smash" else 300):
        choices = space.sample(rng)
        arch = space.encode(choices)
        assert space.decode(arch) == choices
        assert space.choices_of(space.arch(choices)) == choices
        assert space.validate(choices) == choices


def test_sampled_architectures_follow_the_bank_rules(small):
    """Written out independently of validate: reads only written banks, new banks in order."""
    rng = np.random.default_rng(1)
    for _ in range(300):
        for b, ops in enumerate(small.arch(small.sample(rng))):
            assert 1 <= len(ops) <= small.max_ops
            written = set(range(small.in_banks[b]))
            for op in ops:
                assert op.reads and set(op.reads) <= written
                new = sorted(set(op.writes) - written)
                assert new == list(range(len(written), len(written) + len(new)))
                assert len(op.writes) >= 1 and op.width % small.N == 0
                assert sum(c is not None for c in op.convs) == op.pattern.count("1")
                written |= set(op.writes)
                assert len(written) <= small.banks[b]


def op(reads, writes, width=4, pattern="1000"):
    convs = tuple(Conv((3, 3), (1, 1), 1) if bit == "1" else None for bit in pattern)
    return Op(tuple(reads), tuple(writes), width, pattern, convs)


@pytest.mark.parametrize("blocks, message", [
    ([[op([2], [0])], [op([0], [0])], [op([0], [0])]], "only banks 0..1"),        # bank 2 unwritten
    ([[op([0], [3])], [op([0], [0])], [op([0], [0])]], "new banks in order"),      # skips bank 2
    ([[op([0], [2, 3])], [op([0], [0])], [op([0], [0])]], "more than its 1"),      # G/N = 1 chunk
    ([[], [op([0], [0])], [op([0], [0])]], "no op"),
])
def test_invalid_architectures_are_refused(small, blocks, message):
    with pytest.raises(InvalidArchitecture, match=message):
        small.choices_of(blocks)


def test_an_absent_op_with_settings_and_bad_strings_are_refused(small):
    choices = list(small.choices_of([[op([0], [0])], [op([0], [0])], [op([0], [0])]]))
    choices[small.index[(0, 2, "read", 1)]] = 1
    with pytest.raises(InvalidArchitecture, match="absent"):
        small.validate(choices)
    for bad in ["", "b0=x|b1=y|b2=z", "b0=r0>w0/4/1000/3x3d1x1g1|b1=r0>w0/4/1000/3x3d1x1g1"]:
        with pytest.raises(InvalidArchitecture):
            small.decode(bad)


def test_graph_has_a_read_and_a_write_edge_per_op_and_bank(small):
    g = small.graph()
    reads = [(u, v) for u, v, a in g.edges(data=True) if a.get("role") == "read"]
    writes = [(u, v) for u, v, a in g.edges(data=True) if a.get("role") == "write"]
    n = sum(small.max_ops * m for m in small.banks)
    assert len(reads) == len(writes) == n
    assert nx.is_directed_acyclic_graph(g), "drawn as layers: bank states, not banks, are nodes"
    assert small.describe()["smash"]["banks"] == small.banks


# -- the hypernet -----------------------------------------------------------------------------------
def test_generated_weights_have_the_shapes_the_stand_alone_op_needs(small):
    """For many sampled architectures: the generated 1x1 and each sliced free conv have exactly
    the shape of the corresponding nn.Conv2d of the stand-alone network (SMASH.py MainNet)."""
    torch.manual_seed(0)
    net = SmashNet(small, num_classes=10, in_channels=1, depth=(1, 1, 1))
    rng = np.random.default_rng(2)
    for _ in range(40):
        choices = small.sample(rng)
        blocks = small.arch(choices)
        w1x1 = net.generate(blocks)
        main = small.build(choices, num_classes=10, in_channels=1)
        n = 0
        for b, (ops, layers) in enumerate(zip(blocks, main.layers)):
            for o, layer in zip(ops, layers):
                assert w1x1[n].shape == layer.bottleneck[2].weight.shape
                for i, conv in enumerate(o.convs):
                    if conv is not None:
                        ref = layer.convs[i][1]
                        got = net.conv_weight(b, i, o, ref.in_channels)
                        assert got.shape == ref.weight.shape, (o, i)
                n += 1
        assert net(torch.randn(2, 1, 8, 8), choices).shape == (2, 10)


def test_embedding_of_a_hand_worked_op():
    """N=4, depth_compression 2: slices of 8 channels. An op reading banks 0, 2, 3 (12 channels)
    takes 2 slices: banks 0 and 2 fall in slice 0, bank 3 in slice 1; G=8 marks rows 0 and 1."""
    space = get_space("smash-small")
    emb = Embedding(space, 2)
    the_op = Op((0, 2, 3), (1, 4), 8, "1100", (Conv((3, 5), (2, 1), 2), Conv((7, 7), (1, 1), 1), None, None))
    c, starts = emb([[the_op], [op([0], [0])], [op([0], [0])]])
    assert starts == [0, 2, 3] and c.shape == (emb.channels, 4, 4)
    o, M = emb.offset, 6
    assert c[o["read"] + 0, :2, 0].eq(1).all() and c[o["read"] + 2, :2, 0].eq(1).all()
    assert c[o["read"] + 3, :2, 1].eq(1).all() and c[o["read"] + 3, :, 0].eq(-1).all()
    assert c[o["read"] + 0, 2:, :2].eq(-1).all(), "rows beyond G/N stay -1"
    assert c[[o["write"] + 1, o["write"] + 4], :2, :2].eq(1).all()
    assert c[o["block"] + 0, :2, :2].eq(1).all() and c[o["G"] + 1, :2, :2].eq(1).all()
    assert c[o["pattern"]: o["pattern"] + 4, 0, 0].tolist() == [1, 1, -1, -1]
    assert c[o["conv0.kernel"]: o["conv0.kernel"] + 6, 0, 0].tolist() == [1, -1, -1, -1, 1, -1]  # 3, 5
    assert c[o["conv0.dilation"]: o["conv0.dilation"] + 6, 0, 0].tolist() == [-1, 1, -1, 1, -1, -1]  # 2, 1
    assert c[o["conv0.groups"]: o["conv0.groups"] + 3, 0, 0].tolist() == [-1, 1, -1]   # groups 2
    assert c[o["conv2.kernel"]:, 0, 0].eq(-1).all(), "inactive convs leave their channels at -1"
    assert (c[:, :, 2] == 1).sum() > 0 and c[o["read"] + 2, :, 2:].eq(-1).all()
    # the exercise's reference agrees with the library on the read / write channels
    ref = ex.read_write_reference(the_op, M, 4, 4, 2)
    assert torch.equal(c[: 2 * M, :, :2], ref)


def test_generated_weights_are_the_hypernet_output_rearranged():
    """Position (q, s) of the hypernet output holds the block of W_1x1 for output units q N..
    and input channels s dc N.. (SMASH.py sample_weights); checked element by element."""
    space = get_space("smash-small")
    torch.manual_seed(0)
    net = SmashNet(space, num_classes=10, in_channels=1, depth=(1, 1, 1))
    blocks = space.arch(space.sample(np.random.default_rng(3)))
    c, starts = net.embedding(blocks)
    z = torch.randn(1, 1, *c.shape[1:])
    h = net.hypernet(torch.cat([z, c[None]], 1))[0]     # (N * dc N, k, S)
    w = net.generate(blocks, z)
    N, dc = space.N, 2
    n = 0
    for ops in blocks:
        for o in ops:
            for out_unit in range(w[n].shape[0]):
                for ch in range(w[n].shape[1]):
                    q, a = divmod(out_unit, N)
                    s, bb = divmod(starts[n] * dc * N + ch, dc * N)
                    assert w[n][out_unit, ch, 0, 0] == h[a * dc * N + bb, q, s]
            n += 1


def test_the_hypernet_gets_the_main_loss_gradient_finite_differences():
    """d loss / d hypernet weight by autograd equals central finite differences (float64)."""
    space = get_space("smash-small")
    torch.manual_seed(0)
    net = SmashNet(space, num_classes=10, in_channels=1, depth=(1, 1, 1)).double()
    choices = space.sample(np.random.default_rng(4))
    blocks = space.arch(choices)
    c, _ = net.embedding(blocks)
    z = torch.randn(1, 1, *c.shape[1:], dtype=torch.float64)
    x, y = torch.randn(8, 1, 8, 8, dtype=torch.float64), torch.randint(0, 10, (8,))
    loss = lambda: nn.functional.cross_entropy(net(x, blocks=blocks, z=z), y)
    net.zero_grad()
    loss().backward()
    first, last = net.hypernet.net[0].f.weight, net.hypernet.net[-1][1].weight
    for w in (first, last):
        assert w.grad is not None and w.grad.abs().sum() > 0
        flat, grad = w.data.view(-1), w.grad.view(-1)
        for i in torch.topk(grad.abs(), 3).indices.tolist() + [0]:
            old, eps = flat[i].item(), 1e-6
            with torch.no_grad():
                flat[i] = old + eps
                up = loss().item()
                flat[i] = old - eps
                down = loss().item()
                flat[i] = old
            assert abs((up - down) / (2 * eps) - grad[i].item()) < 1e-6 + 1e-4 * abs(grad[i].item())


def test_weight_norm_is_the_whole_tensor_norm():
    w = torch.tensor([[3.0, 0.0], [0.0, 4.0]])
    assert torch.allclose(weight_norm(w), w / 5)


# -- the method ---------------------------------------------------------------------------------
def run(digits, out=None, callbacks=(), seed=0, **kw):
    search = Smash(None, digits, seed=seed, out=out, callbacks=callbacks, progress=False, device="cpu",
                   **{**TINY, **kw})
    return search, search.run()


def test_one_batch_one_architecture_and_valid_events(digits):
    search, result = run(digits)
    assert result.status == "completed" and validate(result.events) == []
    steps = [e for e in result.events if e["type"] == "step"]
    samples = [e for e in result.events if e["type"] == "sample"]
    assert len(steps) == len(samples) == search.total_steps
    assert [s["step"] for s in samples] == [s["step"] for s in steps]
    assert len({s["arch"] for s in samples}) == len(samples), "a fresh architecture every batch"
    evals = [e for e in result.events if e["type"] == "eval"]
    assert sum("truth" not in e for e in evals) == TINY["n_random"]
    assert sum("truth" in e for e in evals) == TINY["standalone"]
    names = {e["name"] for e in result.events if e["type"] == "metric"}
    assert {"kendall_tau", "spearman_rho", "best_smash_score"} <= names
    assert any(n.startswith("wnorm/b0.op0") for n in names)
    best = max((e for e in evals if "truth" not in e), key=lambda e: e["score"])
    assert result.best == best["arch"]


def test_one_step_changes_the_hypernet_and_the_free_convs(digits):
    search = Smash(None, digits, progress=False, device="cpu", **TINY)
    search._seed_everything()
    search.setup()
    before = {n: p.detach().clone() for n, p in search.net.named_parameters()}
    search.config = dataclasses.replace(search.config, steps=1)
    search.train_epoch(0)
    after = dict(search.net.named_parameters())
    assert all(not torch.equal(before[n], after[n]) for n, _ in search.net.hypernet.named_parameters(prefix="hypernet"))
    assert not torch.equal(before["W.0"], after["W.0"]), "conv0 of block 0 is in every architecture"


def test_same_seed_same_events_and_resume(digits, tmp_path):
    _, a = run(digits, out=tmp_path / "full")
    _, b = run(digits)
    _, c = run(digits, seed=1)
    assert strip_times(a.events) == strip_times(b.events)
    assert strip_times(a.events) != strip_times(c.events)
    stop_at = a.steps - 2

    def stop(event):
        if event["type"] == "step" and event["step"] == stop_at:
            raise KeyboardInterrupt

    _, cut = run(digits, out=tmp_path / "cut", callbacks=[stop])
    assert cut.status == "interrupted"
    resumed = Smash(None, digits, out=tmp_path / "cut", resume=True, progress=False, device="cpu", **TINY).run()
    assert resumed.status == "completed"
    assert strip_times(read_events(tmp_path / "cut" / "events.jsonl")) == strip_times(a.events)


@pytest.mark.parametrize("overrides, message", [
    ({"pick": "best"}, "pick"), ({"standalone": 10, "n_random": 4}, "standalone"),
    ({"n_random": 0}, "n_random"), ({"beta1": 1.5}, "beta1"),
])
def test_bad_settings_are_config_errors(digits, overrides, message):
    with pytest.raises(ConfigError, match=message):
        Smash(None, digits, progress=False, device="cpu", **overrides)


def test_a_non_smash_space_is_refused(digits):
    result = None
    with pytest.raises(ConfigError, match="it searches: smash, smash-small"):
        result = Smash("nb201-small", digits, progress=False, device="cpu", **TINY).run()
    assert result is None


# -- the exercises ---------------------------------------------------------------------------------
def test_exercise_checks_pass_right_and_fail_wrong_answers():
    ex.check_read_write(ex.read_write_reference)
    ex.check_weight_norm(ex.weight_norm_reference)

    def writes_everywhere(o, n_banks, N, k, dc):          # forgets that only rows < G/N are set
        c = ex.read_write_reference(o, n_banks, N, k, dc)
        c[c.max(1, keepdim=True).values.expand_as(c) == 1] = 1
        return c

    def per_channel(w):
        return w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)

    def raises(*args):
        raise ValueError("oops")

    for check, wrong in ((ex.check_read_write, writes_everywhere), (ex.check_weight_norm, per_channel)):
        with pytest.raises(AssertionError):
            check(wrong)
        with pytest.raises(ValueError):
            check(raises)


# -- the view ----------------------------------------------------------------------------------
def test_memory_bank_view_reads_the_architecture_from_events_alone(small):
    from nasbench.events import make_event
    from nasbench.widgets.memory_banks import MemoryBankView, ops_of
    rng = np.random.default_rng(5)
    view = MemoryBankView(live=False, min_interval=0)
    view(make_event("run_start", 0.0, method="smash", dataset="digits", seed=0, config={},
                    space=small.describe()))
    for step in range(5):
        choices = small.sample(rng)
        view(make_event("sample", 0.1, step=step, choices=list(choices), arch=small.encode(choices),
                        purpose="train"))
        view(make_event("metric", 0.1, step=step, name="wnorm/b0.op0", value=1.0 + step))
    blocks = small.arch(choices)
    parsed = ops_of(small.decisions, small.options, list(choices))
    assert [[(o["reads"], o["writes"], int(o["width"]), o["pattern"]) for o in ops] for ops in parsed] == \
           [[(list(o.reads), list(o.writes), o.width, o.pattern) for o in ops] for ops in blocks]
    reads, writes, *_ = view.layout()
    assert len(reads) == sum(len(o.reads) for ops in blocks for o in ops)
    assert len(writes) == sum(len(o.writes) for ops in blocks for o in ops)
    view.flush()                       # redraws are throttled; the last state is drawn on flush
    assert list(view.fig.data[0].x) == [x for x, _ in reads]          # rendered
    slots, steps, z = view.norm_table()
    assert slots == ["b0.op0"] and steps == [0, 1, 2, 3, 4] and z == [[1.0, 2.0, 3.0, 4.0, 5.0]]
    assert "step 4" in view.fig.layout.title.text
    assert MemoryBankView.shows([{"type": "run_start", "space": small.describe()}])
    assert not MemoryBankView.shows([{"type": "run_start", "space": get_space("nb201-small").describe()}])


def test_report_of_a_smash_run_has_the_memory_bank_view(digits, tmp_path):
    from nasbench.report import write_report
    run(digits, out=tmp_path / "run", epochs=1, n_random=2, standalone=0)
    page = write_report(tmp_path / "run").read_text()
    assert "MemoryBankView" in page and "SupernetGraph" in page


# -- round three: the official sampler's defaults and the SMASH net's stem ----------------------
def _kernels_seen(space, rng, max_kernel, var_op=True, n=150):
    seen = set()
    for _ in range(n):
        for ops in space.arch(space.sample(rng, max_kernel=max_kernel, var_op=var_op)):
            seen |= {k for op in ops for conv in op.convs if conv for k in conv.kernel}
    return seen


def test_kernel_annealing_draws_5x5_from_12_5_and_7x7_from_37_5_percent(small, digits):
    """SMASH.py: max_kernel = 3 + int((7-3)//2 * min(j / (T/2), 1) * 2), kernels drawn from
    range(3, max_kernel + 2, 2): 5x5 first at j = T/8, 7x7 first at j = 3T/8."""
    search = Smash("smash-small", digits, progress=False, steps=80, **{**TINY, "epochs": 100})
    assert search.total_steps == 80
    rng = np.random.default_rng(0)
    expected = {0: {3}, 9: {3}, 10: {3, 5}, 29: {3, 5}, 30: {3, 5, 7}, 79: {3, 5, 7}}
    for j, kernels in expected.items():
        search.step = j
        assert _kernels_seen(small, rng, search.max_kernel()) == kernels, j


def test_smash_samples_one_conv_per_op_unless_var_op(small, digits):
    """utils.py: --var-op is off by default, so every op is a single conv ([1, 0, 0, 0])."""
    assert Smash.Config().var_op is False
    rng = np.random.default_rng(0)
    patterns = lambda var_op: {op.pattern for _ in range(40)  # noqa: E731
                               for ops in small.arch(small.sample(rng, var_op=var_op)) for op in ops}
    assert patterns(False) == {"1000"}
    assert len(patterns(True)) > 1


def test_the_smash_net_applies_a_relu_after_the_stem(small):
    """SMASH.py forward: out = F.relu(self.conv1(x)). A negative stem output then acts as zeros
    (train mode: batch statistics would make a negative random stem output count otherwise)."""
    torch.manual_seed(0)
    net = SmashNet(small, num_classes=10, in_channels=1).train()
    blocks = small.arch(small.sample(np.random.default_rng(1)))
    x = torch.randn(4, 1, 8, 8)
    w1x1 = net.generate(blocks)
    outs = []
    for fill in (lambda o: -torch.rand_like(o), torch.zeros_like):
        h = net.stem.register_forward_hook(lambda m, i, o, fill=fill: fill(o))
        outs.append(net(x, blocks=blocks, w1x1=w1x1))
        h.remove()
    assert torch.allclose(outs[0], outs[1])


# -- the loop and the ranking, pinned against the mutation run's survivors ----------------------
def patterns_of(space, events, kind):
    return {op.pattern for e in events if e["type"] == kind and "truth" not in e
            for ops in space.arch(e["choices"]) for op in ops}


@pytest.mark.parametrize("var_op", [False, True])
def test_training_and_ranking_both_sample_the_configured_conv_layout(digits, var_op):
    """--var-op off (the official default): every op the loop trains and every op the ranking
    scores is one conv ("1000"); on: both draw the 2x2 layouts, so the ranking scores the kind of
    architecture the hypernet was trained on."""
    search = Smash(None, digits, progress=False, device="cpu", var_op=var_op,
                   **{**TINY, "standalone": 0, "n_random": 12})
    events = search.run().events
    for kind in ("sample", "eval"):
        found = patterns_of(search.space, events, kind)
        assert (found == {"1000"}) is (not var_op), (kind, found)


@pytest.mark.parametrize("dc", [1, 3])
def test_the_hypernet_emits_n_times_dc_n_channels_per_position(digits, dc):
    """depth_compression = dc: each position of the hypernet's output holds an N x (dc N) block of
    W_1x1 (SMASH.py), so its output has N * N * dc channels."""
    search = Smash(None, digits, progress=False, device="cpu", depth_compression=dc, **TINY)
    search._seed_everything()
    search.setup()
    shapes = []
    search.net.hypernet.register_forward_hook(lambda m, args, out: shapes.append(out.shape))
    search.config = dataclasses.replace(search.config, steps=1)
    search.train_epoch(0)
    N = search.space.N
    assert shapes and all(s[1] == N * N * dc for s in shapes)


def test_one_generation_per_step_trains_the_net_and_its_norms_are_logged_every_log_every(digits):
    """Each step draws z once: the weights the forward runs are the ones `generate` returned that
    step (no second draw inside the forward), and at steps 0, log_every, 2 log_every, ... the
    `wnorm/b{b}.op{j}` metrics are the norms of exactly those weights (computed here)."""
    search = Smash(None, digits, progress=False, device="cpu", **{**TINY, "standalone": 0, "log_every": 3})
    search._seed_everything()
    search.setup()
    made, ran = [], []
    generate = search.net.generate

    def spy(*args, **kw):
        made.append(generate(*args, **kw))
        return made[-1]
    search.net.generate = spy
    search.net.register_forward_pre_hook(lambda m, args, kw: ran.append(kw.get("w1x1")), with_kwargs=True)
    search.config = dataclasses.replace(search.config, steps=search.total_steps)
    for epoch in range(search.config.epochs):
        search.train_epoch(epoch)
    assert len(made) == len(ran) == search.total_steps >= 4
    assert all(r is m for r, m in zip(ran, made))
    norms = {}
    for e in search.events:
        if e["type"] == "metric" and e["name"].startswith("wnorm/"):
            norms.setdefault(e["step"], []).append(e["value"])
    assert sorted(norms) == [s for s in range(search.total_steps) if s % 3 == 0]
    for step, values in norms.items():
        assert values == pytest.approx([float(w.detach().norm()) for w in made[step]], rel=1e-5)


def test_adam_runs_at_the_configured_lr_annealed_by_cosine_to_zero(digits):
    """Adam at `lr` (SMASH.py), annealed per step by 0.5 (1 + cos(pi t / T)) (update_lr):
    the lr Adam holds at step t, read from the optimiser during its step, by that closed form."""
    search = Smash(None, digits, progress=False, device="cpu", lr=0.01, **{**TINY, "standalone": 0})
    search._seed_everything()
    search.setup()
    seen = []
    search.optimizer.register_step_pre_hook(lambda opt, a, k: seen.append([g["lr"] for g in opt.param_groups]))
    search.config = dataclasses.replace(search.config, steps=search.total_steps)
    for epoch in range(search.config.epochs):
        search.train_epoch(epoch)
    T = search.total_steps
    assert seen == [pytest.approx([0.01 * 0.5 * (1 + np.cos(np.pi * t / T))] * 2) for t in range(T)]


def test_with_var_op_a_free_conv_left_out_of_a_step_is_not_moved(digits, small):
    """Only the convs an architecture uses get a gradient; Adam skips a parameter without one, so
    a free conv that ran in step 1 and not in step 2 is bit-identical across step 2 (a stale zero
    gradient would let Adam's momentum and weight decay move it)."""
    rng = np.random.default_rng(0)
    first = next(c for c in (small.sample(rng, var_op=True) for _ in range(200))
                 if any(op.pattern[1] == "1" for op in small.arch(c)[0]))
    second = small.sample(rng, var_op=False)                   # conv0 only, in every block
    search = Smash(None, digits, progress=False, device="cpu", var_op=True, **TINY)
    search._seed_everything()
    search.setup()
    queue = [first, second]
    search.space.sample = lambda *a, **k: queue.pop(0)
    after_first = []
    search.optimizer.register_step_post_hook(
        lambda opt, *_: after_first.append((search.net.W[1].detach().clone(), search.net.W[1].grad.clone()))
        if not after_first else None)
    try:
        search.config = dataclasses.replace(search.config, steps=2)
        search.train_epoch(0)
    finally:
        del search.space.sample                                # the space's own sampler again
    assert search.step == 2 and not queue
    w1, g1 = after_first[0]
    assert g1.abs().sum() > 0, "conv1 of block 0 ran in step 1"
    assert torch.equal(search.net.W[1].detach(), w1)


def test_the_ranking_is_kept_best_first_as_the_evals_scored_it(digits):
    """`search.scored`, the ranking notebooks read: every one of the n_random architectures with
    the SMASH score its `eval` event logged, best first."""
    search = Smash(None, digits, progress=False, device="cpu", **{**TINY, "standalone": 0, "n_random": 6})
    events = search.run().events
    logged = [(e["score"], tuple(e["choices"])) for e in events if e["type"] == "eval"]
    assert len(search.scored) == len(logged) == 6
    assert [(s, tuple(c)) for s, c in search.scored] == sorted(logged, key=lambda t: -t[0])


def test_a_space_without_memory_banks_is_refused_with_what_smash_needs(digits):
    """A space the name check cannot know (an unregistered name) that has no memory banks:
    setup stops with a ConfigError that names what SMASH needs."""
    import copy
    space = copy.copy(get_space("nb201-small"))
    space.name = "my-cell"
    with pytest.raises(ConfigError, match="memory-bank space"):
        Smash(space, digits, progress=False, device="cpu", **TINY).run()
