"""Evolutionary search (SPOS) against brute force on cheap synthetic objectives, its budget, and
scoring with BN recalibration."""
import numpy as np
import pytest
import torch

from nasbench import data as datasets
from nasbench.evaluate import count_flops
from nasbench.evaluate.evolution import crossover, evolve, shared_weight_score
from nasbench.methods import get_method
from nasbench.spaces import Space, get_space


def synthetic(space, seed):
    """An additive objective with pairwise interactions and an additive cost, both random."""
    rng = np.random.default_rng(seed)
    L, k = len(space.options), len(space.options[0])
    unary, pair = rng.normal(size=(L, k)), 0.3 * rng.normal(size=(L - 1, k, k))
    costs = rng.uniform(1, 10, size=(L, k))
    score = lambda c: float(sum(unary[d, x] for d, x in enumerate(c))
                            + sum(pair[d, c[d], c[d + 1]] for d in range(L - 1)))
    cost = lambda c: float(sum(costs[d, x] for d, x in enumerate(c)))
    return score, cost


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evolution_finds_the_brute_force_optimum_within_the_budget(seed):
    space = Space([f"d{i}" for i in range(6)], [list("abcd")] * 6)  # 4096 architectures
    score, cost = synthetic(space, seed)
    budget = float(np.median([cost(c) for c in space.enumerate()]))
    feasible = sorted((score(c) for c in space.enumerate() if cost(c) <= budget), reverse=True)
    members_seen = []
    result = evolve(space, score, np.random.default_rng(seed), cost=cost, budget=budget,
                    on_generation=lambda g, members: members_seen.extend(members))
    assert len(result.history) <= 50 * 20 and len(feasible) > 1000
    assert result.best_score >= feasible[2] - 1e-9      # the optimum or one of the next two
    assert result.best_score == pytest.approx(score(result.best))
    assert all(cost(m.choices) <= budget for m in result.history)   # never over budget
    assert members_seen == result.history
    assert len({m.choices for m in result.history}) == len(result.history)  # never scored twice


def test_evolution_beats_random_sampling_with_the_same_evaluations():
    space = Space([f"d{i}" for i in range(8)], [list("abcd")] * 8)  # 65536 architectures
    wins = 0
    for seed in range(5):
        score, _ = synthetic(space, seed)
        result = evolve(space, score, np.random.default_rng(seed), population=20, generations=10,
                        parents=5, mutations=10, crossovers=10)
        rng = np.random.default_rng(100 + seed)
        random_best = max(score(space.sample(rng)) for _ in range(len(result.history)))
        wins += result.best_score > random_best
    assert wins >= 4


def test_evolution_stops_when_a_small_space_runs_out():
    space = get_space("chain-small")
    score, _ = synthetic(space, 0)
    result = evolve(space, score, np.random.default_rng(0))   # 50 x 20 > 125
    assert sorted(m.choices for m in result.history) == list(space.enumerate())
    assert result.best_score == max(score(c) for c in space.enumerate())


def test_uniform_crossover_takes_each_decision_from_either_parent():
    rng = np.random.default_rng(0)
    a, b = (0,) * 10, (1,) * 10
    children = np.array([crossover(a, b, rng) for _ in range(2000)])
    assert set(np.unique(children)) == {0, 1}
    assert np.allclose(children.mean(0), 0.5, atol=0.05)


def test_recalibration_sets_bn_statistics_to_the_paths_own():
    space = get_space("chain-small")
    torch.manual_seed(0)
    net = space.supernet(C=4, num_classes=3, in_channels=1)
    path = (1, 0, 3)
    bn = net.layers[0].candidates[1].op[1]            # BN after the expansion conv of layer 0
    recal = [(torch.randn(8, 1, 8, 8) * 3 + 1, torch.zeros(8, dtype=torch.long)) for _ in range(4)]
    valid = [(torch.randn(8, 1, 8, 8), torch.zeros(8, dtype=torch.long))]
    seen = []
    hook = bn.register_forward_hook(lambda m, i, o: seen.append(i[0].detach()))
    net.train()
    for x, _ in recal:  # what recalibration will see, computed with the same weights
        net(x, choices=path)
    hook.remove()
    by_hand = torch.cat(seen).mean(dim=(0, 2, 3))
    shared_weight_score(net, path, None, valid)       # no recalibration: statistics unchanged
    before = bn.running_mean.clone()
    shared_weight_score(net, path, None, valid)
    assert torch.equal(bn.running_mean, before)
    shared_weight_score(net, path, recal, valid)
    torch.testing.assert_close(bn.running_mean, by_hand, rtol=1e-4, atol=1e-5)


def test_spos_search_respects_the_flops_budget_and_logs_generations():
    space = get_space("chain-small")
    all_flops = {c: count_flops(space.build(c, C=4, in_channels=1), (1, 8, 8)) for c in space.enumerate()}
    lo, hi = min(all_flops.values()), max(all_flops.values())
    run = get_method("spos")(space, datasets.load("digits", n_train=200), steps=2, C=4, batch_size=16,
                             population=8, generations=3, parents=3, mutations=3, crossovers=3,
                             recal_batches=1, flops_budget=0.3, progress=False).run()
    evals = [e for e in run.events if e["type"] == "eval"]
    assert {e["generation"] for e in evals} == {0, 1, 2}
    for e in evals:
        choices = tuple(e["choices"])
        assert e["flops"] == all_flops[choices] <= lo + 0.3 * (hi - lo)
    best = max(evals, key=lambda e: e["score"])
    assert run.best_choices == best["choices"]
