"""count_flops against multiply-accumulates counted by hand, and only the modules that run."""
import torch
from torch import nn

from nasbench.evaluate import count_flops, count_params
from nasbench.supernet import ChoiceEdge


def test_count_flops_by_hand():
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False),        # 8x8 out: 4*8*8 outputs x 3*3*1 = 2304
        nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4),  # 4x4 out: 4*4*4 x 3*3*(4/4) = 576
        nn.Flatten(),
        nn.Linear(64, 10),                                 # 10 outputs x 64 = 640
    )
    assert count_flops(net, (1, 8, 8)) == 2304 + 576 + 640
    assert count_params(net) == 36 + (36 + 4) + (640 + 10)


def test_only_the_path_that_runs_counts():
    edge = ChoiceEdge(["a", "b"], lambda name: nn.Conv2d(2, 2, 1 if name == "a" else 3, padding="same"))
    assert count_flops(edge, (2, 5, 5), lambda x: edge(x, choice=0)) == 2 * 25 * 2      # 1x1
    assert count_flops(edge, (2, 5, 5), lambda x: edge(x, choice=1)) == 2 * 25 * 2 * 9  # 3x3
