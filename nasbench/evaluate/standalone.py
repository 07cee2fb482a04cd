"""Stand-alone training of one architecture: the ground truth a weight-sharing estimate is judged by.

The schedule follows NAS-Bench-201's (SGD with Nesterov momentum 0.9, lr 0.1 cosine-annealed to 0,
weight decay 5e-4), with epochs and width scaled down for the CPU.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from nasbench.data import Dataset, Split
from nasbench.evaluate.cost import count_flops, count_params
from nasbench.evaluate.scoring import accuracy
from nasbench.spaces import Space


@dataclass
class StandaloneResult:
    arch: str
    test_acc: float
    valid_acc: float
    train_acc: float
    params: int
    flops: int
    seconds: float
    seed: int
    curve: list[float] = field(default_factory=list)   # training loss per epoch


def _concat(splits: Sequence[Split]) -> Split:
    return Split(torch.cat([s.x for s in splits]), torch.cat([s.y for s in splits]))


def train_standalone(space: Space, choices: Sequence[int], data: Dataset, *, epochs: int = 15,
                     C: int = 16, layers: int = 3, batch_size: int = 64, lr: float = 0.1,
                     weight_decay: float = 5e-4, seed: int = 0, device: str | torch.device = "cpu",
                     train_on: Sequence[str] = ("train",), progress: bool = False) -> StandaloneResult:
    """Train `choices` from scratch on `train_on` splits; report accuracy on valid and test."""
    choices = space.validate(choices)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = space.build(choices, C=C, layers=layers, num_classes=data.num_classes,
                        in_channels=data.shape[0]).to(device)
    train = _concat([getattr(data, s) for s in train_on])
    steps_per_epoch = max(1, len(train) // batch_size)
    optimizer = torch.optim.SGD(model.parameters(), lr, momentum=0.9, nesterov=True,
                                weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    start, curve = time.perf_counter(), []
    for _ in tqdm(range(epochs), desc=space.encode(choices)[:40], disable=not progress, leave=False):
        model.train()
        total, n = 0.0, 0
        for x, y in train.batches(batch_size, shuffle=True, generator=generator, drop_last=True):
            x, y = x.to(device), y.to(device)
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            schedule.step()
            total, n = total + loss.item() * len(y), n + len(y)
        curve.append(total / max(n, 1))
    seconds = time.perf_counter() - start
    model.eval()
    score = lambda split: accuracy(model, split.batches(256, shuffle=False), device)[0]
    return StandaloneResult(
        arch=space.encode(choices), test_acc=score(data.test), valid_acc=score(data.valid),
        train_acc=score(train), params=count_params(model), flops=count_flops(model, data.shape),
        seconds=seconds, seed=seed, curve=curve)
