"""The gradient-based zero-cost proxies on a network of several weighted layers (a conv and a
linear), against references that do not share the proxies' code: gradients by central finite
differences, an explicit Hessian over all weights at once, activations and their gradients read
with retain_grad on a hand-written forward. Per-layer sums (grad_norm is a sum of per-layer norms,
not one global norm) and the cross-layer blocks of the Hessian (grasp) only show with two layers."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from nasbench.evaluate.zero_cost import score

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def net_and_batch():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(48, 3))
    g = torch.Generator().manual_seed(5)
    return model, torch.randn(6, 1, 4, 4, generator=g), torch.randint(0, 3, (6,), generator=g)


def loss_of(model, x, y):
    return float(nn.functional.cross_entropy(model(x), y))


def finite_difference_grads(model, x, y, eps=1e-6):
    """dL/dW of each weighted layer, one weight at a time."""
    grads = []
    for layer in (model[0], model[3]):
        W = layer.weight.data
        G = torch.zeros_like(W)
        for i in range(W.numel()):
            old = W.view(-1)[i].item()
            W.view(-1)[i] = old + eps
            up = loss_of(model, x, y)
            W.view(-1)[i] = old - eps
            down = loss_of(model, x, y)
            W.view(-1)[i] = old
            G.view(-1)[i] = (up - down) / (2 * eps)
        grads.append(G)
    return grads


def test_grad_norm_and_snip_sum_per_layer_over_every_layer():
    model, x, y = net_and_batch()
    G = finite_difference_grads(model, x, y)
    W = [model[0].weight.detach(), model[3].weight.detach()]
    per_layer_norms = sum(float(g.norm()) for g in G)
    assert score(model, x, y, "grad_norm") == pytest.approx(per_layer_norms, rel=1e-6)
    assert per_layer_norms != pytest.approx(float(torch.cat([g.flatten() for g in G]).norm()), rel=1e-3)
    assert score(model, x, y, "snip") == pytest.approx(sum(float((w * g).abs().sum()) for w, g in zip(W, G)), rel=1e-6)


def test_grasp_uses_the_hessian_across_layers():
    model, x, y = net_and_batch()
    names = ["0.weight", "3.weight"]
    shapes = [model.get_parameter(n).shape for n in names]
    sizes = [s.numel() for s in shapes]
    w0 = torch.cat([model.get_parameter(n).detach().flatten() for n in names])

    def loss(w):
        parts = dict(zip(names, (p.reshape(s) for p, s in zip(w.split(sizes), shapes))))
        return nn.functional.cross_entropy(functional_call(model, parts, (x,)), y)

    H = torch.autograd.functional.hessian(loss, w0)                 # (171, 171), every block
    g = torch.autograd.functional.jacobian(loss, w0)
    assert score(model, x, y, "grasp") == pytest.approx(float(-(w0 * (H @ g)).sum()), rel=1e-8)
    block_diagonal = H.clone()
    block_diagonal[: sizes[0], sizes[0]:] = 0
    block_diagonal[sizes[0]:, : sizes[0]] = 0
    assert float(-(w0 * (H @ g)).sum()) != pytest.approx(float(-(w0 * (block_diagonal @ g)).sum()), rel=1e-3)


def test_fisher_sums_each_layers_channels_times_fan_in():
    model, x, y = net_and_batch()
    conv, lin = model[0], model[3]
    a1 = conv(x)
    a1.retain_grad()
    a2 = lin(torch.relu(a1).flatten(1))
    a2.retain_grad()
    nn.functional.cross_entropy(a2, y).backward()
    conv_channels = 0.5 * ((a1 * a1.grad).sum(dim=(2, 3)) ** 2).mean(0)   # (3,)
    lin_channels = 0.5 * ((a2 * a2.grad) ** 2).mean(0)                     # (3,)
    expected = float(conv_channels.sum()) * 9 + float(lin_channels.sum()) * 48
    assert score(model, x, y, "fisher") == pytest.approx(expected, rel=1e-10)
