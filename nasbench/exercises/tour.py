"""Exercises of notebooks/00_tour.ipynb: sampling, counting parameter-free ops, and one step of
random search with weight sharing."""
from __future__ import annotations

import copy

import numpy as np
import torch
from scipy import stats
from torch.nn import functional as F

from nasbench.ops import PARAMETER_FREE
from nasbench.spaces import Space


def sample_reference(space: Space, rng: np.random.Generator) -> tuple[int, ...]:
    return tuple(int(rng.integers(len(o))) for o in space.options)


def check_sample(sample) -> None:
    """Valid architectures; each decision's options uniform and the decisions independent of
    each other (chi-square on every decision and on neighbouring pairs, 2000 draws), so a
    sampler that puts one op on every edge fails."""
    from nasbench.spaces import get_space
    space = get_space("nb201")
    rng = np.random.default_rng(0)
    first = sample(space, rng)
    assert first is not None, "return a tuple with one int per decision, not None"
    draws = np.array([space.validate(first)] + [space.validate(sample(space, rng)) for _ in range(1999)])
    for d, options in enumerate(space.options):
        counts = np.bincount(draws[:, d], minlength=len(options))
        p = stats.chisquare(counts).pvalue
        assert p > 1e-4, f"decision {space.decisions[d]} is not uniform: counts {counts.tolist()}"
    n = len(space.options[0])
    for d in range(len(space.decisions) - 1):
        pairs = np.bincount(draws[:, d] * n + draws[:, d + 1], minlength=n * n)
        assert stats.chisquare(pairs).pvalue > 1e-4, (
            f"decisions {space.decisions[d]} and {space.decisions[d + 1]} are not independent: "
            f"draw each decision's choice separately")


def parameter_free_reference(space: Space, arch: str) -> int:
    return sum(op in PARAMETER_FREE for op in space.ops_of(space.decode(arch)))


def check_parameter_free(count) -> None:
    from nasbench.spaces import get_space
    space = get_space("nb201")
    cases = {  # worked by hand: none, skip_connect and avg_pool_3x3 have no weights
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|": 3,
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": 6,
        "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|nor_conv_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|": 0,
    }
    for arch, expected in cases.items():
        got = count(space, arch)
        assert got == expected, f"{arch} has {expected} parameter-free ops, you counted {got}"


# -- one step of random search with weight sharing (Li & Talwalkar) --------------------------
def ws_step_reference(supernet, optimizer, x, y, choices) -> float:
    """One weight-sharing step: the cross-entropy of the path `choices` on (x, y), backpropagated
    into that path's weights only, one optimizer step; returns the loss before the step."""
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(supernet(x, choices=choices), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def check_ws_step(ws_step) -> None:
    """Two steps on a small NB201 supernet with plain SGD, each against an independent copy: the
    returned loss is the path's loss before the step, the path's weights move by -lr * their
    gradient (computed here on the copy, from fresh gradients: stale ones left in .grad must not
    count), and every weight off the path stays exactly where it was."""
    from nasbench.spaces import get_space
    space = get_space("nb201")
    torch.manual_seed(0)
    net = space.supernet(C=4, layers=1, num_classes=10, in_channels=1)
    lr, rng = 0.1, np.random.default_rng(0)
    opt = torch.optim.SGD(net.parameters(), lr)
    for p in net.parameters():            # stale gradients of an earlier step, as after a run
        p.grad = torch.randn_like(p)
    for _ in range(2):
        path = space.sample(rng)
        x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
        twin = copy.deepcopy(net)
        names = [n for n, _ in twin.named_parameters()]
        loss = F.cross_entropy(twin(x, choices=path), y)
        grads = torch.autograd.grad(loss, list(twin.parameters()), allow_unused=True)
        before = {n: p.detach().clone() for n, p in net.named_parameters()}
        got = ws_step(net, opt, x, y, path)
        assert got is not None, "return the loss (a float)"
        assert abs(float(got) - loss.item()) < 1e-5, \
            f"returned loss {float(got):.5f}; the path's loss on the batch before the step is {loss.item():.5f}"
        for n, p in net.named_parameters():
            g = grads[names.index(n)]
            want = before[n] if g is None else before[n] - lr * g
            if g is None and not torch.equal(p.detach(), before[n]):
                raise AssertionError(f"{n} is off the path {space.encode(path)} but moved")
            assert torch.allclose(p.detach(), want, atol=1e-6), \
                f"{n} did not move by -lr * its gradient on this batch (left-over gradients from before?)"
