"""The collapse signal of Zela et al.: the power-iteration eigenvalue against the full Hessian
(torch.autograd.functional.hessian + numpy eigvalsh) on closed-form quadratics and a tiny DARTS
supernet, DARTS-ES' rule on hand-computed sequences, and DARTS with the signal switched on."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from nasbench.data import load
from nasbench.evaluate.hessian import dominant_eigenvalue, early_stop_index
from nasbench.events import validate
from nasbench.methods import get_method
from nasbench.methods.base import ConfigError
from nasbench.spaces import get_space


def quadratic(matrix, b):
    """0.5 x^T A x + b^T x + a cubic in x[0] (zero Hessian contribution at x = 0), split over
    two tensors like alpha_normal / alpha_reduce."""
    a = torch.tensor(matrix, dtype=torch.float64)
    x = torch.zeros(len(a), dtype=torch.float64, requires_grad=True)
    parts = list(torch.split(x, [len(a) // 2, len(a) - len(a) // 2]))
    leaves = [p.detach().clone().requires_grad_() for p in parts]
    z = torch.cat(leaves)
    loss = 0.5 * z @ a @ z + torch.tensor(b, dtype=torch.float64) @ z + z[0] ** 3
    return loss, leaves


@pytest.mark.parametrize("sign", [1, -1])
def test_power_iteration_finds_the_largest_eigenvalue_of_a_quadratic(sign):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(7, 7)))
    # sign -1: the eigenvalue of largest magnitude is negative (-9), the largest is 2.5
    spectrum = np.array([9.0, 2.5, 1.0, 0.5, -0.3, -1.0, -2.0]) * sign
    a = q @ np.diag(spectrum) @ q.T
    loss, leaves = quadratic(a, rng.normal(size=7))
    got = dominant_eigenvalue(loss, leaves, iters=500, tol=1e-10)
    assert got == pytest.approx(np.linalg.eigvalsh(a).max(), rel=1e-6)
    loss, leaves = quadratic(a, rng.normal(size=7))
    assert dominant_eigenvalue(loss, leaves, weight_decay=0.25, iters=500, tol=1e-10) == pytest.approx(
        np.linalg.eigvalsh(a).max() + 0.25, rel=1e-6)


def test_power_iteration_matches_the_full_hessian_of_a_tiny_supernet():
    torch.manual_seed(0)
    space = get_space("darts:steps=1")            # 2 cells types x 2 edges x 8 ops: 32 alphas
    net = space.supernet(C=2, layers=3, num_classes=3, in_channels=1).double().train()
    sizes = [len(o) for o in space.options]
    flat = (0.5 * torch.randn(sum(sizes), dtype=torch.float64))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 1, 5, 5, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])

    def val_loss(vector):    # written out here: softmax mixing per decision, cross-entropy
        weights = [a.softmax(-1) for a in torch.split(vector, sizes)]
        return F.cross_entropy(net(x, weights=weights), y)

    hessian = torch.autograd.functional.hessian(val_loss, flat).numpy()
    assert np.allclose(hessian, hessian.T, atol=1e-10)
    expected = np.linalg.eigvalsh(hessian).max()
    alpha = [a.clone().requires_grad_() for a in torch.split(flat, sizes)]
    loss = F.cross_entropy(net(x, weights=[a.softmax(-1) for a in alpha]), y)
    got = dominant_eigenvalue(loss, alpha, iters=2000, tol=1e-12)
    assert got == pytest.approx(expected, rel=1e-5)
    assert got > 0


def test_early_stop_on_hand_computed_sequences():
    # window 3, delta 1: local averages 1, 1, 4/3, 7/3 (centred, cut at the start)
    assert early_stop_index([1, 1, 1, 2, 4], window=3, delta=1, factor=1.5, start=1) == 2
    # (7/3) / (4/3) = 1.75: a factor of 1.8 never fires; without the last value, 4/3 never does
    assert early_stop_index([1, 1, 1, 2, 4], window=3, delta=1, factor=1.8, start=1) is None
    assert early_stop_index([1, 1, 1, 2], window=3, delta=1, factor=1.5, start=1) is None
    # RobustDARTS' defaults: the first check is measurement 14 against 10 (10 = start), and it
    # needs measurements 12..16; mean(1, 1, 5, 5, 5) = 3.4 > 1.3 * 1 -> return measurement 10
    assert early_stop_index([1] * 14 + [5, 5, 5]) == 10
    assert early_stop_index([1] * 14 + [5, 5]) is None                  # 16 measurements: too few
    assert early_stop_index([1] * 14 + [1.2, 1.2, 1.2]) is None         # 1.12 < 1.3
    # centre 14: mean(ev[12:17]) = 1, no; centre 15: mean(1, 1, 1, 1, 5) = 1.8 > 1.3 -> 15 - 4 = 11
    assert early_stop_index([1] * 17 + [5] * 3) == 11


def test_early_stop_ignores_non_positive_averages():
    assert early_stop_index([-1, -1, -1, 1, 1], window=1, delta=1, factor=1.3, start=0) is None


@pytest.fixture(scope="module")
def small_data():
    return load("digits", n_train=160)  # 80 train / 80 valid


def darts(data, epochs=2, **kw):
    return get_method("darts")("darts:steps=2", data, epochs=epochs, batch_size=32, C=2, layers=3, order=1,
                               alpha_every=2, arch_lr=0.05, progress=False, device="cpu", **kw)


def run_darts(data, **kw):
    return darts(data, **kw).run()


def strip(events, drop=("hessian_eigenvalue", "parameter_free_share")):
    return [{k: v for k, v in e.items() if k not in ("t", "wall")} for e in events
            if e.get("name") not in drop and e["type"] != "run_start"]


def test_watching_the_hessian_leaves_the_search_unchanged(small_data):
    plain_search, watched_search = darts(small_data), darts(small_data, hessian_every=2)
    plain, watched = plain_search.run(), watched_search.run()
    assert validate(watched.events) == []
    assert strip(watched.events) == strip(plain.events)   # the RNG untouched
    after = watched_search.supernet.state_dict()          # and BN's running statistics too
    assert all(torch.equal(v, after[k]) for k, v in plain_search.supernet.state_dict().items())
    eig = [e for e in watched.events if e.get("name") == "hessian_eigenvalue"]
    share = [e for e in watched.events if e.get("name") == "parameter_free_share"]
    assert [e["step"] for e in eig] == [1, 3] == [e["step"] for e in share]
    assert all(np.isfinite(e["value"]) for e in eig)
    assert all(0 <= e["value"] <= 1 for e in share)
    assert not any(e.get("name") == "hessian_eigenvalue" for e in plain.events)


def test_early_stop_returns_the_genotype_of_the_stop_measurement(small_data, monkeypatch):
    """A scripted eigenvalue sequence (rising at measurement 3) drives DARTS-ES in the real loop."""
    import nasbench.methods.darts as darts
    values = iter([1.0, 1.0, 1.0, 1.0, 4.0, 4.0, 4.0, 4.0])
    monkeypatch.setattr(darts, "dominant_eigenvalue", lambda *a, **k: next(values))
    result = run_darts(small_data, epochs=3, hessian_every=1, early_stop=True, es_window=1, es_delta=1,
                       es_factor=2.0, es_start=0)
    events = result.events
    stop = [e for e in events if e.get("name") == "early_stop"]
    # measurements 0..4 at steps 0..4 (2 steps an epoch); 4.0 / 1.0 > 2 at measurement 4 -> 3
    assert [(e["step"], e["value"]) for e in stop] == [(4, 3)]
    assert result.steps == 5 and result.status == "completed"
    # the returned genotype is alpha's at step 3 (its alpha event comes just before the measurement)
    alpha_at_3 = next(e for e in events if e["type"] == "alpha" and e["step"] == 3)
    genotypes = [e for e in events if e["type"] == "genotype"]
    assert [g["step"] for g in genotypes] == [2, 4, 5]
    assert genotypes[-1]["choices"] == list(get_space("darts:steps=2").derive(alpha_at_3["probs"]))
    assert events[-1]["best"] == genotypes[-1]["arch"]


def test_settings_are_checked(small_data):
    with pytest.raises(ConfigError, match="hessian_every"):
        run_darts(small_data, early_stop=True)
    with pytest.raises(ConfigError, match="es_delta"):
        run_darts(small_data, hessian_every=1, early_stop=True, es_delta=0)
    with pytest.raises(ConfigError, match="loop of its own"):
        get_method("gdas")("darts:steps=2", small_data, epochs=1, batch_size=32, C=2, layers=3,
                           hessian_every=1, progress=False).run()


def test_darts_minus_logs_the_signal_through_darts_loop(small_data):
    result = get_method("darts-minus")("darts:steps=2", small_data, steps=2, batch_size=32, C=2, layers=3,
                                       order=1, hessian_every=2, progress=False, device="cpu").run()
    assert result.status == "completed" and validate(result.events) == []
    assert [e["step"] for e in result.events if e.get("name") == "hessian_eigenvalue"] == [1]
