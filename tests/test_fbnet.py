"""FBNet: Gumbel-softmax against the Gumbel-max trick and its temperature limits, the loss by
hand, the 80/20 split, the temperature schedule, events, determinism.

What a Gumbel-softmax sample m = softmax((theta + g) / tau) matches, precisely:
  * its argmax is distributed exactly as softmax(theta), at every tau (Gumbel-max trick);
  * as tau -> 0, m tends to that one-hot vector, so E[m] -> softmax(theta);
  * as tau -> infinity, m tends to uniform (1/n each), so E[m] does NOT match softmax(theta) at
    high temperature: a high tau spreads the mixing weights, which is why FBNet anneals it.
The tests check these three statements with 20k samples (standard error ~0.0035 per entry)."""
import math

import pytest
import torch
from torch.nn import functional as F

from nasbench import data as datasets
from nasbench.evaluate.latency import LatencyTable
from nasbench.events import validate
from nasbench.methods import get_method
from nasbench.methods.fbnet import FBNet, FBNetConfig, gumbel_softmax
from nasbench.spaces import get_space

SPACE = "fbnet:stages=2,per_stage=2,stem_stride=1"
THETA = torch.tensor([1.0, 0.0, -1.0, 0.5])


def _samples(tau, n=20000):
    torch.manual_seed(0)
    return gumbel_softmax(THETA.expand(n, 4), tau)  # (n, 4), one sample per row


@pytest.mark.parametrize("tau", [0.1, 1.0, 5.0, 50.0])
def test_argmax_is_distributed_as_softmax_at_every_temperature(tau):
    m = _samples(tau)
    freq = torch.bincount(m.argmax(1), minlength=4).float() / len(m)
    assert torch.allclose(freq, F.softmax(THETA, 0), atol=0.015)


def test_low_temperature_samples_are_one_hot_and_average_to_softmax():
    m = _samples(0.02)
    assert m.max(1).values.mean() > 0.99
    assert torch.allclose(m.mean(0), F.softmax(THETA, 0), atol=0.015)


def test_high_temperature_samples_approach_uniform_not_softmax():
    m = _samples(100.0)
    assert torch.allclose(m.mean(0), torch.full((4,), 0.25), atol=0.01)
    assert m.max(1).values.mean() < 0.27
    # in between, samples get sharper as tau falls (the annealing of FBNet)
    sharpness = [_samples(t).max(1).values.mean().item() for t in (5.0, 1.0, 0.2)]
    assert sharpness == sorted(sharpness)


def test_temperature_schedule_and_defaults():
    c = FBNetConfig()
    assert (c.tau0, c.tau_decay, c.reg_alpha, c.reg_beta, c.arch_lr, c.arch_weight_decay, c.lr,
            c.warmup_epochs, c.arch_fraction) == (5.0, 0.045, 0.2, 0.6, 0.01, 5e-4, 0.1, 10, 0.2)
    s = FBNet(SPACE, "digits", progress=False, latency_table="unused", warmup_epochs=10, epochs=90)
    # the schedule counts search epochs only: tau0 through the 10 warm-up epochs and the first
    # search epoch, then x exp(-0.045) per epoch
    assert [s.tau(e) for e in (0, 9, 10)] == [5.0, 5.0, 5.0]
    assert s.tau(20) == pytest.approx(5.0 * math.exp(-0.45))
    n = len(s.data.train) + len(s.data.valid)
    assert len(s.data.valid) / n == pytest.approx(0.2, abs=0.01)


def test_the_80_20_split_holds_on_digits_bench_too():
    """theta trains on 20% of the pool whatever the data set (it used to be 50% on digits-bench),
    and the ground-truth table still applies: the split leaves pool and test set unchanged."""
    s = FBNet("chain-small", "digits-bench", progress=False, latency_table="unused")
    n = len(s.data.train) + len(s.data.valid)
    assert len(s.data.valid) / n == pytest.approx(0.2, abs=0.01)
    assert s.truth([0, 0, 0]) is not None


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    space = get_space(SPACE)
    lut = [[0.1 * (k + 1) for k in range(len(opts))] for opts in space.options]
    t = LatencyTable(space=space.name, device="cpu", threads=1, torch_version=torch.__version__, batch_size=1,
                     lut=lut, spread=[[0.0] * len(r) for r in lut], base_ms=0.5, options=space.options)
    return str(t.save(tmp_path_factory.mktemp("lut") / "lut.json"))


def _run(table, **kw):
    kw = {"epochs": 3, "warmup_epochs": 1, "batch_size": 32, "n_train": 320, "latency_table": table, **kw}
    return FBNet(SPACE, "digits", progress=False, **kw).run()


def test_loss_by_hand(table):
    s = FBNet(SPACE, "digits", progress=False, latency_table=table, log_unit_ms=0.01)
    s.setup()
    masks = [F.one_hot(torch.tensor(0), len(o)).float() for o in s.space.options]
    logits, y = torch.zeros(2, 10), torch.tensor([1, 2])
    loss, ce = s.loss(logits, y, masks)
    lat = 0.5 + 0.1 * len(s.space.options)  # base + the first candidate (0.1 ms) of every layer
    assert float(ce) == pytest.approx(math.log(10))
    assert float(loss) == pytest.approx(math.log(10) * 0.2 * math.log(lat / 0.01) ** 0.6, rel=1e-5)


def test_run_events_determinism_and_temperature(table):
    a, b = _run(table), _run(table)
    assert not validate(a.events)
    strip = lambda ev: [{k: v for k, v in e.items() if k not in ("t", "wall")} for e in ev]  # noqa: E731
    assert strip(a.events) == strip(b.events)
    temps = [e["value"] for e in a.events if e["type"] == "metric" and e["name"] == "temperature"]
    assert temps == pytest.approx([5.0, 5.0, 5.0 * math.exp(-0.045)])  # 1 warm-up epoch
    arch_epochs = {e["epoch"] for e in a.events if e["type"] == "step" and e["phase"] == "arch"}
    assert arch_epochs == {1, 2}  # not during the warm-up epoch
    names = {e["name"] for e in a.events if e["type"] == "metric"}
    assert {"expected_latency_ms", "latency_loss", "task_loss", "temperature"} <= names
    assert a.events[0]["config"]["lut"]["lut"]


def test_registered():
    assert get_method("fbnet") is FBNet


def test_resume_gives_the_uninterrupted_run(table, tmp_path):
    full = _run(table)

    def stop(e):
        if e["type"] == "step" and e["epoch"] == 2:
            raise KeyboardInterrupt
    kw = {"epochs": 3, "warmup_epochs": 1, "batch_size": 32, "n_train": 320, "latency_table": table}
    assert FBNet(SPACE, "digits", progress=False, out=tmp_path, callbacks=[stop], **kw).run().status == "interrupted"
    resumed = FBNet(SPACE, "digits", progress=False, out=tmp_path, resume=True, **kw).run()
    strip = lambda ev: [{k: v for k, v in e.items() if k not in ("t", "wall")} for e in ev]  # noqa: E731
    assert strip(resumed.events) == strip(full.events)


# -- what the second mutation run left open ---------------------------------------------------------
def test_latency_loss_none_is_plain_cross_entropy(table):
    """latency_loss="none" (the ablation without the latency term): L = CE, by hand."""
    s = FBNet(SPACE, "digits", progress=False, latency_table=table, latency_loss="none", n_train=160)
    s.setup()
    masks = [F.one_hot(torch.tensor(0), len(o)).float() for o in s.space.options]
    loss, ce = s.loss(torch.zeros(2, 10), torch.tensor([1, 2]), masks)
    assert float(loss) == float(ce) == pytest.approx(math.log(10))


def test_theta_trains_on_full_reshuffled_batches_and_the_latency_metric_is_the_difference(table):
    """Each search epoch theta takes floor(n_valid / B) steps on full batches of the 20% split (64
    images, B = 24: 2 steps), drawn in a new order each epoch by the run's generator; the
    `latency_loss` metric is the arch loss minus its cross-entropy."""
    s = FBNet(SPACE, "digits", progress=False, latency_table=table, epochs=3, warmup_epochs=1, batch_size=24,
              n_train=320)
    theta_batches = []
    forward = s.forward

    def spy(x, tau, detach_theta):
        if not detach_theta:
            theta_batches.append((s.epoch, x.clone()))
        return forward(x, tau, detach_theta)
    s.forward = spy
    generators, batches = [], s.data.valid.batches

    def valid_batches(*args, **kw):
        generators.append(kw.get("generator"))
        return batches(*args, **kw)
    s.data.valid.batches = valid_batches
    events = s.run().events
    assert len(s.data.valid) == 64
    assert generators and all(g is s.generator for g in generators)  # the run's own generator
    assert [(e, len(x)) for e, x in theta_batches] == [(1, 24), (1, 24), (2, 24), (2, 24)]
    assert not torch.equal(theta_batches[0][1], theta_batches[2][1])
    arch = [e["loss"] for e in events if e["type"] == "step" and e["phase"] == "arch"]
    ce = [e["value"] for e in events if e["type"] == "metric" and e["name"] == "task_loss"]
    latency = [e["value"] for e in events if e["type"] == "metric" and e["name"] == "latency_loss"]
    assert len(arch) == len(ce) == len(latency) == 4
    assert latency == pytest.approx([a - c for a, c in zip(arch, ce)], rel=1e-5)


def test_gumbel_softmax_draws_from_the_generator_it_is_given_and_clamps_u_at_zero(monkeypatch):
    """Equal generators give equal samples and leave the global RNG alone; u = 0 exactly (which
    torch.rand can return) is clamped, so g is finite and m = softmax(theta / tau)."""
    state = torch.get_rng_state()
    a = gumbel_softmax(THETA, 1.0, torch.Generator().manual_seed(5))
    b = gumbel_softmax(THETA, 1.0, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), state)
    monkeypatch.setattr(torch, "rand", lambda shape, **kw: torch.zeros(shape))
    assert torch.allclose(gumbel_softmax(THETA, 2.0), F.softmax(THETA / 2.0, 0))
