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



# -- known-wrong answers of the core-update exercises ----------------------------------------------
def ws_step_without_zero_grad(supernet, optimizer, x, y, choices):
    loss = torch.nn.functional.cross_entropy(supernet(x, choices=choices), y)
    loss.backward()                                   # adds to whatever .grad held
    optimizer.step()
    return loss.item()


def ws_step_whole_supernet(supernet, optimizer, x, y, choices):
    optimizer.zero_grad(set_to_none=True)
    mix = [torch.full((5,), 0.2) for _ in choices]  # the check's NB201 cell: 5 ops an edge
    loss = torch.nn.functional.cross_entropy(supernet(x, weights=mix), y)   # every op, not the path
    loss.backward()
    optimizer.step()
    return loss.item()


def weight_slice_without_permute(h, N, depth_compression, start, n_in, n_out):
    k, S = h.shape[1:]
    H = h.reshape(k * N, S * depth_compression * N)   # the blocks are not rows of the matrix
    col = start * depth_compression * N
    return H[:n_out, col:col + n_in, None, None]


def weight_slice_start_in_channels(h, N, depth_compression, start, n_in, n_out):
    k, S = h.shape[1:]
    H = h.reshape(N, depth_compression * N, k, S).permute(2, 0, 3, 1).reshape(k * N, S * depth_compression * N)
    return H[:n_out, start:start + n_in, None, None]  # `start` counts slices, not channels


def controller_loss_baseline_after(log_probs, accs, entropies, baseline, bl_dec=0.99, entropy_weight=1e-4):
    losses = []
    for log_prob, acc, entropy in zip(log_probs, accs, entropies):
        reward = acc + entropy_weight * entropy
        losses.append(-log_prob * (reward - baseline))
        baseline = baseline - (1 - bl_dec) * (baseline - reward)   # moved after the loss
    return torch.stack(losses).mean(), baseline


def controller_loss_without_entropy(log_probs, accs, entropies, baseline, bl_dec=0.99, entropy_weight=1e-4):
    losses = []
    for log_prob, acc in zip(log_probs, accs):
        baseline = baseline - (1 - bl_dec) * (baseline - acc)
        losses.append(-log_prob * (acc - baseline))
    return torch.stack(losses).mean(), baseline


def unrolled_grad_first_order(L_train, L_val, w, alpha, xi, r=0.01):
    (g,) = torch.autograd.grad(L_train(w, alpha), w)
    return torch.autograd.grad(L_val((w - xi * g).detach(), alpha), alpha)[0]   # no second-order term


def unrolled_grad_wrong_sign(L_train, L_val, w, alpha, xi, r=0.01):
    from nasbench.exercises.darts import unrolled_grad_reference
    first = unrolled_grad_first_order(L_train, L_val, w, alpha, xi)
    return 2 * first - unrolled_grad_reference(L_train, L_val, w, alpha, xi, r)  # + xi * (...)


def unrolled_grad_hessian_at_w_next(L_train, L_val, w, alpha, xi, r=0.01):
    (g,) = torch.autograd.grad(L_train(w, alpha), w)
    w_next = (w - xi * g).detach().requires_grad_()
    d_alpha, v = torch.autograd.grad(L_val(w_next, alpha), [alpha, w_next])
    eps = r / v.norm()                               # the product taken at w', not at w
    g_plus = torch.autograd.grad(L_train((w_next + eps * v).detach(), alpha), alpha)[0]
    g_minus = torch.autograd.grad(L_train((w_next - eps * v).detach(), alpha), alpha)[0]
    return d_alpha - xi * (g_plus - g_minus) / (2 * eps)


def path_dropout_each_with_r(k, r, rng):
    keep = rng.random(k) >= r                        # r per path, not r^(1/k)
    if not keep.any():
        keep[rng.integers(k)] = True
    return keep


def path_dropout_keeps_the_first(k, r, rng):
    keep = rng.random(k) >= r ** (1 / k)
    if not keep.any():
        keep[0] = True                               # not at random
    return keep


def binary_connect_plain(alpha, gate_grad):
    return gate_grad                                  # dL/dg taken as dL/dalpha


def binary_connect_own_p(alpha, gate_grad):
    p = torch.softmax(alpha, 0)
    return gate_grad * p * (1 - p)                   # the diagonal of the softmax Jacobian only


def fbnet_loss_in_ms(ce, masks, lut, base, unit_ms, alpha=0.2, beta=0.6):
    lat = base + sum((m * torch.tensor(row, dtype=m.dtype)).sum() for m, row in zip(masks, lut))
    return ce * alpha * torch.log(lat) ** beta       # ignores the unit


def fbnet_loss_power_outside(ce, masks, lut, base, unit_ms, alpha=0.2, beta=0.6):
    lat = base + sum((m * torch.tensor(row, dtype=m.dtype)).sum() for m, row in zip(masks, lut))
    return ce * (alpha * torch.log(lat / unit_ms)) ** beta


def next_generation_resample_everything(top, space, rng, mutations, crossovers, mutation_prob, seen):
    from nasbench.exercises.spos import next_generation_reference
    return next_generation_reference(top, space, rng, mutations, crossovers, 0.8, seen)


def next_generation_first_parent_only(top, space, rng, mutations, crossovers, mutation_prob, seen):
    from nasbench.exercises.spos import next_generation_reference
    return next_generation_reference(top[:2], space, rng, mutations, crossovers, mutation_prob, seen)


def next_generation_no_filter(top, space, rng, mutations, crossovers, mutation_prob, seen):
    from nasbench.evaluate.evolution import crossover
    pick = lambda: tuple(top[rng.integers(len(top))])  # noqa: E731
    return ([space.mutate(pick(), rng, mutation_prob) for _ in range(mutations)]
            + [crossover(pick(), pick(), rng) for _ in range(crossovers)])


def _decide_with(indicator_fn):
    def decide(w, t5, t100, t50):
        ring = torch.ones(5, 5, dtype=w.dtype)
        ring[1:4, 1:4] = 0
        w_k = w * (1 - ring) + indicator_fn((w * ring).norm() - t5) * w * ring
        half = w.shape[0] // 2
        return indicator_fn(w_k[:half].norm() - t50) * torch.cat(
            [w_k[:half], indicator_fn(w_k[half:].norm() - t100) * w_k[half:]])
    return decide


decide_soft = _decide_with(torch.sigmoid)                                   # soft forward
decide_no_gradient = _decide_with(lambda x: (x >= 0).to(x.dtype))           # hard, nothing back
decide_identity_gradient = _decide_with(lambda x: (x >= 0).to(x.dtype) + x - x.detach())


def decide_channels_from_w(w, t5, t100, t50):
    from nasbench.supernet.superkernel import indicator
    ring = torch.ones(5, 5, dtype=w.dtype)
    ring[1:4, 1:4] = 0
    w_k = w * (1 - ring) + indicator((w * ring).norm() - t5) * w * ring
    half = w.shape[0] // 2                           # the halves' norms of w, not of w_k
    return indicator(w[:half].norm() - t50) * torch.cat([w_k[:half], indicator(w[half:].norm() - t100) * w_k[half:]])


def fair_step_per_path(supernet, optimizer, x, y, paths):
    losses = []
    for path in paths:                               # m updates, not one
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(supernet(x, choices=path), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def fair_step_mean(supernet, optimizer, x, y, paths):
    optimizer.zero_grad(set_to_none=True)
    loss = sum(torch.nn.functional.cross_entropy(supernet(x, choices=p), y) for p in paths) / len(paths)
    loss.backward()
    optimizer.step()
    return loss.item()


def fair_step_without_zero_grad(supernet, optimizer, x, y, paths):
    losses = []
    for path in paths:
        loss = torch.nn.functional.cross_entropy(supernet(x, choices=path), y)
        loss.backward()
        losses.append(loss.item())
    optimizer.step()
    return float(np.mean(losses))


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
    "tour.check_ws_step": [(ws_step_without_zero_grad, "left-over gradients"),
                           (ws_step_whole_supernet, "the path's loss")],
    "smash.check_weight_slice": [(weight_slice_without_permute, "of the layout"),
                                 (weight_slice_start_in_channels, "of the layout")],
    "enas.check_controller_loss": [(controller_loss_baseline_after, "loss of the worked case"),
                                   (controller_loss_without_entropy, "entropy bonus included")],
    "darts.check_unrolled_grad": [(unrolled_grad_first_order, "the exact unrolled gradient"),
                                  (unrolled_grad_wrong_sign, "the exact unrolled gradient"),
                                  (unrolled_grad_hessian_at_w_next, "the exact unrolled gradient")],
    "one_shot.check_path_dropout": [(path_dropout_each_with_r, "the kept set"),
                                    (path_dropout_keeps_the_first, "the kept set")],
    "hardware.check_binary_connect_grad": [(binary_connect_plain, "finite differences give"),
                                           (binary_connect_own_p, "finite differences give")],
    "hardware.check_fbnet_loss": [(fbnet_loss_in_ms, "units of 10 us"),
                                  (fbnet_loss_power_outside, "hand-worked case")],
    "spos.check_next_generation": [(next_generation_resample_everything, "layers on average"),
                                   (next_generation_first_parent_only, "parents are not picked alike"),
                                   (next_generation_no_filter, "the same architecture")],
    "single_path.check_decide": [(decide_soft, "hard decisions"), (decide_no_gradient, "expected"),
                                 (decide_identity_gradient, "expected"), (decide_channels_from_w, "expected")],
    "fairnas.check_fair_step": [(fair_step_per_path, "the mean of the m paths"),
                                (fair_step_mean, "divided by m"),
                                (fair_step_without_zero_grad, "sum of the m paths' gradients")],
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


# -- every notebook has an exercise in which the student writes the method's core update -----------
CORE = {
    "00_tour": "tour.check_ws_step",                      # random search with weight sharing: one step
    "01_smash": "smash.check_weight_slice",               # the generated weight slice
    "02_enas": "enas.check_controller_loss",              # the controller step
    "03_one_shot": "one_shot.check_path_dropout",         # path dropout
    "04_darts": "darts.check_unrolled_grad",              # the second-order architecture gradient
    "05_proxylessnas": "hardware.check_binary_connect_grad",
    "06_fbnet": "hardware.check_gumbel_softmax",          # the sampler with its temperature
    "07_spos": "spos.check_next_generation",              # the evolution step
    "08_single_path_nas": "single_path.check_decide",     # the indicators of a layer
    "09_fairnas": "fairnas.check_fair_step",              # the strict-fair batch
    "10_compare": "compare.check_synflow",                # the zero-cost proxy
    "11_after_darts": "after_darts.check_straight_through",  # GDAS' sampler
}


@pytest.mark.parametrize("notebook", sorted(CORE))
def test_every_notebook_has_a_core_update_exercise(notebook):
    """The notebook calls `attempt` with the check of its core update, right after the stub's own
    cell, and that check has known-wrong answers."""
    import json
    from pathlib import Path
    cells = json.loads((Path(__file__).parents[1] / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    check = CORE[notebook].split(".")[1]
    calls = [i for i, c in enumerate(cells) if f"{check})" in "".join(c["source"]) and "attempt(" in "".join(c["source"])]
    assert calls, f"{notebook} does not check its core exercise with {check}"
    stub = "".join(cells[calls[0] - 1]["source"])
    assert cells[calls[0] - 1]["cell_type"] == "code" and "raise NotImplementedError" in stub
    assert CORE[notebook] in WRONG or fallback_tests_naming(check)
