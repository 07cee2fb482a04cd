"""Exercises of notebooks/09_fairnas.ipynb: the strict-fair sampler, and Kendall's tau."""
from __future__ import annotations

from collections import Counter

import numpy as np
from scipy import stats

from nasbench.evaluate.ranking import kendall_tau
from nasbench.methods.fairnas import strict_fair_paths


def fair_paths_reference(space, rng):
    return strict_fair_paths(space, rng)


def check_fair_paths(fair_paths) -> None:
    """m valid paths per step covering every (layer, choice) exactly once; random permutations
    (not a fixed schedule), drawn independently per layer."""
    from nasbench.spaces import get_space
    space = get_space("chain-mbv2:stages=2,per_stage=2")
    m, L = len(space.options[0]), len(space.decisions)
    rng = np.random.default_rng(0)
    first, same = Counter(), 0
    for step in range(600):
        paths = [space.validate(p) for p in fair_paths(space, rng)]
        assert len(paths) == m, f"a step has m={m} paths, you returned {len(paths)}"
        for d in range(L):
            got = sorted(p[d] for p in paths)
            assert got == list(range(m)), f"step {step}, layer {d}: choices {got} are not each used once"
        first[paths[0][0]] += 1
        same += paths[0][0] == paths[0][1]
    counts = [first[k] for k in range(m)]
    assert stats.chisquare(counts).pvalue > 1e-4, f"the first path's choices are not uniform: {counts}"
    assert abs(same / 600 - 1 / m) < 0.08, "layers share one permutation: draw one per layer"


def kendall_tau_reference(a, b) -> float:
    return kendall_tau(a, b)


def check_kendall_tau(tau) -> None:
    """Hand-worked cases (with ties: tau-b, not tau-a), then random rankings with and without
    ties against scipy.stats.kendalltau."""
    first = tau([1, 2, 3, 4], [10, 20, 30, 40])
    assert first is not None, "return a number, not None"
    assert abs(float(first) - 1) < 1e-9, "the same order must give 1"
    assert abs(tau([1, 2, 3, 4], [4, 3, 2, 1]) + 1) < 1e-9, "reversed order must give -1"
    # pairs of (1,2,3) vs (1,3,2): (1,2) and (1,3) concordant, (2,3) discordant -> (2-1)/3
    assert abs(tau([1, 2, 3], [1, 3, 2]) - 1 / 3) < 1e-9, "tau([1,2,3], [1,3,2]) is 1/3"
    # ties: x=(1,1,2,3), y=(1,2,2,3): 4 concordant pairs, 0 discordant, one tie on each side;
    # tau-b = 4 / sqrt((6-1)(6-1)) = 0.8 (tau-a would say 4/6)
    assert abs(tau([1, 1, 2, 3], [1, 2, 2, 3]) - 0.8) < 1e-9, \
        "with ties, divide by sqrt((n0 - ties in x)(n0 - ties in y)) (tau-b): tau([1,1,2,3], [1,2,2,3]) is 0.8"
    rng = np.random.default_rng(0)
    for n in (5, 12, 30):
        for a, b, kind in ((rng.permutation(n), rng.permutation(n), "no ties"),
                           (rng.integers(0, 4, n), rng.integers(0, 4, n), "ties")):
            expected = stats.kendalltau(a, b).statistic
            got = float(tau(a, b))
            assert abs(got - expected) < 1e-9, f"n={n} ({kind}): you got {got:.4f}, scipy {expected:.4f}"
