"""The checks of notebook 08's exercises: a right answer passes, wrong ones and unwritten stubs
get the right verdict from `attempt`."""
import torch

from nasbench.exercises import attempt
from nasbench.exercises.single_path import (check_indicator, check_superkernel, indicator_reference,
                                            superkernel_reference)


def verdict(student, reference, check, capsys):
    fn = attempt(student, reference, check, name="f")
    return fn is student, capsys.readouterr().out


def right_superkernel(w, d5, d100, d50):  # written independently of the reference
    out = w.clone()
    if not d5:
        out[:, :, [0, 4], :] = 0
        out[:, :, :, [0, 4]] = 0
    if not d100:
        out[w.shape[0] // 2:] = 0
    return out * d50


def test_superkernel_check(capsys):
    assert verdict(right_superkernel, superkernel_reference, check_superkernel, capsys) == (True, "f: correct!\n")
    ring_is_centre = lambda w, d5, d100, d50: right_superkernel(w, 1.0, d100, d50) * (1 if d5 else 0.5)  # noqa: E731
    halves_swapped = lambda w, d5, d100, d50: torch.flip(right_superkernel(w.flip(0), d5, d100, d50), [0])  # noqa: E731
    for wrong in (ring_is_centre, halves_swapped):
        ok, out = verdict(wrong, superkernel_reference, check_superkernel, capsys)
        assert not ok and out.startswith("f: not quite:")

    def stub(w, d5, d100, d50):
        raise NotImplementedError
    ok, out = verdict(stub, superkernel_reference, check_superkernel, capsys)
    assert not ok and "not written yet" in out


def test_indicator_check(capsys):
    def right(x):
        s = 1 / (1 + torch.exp(-x))
        return torch.where(x >= 0, 1.0, 0.0) + s - s.detach()
    assert verdict(right, indicator_reference, check_indicator, capsys) == (True, "f: correct!\n")
    for wrong in (torch.sigmoid,                                   # soft forward
                  lambda x: (x >= 0).float(),                      # no gradient
                  lambda x: (x >= 0).float() + x - x.detach()):    # identity gradient
        ok, out = verdict(wrong, indicator_reference, check_indicator, capsys)
        assert not ok and out.startswith("f: not quite:"), out

    def stub(x):
        raise NotImplementedError
    ok, out = verdict(stub, indicator_reference, check_indicator, capsys)
    assert not ok and "not written yet" in out
