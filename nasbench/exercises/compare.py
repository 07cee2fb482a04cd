"""Exercises of notebooks/10_compare.ipynb: the synflow proxy of a network, and a table's ceiling."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nasbench.evaluate.zero_cost import score


def synflow_reference(net: nn.Module, input_shape) -> float:
    """synflow of `net` (Conv2d / Linear layers, no batch norm) by the library, on a copy."""
    return score(net, torch.zeros(1, *input_shape), torch.zeros(1, dtype=torch.long), "synflow")


def check_synflow(synflow) -> None:
    """Against the closed form on bias-free ReLU MLPs of 2 and 3 layers (with every weight made
    positive the ReLUs pass everything, R = 1^T |W_L| ... |W_1| 1 is linear in each layer's weights,
    so each layer's sum of |W * dR/dW| is R itself: synflow = L * R); the network must come back
    unchanged (signs restored); then a small conv net with biases against the library's score."""
    rng = np.random.default_rng(0)
    for sizes in ((4, 3, 2), (5, 6, 3, 2)):
        Ws = [rng.normal(size=(o, i)) for i, o in zip(sizes[:-1], sizes[1:])]
        layers = []
        for W in Ws:
            lin = nn.Linear(W.shape[1], W.shape[0], bias=False).double()
            with torch.no_grad():
                lin.weight.copy_(torch.as_tensor(W))
            layers += [lin, nn.ReLU()]
        net = nn.Sequential(*layers[:-1])
        R = np.ones(sizes[-1]) @ np.linalg.multi_dot([np.abs(W) for W in Ws[::-1]]) @ np.ones(sizes[0])
        expected = len(Ws) * R
        got = float(synflow(net, (sizes[0],)))
        assert abs(got - expected) < 1e-8 * expected, f"an MLP of {len(Ws)} layers {sizes}: got {got:.5f}, expected {expected:.5f}"
        for lin, W in zip(net[::2], Ws):
            assert np.allclose(lin.weight.detach().double().numpy(), W), \
                "the network's weights changed: restore their signs (or work on a copy)"
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 4, 3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    keep = [p.detach().clone() for p in conv.parameters()]
    expected = score(conv, torch.zeros(1, 1, 6, 6), torch.zeros(1, dtype=torch.long), "synflow")  # the library's
    got = float(synflow(conv, (1, 6, 6)))
    assert abs(got - expected) < 1e-6 * expected, f"a conv net with biases: got {got:.5f}, expected {expected:.5f}"
    assert all(torch.equal(p.detach().to(k.dtype), k) for p, k in zip(conv.parameters(), keep)), \
        "the conv net's parameters changed: restore their signs (or work on a copy)"


def ceiling_reference(accs: np.ndarray) -> float:
    """Mean over seeds i of Kendall tau(seed i, mean of the other seeds); accs is (archs, seeds)."""
    from scipy.stats import kendalltau
    accs = np.asarray(accs, dtype=float)
    return float(np.mean([kendalltau(accs[:, i], np.delete(accs, i, axis=1).mean(1))[0]
                          for i in range(accs.shape[1])]))


def check_ceiling(ceiling) -> None:
    """Against hand-worked tables: seeds that agree give 1, a seed that reverses the others'
    order pulls the mean down by a known amount, and ties are tau-b's."""
    from scipy.stats import kendalltau
    agree = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9], [0.95, 0.96, 0.97]])
    got = float(ceiling(agree))
    assert abs(got - 1.0) < 1e-9, f"seeds that order 4 architectures the same way give 1, got {got:.4f}"
    rng = np.random.default_rng(3)
    noisy = rng.normal(size=(12, 1)) + 0.8 * rng.normal(size=(12, 3))
    expected = np.mean([kendalltau(noisy[:, i], noisy[:, [j for j in range(3) if j != i]].mean(1))[0]
                        for i in range(3)])
    got = float(ceiling(noisy))
    assert abs(got - expected) < 1e-9, f"on a 12 x 3 table: got {got:.4f}, expected {expected:.4f}"
    tied = np.round(noisy, 0)
    expected = np.mean([kendalltau(tied[:, i], np.delete(tied, i, axis=1).mean(1))[0] for i in range(3)])
    got = float(ceiling(tied))
    assert abs(got - expected) < 1e-9, f"with tied accuracies (tau-b): got {got:.4f}, expected {expected:.4f}"
