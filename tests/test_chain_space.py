"""Chain spaces and their candidate blocks: shapes, the skip rule, single-path supernets, path cost."""
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from nasbench.blocks import BLOCKS, MBConv, ShuffleBlock, build_block, UnknownBlock
from nasbench.evaluate import count_flops
from nasbench.spaces import get_space
from nasbench.spaces.chain import SMALL_OPS
from nasbench.supernet.single_path import PathCost

CHAINS = ["chain-small", "chain-shuffle:per_stage=1", "chain-mbv2:per_stage=1,skip=1",
          "chain-mbv2:stages=3,per_stage=2,skip=1"]


@pytest.mark.parametrize("name", sorted(BLOCKS))
@pytest.mark.parametrize("C_in,C_out,stride", [(8, 8, 1), (8, 16, 2), (8, 12, 1)])
def test_every_block_shape_and_gradient(name, C_in, C_out, stride):
    if name == "skip" and (stride != 1 or C_in != C_out):
        with pytest.raises(ValueError):
            build_block(name, C_in, C_out, stride)
        return
    block = build_block(name, C_in, C_out, stride, affine=True)
    x = torch.randn(2, C_in, 8, 8, requires_grad=True)
    y = block(x)
    assert y.shape == (2, C_out, 8 // stride, 8 // stride)
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all()
    for n, p in block.named_parameters():
        assert p.grad is not None, n


def test_block_structure_matches_the_papers():
    # MBConv k5 e6: expand to 6*C_in, 5x5 depthwise, residual only when the shape is kept
    b = build_block("mbconv_k5_e6", 8, 8, 1)
    convs = [m for m in b.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [48, 48, 8]
    assert convs[1].kernel_size == (5, 5) and convs[1].groups == 48
    assert isinstance(b, MBConv) and b.residual and not build_block("mbconv_k5_e6", 8, 16, 2).residual
    # ShuffleNetV2 stride 1: half the channels pass untouched (even channels, after the shuffle)
    s = build_block("shuffle_k3", 8, 8, 1)
    x = torch.randn(2, 8, 6, 6)
    assert isinstance(s, ShuffleBlock) and torch.equal(s(x)[:, :4], x[:, 0::2])
    # Xception branch: three depthwise 3x3 convs
    xc = build_block("shuffle_xception", 8, 8, 1)
    assert sum(1 for m in xc.modules() if isinstance(m, nn.Conv2d) and m.groups > 1) == 3
    with pytest.raises(UnknownBlock):
        build_block("conv_9x9", 8, 8)


def test_chain_small_is_stable():
    """A ground-truth table keys on this space: 3 layers x these 5 options = 125 architectures."""
    space = get_space("chain-small")
    assert space.name == "chain-small" and space.size == 125
    assert space.decisions == ["layer0", "layer1", "layer2"]
    assert space.options == [SMALL_OPS] * 3
    assert SMALL_OPS == ["mbconv_k3_e3", "mbconv_k3_e6", "mbconv_k5_e3", "mbconv_k5_e6", "skip"]
    archs = list(space.enumerate())
    assert len({space.encode(a) for a in archs}) == 125
    assert all(space.decode(space.encode(a)) == a for a in archs)


def test_skip_only_where_stride_one_and_width_kept():
    space = get_space("chain-mbv2:skip=1")
    for (C_in, C_out, stride), options in zip(space.widths(16), space.options):
        assert ("skip" in options) == (stride == 1 and C_in == C_out)
    assert any("skip" in o for o in space.options) and not all("skip" in o for o in space.options)
    assert get_space("chain-shuffle").size == 4 ** 20 and get_space("chain-mbv2").size == 6 ** 19


def test_spec_names_recreate_the_space():
    for spec in CHAINS + ["chain-shuffle", "chain-mbv2"]:
        space = get_space(spec)
        again = get_space(space.name)
        assert (again.decisions, again.options, again.layout) == (space.decisions, space.options, space.layout)


def test_graph_is_a_chain_carrying_decisions():
    space = get_space("chain-shuffle:per_stage=2")
    g = space.graph()
    path = ["input"] + space.decisions + ["output"]
    assert list(g.edges) == list(zip(path, path[1:]))
    assert [g.nodes[n]["decision"] for n in space.decisions] == list(range(len(space.decisions)))
    assert [g.nodes[n]["stride"] for n in space.decisions] == [2, 1] * 4
    assert space.describe()["name"] == "chain-shuffle:per_stage=2"


@pytest.mark.parametrize("spec", CHAINS)
def test_single_path_runs_only_the_chosen_blocks(spec):
    space = get_space(spec)
    net = space.supernet(C=4, num_classes=3, in_channels=1)
    assert not any(m.affine for m in net.layers.modules() if isinstance(m, nn.BatchNorm2d))
    choices = space.sample(np.random.default_rng(0))
    ran = set()
    hooks = [op.register_forward_hook(lambda m, i, o, key=(d, k): ran.add(key))
             for d, layer in enumerate(net.layers) for k, op in enumerate(layer.candidates)]
    net(torch.randn(2, 1, 8, 8), choices=choices).sum().backward()
    for h in hooks:
        h.remove()
    assert ran == set(enumerate(choices))  # exactly one block per layer
    for d, layer in enumerate(net.layers):
        for k, op in enumerate(layer.candidates):
            for p in op.parameters():
                assert (p.grad is not None) == (k == choices[d])


def test_mixed_forward_is_the_weighted_sum_of_paths():
    """weights=one-hot equals the single path; weights=w is linear in each layer (checked on the
    last layer, where it is a plain weighted sum of the candidates' outputs)."""
    space = get_space("chain-small")
    torch.manual_seed(0)
    net = space.supernet(C=4, num_classes=3, in_channels=1).eval()
    x = torch.randn(2, 1, 8, 8)
    choices = (1, 4, 2)
    onehot = [torch.eye(5)[c] for c in choices]
    assert torch.allclose(net(x, weights=onehot), net(x, choices=choices), atol=1e-6)
    h = net.layers[1](net.layers[0](net.stem(x), choice=0), choice=3)
    w = torch.tensor([0.1, 0.2, 0.3, 0.15, 0.25])
    by_hand = sum(w[k] * net.layers[2].candidates[k](h) for k in range(5))
    assert torch.allclose(net.layers[2](h, weights=w), by_hand, atol=1e-6)


@pytest.mark.parametrize("spec", CHAINS)
def test_path_flops_table_matches_the_standalone_network(spec):
    space = get_space(spec)
    table = PathCost(space.supernet(C=4, in_channels=1), (1, 8, 8))
    rng = np.random.default_rng(1)
    for _ in range(3):
        choices = space.sample(rng)
        assert table(choices) == count_flops(space.build(choices, C=4, in_channels=1), (1, 8, 8))
    lo, hi = table.bounds
    if space.size <= 125:  # the bounds are the min and max over every architecture
        costs = [table(c) for c in space.enumerate()]
        assert (lo, hi) == (min(costs), max(costs))


def test_params_table_of_an_affine_supernet_matches_the_standalone_network():
    space = get_space("chain-small")
    table = PathCost(space.supernet(C=4, in_channels=1, affine=True), (1, 8, 8), kind="params")
    for choices in itertools.islice(space.enumerate(), 0, 125, 17):
        built = space.build(choices, C=4, in_channels=1)
        assert table(choices) == sum(p.numel() for p in built.parameters())


# xiaomi-automl/FairNAS models/FairNAS_{A,B,C}.py `mb_config` (identical in all three): the
# (out_channel, stride) of each of the 19 MBConv layers, after stem(3, 32, 2) and
# separable_conv(32, 16); conv_before_pooling to 1280, Dropout(0.2), Linear.
FAIRNAS_RELEASED = [(32, 2), (32, 1), (40, 2), (40, 1), (40, 1), (40, 1), (80, 2), (80, 1), (80, 1),
                    (80, 1), (96, 1), (96, 1), (96, 1), (96, 1), (192, 2), (192, 1), (192, 1),
                    (192, 1), (320, 1)]


def test_chain_mbv2_widths_equal_the_released_fairnas_models():
    space = get_space("chain-mbv2")
    assert [(c_out, s) for _, c_out, s in space.widths(16)] == FAIRNAS_RELEASED
    assert [c_in for c_in, _, _ in space.widths(16)] == [16] + [c for c, _ in FAIRNAS_RELEASED[:-1]]
    net = space.build(space.sample(np.random.default_rng(0)), C=16, num_classes=1000)
    convs = [m for m in net.stem if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.groups) for c in convs] == [
        (3, 32, (3, 3), (2, 2), 1), (32, 32, (3, 3), (1, 1), 32), (32, 16, (1, 1), (1, 1), 1)]
    head_conv, linear = net.head[0], net.head[-1]
    assert (head_conv.in_channels, head_conv.out_channels) == (320, 1280)
    assert any(isinstance(m, nn.Dropout) and m.p == 0.2 for m in net.head)
    assert linear.in_features == 1280 and linear.bias is not None
    assert net(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


def test_chain_shuffle_supernet_is_the_official_spos_supernet():
    """megvii-model/SinglePathOneShot src/Supernet/network.py: stride-2 3x3 stem to 16, stages
    64/160/320/640, 1x1 conv to 1024, BN affine=False everywhere, Dropout(0.1), Linear without
    bias; a 224 input ends at 7x7 before pooling."""
    space = get_space("chain-shuffle")
    net = space.supernet(C=16, num_classes=1000)
    stem = net.stem[0]
    assert (stem.in_channels, stem.out_channels, stem.stride) == (3, 16, (2, 2))
    assert [c_out for _, c_out, s in space.widths(16) if s == 2] == [64, 160, 320, 640]
    assert not any(m.affine for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    assert (net.head[0].in_channels, net.head[0].out_channels) == (640, 1024)
    assert any(isinstance(m, nn.Dropout) and m.p == 0.1 for m in net.head)
    assert net.head[-1].in_features == 1024 and net.head[-1].bias is None
    sizes = []
    net.head[0].register_forward_pre_hook(lambda m, i: sizes.append(tuple(i[0].shape[2:])))
    net(torch.randn(1, 3, 224, 224), choices=(0,) * 20)
    assert sizes == [(7, 7)]


def test_the_scaled_variants_keep_small_images_with_a_stride_1_stem():
    for spec in ("chain-shuffle:stages=2,per_stage=2,stem_stride=1",
                 "chain-mbv2:stages=2,per_stage=2,stem_stride=1"):
        space = get_space(spec)
        assert space.stem_stride == 1 and get_space(space.name).stem_stride == 1
        net = space.supernet(C=8, num_classes=10, in_channels=1)
        assert net(torch.randn(2, 1, 8, 8), choices=space.sample(np.random.default_rng(0))).shape == (2, 10)
