"""Exercises of notebooks/10_compare.ipynb: the synflow proxy by hand, and a table's ceiling."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nasbench.evaluate.zero_cost import score


def synflow_reference(W1: np.ndarray, W2: np.ndarray) -> float:
    """synflow of x -> W2 relu(W1 x) (no biases), computed by the library on a real network."""
    net = nn.Sequential(nn.Linear(W1.shape[1], W1.shape[0], bias=False), nn.ReLU(),
                        nn.Linear(W2.shape[1], W2.shape[0], bias=False)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.as_tensor(W1))
        net[2].weight.copy_(torch.as_tensor(W2))
    x = torch.zeros(2, W1.shape[1], dtype=torch.float64)
    return score(net, x, torch.zeros(2, dtype=torch.long), "synflow")


def check_synflow(synflow) -> None:
    """Against the closed form: with every weight made positive and an input of ones, the sum of
    |W * dR/dW| over one layer equals R = 1^T |W2| |W1| 1 itself, so synflow = 2R; and the
    sign of a weight must not matter."""
    rng = np.random.default_rng(0)
    for shape in ((3, 4, 2), (5, 2, 3)):
        hidden, d, out = shape
        W1, W2 = rng.normal(size=(hidden, d)), rng.normal(size=(out, hidden))
        expected = 2 * np.ones(out) @ np.abs(W2) @ np.abs(W1) @ np.ones(d)
        got = float(synflow(W1, W2))
        assert abs(got - expected) < 1e-8 * expected, f"for W1 {W1.shape}, W2 {W2.shape}: got {got:.5f}, expected {expected:.5f}"
    flipped = float(synflow(-W1, W2))
    assert abs(flipped - expected) < 1e-8 * expected, "synflow uses |W|: flipping the signs of W1 must not change it"


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
