"""One-Shot (Bender et al. 2018): the path-dropout law, ghost batches, L2 on active paths, the
choice-block space and network, and the method end to end."""
import numpy as np
import pytest
import torch
from scipy import stats

from nasbench.evaluate.kl import symmetric_kl
from nasbench.methods.oneshot import (OneShot, drop_mask, incoming_paths, l2_active, never_drop_all,
                                      path_parameters, path_weights)
from nasbench.spaces import InvalidArchitecture, get_space
from nasbench.spaces.oneshot import OneShotSpace

NET = dict(C=4, layers=3, num_classes=10, in_channels=1)


# -- the path-dropout law -------------------------------------------------------------------
@pytest.mark.parametrize("k,r", [(2, 0.5), (4, 0.1), (7, 0.3)])
def test_each_path_dropped_with_r_to_the_one_over_k(k, r):
    rng = np.random.default_rng(k)
    n = 4000
    masks = np.array([drop_mask(k, r, rng) for _ in range(n)])          # (n, k), True = kept
    for path in range(k):
        dropped = int((~masks[:, path]).sum())
        assert stats.binomtest(dropped, n, r ** (1 / k)).pvalue > 1e-3
    all_dropped = int((~masks).all(axis=1).sum())                        # before never-drop-all
    assert stats.binomtest(all_dropped, n, r).pvalue > 1e-3


def test_never_drop_all_keeps_exactly_one_and_leaves_other_masks_alone():
    rng = np.random.default_rng(0)
    kept_one = [never_drop_all(np.zeros(5, bool), rng) for _ in range(500)]
    assert all(m.sum() == 1 for m in kept_one)
    assert len({int(np.argmax(m)) for m in kept_one}) == 5               # any of them, at random
    mask = np.array([True, False, True])
    assert (never_drop_all(mask, rng) == mask).all()


def test_no_dropout_at_rate_zero():
    rng = np.random.default_rng(0)
    assert all(drop_mask(6, 0.0, rng).all() for _ in range(100))


def test_nodes_and_their_incoming_paths():
    nb = get_space("nb201-small")             # node 1 <- edge 0; node 2 <- edges 1, 2; 4 real ops each
    nodes = incoming_paths(nb)
    assert [len(n) for n in nodes] == [4, 8]
    assert all(nb.options[d][o] != "none" for n in nodes for d, o in n)
    bender = get_space("oneshot")             # per block: its inputs (2 + b), then its 7 ops
    assert [len(n) for n in incoming_paths(bender)] == [2, 7, 3, 7, 4, 7, 5, 7]


# -- training: ghost batches, L2 on active paths ----------------------------------------------
def _search(space="nb201-small", **overrides):
    kw = dict(seed=0, progress=False, n_train=200, C=4, layers=3, steps=2, n_candidates=4,
              kl_examples=16, eval_batches=1)
    kw.update(overrides)
    return OneShot(space, "digits", **kw)


def test_ghost_batches_get_different_patterns_and_their_own_batch():
    search = _search(steps=1, drop_rate=0.6)
    search.drop_rate = lambda: 0.6                 # mid-ramp rate from the first step
    seen = []
    original_setup = search.setup

    def setup():
        original_setup()
        forward = search.supernet.forward

        def spy(x, choices=None, weights=None):
            if search.supernet.training:
                seen.append((x.shape[0], tuple(tuple(w.tolist()) for w in weights)))
            return forward(x, choices=choices, weights=weights)
        search.supernet.forward = spy
    search.setup = setup
    search.run()
    assert [size for size, _ in seen] == [32, 32]  # batch 64 -> two ghost batches of 32
    assert seen[0][1] != seen[1][1]                # each with its own dropout pattern


def test_l2_gradient_only_on_active_paths():
    space = get_space("nb201-small")
    net = space.supernet(**NET)
    owned = path_parameters(net)
    owned_ids = {id(p) for ps in owned.values() for p in ps}
    shared = [p for p in net.parameters() if id(p) not in owned_ids]
    kept = [(0, 3), (2, 1), (1, 2)]                # conv3x3 on 0->1, skip on 1->2, conv1x1 on 0->2
    wd = 0.01
    l2_active(shared, owned, kept, wd).backward()
    for path, params in owned.items():
        for p in params:
            if path in kept:                       # d/dw (wd/2 ||w||^2) = wd * w
                torch.testing.assert_close(p.grad, wd * p.detach())
            else:
                assert p.grad is None
    for p in shared:
        torch.testing.assert_close(p.grad, wd * p.detach())


def test_dropped_path_weights_unchanged_by_a_training_step():
    """A path dropped in every ghost batch of a step: no loss gradient and no decay, so SGD
    leaves its weights exactly as they were; an active conv path moves."""
    search = _search(steps=1, weight_decay=0.1)
    kept = [(0, 3), (1, 3), (2, 2)]                # conv3x3, conv3x3, conv1x1; never conv1x1 on 0->1
    search.sample_paths = lambda r: kept
    before = {}
    original_setup = search.setup

    def setup():
        original_setup()
        for path in [(0, 2), (0, 3)]:
            before[path] = [p.detach().clone() for p in search.owned[path]]
    search.setup = setup
    search.run()
    for p, old in zip(search.owned[(0, 2)], before[(0, 2)]):
        assert torch.equal(p.detach(), old)
    assert any(not torch.equal(p.detach(), old) for p, old in zip(search.owned[(0, 3)], before[(0, 3)]))


def test_kl_of_identical_predictions_is_zero_on_the_supernet():
    space = get_space("nb201-small")
    net = space.supernet(**NET, track_running_stats=False).eval()
    x = torch.randn(8, 1, 8, 8)
    every = [p for n in incoming_paths(space) for p in n]
    with torch.no_grad():
        full = net(x, weights=path_weights(space, every))
        assert float(symmetric_kl(full, net(x, weights=path_weights(space, every)))) == 0.0
        assert float(symmetric_kl(full, net(x, choices=(3, 3, 1)))) > 0.0


# -- the choice-block space -------------------------------------------------------------------
def test_space_rules_and_size_by_brute_force():
    space = OneShotSpace(blocks=2, ops=["skip_connect", "max_pool_3x3", "sep_conv_3x3"])
    # brute force over all 2^(2+3+3+3) on/off vectors: a block needs >= 1 input and 1-2 ops
    valid = []
    for bits in range(2 ** len(space.decisions)):
        c = tuple((bits >> i) & 1 for i in range(len(space.decisions)))
        try:
            valid.append(space.validate(c))
        except InvalidArchitecture:
            pass
    assert space.size == len(valid) == 3 * 6 * 7 * 6
    assert sorted(space.enumerate()) == sorted(valid)
    rng = np.random.default_rng(0)
    counts = {}
    for _ in range(6000):
        c = space.sample(rng)
        counts[c] = counts.get(c, 0) + 1
    assert len(counts) > 600                       # uniform over 756: most of them show up
    for _ in range(200):
        space.validate(space.mutate(space.sample(rng), rng, 0.5))


def test_rules_are_enforced():
    space = get_space("oneshot")
    c = list(space.sample(np.random.default_rng(0)))
    no_input = list(c)
    for d in space.input_decisions[1]:
        no_input[d] = 0
    with pytest.raises(InvalidArchitecture, match="no input"):
        space.validate(no_input)
    three_ops = list(c)
    for d in space.op_decisions[0][:3]:
        three_ops[d] = 1
    with pytest.raises(InvalidArchitecture, match="ops"):
        space.validate(three_ops)
    arch = "b0=c-1:sep_conv_3x3|b1=c-2+b0:skip_connect+max_pool_3x3|b2=b1:avg_pool_3x3|b3=c-1+b2:conv_7x1_1x7"
    assert space.encode(space.decode(arch)) == arch


def test_supernet_path_equals_stand_alone_network_with_the_same_weights():
    """The one-shot model restricted to an architecture's paths computes that architecture: copy
    its weights into the stand-alone network (built independently) and compare outputs."""
    space = OneShotSpace(blocks=3)
    rng = np.random.default_rng(1)
    torch.manual_seed(0)
    supernet = space.supernet(**{**NET, "layers": 2})
    for _ in range(2):
        choices = space.sample(rng)
        net = space.build(choices, **{**NET, "layers": 2})
        state = {k: v for k, v in supernet.state_dict().items()
                 if ".project." not in k and ".ops." not in k}
        cells = [m for m in net.layers if hasattr(m, "blocks")]
        super_cells = [m for m in supernet.layers if hasattr(m, "blocks")]
        for cell, super_cell in zip(cells, super_cells):
            for block, super_block in zip(cell.blocks, super_cell.blocks):
                for conv, d in zip(block.project, block.input_decisions):
                    conv.load_state_dict(super_block.project[super_block.input_decisions.index(d)].state_dict())
                for op, d in zip(block.ops, block.op_decisions):
                    op.load_state_dict(super_block.ops[super_block.op_decisions.index(d)].state_dict())
        missing = net.load_state_dict(state, strict=False)
        assert not missing.unexpected_keys
        x = torch.randn(6, 1, 8, 8)
        net.train(), supernet.train()              # both normalise with the batch's statistics
        with torch.no_grad():
            torch.testing.assert_close(net(x), supernet(x, choices=choices), rtol=1e-4, atol=1e-5)
            onehot = [torch.tensor([1.0 - c, float(c)]) for c in choices]
            torch.testing.assert_close(supernet(x, weights=onehot), supernet(x, choices=choices))


# -- the method end to end --------------------------------------------------------------------
@pytest.mark.parametrize("space", ["nb201-small", "oneshot:blocks=1"])
def test_runs_and_scores_candidates_with_kl(space):
    search = _search(space, steps=3, n_candidates=5, layers=1)
    result = search.run()
    assert result.status == "completed" and result.best is not None
    evals = [e for e in result.events if e["type"] == "eval"]
    assert len(evals) == 5 and len({e["arch"] for e in evals}) == 5
    # each logged KL and accuracy recomputed here: scipy's relative entropy of the softmaxes of
    # the candidate and the full model on the first kl_examples training images; plain counting
    # of correct predictions on the first validation batch (eval_batches=1)
    from scipy.special import rel_entr, softmax
    net, c = search.supernet.eval(), search.config
    x = search.data.train.x[: c.kl_examples]
    xv, yv = search.data.valid.x[: c.batch_size], search.data.valid.y[: c.batch_size]
    with torch.no_grad():
        full = softmax(net(x, weights=search.weights_of([p for n in search.nodes for p in n])).double().numpy(), -1)
        for e in evals:
            mine = softmax(net(x, choices=e["choices"]).double().numpy(), -1)
            kl = (rel_entr(mine, full).sum(-1) + rel_entr(full, mine).sum(-1)).mean()
            assert e["kl"] == pytest.approx(kl, rel=1e-6, abs=1e-12)
            correct = (net(xv, choices=e["choices"]).argmax(1) == yv).float().mean().item()
            assert e["score"] == pytest.approx(correct)
    rates = [e["value"] for e in result.events if e["type"] == "metric" and e["name"] == "drop_rate"]
    assert rates and rates[-1] <= 0.1 + 1e-9


def test_drop_rate_ramps_linearly_from_zero_to_r():
    search = _search(steps=11, drop_rate=0.4)
    search.steps_per_epoch, search.step = 100, 0
    search.config.epochs = 1
    assert search.drop_rate() == 0.0
    search.step = 5
    assert search.drop_rate() == pytest.approx(0.2)
    search.step = 10
    assert search.drop_rate() == pytest.approx(0.4)


def test_other_spaces_are_refused_with_a_clear_error():
    from nasbench.methods import ConfigError
    with pytest.raises(ConfigError, match="oneshot runs on"):
        incoming_paths(get_space("chain-small"))


def test_cli_run_on_the_benchmark_task_gets_truth_and_a_valid_log(tmp_path):
    from nasbench.cli import main
    from nasbench.events import read_events, validate
    out = tmp_path / "os"
    code = main(["run", "oneshot", "--space", "nb201-small", "--dataset", "digits-bench", "--steps", "2",
                 "--set", "n_candidates=4", "--set", "eval_batches=1", "--set", "C=4",
                 "--out", str(out), "--quiet"])
    assert code == 0
    events = read_events(out / "events.jsonl")
    assert validate(events) == []
    evals = [e for e in events if e["type"] == "eval"]
    assert len(evals) == 4 and all("truth" in e and "kl" in e for e in evals)
    metrics = {e["name"]: e["value"] for e in events if e["type"] == "metric"}
    truth = [e["truth"] for e in evals]
    for name, score in (("kendall_tau_acc", [e["score"] for e in evals]),
                        ("kendall_tau_kl", [-e["kl"] for e in evals])):
        expected = stats.kendalltau(score, truth).statistic
        assert metrics[name] == pytest.approx(0.0 if np.isnan(expected) else expected, abs=1e-12)
    assert main(["run", "oneshot", "--set", "drop_rate=1.5", "--out", str(tmp_path / "bad")]) == 2


def test_a_pattern_keeps_each_path_of_every_node_with_its_exact_probability():
    """search.sample_paths (the pattern a ghost batch trains): on every node at least one path,
    and each path kept with probability (1 - p) + p^k / k, p = r^(1/k) (kept outright, or the
    one kept at random when all k were dropped)."""
    search = _search()
    search.setup()
    search.rng = np.random.default_rng(0)     # the run's generator, set by run() before training
    r, n = 0.5, 3000
    patterns = [set(search.sample_paths(r)) for _ in range(n)]
    for node in search.nodes:
        k = len(node)
        assert all(any(p in kept for p in node) for kept in patterns)
        want = (1 - r ** (1 / k)) + r / k
        for path in node:
            assert stats.binomtest(sum(path in kept for kept in patterns), n, want).pvalue > 1e-4, (node, path)


def test_a_step_applies_the_mean_of_its_ghost_batches_gradients():
    """One optimiser step per batch, on the average of the gradients each ghost batch alone
    gives (worked out here ghost by ghost on a copy of the supernet at the step)."""
    import copy
    search = _search(steps=1, weight_decay=0.0, drop_rate=0.5)
    search.drop_rate = lambda: 0.5
    ghosts, checked = [], []
    original_setup = search.setup

    def setup():
        original_setup()
        labels = {img.numpy().tobytes(): int(y) for img, y in zip(search.data.train.x, search.data.train.y)}
        forward = search.supernet.forward

        def spy(x, choices=None, weights=None):
            if search.supernet.training and torch.is_grad_enabled():
                ghosts.append((x.detach().clone(), torch.tensor([labels[i.numpy().tobytes()] for i in x]),
                               [w.detach().clone() for w in weights]))
            return forward(x, choices=choices, weights=weights)
        search.supernet.forward = spy
        step = search.optimizer.step

        def check_then_step(*a, **kw):
            got = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
                   for p in search.supernet.parameters()]
            twin = copy.deepcopy(search.supernet)
            twin.forward = type(twin).forward.__get__(twin)
            per_ghost = []
            for x, y, w in ghosts:
                twin.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(twin(x, weights=w), y).backward()
                per_ghost.append([p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
                                  for p in twin.parameters()])
            for g, *each in zip(got, *per_ghost):
                torch.testing.assert_close(g, sum(each) / len(each), rtol=1e-4, atol=1e-6)
            checked.append(len(ghosts))
            return step(*a, **kw)
        search.optimizer.step = check_then_step
    search.setup = setup
    search.run()
    assert checked == [2]          # batch 64 -> two ghost batches, one step


def test_path_weights_switch_on_exactly_the_kept_paths():
    space = get_space("nb201-small")
    w = path_weights(space, [(0, 3), (2, 1)])      # nor_conv_3x3 on edge 0, skip_connect on edge 2
    assert [t.tolist() for t in w] == [[0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 1, 0, 0, 0]]


def test_scoring_uses_the_batchs_own_statistics():
    """Bender et al. evaluate each candidate with batch-norm statistics of the batch itself (no
    running averages over the other paths): the supernet gives the same outputs in eval mode as
    in train mode."""
    search = _search()
    search.setup()
    x = search.data.valid.x[:16]
    choices = get_space("nb201-small").sample(np.random.default_rng(0))
    with torch.no_grad():
        search.supernet.train()
        train = search.supernet(x, choices=choices)
        search.supernet(x * 3 + 1, choices=choices)          # would move running averages, if kept
        search.supernet.eval()
        torch.testing.assert_close(search.supernet(x, choices=choices), train)


def test_candidates_in_a_space_too_large_to_list_are_distinct_random_architectures():
    search = _search("oneshot", n_candidates=6, layers=1)
    search.rng = np.random.default_rng(0)
    got = search.candidates()
    assert len(got) == len(set(got)) == 6
    for arch in got:
        search.space.validate(arch)


def test_on_the_oneshot_space_a_path_dropped_in_the_second_step_is_not_moved():
    """Bender's choice blocks skip a dropped path, so its weights get no gradient: a path kept in
    step 1 and dropped in step 2 is bit-identical across step 2 (neither the L2 term, which acts
    on the kept paths only, nor Nesterov momentum from step 1 may move it). A kept path moves."""
    search = _search("oneshot", steps=2, layers=1, weight_decay=0.1, n_train=256)
    search._seed_everything()
    search.setup()
    every = [p for paths in search.nodes for p in paths]
    dropped = next(p for p in every if search.owned.get(p))
    patterns = iter([every] * 2 + [[p for p in every if p != dropped]] * 2)   # 2 ghost batches a step
    search.sample_paths = lambda r: next(patterns)
    snapshots = []
    search.optimizer.register_step_post_hook(
        lambda *_: snapshots.append({path: [p.detach().clone() for p in ps] for path, ps in search.owned.items()}))
    search.train_epoch(0)
    assert search.step == 2 and len(snapshots) == 2
    first, second = snapshots
    assert all(torch.equal(a, b) for a, b in zip(first[dropped], second[dropped]))
    assert any(not torch.equal(a, b) for path in every if path != dropped
               for a, b in zip(first.get(path, []), second.get(path, []))), "the kept paths moved"


@pytest.mark.parametrize("T", [2, 3, 7])
def test_drop_rate_reaches_r_at_the_last_step_of_any_run(T):
    """r_t = r * t / (T - 1), by hand: 0 at the first step, r at the last, for short runs too."""
    search = _search(steps=T, drop_rate=0.4)
    search.config.epochs = 1
    search.steps_per_epoch = T
    assert search.total_steps == T
    for t in range(T):
        search.step = t
        assert search.drop_rate() == pytest.approx(0.4 * t / (T - 1))
