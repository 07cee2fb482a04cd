"""Which parameters each method's optimisers update, and with which settings, for every registered
method: the optimiser's kind, its hyper-parameters read back from the optimiser against the
config's fields (the paper's values live there), and the partition of the parameters (the weights
in one optimiser, the architecture in the other, nothing shared, nothing left out)."""
import pytest
import torch

from nasbench.methods import METHODS
from nasbench.optim import TFAdam, TFRMSprop
from test_loops import make

SGD, Adam = torch.optim.SGD, torch.optim.Adam
DARTS_LIKE = [("optimizer", SGD, "supernet", lambda c: {"lr": c.lr, "momentum": c.momentum,
                                                        "weight_decay": c.weight_decay}),
              ("arch_optimizer", Adam, "alpha", lambda c: {"lr": c.arch_lr, "betas": (c.arch_beta1, c.arch_beta2),
                                                           "weight_decay": c.arch_weight_decay})]
EXPECTED = {
    "darts": DARTS_LIKE, "darts-minus": DARTS_LIKE, "nasp": DARTS_LIKE,
    # SNAS/train_search.py on one GPU: plain SGD on alpha (no momentum, no weight decay)
    "snas": [DARTS_LIKE[0], ("arch_optimizer", SGD, "alpha", lambda c: {"lr": c.arch_lr, "momentum": 0,
                                                                          "weight_decay": 0})],
    "gdas": [DARTS_LIKE[0][:3] + (lambda c: {**DARTS_LIKE[0][3](c), "nesterov": True},), DARTS_LIKE[1]],
    "pc-darts": [DARTS_LIKE[0], ("arch_optimizer", Adam, ("alpha", "beta"), DARTS_LIKE[1][3])],
    "random": [DARTS_LIKE[0]],
    "oneshot": [("optimizer", SGD, "supernet", lambda c: {"lr": c.lr, "momentum": c.momentum, "nesterov": True,
                                                          "weight_decay": 0.0})],
    "enas": [("optimizer", SGD, "supernet", lambda c: {"lr": c.lr_max, "momentum": c.momentum, "nesterov": True,
                                                       "weight_decay": 2 * c.l2_reg})],
    "proxyless": [("optimizer", SGD, "supernet", lambda c: {"momentum": c.momentum, "nesterov": True,
                                                            "weight_decay": c.weight_decay}),
                  ("arch_optimizer", Adam, "alpha", lambda c: {"lr": c.arch_lr, "betas": (c.arch_beta1, c.arch_beta2),
                                                               "eps": c.arch_eps, "weight_decay": 0})],
    "fbnet": [("optimizer", SGD, "supernet", lambda c: {"lr": c.lr, "momentum": c.momentum, "weight_decay": c.weight_decay}),
              ("arch_optimizer", Adam, "theta", lambda c: {"lr": c.arch_lr, "weight_decay": c.arch_weight_decay})],
    "spos": [("optimizer", SGD, "supernet", lambda c: {"lr": c.lr, "momentum": c.momentum})],
    "fairnas": [("optimizer", SGD, "supernet", lambda c: {"lr": c.lr, "momentum": c.momentum})],
    # TF's RMSProp (eps inside the root, the square average starting at 1); L2 skips BN (checked below)
    "single-path": [("optimizer", TFRMSprop, "supernet", lambda c: {
        "lr": c.base_lr * c.batch_size / 256, "decay": c.rmsprop_decay, "eps": c.eps, "momentum": c.momentum})],
    "smash": [("optimizer", Adam, "net", lambda c: {"lr": c.lr, "betas": (c.beta1, c.beta2), "eps": c.eps})],
}


def ids(params):
    return {id(p) for p in params}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_optimisers_partition_the_parameters_with_the_configs_settings(name):
    s = make(name)
    s._seed_everything()
    s.setup()
    c = s.config
    covered = set()
    for attr, kind, owners, settings in EXPECTED[name]:
        opt = getattr(s, attr)
        assert type(opt) is kind, (attr, type(opt))
        owners = (owners,) if isinstance(owners, str) else owners
        want = set().union(*(ids(getattr(s, o).parameters()) for o in owners))
        got = [p for g in opt.param_groups for p in g["params"]]
        assert len(got) == len(ids(got)) and ids(got) == want, f"{attr} updates other parameters"
        assert not covered & want, "two optimisers share parameters"
        covered |= want
        for key, value in settings(c).items():
            for g in opt.param_groups:
                held = g.get("initial_lr", g[key]) if key == "lr" else g[key]
                assert held == pytest.approx(value), (attr, key, held, value)
    # the method's special groups
    if name in ("spos", "fairnas"):
        decay = {id(p): g["weight_decay"] for g in s.optimizer.param_groups for p in g["params"]}
        for p in s.supernet.parameters():
            assert decay[id(p)] == (c.weight_decay if p.ndim > 1 else 0.0)
    if name == "single-path":
        bn = {id(p) for m in s.supernet.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
              for p in m.parameters()}
        for g in s.optimizer.param_groups:
            for p in g["params"]:
                assert g["weight_decay"] == (0.0 if id(p) in bn else c.weight_decay)
    if name == "smash":
        hyper = ids(s.net.hypernet.parameters())
        for g in s.optimizer.param_groups:
            assert g["weight_decay"] == (0.0 if ids(g["params"]) <= hyper else c.weight_decay)
            assert ids(g["params"]) <= hyper or not ids(g["params"]) & hyper
    if name == "enas":
        assert ids(s.reinforce.optimizer.param_groups[0]["params"]) == ids(s.controller.parameters())
        assert type(s.reinforce.optimizer) is TFAdam  # eps added before the bias correction, as TF
        assert s.reinforce.optimizer.param_groups[0]["lr"] == pytest.approx(c.controller_lr)
        r = s.reinforce
        assert (r.bl_dec, r.entropy_weight, r.num_aggregate) == (c.bl_dec, c.entropy_weight, c.num_aggregate)
        sched = s.scheduler
        assert (type(sched), sched.T_0, sched.T_mult, sched.eta_min) == (
            torch.optim.lr_scheduler.CosineAnnealingWarmRestarts, c.lr_T_0, c.lr_T_mul, c.lr_min)
        assert all(not m.track_running_stats for m in s.supernet.modules()
                   if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))
