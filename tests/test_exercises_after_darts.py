"""The checks of notebook 11's exercises give the right verdict on a right, a wrong and an
unwritten student function."""
import torch
from torch.nn import functional as F

from nasbench.exercises import attempt
from nasbench.exercises import after_darts as ex


def no_straight_through(alpha, g, tau):  # the one-hot alone: no gradient
    p = F.softmax((alpha + g) / tau, -1)
    return torch.zeros_like(p).scatter_(-1, p.argmax(-1, keepdim=True), 1.0)


def soft_only(alpha, g, tau):  # the relaxed sample (SNAS), not one-hot
    return F.softmax((alpha + g) / tau, -1)


def unwritten(*args):
    raise NotImplementedError


def argmax_everywhere(alpha, nodes=None):  # forgets the two-edges-per-node rule
    return torch.zeros_like(alpha).scatter_(-1, alpha.argmax(-1, keepdim=True), 1.0)


def test_straight_through_check(capsys):
    right = lambda alpha, g, tau: (lambda p: torch.zeros_like(p).scatter_(  # noqa: E731
        -1, p.argmax(-1, keepdim=True), 1.0) - p.detach() + p)(F.softmax((alpha + g) / tau, -1))
    assert attempt(right, ex.straight_through_reference, ex.check_straight_through) is right
    for wrong in (no_straight_through, soft_only):
        assert attempt(wrong, ex.straight_through_reference, ex.check_straight_through) is ex.straight_through_reference
        assert "not quite" in capsys.readouterr().out
    assert attempt(unwritten, ex.straight_through_reference, ex.check_straight_through) is ex.straight_through_reference
    assert "not written yet" in capsys.readouterr().out


def test_proximal_check(capsys):
    def right(alpha, nodes=None):
        bar = argmax_everywhere(alpha)
        for incoming in nodes or []:
            for d in sorted(incoming, key=lambda d: -float(alpha[d].max()))[2:]:
                bar[d] = 0
        return bar
    assert attempt(right, ex.proximal_reference, ex.check_proximal) is right
    assert "correct" in capsys.readouterr().out
    assert attempt(argmax_everywhere, ex.proximal_reference, ex.check_proximal) is ex.proximal_reference
    assert "not quite" in capsys.readouterr().out
    assert attempt(unwritten, ex.proximal_reference, ex.check_proximal) is ex.proximal_reference
    assert "not written yet" in capsys.readouterr().out
