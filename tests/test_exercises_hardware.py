"""The checks of notebooks 05/06's exercises give the right verdict on a right, a wrong and an
unwritten student function."""
import math

import torch

from nasbench.exercises import attempt
from nasbench.exercises import hardware as ex


def _verdict(student, reference, check):
    return "right" if attempt(student, reference, check) is student else "fallback"


def test_expected_latency_check():
    right = lambda probs, lut, base: base + sum((p * torch.tensor(r, dtype=p.dtype)).sum()  # noqa: E731
                                                for p, r in zip(probs, lut))
    wrong = lambda probs, lut, base: base + sum(torch.tensor(max(r)) for r in lut)  # worst case  # noqa: E731

    def unwritten(probs, lut, base):
        raise NotImplementedError
    check, ref = ex.check_expected_latency, ex.expected_latency_reference
    assert _verdict(right, ref, check) == "right"
    assert _verdict(wrong, ref, check) == "fallback"
    assert _verdict(unwritten, ref, check) == "fallback"


def test_rescale_check():
    def right(alpha, pair, old):
        alpha = alpha.clone()
        alpha[pair] -= torch.logsumexp(alpha[pair], 0) - torch.logsumexp(old, 0)
        return alpha

    def wrong(alpha, pair, old):  # renormalises the whole vector: moves the others
        return alpha - torch.logsumexp(alpha, 0)

    def unwritten(alpha, pair, old):
        raise NotImplementedError
    check, ref = ex.check_rescale, ex.rescale_reference
    assert _verdict(right, ref, check) == "right"
    assert _verdict(wrong, ref, check) == "fallback"
    assert _verdict(unwritten, ref, check) == "fallback"


def test_gumbel_softmax_check():
    def right(theta, tau, u):
        return torch.softmax((theta - torch.log(-torch.log(u))) / tau, -1)

    def wrong(theta, tau, u):  # forgets the temperature
        return torch.softmax(theta - torch.log(-torch.log(u)), -1)

    def also_wrong(theta, tau, u):  # uses the uniform noise itself
        return torch.softmax((theta + u) / tau, -1)

    def tau_on_theta_only(theta, tau, u):  # the temperature divides theta but not the noise
        return torch.softmax(theta / tau - torch.log(-torch.log(u)), -1)

    def tau_multiplies(theta, tau, u):  # times tau instead of divided by it
        return torch.softmax((theta - torch.log(-torch.log(u))) * tau, -1)

    def unwritten(theta, tau, u):
        raise NotImplementedError
    check, ref = ex.check_gumbel_softmax, ex.gumbel_softmax_reference
    assert _verdict(right, ref, check) == "right"
    assert _verdict(wrong, ref, check) == "fallback"
    assert _verdict(also_wrong, ref, check) == "fallback"
    assert _verdict(tau_on_theta_only, ref, check) == "fallback"
    assert _verdict(tau_multiplies, ref, check) == "fallback"
    assert _verdict(unwritten, ref, check) == "fallback"
    assert math.isclose(float(ref(torch.zeros(2), 1.0, torch.tensor([math.exp(-1), math.exp(-math.e)]))[0]),
                        1 / (1 + math.exp(-1)), rel_tol=1e-6)
