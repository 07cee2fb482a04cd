"""A plain PyTorch single-path one-shot search (SPOS; Guo et al., ECCV 2020), written without
nasbench, plus the lines marked `# nasbench` that write its event log: a chain supernet of
choice layers, one uniformly sampled path trained per step, then paths ranked with the shared
weights. The sampler hands the tracker one-hot masks, as many single-path codes keep them.

    python examples/foreign_spos.py --out runs/foreign-spos              # under a minute on a CPU
    python examples/foreign_spos.py --out /tmp/x --steps 20 --paths 4    # a quick check

Follow it from a notebook: `Follow("runs/foreign-spos", TrainingBoard(), SamplingFairness()).start()`.
Toy-sized: sklearn's 8x8 digits, 4 layers of 4 candidates, 16 channels.
"""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits

from nasbench.tracker import Tracker  # nasbench

CANDIDATES = {"nor_conv_3x3": lambda C: nn.Sequential(nn.Conv2d(C, C, 3, padding=1, bias=False), nn.BatchNorm2d(C), nn.ReLU()),
              "nor_conv_1x1": lambda C: nn.Sequential(nn.Conv2d(C, C, 1, bias=False), nn.BatchNorm2d(C), nn.ReLU()),
              "avg_pool_3x3": lambda C: nn.AvgPool2d(3, 1, 1, count_include_pad=False),
              "skip_connect": lambda C: nn.Identity()}


class Supernet(nn.Module):
    def __init__(self, layers=4, C=16, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, C, 3, padding=1, bias=False), nn.BatchNorm2d(C), nn.ReLU())
        self.layers = nn.ModuleList(nn.ModuleList(make(C) for make in CANDIDATES.values()) for _ in range(layers))
        self.classifier = nn.Linear(C, classes)

    def forward(self, x, mask):  # mask: (layers, candidates) one-hot; only the chosen block runs
        x = self.stem(x)
        for blocks, row in zip(self.layers, mask):
            x = blocks[int(row.argmax())](x)
        return self.classifier(x.mean((2, 3)))


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--paths", type=int, default=20, help="paths ranked with the shared weights at the end")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    x, y = load_digits(return_X_y=True)
    x, y = torch.tensor(x, dtype=torch.float32).view(-1, 1, 8, 8) / 16, torch.tensor(y)
    half = len(x) // 2  # first half trains the supernet, second half ranks paths
    net = Supernet(args.layers)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=4e-5)
    K = len(CANDIDATES)
    uniform = lambda: F.one_hot(torch.randint(0, K, (args.layers,)), K)  # noqa: E731  SPOS: a uniform path
    space = {f"layer{l}": list(CANDIDATES) for l in range(args.layers)}  # nasbench
    with Tracker(args.out, space=space, method="foreign-spos", dataset="sklearn-digits",  # nasbench
                 seed=args.seed, config=vars(args), overwrite=True) as run:
        net.train()
        for step in range(args.steps):
            i = torch.randint(0, half, (64,))
            mask = uniform()
            opt.zero_grad()
            logits = net(x[i], mask)
            loss = F.cross_entropy(logits, y[i])
            loss.backward()
            opt.step()
            run.sample(step, mask)  # nasbench
            run.step(step, loss, acc=(logits.argmax(1) == y[i]).float().mean(), lr=0.05)  # nasbench
        best, best_acc = None, -1.0
        with torch.no_grad():  # rank paths by validation accuracy with the shared weights
            for _ in range(args.paths):
                mask = uniform()
                acc = float((net(x[half:], mask).argmax(1) == y[half:]).float().mean())
                run.eval(mask, acc, "valid_acc_shared", step=step)  # nasbench
                if acc > best_acc:
                    best, best_acc = mask, acc
        run.genotype(step, best)  # nasbench


if __name__ == "__main__":
    main()
