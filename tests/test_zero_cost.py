"""Zero-cost proxies against hand-computed values on tiny networks (closed-form gradients,
explicit Hessians and Jacobians, explicit binary codes), never against the proxies' own code."""
import numpy as np
import pytest
import torch
from torch import nn

from nasbench.evaluate import zero_cost
from nasbench.evaluate.zero_cost import PROXIES, score

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def batch(n=6, d=5, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)


def linear(d=5, classes=3, bias=False, seed=0):
    torch.manual_seed(seed)
    return nn.Linear(d, classes, bias=bias)


def softmax_grad(W, b, x, y):
    """dL/dW, dL/da of mean cross-entropy for logits a = x W^T + b, in closed form (numpy)."""
    a = x @ W.T + (b if b is not None else 0)
    p = np.exp(a - a.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g_a = (p - np.eye(W.shape[0])[y]) / len(x)
    return g_a.T @ x, g_a, a


def test_snip_and_grad_norm_match_the_closed_form_gradient():
    x, y = batch()
    model = linear()
    W = model.weight.detach().numpy()
    G, _, _ = softmax_grad(W, None, x.numpy(), y.numpy())
    assert score(model, x, y, "snip") == pytest.approx(np.abs(W * G).sum(), rel=1e-10)
    assert score(model, x, y, "grad_norm") == pytest.approx(np.linalg.norm(G), rel=1e-10)


def test_grasp_matches_an_explicit_hessian():
    x, y = batch()
    model = linear()
    w0 = model.weight.detach().clone()

    def loss(w):
        return nn.functional.cross_entropy(x @ w.reshape(w0.shape).T, y)

    H = torch.autograd.functional.hessian(loss, w0.flatten())          # (15, 15), explicit
    g = torch.autograd.functional.jacobian(loss, w0.flatten())
    expected = float(-(w0.flatten() * (H @ g)).sum())
    assert score(model, x, y, "grasp") == pytest.approx(expected, rel=1e-8)


def test_fisher_matches_the_closed_form_per_channel_value_times_fan_in():
    x, y = batch()
    model = linear(bias=True)
    W, b = model.weight.detach().numpy(), model.bias.detach().numpy()
    _, g_a, a = softmax_grad(W, b, x.numpy(), y.numpy())
    per_channel = 0.5 * ((a * g_a) ** 2).mean(0)                       # (classes,)
    assert score(model, x, y, "fisher") == pytest.approx(per_channel.sum() * W.shape[1], rel=1e-10)


def test_synflow_of_a_two_layer_net_is_twice_its_path_product():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6, bias=False), nn.ReLU(), nn.BatchNorm1d(6),
                          nn.Linear(6, 3, bias=False))
    W1, W2 = (np.abs(m.weight.detach().numpy()) for m in (model[0], model[3]))
    # R = 1^T |W2| |W1| 1; each layer's sum |W * dR/dW| equals R, whatever the data
    R = np.ones(3) @ W2 @ W1 @ np.ones(4)
    x, y = batch(d=4)
    assert score(model, x, y, "synflow") == pytest.approx(2 * R, rel=1e-10)
    assert (model[0].weight < 0).any(), "the scored network must be a copy"


def test_jacob_cov_matches_per_image_jacobians():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = batch(n=6)
    rows = []
    for xi in x:  # one image at a time: d(sum of logits)/d(image)
        rows.append(torch.autograd.functional.jacobian(lambda v: model(v[None]).sum(), xi).numpy())
    v = np.linalg.eigvals(np.corrcoef(np.stack(rows))).real
    expected = -np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5))
    assert score(model, x, y, "jacob_cov") == pytest.approx(expected, rel=1e-6)


def test_naswot_matches_explicit_hamming_agreements():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.ReLU6(), nn.Linear(6, 3))
    x, y = batch(n=5)
    with torch.no_grad():
        h1 = model[0](x)
        h2 = model[2](torch.relu(h1))
    codes = np.concatenate([(h1 > 0).numpy(), (h2 > 0).numpy()], axis=1)
    K = np.array([[np.sum(ci == cj) for cj in codes] for ci in codes], dtype=float)
    assert score(model, x, y, "naswot") == pytest.approx(np.linalg.slogdet(K)[1], rel=1e-10)


class DeadBranch(nn.Module):
    """A ReLU whose output never reaches the logits (as an NB201 cell whose output ignores a
    node): no gradient flows back to it."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.head = nn.Linear(5, 7), nn.Linear(5, 4), nn.Linear(7, 3)
        self.relu_a, self.relu_b = nn.ReLU(), nn.ReLU()

    def forward(self, x):
        self.relu_b(self.b(x))                       # computed, then dropped
        return self.head(self.relu_a(self.a(x)))


def test_naswot_counts_only_relus_that_get_a_backward_pass():
    """BayesWatch score_networks.py: the counting forward hook returns early for a ReLU with no
    `visited_backwards`; K here is built by hand from the live ReLU's codes alone."""
    torch.manual_seed(4)
    model = DeadBranch()
    x, y = batch(n=5)
    with torch.no_grad():
        codes = (model.a(x) > 0).numpy()
    K = np.array([[np.sum(ci == cj) for cj in codes] for ci in codes], dtype=float)
    assert score(model, x, y, "naswot") == pytest.approx(np.linalg.slogdet(K)[1], rel=1e-10)


def test_naswot_is_scored_on_a_batch_of_128(monkeypatch):
    """nas-without-training's default --batch_size is 128; the other proxies keep 64."""
    from nasbench import data as datasets
    from nasbench.spaces import get_space
    seen = {}
    monkeypatch.setitem(PROXIES, "naswot", lambda m, x, y: seen.setdefault("naswot", len(x)) * 0.0)
    monkeypatch.setitem(PROXIES, "snip", lambda m, x, y: seen.setdefault("snip", len(x)) * 0.0)
    d = datasets.load("digits", n_train=400, seed=0)
    zero_cost.score_space(get_space("nb201-small"), d, ["naswot", "snip"], archs=[(3, 1, 2)],
                          progress=False, C=4, layers=1)
    assert seen == {"naswot": 128, "snip": 64}


@pytest.mark.parametrize("proxy", list(PROXIES))
def test_every_proxy_leaves_the_network_untouched_and_is_repeatable(proxy):
    from nasbench.spaces import get_space
    space = get_space("nb201-small")
    torch.manual_seed(0)
    model = space.build((3, 1, 2), C=4, layers=1, num_classes=10, in_channels=1).float()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 1, 8, 8, generator=g, dtype=torch.float32), torch.randint(0, 10, (8,), generator=g)
    first = score(model, x, y, proxy)
    assert np.isfinite(first)
    assert score(model, x, y, proxy) == pytest.approx(first, rel=1e-6)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"{proxy} changed {k}"


def test_unknown_proxy_is_a_clear_error():
    x, y = batch()
    with pytest.raises(ValueError, match="unknown zero-cost proxy 'synfow'"):
        score(linear(), x, y, "synfow")
