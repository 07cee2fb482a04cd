"""A plain PyTorch DARTS search (first order; Liu et al., ICLR 2019), written without nasbench,
plus the lines marked `# nasbench` that write its event log. Its ops, cells and alphas follow
quark0/darts (cnn/model_search.py): one normal and one reduction cell, `alphas_normal` and
`alphas_reduce` of shape (edges, 8 ops), the genotype by its `_parse` rule.

    python examples/foreign_darts.py --out runs/foreign-darts            # about two minutes on one core
    python examples/foreign_darts.py --out /tmp/x --steps 12 --nodes 2   # a quick check

Follow it from a notebook: `Follow("runs/foreign-darts", TrainingBoard(), AlphaEvolution()).start()`.
Toy-sized: sklearn's 8x8 digits, C=8, 2 cells; the architecture learning rate is 10x the paper's
3e-4 so that alpha moves within a few hundred steps.
"""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits

from nasbench.tracker import Tracker  # nasbench

PRIMITIVES = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
              "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]


def sep_conv(C, k, stride, dilation=1):  # ReLU, depthwise k x k, pointwise 1 x 1, BN
    return nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, k, stride, dilation * (k // 2), dilation, groups=C, bias=False),
                         nn.Conv2d(C, C, 1, bias=False), nn.BatchNorm2d(C, affine=False))


class Reduce(nn.Module):  # skip_connect at stride 2 (quark0's FactorizedReduce)
    def __init__(self, C):
        super().__init__()
        self.a, self.b = nn.Conv2d(C, C // 2, 1, 2, bias=False), nn.Conv2d(C, C - C // 2, 1, 2, bias=False)

    def forward(self, x):
        return torch.cat([self.a(F.relu(x)), self.b(F.relu(x[:, :, 1:, 1:]))], 1)


class Zero(nn.Module):  # `none`: no edge (zeros of the output's shape)
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, ::self.stride, ::self.stride] * 0.0


OPS = {"none": lambda C, s: Zero(s),
       "max_pool_3x3": lambda C, s: nn.Sequential(nn.MaxPool2d(3, s, 1), nn.BatchNorm2d(C, affine=False)),
       "avg_pool_3x3": lambda C, s: nn.Sequential(nn.AvgPool2d(3, s, 1, count_include_pad=False),
                                                  nn.BatchNorm2d(C, affine=False)),
       "skip_connect": lambda C, s: nn.Identity() if s == 1 else Reduce(C),
       "sep_conv_3x3": lambda C, s: sep_conv(C, 3, s), "sep_conv_5x5": lambda C, s: sep_conv(C, 5, s),
       "dil_conv_3x3": lambda C, s: sep_conv(C, 3, s, 2), "dil_conv_5x5": lambda C, s: sep_conv(C, 5, s, 2)}


class MixedOp(nn.Module):  # DARTS eq. (2): sum_o softmax(alpha)_o * o(x)
    def __init__(self, C, stride):
        super().__init__()
        self.ops = nn.ModuleList(OPS[p](C, stride) for p in PRIMITIVES)

    def forward(self, x, w):
        return sum(wi * op(x) for wi, op in zip(w, self.ops))


class Cell(nn.Module):
    def __init__(self, nodes, C_pp, C_p, C, reduction):
        super().__init__()
        self.nodes = nodes
        self.pre0 = nn.Sequential(nn.ReLU(), nn.Conv2d(C_pp, C, 1, bias=False), nn.BatchNorm2d(C, affine=False))
        self.pre1 = nn.Sequential(nn.ReLU(), nn.Conv2d(C_p, C, 1, bias=False), nn.BatchNorm2d(C, affine=False))
        self.edges = nn.ModuleList(MixedOp(C, 2 if reduction and j < 2 else 1)
                                   for i in range(nodes) for j in range(2 + i))

    def forward(self, s0, s1, weights):  # weights: (edges, ops)
        states, e = [self.pre0(s0), self.pre1(s1)], 0
        for i in range(self.nodes):  # node i sums one mixed op on every earlier node
            states.append(sum(self.edges[e + j](h, weights[e + j]) for j, h in enumerate(states)))
            e += len(states) - 1
        return torch.cat(states[2:], dim=1)


class Network(nn.Module):
    def __init__(self, C=8, nodes=4, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 3 * C, 3, padding=1, bias=False), nn.BatchNorm2d(3 * C))
        self.normal = Cell(nodes, 3 * C, 3 * C, C, reduction=False)
        self.reduce = Cell(nodes, 3 * C, nodes * C, 2 * C, reduction=True)
        self.classifier = nn.Linear(nodes * 2 * C, classes)
        edges = sum(2 + i for i in range(nodes))
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(edges, len(PRIMITIVES)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(edges, len(PRIMITIVES)))

    def forward(self, x):
        s0 = self.stem(x)
        s1 = self.normal(s0, s0, F.softmax(self.alphas_normal, dim=-1))
        s2 = self.reduce(s0, s1, F.softmax(self.alphas_reduce, dim=-1))
        return self.classifier(s2.mean((2, 3)))

    def weights(self):
        return [p for n, p in self.named_parameters() if not n.startswith("alphas")]


def genotype(alphas, nodes):  # quark0's _parse: per node, its 2 strongest edges, each its best op but none
    w, choices, start = F.softmax(alphas, dim=-1), [], 0
    for i in range(nodes):
        strength = w[start:start + 2 + i, 1:].max(dim=1).values
        keep = set(strength.topk(2).indices.tolist())
        choices += [1 + int(w[start + j, 1:].argmax()) if j in keep else 0 for j in range(2 + i)]
        start += 2 + i
    return choices  # one op index per edge; 0 (none) where the node drops the edge


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--arch-lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    x, y = load_digits(return_X_y=True)
    x, y = torch.tensor(x, dtype=torch.float32).view(-1, 1, 8, 8) / 16, torch.tensor(y)
    half = len(x) // 2  # first half trains the weights, second half the architecture
    net = Network(nodes=args.nodes)
    w_opt = torch.optim.SGD(net.weights(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam([net.alphas_normal, net.alphas_reduce], lr=args.arch_lr, betas=(0.5, 0.999),
                             weight_decay=1e-3)
    with Tracker(args.out, space=f"darts:steps={args.nodes}", method="foreign-darts",  # nasbench
                 dataset="sklearn-digits", seed=args.seed, config=vars(args), overwrite=True) as run:
        for step in range(args.steps):
            i = torch.randint(0, half, (32,))
            j = torch.randint(half, len(x), (32,))
            a_opt.zero_grad()  # first order: the architecture step on a validation batch
            arch_loss = F.cross_entropy(net(x[j]), y[j])
            arch_loss.backward()
            a_opt.step()
            w_opt.zero_grad()
            logits = net(x[i])
            loss = F.cross_entropy(logits, y[i])
            loss.backward()
            nn.utils.clip_grad_norm_(net.weights(), 5.0)
            w_opt.step()
            acc = (logits.argmax(1) == y[i]).float().mean()
            run.step(step, arch_loss, phase="arch")  # nasbench
            run.step(step, loss, acc=acc, lr=0.025)  # nasbench
            if step % 5 == 0 or step == args.steps - 1:
                run.alpha(step, torch.cat([net.alphas_normal, net.alphas_reduce]), logits=True)  # nasbench
                run.genotype(step, genotype(net.alphas_normal, args.nodes)  # nasbench
                             + genotype(net.alphas_reduce, args.nodes))


if __name__ == "__main__":
    main()
