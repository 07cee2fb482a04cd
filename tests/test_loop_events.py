"""What every method's loop reports is what its steps did, for every registered method: each
weight step's `step` event carries the accuracy of the forward(s) that step ran on its training
batch (recomputed here from the logits a hook saw and the labels of those images) and the learning
rate the optimiser held during that forward; phases are the method's own."""
import dataclasses

import pytest
import torch

from nasbench.methods import METHODS, get_method
from test_loops import after_setup, make

PHASES = {"enas": {"weights", "controller"}, "darts": {"weights", "arch"}, "darts-minus": {"weights", "arch"},
          "gdas": {"weights", "arch"}, "snas": {"weights"}, "pc-darts": {"weights", "arch"},
          "nasp": {"weights", "arch"}, "proxyless": {"weights", "arch"}, "fbnet": {"weights", "arch"}}
NET = {"smash": "net"}
SIZES = {"proxyless": {"epochs": 3}, "fbnet": {"n_train": 160}, "pc-darts": {"warmup_epochs": 0}}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_step_events_report_the_steps_forward_accuracy_and_lr(name):
    seq = []
    s = make(name, **{"epochs": 2, **SIZES.get(name, {})}, callbacks=[lambda e: seq.append(("event", e))])

    def install(s):
        labels = {img.numpy().tobytes(): int(y) for img, y in zip(s.data.train.x, s.data.train.y)}

        def hook(module, args, kwargs, out):
            x = args[0]
            keys = [img.numpy().tobytes() for img in x]
            if torch.is_grad_enabled() and all(k in labels for k in keys):
                y = torch.tensor([labels[k] for k in keys])
                acc = float((out.detach().argmax(1) == y).float().mean())
                seq.append(("train", acc, s.optimizer.param_groups[0]["lr"]))
        getattr(s, NET.get(name, "supernet")).register_forward_hook(hook, with_kwargs=True)
    after_setup(s, install)
    s.run()
    phases, pending, checked = set(), [], 0
    for item in seq:
        if item[0] == "train":
            pending.append(item[1:])
            continue
        event = item[1]
        if event["type"] != "step":
            continue
        phases.add(event["phase"])
        if event["phase"] == "weights":
            assert pending, f"a weights step without a forward on a training batch: {event}"
            accs, lrs = zip(*pending)
            assert event["acc"] == pytest.approx(sum(accs) / len(accs), abs=1e-6)
            assert event["lr"] == pytest.approx(lrs[-1]) and len(set(lrs)) == 1
            checked += 1
            pending = []
        elif event["phase"] != "weights":
            pending = []  # SNAS-style single-level steps have no separate arch phase
    assert checked == s.total_steps
    assert phases == PHASES.get(name, {"weights"})


CADENCED = sorted(n for n in METHODS if "alpha_every" in {f.name for f in dataclasses.fields(get_method(n).Config)})


@pytest.mark.parametrize("name", CADENCED)
def test_alpha_is_logged_right_after_every_alpha_every_th_weight_step(name):
    """`alpha_every = k`: the alpha view gets the distribution right after weight steps k-1,
    2k-1, ... (counted from 0) and after no other step inside an epoch; each epoch that did not end
    on such a step ends with one more alpha event (so the view ends on the epoch's last alpha)."""
    k = 3
    s = make(name, **{"epochs": 3, **SIZES.get(name, {}), "alpha_every": k})
    events = s.run().events
    weight_steps = [i for i, e in enumerate(events) if e["type"] == "step" and e["phase"] == "weights"]
    assert len(weight_steps) == s.total_steps >= 2 * k
    for i, at in enumerate(weight_steps):
        step = events[at]["step"]
        until = weight_steps[i + 1] if i + 1 < len(weight_steps) else len(events)
        right_after = [e for e in events[at + 1:until] if e["type"] == "alpha" and e["step"] == step]
        assert len(right_after) == ((step + 1) % k == 0), (step, right_after)
    epochs = [e for e in events if e["type"] == "genotype"]
    assert epochs, "every epoch ends with its genotype"
    for g in epochs:
        before = events[:events.index(g)]
        last_step = max(e["step"] for e in before if e["type"] == "step" and e["phase"] == "weights")
        assert any(e["type"] == "alpha" and e["step"] in (last_step, last_step + 1) for e in before[-6:]), \
            f"epoch ending after step {last_step} has no alpha event"


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_builds_its_head_for_the_datas_classes(name):
    """A 12-class task (digits with two labels moved to classes 10 and 11): every network the
    method trains outputs 12 logits, and the run completes (a head fixed at 10 outputs would
    fail on labels 10 and 11, or silently drop classes)."""
    import dataclasses as dc
    from nasbench.data import load
    digits = load("digits", n_train=64, seed=0)
    move = lambda s: dc.replace(s, y=torch.where(s.y >= 8, s.y + 2, s.y))  # noqa: E731
    data = dc.replace(digits, train=move(digits.train), valid=move(digits.valid), test=move(digits.test),
                      num_classes=12)
    warmup = {"warmup_epochs": 0} if name in ("fbnet", "pc-darts") else {}
    s = make(name, **{"epochs": 1, **warmup, **SIZES.get(name, {})})
    widths = []

    def install(s):
        getattr(s, NET.get(name, "supernet")).register_forward_hook(lambda m, a, out: widths.append(out.shape[-1]))
    after_setup(s, install)
    s.data = data
    assert s.run().status == "completed"
    assert widths and set(widths) == {12}
