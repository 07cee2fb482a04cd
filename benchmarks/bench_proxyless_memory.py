"""Weight-step activation memory against the number of candidates per layer: ProxylessNAS's binary
gates (one path runs) against DARTS-style mixing (every candidate runs, weighted), on the same chain.

The chain is the ProxylessNAS space cut to 6 layers; its layers offer the first k of the six
MBConvs (plus `zero` on the residual layers). The memory is what autograd keeps for the backward
pass (`nasbench.supernet.memory.activation_bytes`: saved tensors, each storage once, parameters
excluded), the peak activation memory of the step. Both set-ups run the same path of
mbconv_k3_e3 blocks (ProxylessNAS) or mix all k (DARTS); ratios are to k = 1, in one run:

    ProxylessNAS  expected flat (1.0 for every k)
    DARTS mixing  expected to grow about linearly in k

    .venv/bin/python benchmarks/bench_proxyless_memory.py [--batch 32] [--C 8]
"""
from __future__ import annotations

import argparse

import torch
from torch.nn import functional as F

from nasbench.mobile_blocks import PROXYLESS
from nasbench.spaces import get_space
from nasbench.supernet.memory import activation_bytes

SPEC = "proxyless:stages=2,per_stage=3,stem_stride=1"


def step_bytes(k: int, mix: bool, batch: int, C: int) -> int:
    space = get_space(f"{SPEC},ops={'+'.join(PROXYLESS[:k])}")
    torch.manual_seed(0)
    net = space.supernet(C=C, in_channels=1)
    x, y = torch.randn(batch, 1, 8, 8), torch.randint(0, 10, (batch,))
    if mix:
        weights = [torch.full((len(o),), 1.0 / len(o)) for o in space.options]
        return activation_bytes(lambda: F.cross_entropy(net(x, weights=weights), y), net.parameters())
    path = [0] * len(space.decisions)
    return activation_bytes(lambda: F.cross_entropy(net(x, choices=path), y), net.parameters())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--C", type=int, default=8)
    args = parser.parse_args()
    rows = [(k, step_bytes(k, False, args.batch, args.C), step_bytes(k, True, args.batch, args.C))
            for k in range(1, len(PROXYLESS) + 1)]
    p0, d0 = rows[0][1], rows[0][2]
    print(f"{SPEC}, batch {args.batch}, C={args.C}: weight-step activation memory, ratio to k=1")
    print(f"{'MBConvs k':>9} {'(+zero)':>8} {'ProxylessNAS':>13} {'DARTS mixing':>13} {'KiB proxyless':>14} {'KiB DARTS':>10}")
    for k, p, d in rows:
        print(f"{k:>9} {k + 1:>8} {p / p0:>13.2f} {d / d0:>13.2f} {p / 1024:>14.0f} {d / 1024:>10.0f}")


if __name__ == "__main__":
    main()
