"""Single-Path NAS superkernel against independent references: torch's own 3x3 convolution and a
plain MBConv (`nasbench.blocks.MBConv`) built by hand from the superkernel's slices; the
straight-through indicator and the runtime model on hand-worked cases."""
import math

import pytest
import torch
from torch.nn import functional as F

from nasbench.blocks import MBConv
from nasbench.spaces import get_space
from nasbench.supernet.superkernel import SuperKernelMBConv, SuperkernelNetwork, indicator, layer_runtime

OFF = 1e6  # a threshold no norm reaches: the indicator is 0


def plain_mbconv(sk: SuperKernelMBConv, C_in, C_out, stride, k, e) -> MBConv:
    """The reference: a stand-alone MBConv whose weights are the centre k x k, first e*C_in
    channels of the superkernel's (sliced here, not by the library)."""
    block = MBConv(C_in, C_out, k, e, stride, affine=False)
    mid, lo = e * C_in, (5 - k) // 2
    with torch.no_grad():
        block.op[0].weight.copy_(sk.expand[0].weight[:mid])
        block.op[3].weight.copy_(sk.weight[:mid, :, lo:lo + k, lo:lo + k])
        block.op[6].weight.copy_(sk.project[0].weight[:, :mid])
    return block


def switch(sk, ring=True, second=True, layer=True):
    with torch.no_grad():
        sk.t5x5.fill_(0.0 if ring else OFF)
        sk.t100c.fill_(0.0 if second else OFF)
        if sk.t50c is not None:
            sk.t50c.fill_(0.0 if layer else OFF)


def test_ring_off_is_a_3x3_convolution():
    torch.manual_seed(0)
    sk = SuperKernelMBConv(4, 4, 1)
    switch(sk, ring=False)
    x = torch.randn(2, 24, 7, 7)
    kernel = sk.decide()
    got = F.conv2d(x, kernel, None, 1, 2, groups=24)
    want = F.conv2d(x, sk.weight.detach()[:, :, 1:4, 1:4], None, 1, 1, groups=24)  # plain 3x3
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert not torch.allclose(F.conv2d(x, sk.weight.detach(), None, 1, 2, groups=24), want, atol=1e-3)


@pytest.mark.parametrize("C_in, C_out, stride, skip", [(4, 4, 1, True), (4, 6, 2, False)])
@pytest.mark.parametrize("ring, second", [(False, True), (True, False), (False, False), (True, True)])
def test_superkernel_is_exactly_the_smaller_mbconv(C_in, C_out, stride, skip, ring, second):
    torch.manual_seed(1)
    sk = SuperKernelMBConv(C_in, C_out, stride, skip)
    switch(sk, ring, second)
    ref = plain_mbconv(sk, C_in, C_out, stride, 5 if ring else 3, 6 if second else 3)
    x = torch.randn(8, C_in, 8, 8)
    for _ in range(3):  # training mode (batch statistics); fills the running statistics too
        torch.testing.assert_close(sk(x), ref(x), rtol=0, atol=1e-5)
    sk.eval(), ref.eval()
    torch.testing.assert_close(sk(x), ref(x), rtol=0, atol=1e-5)
    assert sk.option() == f"mbconv_k{5 if ring else 3}_e{6 if second else 3}"


def test_layer_off_is_the_identity():
    torch.manual_seed(2)
    sk = SuperKernelMBConv(4, 4, 1, skip=True)
    x = torch.randn(8, 4, 6, 6)
    sk(x)                                   # running statistics of the full layer
    switch(sk, layer=False)
    assert torch.equal(sk(x), x) and sk.option() == "skip"
    sk.eval()
    assert torch.equal(sk(x), x)


def test_indicator_straight_through_gradient_hand_worked():
    # ring of norm 1 (16 entries of 1/4), t5x5 = 0.5: x = 0.5; forward 1, d/dt = -s(0.5)(1 - s(0.5))
    sk = SuperKernelMBConv(1, 1, 1)
    with torch.no_grad():
        sk.weight.zero_()
        sk.weight[0, 0, 0, :] = 0.25
        sk.weight[0, 0, 4, :] = 0.25
        sk.weight[0, 0, 1:4, 0] = 0.25
        sk.weight[0, 0, 1:4, 4] = 0.25
        sk.t5x5.fill_(0.5)
    sk.decide()
    d5 = sk.d["d5x5"]
    assert float(d5.detach()) == 1.0
    d5.backward()
    s = 1 / (1 + math.exp(-0.5))            # 0.6224593
    assert abs(float(sk.t5x5.grad) - (-s * (1 - s))) < 1e-7   # -0.2350037
    # and into each ring weight: s'(x) * w / ||w|| = 0.2350037 * 0.25 (the centre gets nothing)
    assert abs(float(sk.weight.grad[0, 0, 0, 0]) - s * (1 - s) * 0.25) < 1e-7
    assert float(sk.weight.grad[0, 0, 2, 2]) == 0.0
    x = torch.tensor(-0.3, requires_grad=True)
    y = indicator(x)
    y.backward()
    assert float(y.detach()) == 0.0 and abs(float(x.grad) - 1 / (1 + math.exp(0.3)) * (1 - 1 / (1 + math.exp(0.3)))) < 1e-7


R = {"mbconv_k3_e3": 1.0, "mbconv_k3_e6": 2.0, "mbconv_k5_e3": 3.0, "mbconv_k5_e6": 4.0, "skip": 0.1}


@pytest.mark.parametrize("d5, d100, d50, official, lut", [
    (1, 1, 1, 4.0, 4.0), (0, 1, 1, 2.0, 2.0), (1, 0, 1, 3.0, 3.0),
    (0, 0, 1, 1.5, 1.0),   # official: R(k5,e3) * R(k3,e6) / R(k5,e6) = 3 * 2 / 4
    (1, 1, 0, 0.0, 0.1), (0, 0, 0, 0.0, 0.1)])
def test_layer_runtime_hand_worked(d5, d100, d50, official, lut):
    assert layer_runtime(d5, d100, d50, R, "official") == pytest.approx(official)
    assert layer_runtime(d5, d100, d50, R, "lut") == pytest.approx(lut)


def test_runtime_gradient_through_the_indicator():
    # dR/dt5x5 = dR/dd5 * (-s'(x)); official dR/dd5 = d50 (R53 + d100 (R56 - R53)) (1 - r) = 4 * 0.5
    t = torch.tensor(0.2, requires_grad=True)
    d5 = indicator(torch.tensor(1.0) - t)
    layer_runtime(d5, 1.0, 1.0, R, "official").backward()
    s = 1 / (1 + math.exp(-0.8))
    assert abs(float(t.grad) - (-2.0 * s * (1 - s))) < 1e-6


def test_network_probs_and_choices_agree():
    torch.manual_seed(3)
    space = get_space("chain-small")
    net = SuperkernelNetwork(space, C=4, num_classes=10, in_channels=1)
    with torch.no_grad():
        net.layers[0].t5x5.fill_(OFF)
        net.layers[1].t50c.fill_(OFF)
        net.layers[2].t100c.fill_(OFF)
    choices = net.decide()
    assert [space.options[d][c] for d, c in enumerate(choices)] == ["mbconv_k3_e6", "skip", "mbconv_k5_e3"]
    for row, c in zip(net.probs(), choices):
        assert sum(row) == pytest.approx(1.0) and max(range(len(row)), key=row.__getitem__) == c
    logits = net(torch.randn(4, 1, 8, 8))
    assert logits.shape == (4, 10) and net.choices() == choices


def test_paper_space_strided_layers_and_the_runtime_of_the_decisions():
    """chain-singlepath cut to 2 stages x 2 layers: the first layer of a stage is strided and has no
    skip; with every threshold out of reach each layer is k3/e3, or skipped where it may be, and R
    sums the official per-layer formula by hand: skip 0, k3e3 = R(k5,e3) R(k3,e6) / R(k5,e6)."""
    space = get_space("chain-singlepath:stages=2,per_stage=2")
    net = SuperkernelNetwork(space, C=4, num_classes=10, in_channels=3)
    logits = net(torch.randn(2, 3, 16, 16))
    assert logits.shape == (2, 10)
    logits.sum().backward()
    assert all(layer.weight.grad is not None for layer in net.layers)
    with torch.no_grad():
        for t in net.thresholds():
            t.fill_(OFF)
    choices = net.decide()
    assert [space.options[d][c] for d, c in enumerate(choices)] == ["mbconv_k3_e3", "skip"] * 2
    lut = [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0, 0.5]] * 2
    assert float(net.runtime(lut, base=10.0)) == pytest.approx(10.0 + 2 * 3 * 2 / 4)
    assert float(net.runtime(lut, base=10.0, form="lut")) == pytest.approx(10.0 + 2 * (1.0 + 0.5))


def test_the_superkernel_network_has_a_ten_class_head_and_rgb_input_by_default():
    """The defaults are CIFAR-10's (as the other networks'): 3 input channels, 10 logits."""
    net = SuperkernelNetwork(get_space("chain-small"), C=4)
    with torch.no_grad():
        assert net(torch.randn(2, 3, 8, 8)).shape == (2, 10)
