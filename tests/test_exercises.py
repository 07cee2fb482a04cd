"""Every exercise check against a known-right answer (the reference), a known-wrong one (each a
typical student mistake), a function that raises and one that returns None: `attempt` must give
the right verdict in one short line and never let an exception through."""
import importlib
import pkgutil

import numpy as np
import pytest
import torch

import nasbench.exercises as exercises
from nasbench.exercises import attempt


def all_checks():
    """(module, check name, reference) for every `check_X` with an `X_reference`, in every
    exercises module (exercises added later are covered too)."""
    found = []
    for info in pkgutil.iter_modules(exercises.__path__):
        module = importlib.import_module(f"nasbench.exercises.{info.name}")
        for name in dir(module):
            if name.startswith("check_") and hasattr(module, name[6:] + "_reference"):
                found.append(pytest.param(module, name, id=f"{info.name}.{name}"))
    return found


CHECKS = all_checks()


def run(capsys, student, module, check):
    reference = getattr(module, check[6:] + "_reference")
    got = attempt(student, reference, getattr(module, check))
    out = capsys.readouterr().out.strip()
    return got is student, got is reference, out


@pytest.mark.parametrize("module, check", CHECKS)
def test_the_reference_is_correct(capsys, module, check):
    reference = getattr(module, check[6:] + "_reference")
    kept, _, out = run(capsys, reference, module, check)
    assert kept and out.endswith("correct!"), out


def raises(*args, **kwargs):
    x = 1
    raise TypeError("unsupported operand")  # line 3 of the function


def returns_none(*args, **kwargs):
    return None


def unwritten(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("module, check", CHECKS)
@pytest.mark.parametrize("student, words", [
    (raises, "raised TypeError: unsupported operand (line 3 of your function)"),
    (returns_none, ""),
    (unwritten, "not written yet"),
])
def test_a_broken_function_gets_one_line_and_the_reference(capsys, module, check, student, words):
    kept, fell_back, out = run(capsys, student, module, check)
    assert fell_back and not kept and "correct" not in out, out
    assert words in out and out.startswith(f"{student.__name__}: "), out
    assert "Traceback" not in out and len(out.splitlines()) == 1, out


# -- known-wrong answers: a typical mistake per check, and the words the verdict must contain ---
def same_op_everywhere(space, rng):
    k = int(rng.integers(len(space.options[0])))
    return (k,) * len(space.decisions)


def never_the_last_option(space, rng):
    return tuple(int(rng.integers(len(o) - 1)) for o in space.options)


def count_only_skips(space, arch):
    return sum(op == "skip_connect" for op in space.ops_of(space.decode(arch)))


def mixed_op_without_softmax(x, alpha, ops):
    return sum(a * op(x) for a, op in zip(alpha, ops))


def derive_with_none(weights, steps=4):
    genotype, start = [], 0
    for i in range(2, steps + 2):
        rows = [np.asarray(weights[start + j]) for j in range(i)]
        strongest = sorted(range(i), key=lambda j: -rows[j].max())[:2]
        genotype += [(["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                       "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"][int(rows[j].argmax())], j)
                     for j in strongest]
        start += i
    return genotype


def one_permutation_for_all_layers(space, rng):
    perm = rng.permutation(len(space.options[0]))
    return [tuple(int(perm[j]) for _ in space.decisions) for j in range(len(perm))]


def tau_a(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    i, j = np.triu_indices(len(a), 1)
    return float(np.sum(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])) / len(i))


def drop_r_over_k(r, k):
    return r / k


def one_sided_kl(p, q):
    return np.sum(p * np.log(p / q), axis=-1)


def every_candidate(supernet, choices):
    return {n for n, _ in supernet.named_parameters() if ".candidates." in n}


def forward_without_reset(supernet, choices, batches):
    was = supernet.training
    supernet.train()
    with torch.no_grad():
        for x, _ in batches:
            supernet(x, choices=choices)
    supernet.train(was)


WRONG = {
    "tour.check_sample": [(same_op_everywhere, "not independent"), (never_the_last_option, "not uniform")],
    "tour.check_parameter_free": [(count_only_skips, "parameter-free ops, you counted")],
    "darts.check_mixed_op": [(mixed_op_without_softmax, "not sum_k softmax(alpha)_k")],
    "darts.check_derive_cell": [(derive_with_none, "the rule gives")],
    "fairnas.check_fair_paths": [(one_permutation_for_all_layers, "share one permutation")],
    "fairnas.check_kendall_tau": [(tau_a, "tau-b")],
    "one_shot.check_drop_probability": [(drop_r_over_k, "all are dropped with probability")],
    "one_shot.check_symmetric_kl": [(one_sided_kl, "differ from scipy")],
    "spos.check_untouched": [(every_candidate, "did move in the step")],
    "spos.check_recalibrate": [(forward_without_reset, "running mean")],
}


@pytest.mark.parametrize("key", sorted(WRONG))
def test_known_wrong_answers_are_named(capsys, key):
    module_name, check = key.split(".")
    module = importlib.import_module(f"nasbench.exercises.{module_name}")
    for student, words in WRONG[key]:
        kept, fell_back, out = run(capsys, student, module, check)
        assert fell_back and not kept, out
        assert out.startswith(f"{student.__name__}: not quite:") and words in out, out


def test_wrong_answers_name_only_checks_that_exist():
    keys = {f"{p.values[0].__name__.rsplit('.', 1)[1]}.{p.values[1]}" for p in CHECKS}
    assert set(WRONG) <= keys


def fallback_tests_naming(check: str) -> list[str]:
    """Test files (other than this one) that name `check` and assert a fallback verdict."""
    from pathlib import Path
    here = Path(__file__)
    verdict = ("is reference", "fallback", "fell_back", "not quite", "pytest.raises(AssertionError)")
    return [f.name for f in sorted(here.parent.glob("test_*.py")) if f != here
            and check in (text := f.read_text()) and any(v in text for v in verdict)]


@pytest.mark.parametrize("module, check", CHECKS)
def test_every_check_has_a_known_wrong_answer(module, check):
    """Derived from the checks the exercise modules define: each has a known-wrong answer in
    WRONG above, or in a test file of its own that names it and asserts the fallback."""
    key = f"{module.__name__.rsplit('.', 1)[1]}.{check}"
    assert key in WRONG or fallback_tests_naming(check), f"{key} has no known-wrong answer in any test"
