"""Random search with weight sharing against liamcli/randomNAS_release (on liamcli/darts):
zero gradients off the path (weight decay and momentum still move those weights), a sampler that
draws `none` on the DARTS space, the DARTS space of 8 cells by default, and candidates scored on
the next batches of one shuffled validation stream."""
import numpy as np
import pytest
import torch
from scipy import stats

from nasbench import data as datasets
from nasbench.methods import ConfigError, make_config
from nasbench.methods.random_ws import RandomSearchWS, RandomWSConfig, sample_arch
from nasbench.spaces import get_space

TINY = dict(epochs=1, C=4, layers=1, batch_size=32, n_candidates=4, eval_batches=1, n_top=2)


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", n_train=256, seed=0)


def one_step(digits, **kw):
    """(parameters before, after) one weight step, and the sampled path."""
    search = RandomSearchWS("nb201-small", digits, progress=False, device="cpu", **{**TINY, **kw})
    search._seed_everything()
    search.setup()
    before = {n: p.detach().clone() for n, p in search.supernet.named_parameters()}
    paths = []
    search.callbacks.append(lambda e: paths.append(e["choices"]) if e["type"] == "sample" else None)
    search.config.steps = 1
    search.train_epoch(0)
    after = dict(search.supernet.named_parameters())
    return before, after, paths[0]


def off_path(name, path):
    if ".candidates." not in name:
        return False
    edge = int(name.split(".edges.")[1].split(".")[0])
    return int(name.split(".candidates.")[1].split(".")[0]) != path[edge]


def test_official_mode_decays_the_weights_off_the_path(digits):
    """Zero gradient + weight decay, first SGD step (momentum buffer = the gradient):
    w <- w - lr * wd * w, computed here by hand."""
    lr, wd = 0.1, 0.01
    before, after, path = one_step(digits, lr=lr, weight_decay=wd)
    names = [n for n in before if off_path(n, path)]
    assert names, "some candidates are off the path"
    for n in names:
        torch.testing.assert_close(after[n].detach(), before[n] * (1 - lr * wd), rtol=0, atol=1e-7)
    assert make_config(RandomWSConfig, "paper").unsampled == "zero"


def test_none_mode_leaves_the_weights_off_the_path_alone(digits):
    before, after, path = one_step(digits, lr=0.1, weight_decay=0.01, unsampled="none")
    for n in before:
        if off_path(n, path):
            assert torch.equal(after[n], before[n]), n


def test_the_official_sampler_draws_none_on_the_darts_space():
    """Per node 2 distinct inputs, each op uniform over all 8 ops (none included)."""
    space = get_space("darts")
    rng = np.random.default_rng(0)
    ops = []
    for _ in range(300):
        choices = sample_arch(space, rng)
        for _, _, incoming in space.nodes():
            assert sum(choices[d] != space.none for d in incoming) <= 2
        # the op of every gene: count how often each op fills a chosen input (none hides one)
        ops += [c for c in choices if c != space.none]
    n_genes = 300 * 2 * 2 * space.steps
    n_none = n_genes - len(ops)
    counts = np.bincount(ops, minlength=8)
    counts[space.none] = n_none
    assert stats.chisquare(counts).pvalue > 1e-4, counts
    assert abs(n_none / n_genes - 1 / 8) < 0.02
    # without sample_none, DARTS genotypes only: exactly 2 non-none inputs per node
    assert all(space.is_genotype(sample_arch(space, rng, none=False)) for _ in range(50))


def test_default_space_is_the_darts_space_with_8_cells():
    config = make_config(RandomWSConfig, "paper")
    assert RandomSearchWS.default_space == "darts" and config.layers == 8 and config.C == 16


def test_candidates_are_scored_on_the_next_batches_of_a_shuffled_stream(digits):
    """Candidate k gets batches k*eval_batches.. of one stream (not the same first batches for
    all), the top n_top then one pass' worth each, continuing the same stream."""
    search = RandomSearchWS(None, digits, progress=False, device="cpu", **{**TINY, "eval_batches": 2})
    assert search.space.name == "darts"
    served = []
    stream = search.valid_stream

    def counted():
        for i, batch in enumerate(stream()):
            served.append(batch[1])
            yield batch

    search.valid_stream = counted
    result = search.run()
    assert result.status == "completed"
    one_pass = -(-len(digits.valid) // 32)
    assert len(served) == 4 * 2 + 2 * one_pass
    firsts = [served[k * 2] for k in range(4)]
    assert not all(torch.equal(firsts[0], f) for f in firsts[1:]), "candidates see other batches"
    # reshuffled each pass: the second pass is a new permutation of the split's labels
    n = -(-len(digits.valid) // 32)
    a, b = torch.cat(served[:n]), torch.cat(served[n:2 * n])
    assert torch.equal(a.sort().values, b.sort().values) and not torch.equal(a, b)


def test_bad_unsampled_mode_is_named():
    with pytest.raises(ConfigError, match="unsampled must be"):
        make_config(RandomWSConfig, "cpu", unsampled="sometimes")


def test_a_candidates_score_is_its_accuracy_on_the_batches_it_reads(digits):
    """score() is the fraction of correct predictions (argmax of the supernet's logits for that
    path, in eval mode) over the next n batches of the stream, counted here by hand; a mean loss
    in its place would rank the worst candidates first."""
    search = RandomSearchWS("nb201-small", digits, progress=False, device="cpu", **TINY)
    search._seed_everything()
    search.setup()
    x, y = digits.valid.x[:64], digits.valid.y[:64]
    batches = [(x[:32], y[:32]), (x[32:], y[32:])]
    choices = get_space("nb201-small").sample(np.random.default_rng(0))
    search.supernet.eval()
    with torch.no_grad():
        right = sum(int((search.supernet(bx, choices=choices).argmax(1) == by).sum()) for bx, by in batches)
    assert search.score(choices, 2, iter(batches)) == pytest.approx(right / 64)


def test_the_search_samples_with_the_configured_sampler(digits):
    """What the loop and the ranking draw (`search.sample()`) on the DARTS space: by default the
    official sampler, whose genes are `none` about 1 time in 8 and whose cells are then not
    always genotypes; with sample_none=False only genotypes (2 inputs per node, no `none`)."""
    official = RandomSearchWS("darts", digits, progress=False, device="cpu", **TINY)
    official._seed_everything()
    space = official.space
    draws = [official.sample() for _ in range(200)]
    chosen = 200 * 2 * 2 * space.steps                  # genes: 2 per node, normal and reduce
    n_none = chosen - sum(c != space.none for d in draws for c in d)
    assert 0.08 < n_none / chosen < 0.17
    assert not all(space.is_genotype(d) for d in draws)
    plain = RandomSearchWS("darts", digits, progress=False, device="cpu", sample_none=False, **TINY)
    plain._seed_everything()
    assert all(space.is_genotype(plain.sample()) for _ in range(50))


def forced_paths(search, paths):
    """Make the training loop take `paths` in turn."""
    queue = list(paths)
    search.sample = lambda: queue.pop(0)


@pytest.mark.parametrize("unsampled", ["none", "zero"])
def test_a_path_dropped_in_the_second_step_is_moved_only_in_the_official_mode(digits, unsampled):
    """Two steps, path A then path B: an op on A and not on B got a gradient in step 1. With
    unsampled="none" step 2 must leave it bit-identical (no stale zero gradient for momentum and
    weight decay to act on); with "zero" (official) momentum and decay move it, by hand (torch's
    SGD, buffer b1 = g1 + wd * w0 after the first step): w2 = w1 - lr * (momentum * b1 + wd * w1)."""
    lr, wd, mom = 0.1, 0.01, 0.9
    search = RandomSearchWS("nb201-small", digits, progress=False, device="cpu", unsampled=unsampled,
                            lr=lr, weight_decay=wd, momentum=mom, grad_clip=1e9, **{**TINY, "epochs": 2})
    search._seed_everything()
    search.setup()
    a, b = (2, 2, 2), (3, 3, 3)                         # every edge: a 1x1 conv, then a 3x3 one
    forced_paths(search, [a, b])
    w0 = {n: p.detach().clone() for n, p in search.supernet.named_parameters()}
    search.config.steps = 1
    search.train_epoch(0)
    w1 = {n: p.detach().clone() for n, p in search.supernet.named_parameters()}
    g1 = {n: p.grad.detach().clone() for n, p in search.supernet.named_parameters() if p.grad is not None}
    lr2 = search.optimizer.param_groups[0]["lr"]
    search.config.steps = 2
    search.train_epoch(1)
    names = [n for n in w1 if off_path(n, b) and not off_path(n, a) and g1[n].abs().sum() > 0]
    assert names, "ops that ran in step 1 only"
    for n in names:
        after = search.supernet.get_parameter(n).detach()
        if unsampled == "none":
            assert torch.equal(after, w1[n]), n
        else:
            torch.testing.assert_close(after, w1[n] - lr2 * (mom * (g1[n] + wd * w0[n]) + wd * w1[n]), rtol=1e-5, atol=1e-7)


def test_the_learning_rate_anneals_by_cosine_to_lr_min(digits):
    """CosineAnnealingLR(T_max=epochs, eta_min=lr_min), as DARTS' weight schedule: epoch e trains
    at lr_min + (lr - lr_min)(1 + cos(pi e / E)) / 2 (closed form here), ending near lr_min, not 0."""
    lr, lr_min, E = 0.1, 0.04, 4
    search = RandomSearchWS("nb201-small", digits, progress=False, device="cpu", lr=lr, lr_min=lr_min,
                            **{**TINY, "epochs": E})
    events = search.run().events
    by_epoch = {e["epoch"]: e["lr"] for e in events if e["type"] == "step"}
    expected = {e: lr_min + (lr - lr_min) * (1 + np.cos(np.pi * e / E)) / 2 for e in range(E)}
    assert by_epoch == pytest.approx(expected)


def test_candidates_are_scored_with_each_batchs_own_bn_statistics(digits):
    """NAS-Bench-201's weight-sharing baselines: BN keeps no running averages, so a path is never
    scored with statistics pooled over other paths. After training, the supernet in eval mode
    gives the same logits as a copy in train mode (the batch's own statistics)."""
    import copy
    search = RandomSearchWS("nb201-small", digits, progress=False, device="cpu", **{**TINY, "epochs": 2})
    search._seed_everything()
    search.setup()
    search.train_epoch(0)
    choices = get_space("nb201-small").sample(np.random.default_rng(1))
    x = digits.valid.x[:32]
    reference = copy.deepcopy(search.supernet).train()
    search.supernet.eval()
    with torch.no_grad():
        torch.testing.assert_close(search.supernet(x, choices=choices), reference(x, choices=choices))


def test_the_validation_stream_draws_from_the_runs_own_generator(digits):
    """Same seed, same candidates and scores, whatever else used torch's global RNG in between."""
    evals = []
    for reseed in (1, 2):
        search = RandomSearchWS("nb201-small", digits, progress=False, device="cpu", seed=0, **TINY)
        finish = search.finish

        def reseeded(finish=finish, reseed=reseed):
            torch.manual_seed(reseed)
            return finish()
        search.finish = reseeded
        evals.append([(e["choices"], e["score"]) for e in search.run().events if e["type"] == "eval"])
    assert evals[0] and evals[0] == evals[1]


def test_ties_go_to_the_earlier_better_candidate_and_the_best_score_is_logged(digits):
    """Scores stubbed: partial scores A .5, B .7, C .7, D .2; the top two (B, C) both score .9
    on the full pass. The best so far (what an interrupted run returns) stays B when C only ties
    it; the winner is B, the first of the best (not the largest tuple); `best_valid_acc_shared`
    is .9."""
    search = RandomSearchWS("nb201-small", digits, progress=False, device="cpu",
                            **{**TINY, "n_candidates": 4, "n_top": 2})
    A, B, C, D = (1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4)
    partial, best_during_final = {A: 0.5, B: 0.7, C: 0.7, D: 0.2}, []

    def finish():
        draws = iter([A, B, C, D])
        search.sample = lambda: next(draws)

        def score(choices, n_batches, stream):
            if n_batches == search.config.eval_batches:
                return partial[tuple(choices)]
            best_during_final.append(tuple(search.best))
            return 0.9
        search.score = score
        return type(search).finish(search)
    search.finish = finish
    events = search.run().events
    assert best_during_final and set(best_during_final) == {B}
    assert [tuple(e["choices"]) for e in events if e["type"] == "eval" and e["metric"] == "valid_acc_shared"] == [B, C]
    genotype = [e for e in events if e["type"] == "genotype"][-1]
    assert tuple(genotype["choices"]) == B
    assert [e["value"] for e in events if e["type"] == "metric" and e["name"] == "best_valid_acc_shared"] == [0.9]
