"""The mobile spaces (ProxylessNAS, FBNet) against the papers' layouts, and their blocks."""
import numpy as np
import pytest
import torch

from nasbench.mobile_blocks import FBNET, MOBILE_BLOCKS, channel_shuffle
from nasbench.spaces import get_space


def test_proxyless_layout_is_the_papers():
    s = get_space("proxyless")
    assert len(s.decisions) == 21  # 4+4+4+4+4+1 (imagenet_arch_search.py n_cell_stages)
    strides = [st for _, _, st in s.layout]
    firsts = [0, 4, 8, 12, 16, 20]
    assert [strides[i] for i in firsts] == [2, 2, 2, 1, 2, 1]
    for d, opts in enumerate(s.options):
        a, b, st = s.layout[d]
        assert ("zero" in opts) == (st == 1 and a == b)
        assert opts[:6] == [f"mbconv_k{k}_e{e}" for k in (3, 5, 7) for e in (3, 6)]
    # stage 4 (96) follows stage 3 (80) with stride 1 but a new width: no zero in its first layer
    assert "zero" not in s.options[12]


def test_fbnet_layout_is_the_papers():
    s = get_space("fbnet")
    assert len(s.decisions) == 22 and all(o == FBNET for o in s.options) and len(FBNET) == 9
    assert [w for _, w, _ in s.layout] == [16] + [24] * 4 + [32] * 4 + [64] * 4 + [112] * 4 + [184] * 4 + [352]


@pytest.mark.parametrize("spec", ["proxyless:stages=2,per_stage=2,stem_stride=1",
                                  "fbnet:stages=3,per_stage=2,stem_stride=1"])
def test_every_candidate_runs_and_the_spec_round_trips(spec):
    s = get_space(spec)
    assert get_space(s.name).options == s.options
    net = s.supernet(C=8, in_channels=1)
    x = torch.randn(2, 1, 8, 8)
    for k in range(max(len(o) for o in s.options)):
        choices = [min(k, len(o) - 1) for o in s.options]
        assert net(x, choices=choices).shape == (2, 10)
        assert s.build(choices, C=8, in_channels=1)(x).shape == (2, 10)


def test_channel_shuffle_against_index_arithmetic():
    x = torch.arange(12.).view(1, 12, 1, 1)
    # 2 groups of 6: channel i of group j goes to position i*2 + j
    expected = [j * 6 + i for i in range(6) for j in range(2)]
    assert channel_shuffle(x, 2).flatten().tolist() == expected


def test_group_block_is_grouped_and_skip_projects_where_shapes_change():
    block = MOBILE_BLOCKS["ir_k3_s2"](8, 8, 1, True)
    assert block.pw[0].groups == 2 and block.pwl[0].groups == 2
    skip = MOBILE_BLOCKS["skip"](8, 16, 2, True)
    assert skip(torch.randn(1, 8, 8, 8)).shape == (1, 16, 4, 4)
    same = MOBILE_BLOCKS["skip"](8, 8, 1, True)
    x = torch.randn(1, 8, 4, 4)
    assert torch.equal(same(x), x) and torch.equal(MOBILE_BLOCKS["zero"](8, 8, 1, True)(x), x)
    with pytest.raises(ValueError):
        MOBILE_BLOCKS["zero"](8, 16, 1, True)


def test_sampled_architectures_are_valid():
    s = get_space("proxyless")
    rng = np.random.default_rng(0)
    for _ in range(20):
        c = s.sample(rng)
        assert s.decode(s.encode(c)) == c
