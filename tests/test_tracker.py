"""The tracker: a foreign loop's values become schema events, bad ones are refused in one line
before anything is written, and the `with` block ends the log whatever happens."""
import json
import math

import numpy as np
import pytest
import torch


from nasbench import formats
from nasbench.events import read_events, validate
from nasbench.spaces import get_space
from nasbench.tracker import Tracker, TrackerError
from official_darts_loop import genotype_of  # quark0's Network.genotype(), the reference

SPACE = {"layer0": ["conv", "skip"], "layer1": ["conv", "pool", "skip"]}


def test_a_loop_writes_a_valid_log_and_summary(tmp_path):
    seen = []
    with Tracker(tmp_path / "run", space=SPACE, method="mine", config={"lr": 0.1, "path": tmp_path},
                 callbacks=[seen.append]) as run:
        run.sample(0, [1, 2])
        run.step(0, torch.tensor(2.5), acc=np.float32(0.25), lr=0.1)
        run.alpha(0, [[0.3, 0.7], [0.2, 0.3, 0.5]], logits=False)
        run.metric(0, "entropy", 0.9)
        run.genotype(0, {"layer0": "skip", "layer1": 0})
        run.eval([0, 1], 0.5, "valid_acc", step=0, truth=0.6)
    events = read_events(tmp_path / "run" / "events.jsonl")
    assert validate(events) == [] and events == seen
    assert [e["type"] for e in events] == ["run_start", "sample", "step", "alpha", "metric", "genotype",
                                           "eval", "run_end"]
    assert events[1]["arch"] == "layer0=skip,layer1=skip" and events[5]["choices"] == [1, 0]
    assert events[2]["loss"] == 2.5 and events[2]["acc"] == 0.25
    assert events[0]["config"]["path"] == str(tmp_path)  # odd config values become strings
    assert events[-1]["status"] == "completed" and events[-1]["best"] == "layer0=skip,layer1=conv"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["best_choices"] == [1, 0] and summary["steps"] == 1


def test_logits_are_softmaxed_per_row_probabilities_kept():
    got = []
    run = Tracker(None, space=SPACE, callbacks=[got.append])
    rows = [torch.tensor([0.0, math.log(3)], dtype=torch.float64), torch.tensor([1.0, 2.0, 3.0])]
    run.alpha(0, rows, logits=True)  # ragged: a list of 1-D tensors
    e = [math.exp(1), math.exp(2), math.exp(3)]
    assert got[-1]["probs"][0] == pytest.approx([0.25, 0.75], abs=1e-15)        # by hand, float64
    assert got[-1]["probs"][1] == pytest.approx([v / sum(e) for v in e], abs=1e-7)  # float32
    run.alpha(1, [np.array([0.25, 0.75]), [0.2, 0.3, 0.5]], logits=False)
    assert got[-1]["probs"] == [[0.25, 0.75], [0.2, 0.3, 0.5]]


def test_one_hot_masks_index_lists_and_dicts_give_the_same_path():
    got = []
    run = Tracker(None, space=SPACE, callbacks=[got.append])
    run.sample(0, [[0, 1], [0, 0, 1]])
    run.sample(1, [torch.tensor([False, True]), torch.tensor([False, False, True])])
    run.sample(2, torch.tensor([1, 2]))
    run.sample(3, {"layer1": "skip", "layer0": "skip"})
    assert [e["choices"] for e in got[1:]] == [[1, 2]] * 4


def test_a_2d_tensor_of_darts_alphas_fits_our_darts_space():
    got = []
    run = Tracker(None, space="darts", callbacks=[got.append])
    normal, reduce = torch.randn(14, 8), torch.randn(14, 8)
    run.alpha(0, torch.cat([normal, reduce]), logits=True)
    expected = torch.softmax(torch.cat([normal, reduce]), dim=-1)
    assert np.allclose(got[-1]["probs"], expected.numpy(), atol=1e-6)
    assert got[0]["space"] == get_space("darts").describe()


@pytest.mark.parametrize("call, words", [
    (lambda r: r.alpha(0, [[0.5, 0.5], [0.5, 0.5]], logits=False), "row 1 (layer1) has 2 values"),
    (lambda r: r.alpha(0, [[0.5, 0.5]], logits=True), "one row per decision (2), got 1 rows"),
    (lambda r: r.alpha(0, [[2.0, 1.0], [1.0, 1.0, 1.0]], logits=False), "pass logits=True"),
    (lambda r: r.alpha(0, [[0.5, float("nan")], [1.0, 1.0, 1.0]], logits=True), "not a finite number"),
    (lambda r: r.alpha(0, [[0.5, 0.5], [0.2, 0.3, 0.5]], logits=None), "say what alpha holds"),
    (lambda r: r.sample(0, [0, 3]), "choice 3 for decision 'layer1'"),
    (lambda r: r.sample(0, [0]), "one choice per decision: 2, got 1"),
    (lambda r: r.sample(0, [[1, 1], [0, 0, 1]]), "not one-hot"),
    (lambda r: r.sample(0, {"layer0": "conv", "layer1": "conv3x3"}), "unknown option 'conv3x3'"),
    (lambda r: r.sample(0, {"layer0": 0, "layer9": 0}), "unknown decision 'layer9'"),
    (lambda r: r.sample(0, [0, 1], purpose="warmup"), "purpose must be one of"),
    (lambda r: r.step(0, float("inf")), "the weights loss at step 0 is inf"),
    (lambda r: r.step(-1, 1.0), "step must be a non-negative integer"),
    (lambda r: r.metric(0, "reward", torch.tensor(float("nan"))), "metric 'reward' is nan"),
    (lambda r: r.eval([0, 0], 0.5, "acc", rank=3), "eval has no field 'rank'"),
])
def test_bad_values_get_one_line_errors_and_leave_the_log_valid(tmp_path, call, words):
    run = Tracker(tmp_path / "run", space=SPACE)
    with pytest.raises(TrackerError) as error:
        call(run)
    assert words in str(error.value) and "\n" not in str(error.value), str(error.value)
    run.end()
    assert validate(read_events(tmp_path / "run" / "events.jsonl")) == []


@pytest.mark.parametrize("space, words", [
    ({}, "one option list per decision"),
    ({"a": []}, "non-empty list of distinct strings"),
    ({"a": ["x", "x"]}, "distinct strings"),
    (42, "describe the space"),
])
def test_bad_spaces_are_named(space, words):
    with pytest.raises(TrackerError, match=words):
        Tracker(None, space=space)


def test_an_exception_ends_the_log_as_failed_and_goes_on(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with Tracker(tmp_path / "run", space=SPACE) as run:
            run.step(0, 1.0)
            1 / 0
    events = read_events(tmp_path / "run" / "events.jsonl")
    assert validate(events) == []
    assert events[-1]["status"] == "failed" and events[-1]["error"] == "ZeroDivisionError: division by zero"


def test_ctrl_c_ends_the_log_as_interrupted_with_the_best_so_far(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with Tracker(tmp_path / "run.jsonl", space=SPACE) as run:
            run.genotype(3, [1, 1])
            raise KeyboardInterrupt
    events = read_events(tmp_path / "run.jsonl")
    assert validate(events) == [] and events[-1]["status"] == "interrupted"
    assert events[-1]["best"] == "layer0=skip,layer1=pool"
    with pytest.raises(TrackerError, match="the run has ended"):
        run.step(4, 1.0)


def test_an_existing_log_is_not_overwritten_silently(tmp_path):
    Tracker(tmp_path / "run", space=SPACE).end()
    with pytest.raises(TrackerError, match="already holds a run"):
        Tracker(tmp_path / "run", space=SPACE)
    Tracker(tmp_path / "run", space=SPACE, overwrite=True).end()


def test_it_needs_nothing_else_of_nasbench(tmp_path):
    """The foreign SPOS example, run whole: afterwards no nasbench module but the tracker and the
    event schema was ever imported (no Search base, spaces, data or views)."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    code = ("import runpy, sys\n"
            f"sys.argv = ['foreign_spos.py', '--out', {str(tmp_path / 'run')!r}, '--steps', '3', '--paths', '2']\n"
            "runpy.run_path('examples/foreign_spos.py', run_name='__main__')\n"
            "print(sorted(m for m in sys.modules if m.startswith('nasbench')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "['nasbench', 'nasbench.events', 'nasbench.formats', 'nasbench.tracker']"
    assert validate(read_events(tmp_path / "run" / "events.jsonl")) == []


# -- a researcher's official DARTS code, as it is ---------------------------------------------
@pytest.mark.parametrize("scale", [1e-3, 1e-7, 1.0, 30.0])
def test_the_genotype_derived_from_the_log_is_the_loops_own_at_any_scale(scale):
    """Alpha at quark0's initial scale (1e-3 * randn) sits a hair from ties: the log must keep
    the numbers the loop compares. 300 draws; rounding to 6 decimals fails about 1 in 30."""
    space = get_space("darts")
    got = []
    run = Tracker(None, space="darts", callbacks=[got.append])
    g = torch.Generator().manual_seed(int(scale * 1e7) % 1000)
    for step in range(300):
        arch_parameters = [scale * torch.randn(14, 8, generator=g), scale * torch.randn(14, 8, generator=g)]
        run.alpha(step, arch_parameters, logits=True)
        official = genotype_of(*arch_parameters)
        assert list(space.derive(got[-1]["probs"])) == formats.from_darts(official, run.space), step


def test_official_genotypes_and_alphas_go_in_as_they_are(tmp_path):
    got = []
    normal, reduce = torch.randn(14, 8), torch.randn(14, 8)
    official = genotype_of(normal, reduce)
    with Tracker(tmp_path / "run", space="darts:steps=4,multiplier=4", callbacks=[got.append]) as run:
        run.alpha(0, [normal, reduce], logits=True)              # model.arch_parameters()
        run.genotype(0, official)                                # the namedtuple
        run.genotype(1, official._asdict())
        run.genotype(2, repr(official))                          # as printed in quark0's log
        run.genotype(3, got[2]["arch"])                          # our own string
    expected = get_space("darts").derive(torch.softmax(torch.cat([normal, reduce]), -1).numpy())
    assert [e["choices"] for e in got if e["type"] == "genotype"] == [list(expected)] * 4
    assert np.allclose(got[1]["probs"], torch.softmax(torch.cat([normal, reduce]), -1).numpy(), atol=1e-7)
    assert validate(read_events(tmp_path / "run" / "events.jsonl")) == []
    back = formats.to_darts(expected, got[0]["space"])                  # and out again
    assert back.normal_concat == [2, 3, 4, 5] and back.reduce_concat == [2, 3, 4, 5]
    for cell in ("normal", "reduce"):                             # same pairs per node, input order
        ours, theirs = getattr(back, cell), getattr(official, cell)
        assert [sorted(ours[k:k + 2], key=lambda p: p[1]) for k in range(0, 8, 2)] == \
               [sorted(theirs[k:k + 2], key=lambda p: p[1]) for k in range(0, 8, 2)]
    cells = formats.to_cells(got[1]["probs"], got[0]["space"])
    assert np.allclose(cells[0], torch.softmax(normal, -1).numpy()) and np.allclose(cells[1], torch.softmax(reduce, -1).numpy())


def test_nas_bench_201_strings_go_in_and_out():
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    got = []
    run = Tracker(None, space="nb201", callbacks=[got.append])
    run.genotype(0, arch)
    ops = got[0]["space"]["options"][0]
    by_hand = {"1<-0": "nor_conv_3x3", "2<-0": "nor_conv_3x3", "2<-1": "avg_pool_3x3", "3<-0": "skip_connect",
               "3<-1": "nor_conv_3x3", "3<-2": "skip_connect"}
    assert got[1]["choices"] == [ops.index(by_hand[d]) for d in got[0]["space"]["decisions"]]
    assert formats.to_nb201(got[1]["choices"], got[0]["space"]) == arch == got[1]["arch"]
    custom = {"decisions": list(by_hand), "options": [ops] * 6}    # a dict space with the same names
    assert Tracker(None, space=custom).choices(arch) == got[1]["choices"]


@pytest.mark.parametrize("value, words", [
    (formats.Genotype(normal=[("sep_conv_3x3", 0)] * 8, normal_concat=[2, 3, 4, 5],
                      reduce=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4, reduce_concat=[2, 3, 4, 5]),
     "normal node 2 takes input 0 twice"),
    (formats.Genotype(normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4, normal_concat=[4, 5],
                      reduce=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4, reduce_concat=[2, 3, 4, 5]),
     "normal_concat [4, 5] is not this space's [2, 3, 4, 5]"),
    (formats.Genotype(normal=[("conv_9x9", 0), ("sep_conv_3x3", 1)] * 4, normal_concat=[2, 3, 4, 5],
                      reduce=[], reduce_concat=[2, 3, 4, 5]), "unknown op 'conv_9x9'"),
    ("Genotype(normal=__import__('os'))", "not a printed DARTS Genotype"),
    ("sep_conv_3x3", "malformed architecture string 'sep_conv_3x3'"),
])
def test_a_foreign_genotype_that_does_not_fit_is_named_in_one_line(value, words):
    with pytest.raises(TrackerError) as error:
        Tracker(None, space="darts").genotype(0, value)
    assert words in str(error.value) and "\n" not in str(error.value), str(error.value)


def test_steps_that_go_back_are_refused_in_one_line(tmp_path):
    run = Tracker(tmp_path / "run", space=SPACE)
    run.step(5, 1.0, epoch=0)
    run.step(5, 1.1, phase="arch")                                # another phase at the same step
    run.alpha(5, [[0.5, 0.5], [0.2, 0.3, 0.5]], logits=False)
    with pytest.raises(TrackerError) as error:
        run.step(0, 1.0, epoch=1)                                 # counted per epoch
    assert "step 0 comes after step 5" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(TrackerError, match="a second weights step 5"):
        run.step(5, 1.0)
    with pytest.raises(TrackerError, match="comes after step 5"):
        run.metric(4, "entropy", 1.0)
    run.step(6, 1.0)
    run.end()
    assert validate(read_events(tmp_path / "run" / "events.jsonl")) == []


def test_acc_is_a_fraction_and_percent_is_named():
    run = Tracker(None, space=SPACE)
    run.step(0, 1.0, acc=1.0)
    with pytest.raises(TrackerError, match="looks like percent: pass acc / 100"):
        run.step(1, 1.0, acc=93.5)


def test_each_run_has_its_own_id(tmp_path):
    a, b = Tracker(None, space=SPACE), Tracker(None, space=SPACE)
    got = []
    Tracker(None, space=SPACE, callbacks=[got.append])
    assert a.run_id != b.run_id and got[0]["run_id"] and validate(got, complete=False) == []


def test_the_darts_spec_takes_quark0s_multiplier():
    """multiplier=k: the cell's output concatenates its last k nodes (quark0's Cell.forward)."""
    space = get_space("darts:steps=4,multiplier=4")
    assert space.describe() == get_space("darts").describe()
    two = get_space("darts:steps=3,multiplier=2")
    concat = sorted(e["source"] for e in two.describe()["graph"]["edges"] if e.get("kind") == "concat")
    assert concat == ["normal:3", "normal:4", "reduce:3", "reduce:4"]
    net = two.supernet(C=4, layers=3, num_classes=10, in_channels=3)
    weights = [torch.full((8,), 1 / 8) for _ in two.decisions]
    assert net(torch.randn(2, 3, 8, 8), weights=weights).shape == (2, 10)
    assert net.head[-1].in_features == 2 * 4 * 4       # multiplier x the last cell's C (doubled twice)
    assert formats.to_darts(two.sample(np.random.default_rng(0)), two.describe()).normal_concat == [3, 4]
    with pytest.raises(Exception, match="multiplier"):
        get_space("darts:steps=2,multiplier=3")


# -- the hook recipes of docs/your-search.md, on loops written as the official ones ---------
def test_the_spos_recipe_logs_megvii_s_loop_through_hooks_alone(tmp_path):
    """megvii-model/SinglePathOneShot's train(): `model(data, cand)`, a label-smoothing loss
    module, `all_iters` over the run; the two hooks of the docs log it untouched."""
    import itertools
    import torch.nn as nn

    class CrossEntropyLabelSmooth(nn.Module):
        def __init__(self, num_classes, epsilon):
            super().__init__()
            self.num_classes, self.epsilon = num_classes, epsilon

        def forward(self, inputs, targets):
            log_probs = torch.log_softmax(inputs, dim=1)
            targets = torch.zeros_like(log_probs).scatter_(1, targets.unsqueeze(1), 1)
            targets = (1 - self.epsilon) * targets + self.epsilon / self.num_classes
            return (-targets * log_probs).mean(0).sum()

    class Supernet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.ModuleList(nn.ModuleList(nn.Linear(6, 6) for _ in range(4)) for _ in range(3))
            self.head = nn.Linear(6, 5)

        def forward(self, x, architecture):
            for archs, arch_id in zip(self.features, architecture):
                x = archs[arch_id](x)
            return self.head(x)

    class Scheduler:
        def get_lr(self):
            return [0.5]

    seen = []                                             # what their loop did, for the check

    def train(model, args, *, val_interval, all_iters):   # their train(), minus data loading
        model.train()
        rng = np.random.default_rng(all_iters)
        for _ in range(val_interval):
            all_iters += 1
            data, target = torch.randn(4, 6), torch.randint(0, 5, (4,))
            cand = tuple(int(rng.integers(4)) for _ in range(3))
            output = model(data, cand)
            loss = args.loss_function(output, target)
            args.optimizer.zero_grad()
            loss.backward()
            args.optimizer.step()
            seen.append((cand, float(loss.detach())))
        return all_iters

    class Args:
        pass

    args = Args()
    model = Supernet()
    loss_function = CrossEntropyLabelSmooth(5, 0.1)
    args.loss_function, args.scheduler = loss_function, Scheduler()
    args.optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    all_iters = 0
    # -- the docs' lines (space: 3 layers of 4 blocks here)
    steps = itertools.count(all_iters)
    now = {}

    def log_path(module, inputs):
        if module.training:
            now["step"] = next(steps)
            run.sample(now["step"], inputs[1])

    def log_loss(module, inputs, loss):
        if model.training:
            run.step(now["step"], loss, lr=args.scheduler.get_lr()[0])

    model.register_forward_pre_hook(log_path)
    loss_function.register_forward_hook(log_loss)
    run = Tracker(tmp_path / "spos", space={f"layer{i}": ["k3", "k5", "k7", "xception"] for i in range(3)},
                  method="spos")
    while all_iters < 6:
        all_iters = train(model, args, val_interval=3, all_iters=all_iters)
    model.eval()
    model(torch.randn(2, 6), (0, 0, 0))                  # an evaluation pass: not a step
    run.end()
    events = read_events(tmp_path / "spos" / "events.jsonl")
    assert validate(events) == []
    assert [tuple(e["choices"]) for e in events if e["type"] == "sample"] == [c for c, _ in seen]
    assert [e["loss"] for e in events if e["type"] == "step"] == pytest.approx([l for _, l in seen])
    assert [e["step"] for e in events if e["type"] == "step"] == list(range(6))


def test_the_nas_bench_201_recipe_logs_autodl_s_darts_v1_through_one_criterion_hook(tmp_path):
    """AutoDL-Projects' DARTS-V1 search_func (weights, then arch, on one criterion) and valid_func
    (eval mode); `arch_parameters` rows in the sorted `i<-j` edge order."""
    import itertools
    import torch.nn as nn
    space = get_space("nb201")
    ops = space.options[0]
    edge_keys = sorted(f"{i}<-{j}" for i in range(1, 4) for j in range(i))

    class SearchModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Linear(4, 4)
            self.arch_parameters = nn.Parameter(1e-3 * torch.randn(len(edge_keys), len(ops)))
            self.classifier = nn.Linear(4, 3)

        def get_weights(self):
            return list(self.stem.parameters()) + list(self.classifier.parameters())

        def get_alphas(self):
            return [self.arch_parameters]

        def forward(self, x):
            w = torch.softmax(self.arch_parameters, -1)
            h = self.stem(x) * (1 + w[:, 3:4].sum())     # alpha enters the loss
            return h, self.classifier(h)

        def genotype_str(self):                          # CellStructure(...).tostr()
            best = {k: ops[int(self.arch_parameters[i].argmax())] for i, k in enumerate(edge_keys)}
            return "+".join("|" + "".join(f"{best[f'{i}<-{j}']}~{j}|" for j in range(i)) for i in range(1, 4))

    reference = []

    def search_func(xloader, network, criterion, w_optimizer, a_optimizer):
        network.train()
        for base_inputs, base_targets, arch_inputs, arch_targets in xloader:
            w_optimizer.zero_grad()
            _, logits = network(base_inputs)
            base_loss = criterion(logits, base_targets)
            base_loss.backward()
            w_optimizer.step()
            a_optimizer.zero_grad()
            _, logits = network(arch_inputs)
            arch_loss = criterion(logits, arch_targets)
            arch_loss.backward()
            a_optimizer.step()
            reference.append((float(base_loss.detach()), float(arch_loss.detach())))

    def valid_func(xloader, network, criterion):
        network.eval()
        with torch.no_grad():
            for arch_inputs, arch_targets in xloader:
                criterion(network(arch_inputs)[1], arch_targets)

    search_model = SearchModel()
    network, criterion = search_model, nn.CrossEntropyLoss()
    w_optimizer = torch.optim.SGD(search_model.get_weights(), lr=0.1)
    a_optimizer = torch.optim.Adam(search_model.get_alphas(), lr=0.05)
    batch = lambda: (torch.randn(5, 4), torch.randint(0, 3, (5,)))  # noqa: E731
    search_loader = [(*batch(), *batch()) for _ in range(4)]
    # -- the docs' lines
    calls = itertools.count()

    def log_loss(module, inputs, loss):
        if not search_model.training:
            return
        n = next(calls)
        run.step(n // 2, loss, phase=("weights", "arch")[n % 2], epoch=epoch_now[0])

    criterion.register_forward_hook(log_loss)
    epoch_now = [0]
    run = Tracker(tmp_path / "nb201", space="nb201", method="darts-v1")
    genotypes = {}
    for epoch in range(2):
        epoch_now[0] = epoch
        search_func(search_loader, network, criterion, w_optimizer, a_optimizer)
        valid_func([batch()], network, criterion)
        genotypes[epoch] = search_model.genotype_str()
        step = (epoch + 1) * len(search_loader) - 1
        run.alpha(step, search_model.get_alphas(), logits=True)
        run.genotype(step, genotypes[epoch])
    run.end()
    events = read_events(tmp_path / "nb201" / "events.jsonl")
    assert validate(events) == [] and events[0]["space"]["decisions"] == edge_keys
    steps = [e for e in events if e["type"] == "step"]
    assert [(e["step"], e["phase"], e["epoch"]) for e in steps] == [
        (s, p, s // 4) for s in range(8) for p in ("weights", "arch")]
    assert [e["loss"] for e in steps] == pytest.approx([l for pair in reference for l in pair])
    last = [e for e in events if e["type"] == "genotype"][-1]
    assert last["arch"] == genotypes[1]
    probs = [e for e in events if e["type"] == "alpha"][-1]["probs"]
    assert [ops[int(np.argmax(row))] for row in probs] == [ops[c] for c in last["choices"]]
