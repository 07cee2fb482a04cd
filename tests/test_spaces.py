"""Every registered space and every op: the decisions x options face and the networks it builds."""
import itertools
import math

import networkx as nx
import numpy as np
import pytest
import torch

from nasbench.ops import OPS, PARAMETER_FREE, UnknownOp, build_op
from nasbench.spaces import SPACES, InvalidArchitecture, NB201Space, UnknownSpace, get_space

SPACE_NAMES = sorted(SPACES)
NET = dict(C=8, layers=3, num_classes=10, in_channels=1)


def _x(n=4):
    return torch.randn(n, 1, 8, 8)


# -- ops ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("affine", [True, False])
def test_every_op_keeps_channels_and_divides_resolution(name, stride, affine):
    op = build_op(name, 8, stride, affine)
    y = op(torch.randn(2, 8, 8, 8))
    assert y.shape == (2, 8, 8 // stride, 8 // stride)
    assert torch.isfinite(y).all()
    params = [p for p in op.parameters() if p.requires_grad]
    if name in PARAMETER_FREE and not (name == "skip_connect" and stride == 2):
        assert not params, f"{name} is listed as parameter-free but has parameters"
    if params:
        y.square().mean().backward()
        assert all(p.grad is not None for p in params)


def test_none_op_outputs_zeros_and_skip_is_identity():
    x = torch.randn(2, 8, 8, 8)
    assert torch.equal(build_op("none", 8, 1)(x), torch.zeros_like(x))
    assert torch.equal(build_op("skip_connect", 8, 1)(x), x)


def test_unknown_op_is_named():
    with pytest.raises(UnknownOp, match="conv_9x9"):
        build_op("conv_9x9", 8)
    with pytest.raises(UnknownOp, match="conv_9x9"):
        NB201Space(ops=["none", "conv_9x9"])


# -- the decisions x options face, for every space --------------------------------------------
@pytest.fixture(params=SPACE_NAMES)
def space(request):
    return get_space(request.param)


def test_face_is_consistent(space):
    assert len(space.decisions) == len(space.options) > 0
    assert len(set(space.decisions)) == len(space.decisions), "decision names must be unique"
    assert all(len(o) >= 2 for o in space.options)
    # a space with rules between decisions (oneshot: 1-2 ops per block) counts only valid ones
    assert 0 < space.size <= math.prod(len(o) for o in space.options)  # exact: no int64 overflow


def test_sample_encode_decode_round_trip(space):
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(50):
        choices = space.sample(rng)
        assert space.validate(choices) == choices
        arch = space.encode(choices)
        assert isinstance(arch, str)
        assert space.decode(arch) == choices
        seen.add(arch)
    assert len(seen) > 1, "sampling should produce different architectures"


def test_encode_is_injective_on_a_sample(space):
    rng = np.random.default_rng(1)
    pairs = {space.sample(rng) for _ in range(200)}
    assert len({space.encode(c) for c in pairs}) == len(pairs)


@pytest.mark.parametrize("bad", ["", "garbage", "|x~0|", None, 42])
def test_malformed_strings_are_rejected_with_the_string_named(space, bad):
    with pytest.raises(InvalidArchitecture):
        space.decode(bad)


def test_bad_choices_are_rejected(space):
    good = space.sample(np.random.default_rng(0))
    with pytest.raises(InvalidArchitecture, match="expected"):
        space.validate(good[:-1])
    bad = list(good)
    bad[0] = len(space.options[0])
    with pytest.raises(InvalidArchitecture):
        space.validate(bad)


def test_graph_carries_every_decision(space):
    g = space.graph()
    assert isinstance(g, nx.DiGraph)
    carried = {a["decision"] for _, _, a in g.edges(data=True) if "decision" in a}
    carried |= {a["decision"] for _, a in g.nodes(data=True) if "decision" in a}
    assert carried == set(range(len(space.decisions)))
    desc = space.describe()
    assert desc["decisions"] == space.decisions and desc["options"] == space.options


def test_built_network_runs_and_learns(space):
    choices = space.sample(np.random.default_rng(2))
    net = space.build(choices, **NET)
    out = net(_x())
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    out.logsumexp(1).mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_supernet_single_path_touches_only_its_candidates(space):
    """Parameters of candidates off the path must get no gradient at all (None)."""
    torch.manual_seed(0)
    net = space.supernet(**NET)
    choices = space.sample(np.random.default_rng(3))
    from nasbench.supernet import ChoiceEdge
    edges = [m for m in net.modules() if isinstance(m, ChoiceEdge)]
    if not edges:
        pytest.skip(f"{space.name} supernet is not built from ChoiceEdges")
    # reference: a candidate has a gradient iff a forward hook saw it run
    ran = set()
    hooks = [c.register_forward_hook(lambda m, i, o: ran.add(id(m)))
             for e in edges for c in e.candidates]
    net.zero_grad(set_to_none=True)
    net(_x(), choices=choices).sum().backward()
    for h in hooks:
        h.remove()
    for edge in edges:
        for cand in edge.candidates:
            for p in cand.parameters():
                assert (p.grad is not None) == (id(cand) in ran)


def test_supernet_mixed_forward_equals_weighted_sum_on_one_edge():
    """With one-hot weights the mixed supernet equals the single-path supernet (DARTS eq. 2)."""
    space = get_space("nb201-small")
    torch.manual_seed(0)
    net = space.supernet(**NET).eval()
    x = _x()
    for choices in itertools.islice(space.enumerate(), 0, 125, 17):
        onehot = [torch.nn.functional.one_hot(torch.tensor(c), len(o)).float()
                  for c, o in zip(choices, space.options)]
        assert torch.allclose(net(x, weights=onehot), net(x, choices=choices), atol=1e-5)


def test_mixed_cell_is_the_weighted_sum_of_every_candidate():
    """Non-one-hot weights (an argmax mixer would fail): one nb201-small cell against the sum
    written out by hand, node by node (node1 = edge 1<-0; node2 = edge 2<-0 + edge 2<-1)."""
    space = get_space("nb201-small")
    torch.manual_seed(0)
    net = space.supernet(**NET).eval()
    cell = next(m for m in net.layers if hasattr(m, "edges"))
    x = torch.randn(2, NET["C"], 8, 8)
    w = [torch.softmax(torch.randn(len(o)), 0) for o in space.options]
    mix = lambda d, h: sum(w[d][k] * op(h) for k, op in enumerate(cell.edges[d].candidates))
    node1 = mix(0, x)
    node2 = mix(1, x) + mix(2, node1)
    with torch.no_grad():
        torch.testing.assert_close(cell(x, weights=w), node2, rtol=1e-5, atol=1e-6)
        onehot_of_max = [torch.eye(len(o))[int(wi.argmax())] for wi, o in zip(w, space.options)]
        assert not torch.allclose(cell(x, weights=w), cell(x, weights=onehot_of_max), atol=1e-3)


# -- NAS-Bench-201 specifics ------------------------------------------------------------------
def test_nb201_string_format_matches_the_benchmark():
    space = get_space("nb201")
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    choices = space.decode(arch)
    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    assert [ops[c] for c in choices] == ["nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3",
                                         "skip_connect", "nor_conv_3x3", "skip_connect"]
    assert space.encode(choices) == arch


def test_nb201_enumerate_is_every_cell_once():
    space = get_space("nb201-small")
    archs = list(space.enumerate())
    assert len(archs) == 125 == len(set(archs))
    with pytest.raises(ValueError, match="too many"):
        get_space("nb201:nodes=8").enumerate()


def test_nb201_cell_with_all_none_outputs_constant_logits():
    """A cell whose output node gets only `none` disconnects the input: every image gets the
    same prediction (brute-force check of the zero-edge handling)."""
    space = get_space("nb201-small")
    net = space.build((1, 0, 0), C=8, layers=1, num_classes=10, in_channels=1).eval()
    out = net(_x(6))
    assert torch.allclose(out, out[:1].expand_as(out), atol=1e-6)


def test_nb201_stand_alone_net_holds_only_chosen_ops():
    space = get_space("nb201-small")
    conv3 = space.build((3, 3, 3), **NET)
    skip = space.build((1, 1, 1), **NET)
    assert sum(p.numel() for p in conv3.parameters()) > sum(p.numel() for p in skip.parameters())


def test_get_space_spec_arguments_and_errors():
    assert get_space("nb201:nodes=3").size == 125
    with pytest.raises(UnknownSpace, match="choose one of"):
        get_space("nope")
    with pytest.raises(UnknownSpace, match="key=value"):
        get_space("nb201:nodes")


def test_derive_default_is_argmax():
    space = get_space("nb201-small")
    probs = [[0.1, 0.2, 0.3, 0.35, 0.05], [0.9, 0.025, 0.025, 0.025, 0.025], [0.2] * 4 + [0.2]]
    probs[2][4] = 0.21
    assert space.derive(probs) == (3, 0, 4)


def test_mutate_changes_about_prob_of_the_genes():
    space = get_space("nb201")
    rng = np.random.default_rng(0)
    base = (0,) * 6
    changed = np.mean([sum(a != b for a, b in zip(base, space.mutate(base, rng, 0.5))) for _ in range(2000)])
    # each gene is resampled with prob 0.5 and then differs with prob 4/5: 6 * 0.5 * 0.8 = 2.4
    assert abs(changed - 2.4) < 0.1
