"""The NB201 search cell as NAS-Bench-201 builds it (AutoDL-Projects xautodl/models/
cell_operations.py: ReLUConvBN's conv has `bias=not affine`, POOLING is the pool alone) and the
stand-alone cell unchanged (what the nb201-small ground-truth table trained)."""
import torch
from torch import nn

from nasbench.spaces import get_space


def candidates(net, name):
    return [e.candidates[e.names.index(name)] for cell in net.layers if hasattr(cell, "edges")
            for e in cell.edges]


def test_search_cell_pool_has_no_bn_and_convs_have_bias():
    space = get_space("nb201")
    net = space.supernet(C=8, layers=3, in_channels=1)  # affine=False: the search cell
    for pool in candidates(net, "avg_pool_3x3"):
        assert isinstance(pool, nn.AvgPool2d) and not pool.count_include_pad
        assert not any(isinstance(m, nn.BatchNorm2d) for m in pool.modules())
    for name in ("nor_conv_1x1", "nor_conv_3x3"):
        for op in candidates(net, name):
            conv, bn = op.op[1], op.op[2]
            assert conv.bias is not None and not bn.affine
    x = torch.randn(2, 8, 5, 5)
    pool = candidates(net, "avg_pool_3x3")[0]
    by_hand = x[:, :, 0:2, 0:2].mean(dim=(2, 3))  # corner: a 2x2 window, padding not counted
    assert torch.allclose(pool(x)[:, :, 0, 0], by_hand, atol=1e-6)


def test_stand_alone_cell_keeps_affine_bn_and_bias_free_convs():
    space = get_space("nb201-small")
    arch = space.decode("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|")
    net = space.build(arch, C=8, layers=3, in_channels=1)
    cell = net.layers[0]
    assert cell.edges[0].op[1].bias is None and cell.edges[0].op[2].affine
    assert isinstance(cell.edges[1], nn.AvgPool2d)
    assert cell.edges[2].op[1].bias is None
