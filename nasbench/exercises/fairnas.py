"""Exercises of notebooks/09_fairnas.ipynb: the strict-fair sampler, one strict-fair step, and
Kendall's tau."""
from __future__ import annotations

import copy
from collections import Counter

import numpy as np
import torch
from scipy import stats
from torch import nn
from torch.nn import functional as F

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


# -- one strict-fair step: m paths, gradients summed, one update (FairNAS Algorithm 1) ----------------
def fair_step_reference(supernet: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                        y: torch.Tensor, paths) -> float:
    """Forward and backward every path on the same batch, gradients accumulating, then one
    optimizer step (`FairNAS.train_epoch`); returns the mean of the m losses."""
    optimizer.zero_grad(set_to_none=True)
    losses = []
    for path in paths:
        loss = F.cross_entropy(supernet(x, choices=path), y)
        loss.backward()
        losses.append(loss.item())
    optimizer.step()
    return float(np.mean(losses))


def check_fair_step(fair_step) -> None:
    """A real step on a small chain supernet with plain SGD, against an independent copy on which
    each path's gradient is computed on its own: every weight must move by -lr times the sum of the
    m paths' gradients, once (stale gradients left in .grad must not count); the returned value is
    the mean of the m losses before the step."""
    from nasbench.spaces import get_space
    space = get_space("chain-small")
    torch.manual_seed(0)
    net = space.supernet(C=4, num_classes=10, in_channels=1)
    lr, rng = 0.05, np.random.default_rng(0)
    opt = torch.optim.SGD(net.parameters(), lr)
    for p in net.parameters():
        p.grad = torch.randn_like(p)          # left over from an earlier step
    for _ in range(2):
        x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
        paths = strict_fair_paths(space, rng)
        twin = copy.deepcopy(net)
        names = [n for n, _ in twin.named_parameters()]
        total = [torch.zeros_like(p) for p in twin.parameters()]
        losses = []
        for path in paths:
            loss = F.cross_entropy(twin(x, choices=path), y)
            losses += [float(loss)]
            for acc, g in zip(total, torch.autograd.grad(loss, list(twin.parameters()), allow_unused=True)):
                if g is not None:
                    acc += g
        before = {n: p.detach().clone() for n, p in net.named_parameters()}
        got = fair_step(net, opt, x, y, paths)
        assert got is not None, "return the mean loss of the m paths (a float)"
        assert abs(float(got) - np.mean(losses)) < 1e-5, \
            f"returned {float(got):.5f}; the mean of the m paths' losses before the step is {np.mean(losses):.5f}"
        for n, p in net.named_parameters():
            want = before[n] - lr * total[names.index(n)]
            if not torch.allclose(p.detach(), want, atol=1e-6):
                one = before[n] - lr * total[names.index(n)] / len(paths)
                hint = " (divided by m?)" if torch.allclose(p.detach(), one, atol=1e-6) else ""
                raise AssertionError(f"{n} did not move by -lr * the sum of the m paths' gradients{hint}")
