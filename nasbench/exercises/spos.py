"""Exercises of notebooks/07_spos.ipynb: what one single-path step touches, and BN recalibration."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

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
