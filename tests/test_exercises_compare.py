"""The checks of notebook 10's exercises: right answers pass; wrong, raising and unwritten ones
get the right verdict from `attempt`, never a traceback."""
import copy

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau
from torch import nn

from nasbench.exercises import attempt
from nasbench.exercises.compare import (ceiling_reference, check_ceiling, check_synflow,
                                        synflow_reference)


def _synflow(net, input_shape, positive=True, copy_first=True, params=None):
    net = (copy.deepcopy(net) if copy_first else net).double()
    if positive:
        with torch.no_grad():
            for p in net.parameters():
                p.abs_()
    net(torch.ones(1, *input_shape, dtype=torch.float64)).sum().backward()
    layers = [m.weight for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))] if params is None else params(net)
    return sum(float((w.detach() * w.grad).abs().sum()) for w in layers)


def synflow_right(net, input_shape):  # written from the definition, on a copy
    return _synflow(net, input_shape)


def synflow_signed(net, input_shape):  # forgets to make the weights positive
    return _synflow(net, input_shape, positive=False)


def synflow_in_place(net, input_shape):  # leaves the network's weights positive
    return _synflow(net, input_shape, copy_first=False)


def synflow_with_biases(net, input_shape):  # counts the biases too
    return _synflow(net, input_shape, params=lambda n: list(n.parameters()))


def ceiling_right(accs):
    return np.mean([kendalltau(accs[:, i], np.delete(accs, i, 1).mean(1))[0] for i in range(accs.shape[1])])


def ceiling_pairwise(accs):           # seed against seed, not against the others' mean
    n = accs.shape[1]
    return np.mean([kendalltau(accs[:, i], accs[:, j])[0] for i in range(n) for j in range(i + 1, n)])


def ceiling_tau_a(accs):              # ignores ties
    out = []
    for i in range(accs.shape[1]):
        x, y = accs[:, i], np.delete(accs, i, 1).mean(1)
        a, b = np.triu_indices(len(x), 1)
        out.append(np.mean(np.sign(x[a] - x[b]) * np.sign(y[a] - y[b])))
    return np.mean(out)


def raises(*args):
    raise KeyError("oops")


def unwritten(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check, reference, right, wrongs", [
    (check_synflow, synflow_reference, synflow_right, [synflow_signed, synflow_in_place, synflow_with_biases]),
    (check_ceiling, ceiling_reference, ceiling_right, [ceiling_pairwise, ceiling_tau_a]),
])
def test_verdicts(check, reference, right, wrongs, capsys):
    assert attempt(right, reference, check) is right
    assert capsys.readouterr().out.strip().endswith("correct!")
    for wrong in wrongs + [raises, lambda *a: None]:
        assert attempt(wrong, reference, check) is reference
        out = capsys.readouterr().out
        assert "correct!" not in out and "Traceback" not in out and len(out.strip().splitlines()) == 1
    assert attempt(unwritten, reference, check) is reference
    assert "not written yet" in capsys.readouterr().out
