"""The checks of notebook 10's exercises: right answers pass; wrong, raising and unwritten ones
get the right verdict from `attempt`, never a traceback."""
import numpy as np
import pytest
from scipy.stats import kendalltau

from nasbench.exercises import attempt
from nasbench.exercises.compare import (ceiling_reference, check_ceiling, check_synflow,
                                        synflow_reference)


def synflow_right(W1, W2):
    return 2 * np.abs(W2).sum(0) @ np.abs(W1).sum(1)


def synflow_signed(W1, W2):           # forgets the absolute values
    return 2 * W2.sum(0) @ W1.sum(1)


def synflow_half(W1, W2):             # counts one layer only
    return np.abs(W2).sum(0) @ np.abs(W1).sum(1)


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
    (check_synflow, synflow_reference, synflow_right, [synflow_signed, synflow_half]),
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
