"""Exercises of notebooks/07_spos.ipynb: what one single-path step touches, BN recalibration, and
one generation of the evolutionary search."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch
from scipy import stats
from torch import nn

from nasbench.evaluate.evolution import crossover
from nasbench.evaluate.scoring import recalibrate_bn


def untouched_reference(supernet: nn.Module, choices: Sequence[int]) -> set[str]:
    """Names of the parameters of every block that is not on the path."""
    names = set()
    for d, layer in enumerate(supernet.layers):
        for k, block in enumerate(layer.candidates):
            if k != choices[d]:
                names |= {f"layers.{d}.candidates.{k}.{n}" for n, _ in block.named_parameters()}
    return names


def _chain_supernet(seed: int = 0):
    from nasbench.spaces import get_space
    torch.manual_seed(seed)
    space = get_space("chain-small")
    return space, space.supernet(C=4, num_classes=10, in_channels=1)


def check_untouched(untouched) -> None:
    """Runs a real SPOS step (SGD with momentum 0.9 and weight decay, after warm-up steps that gave
    every block a momentum buffer) and compares your set with the parameters that did not move."""
    space, net = _chain_supernet()
    opt = torch.optim.SGD(net.parameters(), 0.1, momentum=0.9, weight_decay=1e-3)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    mix = [torch.full((len(o),), 1 / len(o)) for o in space.options]
    for _ in range(2):  # every block runs (weights=): every parameter has a momentum buffer now
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x, weights=mix), y).backward()
        opt.step()
    path = (3, 0, 2)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    opt.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(net(x, choices=path), y).backward()
    opt.step()
    still = {n for n, p in net.named_parameters() if torch.equal(p, before[n])}
    yours = set(untouched(net, path))
    assert yours <= set(before), f"not parameter names of the supernet: {sorted(yours - set(before))[:3]}"
    assert not yours - still, f"these did move in the step: {sorted(yours - still)[:3]}"
    assert not still - yours, f"these did not move but are missing from your set: {sorted(still - yours)[:3]}"


def recalibrate_reference(supernet: nn.Module, choices: Sequence[int],
                          batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
    recalibrate_bn(supernet, lambda x: supernet(x, choices=choices), batches)


def check_recalibrate(recalibrate) -> None:
    """After your recalibration, every BN on the path must hold the mean of its inputs over the
    batches (measured here with hooks) and their average per-batch variance, and the supernet must
    be back in the mode it was in."""
    space, net = _chain_supernet(1)
    path = (1, 4, 2)
    rng = np.random.default_rng(0)
    net.train()
    for _ in range(3):  # mix statistics of other paths into the running averages
        net(torch.randn(16, 1, 8, 8) * 2, choices=space.sample(rng))
    batches = [(torch.randn(16, 1, 8, 8) + 0.5, torch.zeros(16, dtype=torch.long)) for _ in range(3)]
    inputs: dict[nn.Module, list[torch.Tensor]] = {}
    hooks = [m.register_forward_pre_hook(lambda m, i: inputs.setdefault(m, []).append(i[0].detach()))
             for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for x, _ in batches:
            net(x, choices=path)
    for h in hooks:
        h.remove()
    net.eval()
    recalibrate(net, path, batches)
    assert not net.training, "put the supernet back in the mode it was in (eval here)"
    for bn, xs in inputs.items():
        mean = torch.cat(xs).mean(dim=(0, 2, 3))
        var = torch.stack([x.var(dim=(0, 2, 3), unbiased=True) for x in xs]).mean(0)
        assert torch.allclose(bn.running_mean, mean, rtol=1e-3, atol=1e-4), \
            "a BN's running mean is not the mean of its inputs over the batches (did you reset it, " \
            "and average cumulatively: momentum=None?)"
        assert torch.allclose(bn.running_var, var, rtol=1e-3, atol=1e-4), \
            "a BN's running variance is not the average of its per-batch variances"


# -- one generation of the evolutionary search (SPOS sec. 3.4) ------------------------------------
def next_generation_reference(top: Sequence[tuple[int, ...]], space, rng: np.random.Generator,
                              mutations: int, crossovers: int, mutation_prob: float,
                              seen: set) -> list[tuple[int, ...]]:
    """`mutations` mutants of random parents from `top` (each decision resampled with
    `mutation_prob`), then `crossovers` uniform crossovers of two random parents; every child new
    (not in `seen`, not twice), each drawn again when it is not, up to 10 tries per child wanted
    (as `nasbench.evaluate.evolution.evolve`)."""
    taken: set = set()

    def draw(make, n):
        out = []
        for _ in range(10 * n):
            if len(out) == n:
                break
            child = make()
            if child not in seen and child not in taken:
                out.append(child)
                taken.add(child)
        return out
    pick = lambda: tuple(top[rng.integers(len(top))])  # noqa: E731
    return (draw(lambda: space.mutate(pick(), rng, mutation_prob), mutations)
            + draw(lambda: crossover(pick(), pick(), rng), crossovers))


def check_next_generation(next_generation) -> None:
    """On the 20-layer SPOS chain (4 choices a layer): the number of children, all new and distinct;
    mutants change about as many layers as resampling each with the probability predicts (given that
    a child must differ from its parent); crossovers take each layer from one of two parents, half
    the time each, and every parent of `top` alike."""
    from nasbench.spaces import get_space
    space = get_space("chain-shuffle")
    L, m = len(space.decisions), len(space.options[0])
    rng = np.random.default_rng(0)
    parent = tuple(int(c) for c in rng.integers(m, size=L))
    seen = {parent}
    children = next_generation([parent], space, rng, 25, 0, 0.1, seen)
    assert isinstance(children, list) and len(children) == 25, \
        f"expected 25 mutants, got {len(children) if isinstance(children, list) else type(children).__name__}"
    changed = []
    for _ in range(16):
        children = [tuple(int(c) for c in space.validate(ch)) for ch in next_generation([parent], space, rng, 25, 0, 0.1, seen)]
        assert len(set(children)) == len(children), "two children are the same architecture"
        assert parent not in children, "a child equal to an architecture already scored (in `seen`)"
        changed += [sum(a != b for a, b in zip(ch, parent)) for ch in children]
    q = 0.1 * (1 - 1 / m)                      # a layer changes: resampled, and not to its own choice
    want = L * q / (1 - (1 - q) ** L)          # mean number of changes, given at least one
    assert abs(np.mean(changed) - want) < 0.25, (f"mutants change {np.mean(changed):.2f} layers on average; "
                                                 f"resampling each with probability 0.1 changes {want:.2f}")
    parents = [tuple([v] * L) for v in range(3)]  # all-0, all-1, all-2: a gene names its parent
    genes, mixed = [], 0
    for _ in range(8):
        children = next_generation(parents, space, rng, 0, 25, 0.1, set(parents))
        assert len(children) == 25, f"expected 25 crossovers, got {len(children)}"
        for ch in children:
            used = set(ch)
            assert used <= {0, 1, 2} and len(used) <= 2, f"a crossover child {ch} is not made of two parents of `top`"
            mixed += len(used) == 2
            genes += list(ch)
    assert mixed == 200, "every crossover child mixes two parents"
    counts = np.bincount(genes, minlength=3)
    assert stats.chisquare(counts).pvalue > 1e-4, f"parents are not picked alike: genes per parent {counts.tolist()}"
    ones = np.array([ch for _ in range(8) for ch in next_generation(parents[:2], space, rng, 0, 25, 0.1, set(parents[:2]))])
    share = ones.mean(0)
    assert np.all(np.abs(share - 0.5) < 0.15), f"a layer comes from the second parent {share.min():.2f}..{share.max():.2f} of the time, not 1/2"
