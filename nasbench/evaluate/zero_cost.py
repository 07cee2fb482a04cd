"""Zero-cost proxies: score an untrained network from one batch, no training at all.

Abdelfattah et al., *Zero-Cost Proxies for Lightweight NAS* (ICLR 2021; SamsungLabs/zero-cost-nas,
foresight/pruners/measures/) turned six pruning-at-initialisation saliencies into architecture
scores; Mellor et al., *Neural Architecture Search without Training* (ICML 2021) added NASWOT.
Every proxy sums a per-weight saliency over the weights of the Conv2d and Linear layers (as
`get_layer_metric_array` does in the official code), except jacob_cov and naswot, which score the
whole network:

    grad_norm  sum_l ||dL/dW_l||_2                                        (measures/grad_norm.py)
    snip       sum |W * dL/dW|           (Lee et al. 2019; the gradient w.r.t. a mask of ones)
    grasp      sum -W * (H g)            (Wang et al. 2020; g = dL/dW, H the Hessian of L)
    fisher     sum over channels of 1/2 mean_n (sum_hw a * dL/da)^2, a a layer's output
               (Theis et al. 2018); the official code broadcasts each channel's value to every
               weight of that channel before summing, so each channel counts fan-in times
    synflow    sum |W * dR/dW|,  R = 1^T f_|W|(1)   (Tanaka et al. 2020): all parameters made
               positive, BN switched off, float64, one input of ones, no data at all
    jacob_cov  -sum_i [log(v_i + k) + 1 / (v_i + k)], v the eigenvalues of the correlation
               matrix of the per-image input gradients of the summed logits, k = 1e-5
    naswot     log |det K|,  K = sum over ReLUs of c c^T + (1 - c)(1 - c)^T, c the binary
               activation codes of the batch (Mellor et al. 2021, v2), over the ReLUs that a
               backward pass reaches (BayesWatch's code), on a batch of 128 (its default)

Larger is better for all of them (grasp carries the official code's minus sign for that reason).
Each is computed on a copy of the network in training mode, as the official code does.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

# The published Spearman rho of each proxy with test accuracy over all of NAS-Bench-201 on
# CIFAR-10 (Abdelfattah et al. 2021, Table 1; computed by zero-cost-nas' notebook
# `nasbench201_correlations`, not given in its README), for comparison.
PUBLISHED_RHO_NB201_CIFAR10 = {"synflow": 0.74, "jacob_cov": 0.73, "snip": 0.60, "grad_norm": 0.59,
                               "grasp": 0.51, "fisher": 0.36}


def weighted_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose weights the proxies score: Conv2d and Linear, in module order."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    layers = weighted_layers(model)
    F.cross_entropy(model(x), y).backward()
    return sum(l.weight.grad.norm() for l in layers if l.weight.grad is not None)


def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    # |dL/d mask| for W * mask at mask = 1 is |W * dL/dW|
    layers = weighted_layers(model)
    F.cross_entropy(model(x), y).backward()
    return sum((l.weight * l.weight.grad).abs().sum() for l in layers if l.weight.grad is not None)


def grasp(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    weights = [l.weight for l in weighted_layers(model)]
    g = torch.autograd.grad(F.cross_entropy(model(x), y), weights, allow_unused=True)
    g_graph = torch.autograd.grad(F.cross_entropy(model(x), y), weights, create_graph=True,
                                  allow_unused=True)
    z = sum((a.detach() * b).sum() for a, b in zip(g, g_graph) if a is not None and b is not None)
    hg = torch.autograd.grad(z, weights, allow_unused=True)       # H g, one Hessian-vector product
    return sum((-w * h).sum() for w, h in zip(weights, hg) if h is not None)


def fisher(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    per_layer: dict[nn.Module, torch.Tensor] = {}

    def keep(layer):
        def hook(module, inputs, out):
            act = out.detach().clone()  # the layer's own output, before any in-place change

            def on_grad(grad):
                g_nk = (act * grad).sum(dim=tuple(range(2, act.dim()))) if act.dim() > 2 else act * grad
                per_layer[layer] = per_layer.get(layer, 0) + 0.5 * g_nk.pow(2).mean(0)   # (C_out,)
            out.register_hook(on_grad)
        return hook

    handles = [l.register_forward_hook(keep(l)) for l in weighted_layers(model)]
    try:
        F.cross_entropy(model(x), y).backward()
    finally:
        for h in handles:
            h.remove()
    # each channel's value broadcast to its fan-in weights, then summed (official reshape_elements)
    return sum(v.abs().sum() * l.weight[0].numel() for l, v in per_layer.items())


def synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> float:
    for m in model.modules():  # the official `bn=False` copy: batch norm becomes the identity
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.forward = lambda t: t
    model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
    model(ones).sum().backward()
    return sum((l.weight * l.weight.grad).abs().sum() for l in weighted_layers(model)
               if l.weight.grad is not None)


def jacob_cov(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, k: float = 1e-5) -> float:
    x = x.clone().requires_grad_(True)
    out = model(x)
    out.backward(torch.ones_like(out))
    if x.grad is None:  # the output does not depend on the input (a cell cut off): undefined
        return float("nan")
    jacobian = x.grad.reshape(len(x), -1).double().cpu().numpy()   # (N, C*H*W)
    v = np.linalg.eigvalsh(np.corrcoef(jacobian))                  # the matrix is symmetric
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


def naswot(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> float:
    """As BayesWatch/nas-without-training score_networks.py: a forward and backward pass (of the
    summed logits, `get_batch_jacobian`) marks the ReLUs that receive a gradient; a second
    forward adds the codes of those ReLUs only (a ReLU off every path to the output, e.g. in a
    cell whose output ignores it, counts nothing)."""
    K = torch.zeros(len(x), len(x), dtype=torch.float64)
    visited: set[int] = set()
    counting = False

    def hook(module, inputs, out):
        nonlocal K
        if not counting:  # the marking pass: note whether a gradient reaches this ReLU's output
            if out.requires_grad:
                out.register_hook(lambda g, m=id(module): visited.add(m))
            return
        if id(module) in visited:
            c = (inputs[0].reshape(len(x), -1) > 0).double().cpu()    # (N, units): binary codes
            K = K + c @ c.T + (1 - c) @ (1 - c).T                      # agreements, Hamming kernel

    # the official hook matches every module whose type name contains "ReLU" (ReLU6 too)
    handles = [m.register_forward_hook(hook) for m in model.modules() if "ReLU" in type(m).__name__]
    try:
        xg = x.clone().requires_grad_(True)
        out = model(xg)
        out.backward(torch.ones_like(out))
        counting = True
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return float(np.linalg.slogdet(K.numpy())[1])


PROXIES: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor], float]] = {
    "grad_norm": grad_norm, "snip": snip, "grasp": grasp, "fisher": fisher,
    "synflow": synflow, "jacob_cov": jacob_cov, "naswot": naswot,
}


def score(model: nn.Module, x: torch.Tensor, y: torch.Tensor, proxy: str) -> float:
    """One proxy of `model` on the batch (x, y); `model` itself is left untouched."""
    if proxy not in PROXIES:
        raise ValueError(f"unknown zero-cost proxy {proxy!r}; choose one of: {', '.join(PROXIES)}")
    net = copy.deepcopy(model).train()
    net.zero_grad(set_to_none=True)
    value = PROXIES[proxy](net, x, y)
    return float(value.detach()) if torch.is_tensor(value) else float(value)


NASWOT_BATCH = 128  # nas-without-training's --batch_size; zero-cost-nas scores on 64


def score_space(space, data, proxies: Sequence[str] = tuple(PROXIES), archs: Iterable | None = None,
                *, batch_size: int = 64, naswot_batch_size: int = NASWOT_BATCH, seed: int = 0,
                progress: bool = True, **net) -> dict[str, dict[str, float]]:
    """Every proxy of every architecture of `space` (or of `archs`), each network freshly
    initialised with `seed` and scored on the same first training batch (of `batch_size`, of
    `naswot_batch_size` for naswot). `net` are the `space.build` sizes (C, layers).
    Returns {arch string: {proxy: value}}."""
    def first_batch(n):
        generator = torch.Generator().manual_seed(seed)
        return next(iter(data.train.batches(n, shuffle=True, generator=generator)))
    batches = {p: first_batch(naswot_batch_size if p == "naswot" else batch_size) for p in proxies}
    archs = list(space.enumerate() if archs is None else archs)
    kwargs = {"num_classes": data.num_classes, "in_channels": data.shape[0], **net}
    scores = {}
    for choices in tqdm(archs, desc="zero-cost proxies", disable=not progress):
        torch.manual_seed(seed)
        model = space.build(choices, **kwargs)
        scores[space.encode(choices)] = {p: score(model, *batches[p], p) for p in proxies}
    return scores


def rank_against_table(space_name: str = "nb201-small", proxies: Sequence[str] = tuple(PROXIES), *,
                       archs: Iterable | None = None, seed: int = 0, batch_size: int = 64,
                       progress: bool = True) -> dict[str, dict]:
    """Score every architecture of a space that has a ground-truth table (at the table's own
    network size and on its task) and rank each proxy against the table: Spearman rho and
    Kendall tau (scipy), over all its architectures or over `archs`. A proxy that is undefined
    on an architecture (NaN, e.g. jacob_cov of a cell whose output does not depend on its input)
    ranks it last, as a search would."""
    from scipy.stats import kendalltau, spearmanr

    from nasbench.bench import SETTINGS, load_data, load_table
    table = load_table(space_name)
    train = SETTINGS[space_name]["train"]
    net = {k: train[k] for k in ("C", "layers") if k in train}
    archs = [e.choices for e in table.entries.values()] if archs is None else list(archs)
    scores = score_space(table.space, load_data(space_name, seed), proxies, archs,
                         batch_size=batch_size, seed=seed, progress=progress, **net)
    truth = [table.truth(a) for a in scores]
    out = {}
    for p in proxies:
        values = np.array([s[p] for s in scores.values()])
        values = np.where(np.isfinite(values), values, -np.inf)
        out[p] = {"spearman": float(spearmanr(values, truth)[0]), "kendall": float(kendalltau(values, truth)[0]),
                  "undefined": int(np.sum(~np.isfinite(np.array([s[p] for s in scores.values()]))))}
    return out
