"""The SMASH network: a hypernetwork generates each sampled op's 1x1 bottleneck weights; every
other weight is learned freely and sliced to the sampled sizes (Brock et al. 2018, Sec. 3;
ajbrock/SMASH SMASH.py and layers.py).

    W_1x1 = H(c, z)            c: the architecture's embedding tensor, z ~ N(0, I)

Layout of c (SMASH.py `sample_weights`), a (channels, k, S) tensor filled with -1:
    rows q = 0..k-1          output units q N .. (q+1) N of a 1x1 (k = N_max / N)
    columns s = 0..S-1       "slices" of `depth_compression` x N input channels; the ops of the
                             architecture take consecutive slices, one op's channels after another
    channels                 one-hots set to +1 where they apply: the banks the slice reads, the
                             banks its op writes, the block, G, the active convs, and each active
                             conv's kernel size, dilation and groups (per spatial dimension)
Only rows q < G / N of an op's slices are set (the op's output units), as in the official code.
The hypernet (a DenseNet of weight-normalised 3x3 convs, LeakyReLU 0.02, no BN) maps
[z; c] (1 + channels, k, S) to (N * N * depth_compression, k, S): position (q, s) holds the
N x (depth_compression N) block of W_1x1 for output units q N.. and input channels s dc N...
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from nasbench.supernet.banks import combine, conv_padding, write_banks, written_banks

if TYPE_CHECKING:
    from nasbench.spaces.smash import Op, SmashSpace


def weight_norm(w: torch.Tensor) -> torch.Tensor:
    """Simple weight normalisation (layers.py `wn2d`): divide by the whole tensor's norm. The
    paper found per-channel WeightNorm with a learned scale unstable here."""
    return w / w.norm()


class WNConv2d(nn.Conv2d):
    """A conv whose weight is divided by its norm at every use (layers.py WNC2D)."""

    def forward(self, x):
        return F.conv2d(x, weight_norm(self.weight), self.bias, self.stride, self.padding,
                        self.dilation, self.groups)


class Dense(nn.Module):
    """x -> [x, f(x)] (layers.py CL: a DenseNet layer)."""

    def __init__(self, f: nn.Module):
        super().__init__()
        self.f = f

    def forward(self, x):
        return torch.cat([x, self.f(x)], 1)


class HyperNet(nn.Module):
    """Fully convolutional DenseNet without downsampling (SMASH.py `hyperconv`): a 3x3 conv to 7
    channels, then `depth` dense layers of `growth` channels per block, each block but the last
    followed by a 3x3 conv halving the channels, then a 1x1 conv to `out_channels`."""

    def __init__(self, in_channels: int, out_channels: int, growth: Sequence[int] = (10, 10, 10),
                 depth: Sequence[int] = (8, 10, 4), slope: float = 0.02):
        super().__init__()
        act = lambda: nn.LeakyReLU(slope)
        layers: list[nn.Module] = [Dense(WNConv2d(in_channels, 7, 3, padding=1, bias=False))]
        ch = in_channels + 7
        for i, (g, d) in enumerate(zip(growth, depth)):
            for _ in range(d):
                layers.append(Dense(nn.Sequential(act(), WNConv2d(ch, g, 3, padding=1, bias=False))))
                ch += g
            if i < len(depth) - 1:
                layers.append(nn.Sequential(act(), WNConv2d(ch, ch // 2, 3, padding=1, bias=False)))
                ch //= 2
        layers.append(nn.Sequential(act(), WNConv2d(ch, out_channels, 1, bias=False)))
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.orthogonal_(m.weight)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.net(embedding)   # (1, 1 + channels, k, S) -> (1, out_channels, k, S)


# -- the embedding tensor c ---------------------------------------------------------------------
class Embedding:
    """Where each one-hot lives in c, and which slices each op of an architecture takes."""

    def __init__(self, space: SmashSpace, depth_compression: int):
        self.space, self.dc = space, depth_compression
        M, s = max(space.banks), space
        sizes = [("read", M), ("write", M), ("block", s.blocks), ("G", s.k), ("pattern", 4)]
        for i in range(4):
            sizes += [(f"conv{i}.dilation", 2 * s.max_dilate), (f"conv{i}.kernel", 2 * len(s.kernels)),
                      (f"conv{i}.groups", len(s.group_options))]
        self.offset, n = {}, 0
        for name, size in sizes:
            self.offset[name] = n
            n += size
        self.channels = n
        self.slice_width = depth_compression * space.N    # input channels per slice

    def slices(self, op: Op) -> int:
        return math.ceil(len(op.reads) * self.space.N / self.slice_width)

    def __call__(self, blocks: Sequence[Sequence[Op]]) -> tuple[torch.Tensor, list[int]]:
        """c (channels, k, S) and the first slice of each op (in block order)."""
        s, N = self.space, self.space.N
        starts, S = [], 0
        for ops in blocks:
            for op in ops:
                starts.append(S)
                S += self.slices(op)
        c = torch.full((self.channels, s.k, S), -1.0)
        o = self.offset
        n = 0
        for b, ops in enumerate(blocks):
            for op in ops:
                lo, hi, rows = starts[n], starts[n] + self.slices(op), op.width // N
                n += 1
                hot = [o["block"] + b, o["G"] + rows - 1]
                hot += [o["write"] + m for m in op.writes]
                hot += [o["pattern"] + i for i, bit in enumerate(op.pattern) if bit == "1"]
                for i, conv in enumerate(op.convs):
                    if conv is None:
                        continue
                    D, K = s.max_dilate, len(s.kernels)
                    hot += [o[f"conv{i}.dilation"] + t * D + d - 1 for t, d in enumerate(conv.dilation)]
                    hot += [o[f"conv{i}.kernel"] + t * K + s.kernels.index(k) for t, k in enumerate(conv.kernel)]
                    hot += [o[f"conv{i}.groups"] + s.group_options.index(conv.groups)]
                c[hot, :rows, lo:hi] = 1.0
                for r, m in enumerate(op.reads):    # a read marks the slice its channels fall in
                    c[o["read"] + m, :rows, lo + r * N // self.slice_width] = 1.0
        return c, starts


# -- the SMASH network --------------------------------------------------------------------------
def sliced_bn(bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over the first x.size(1) channels of a wider one (layers.py SMASHBN2D)."""
    C = x.size(1)
    return F.batch_norm(x, bn.running_mean[:C], bn.running_var[:C], bn.weight[:C], bn.bias[:C],
                        bn.training, bn.momentum, bn.eps)


class SmashNet(nn.Module):
    """stem -> blocks of memory banks (generated 1x1s, sliced free convs) -> sliced transitions ->
    sliced BN-ReLU-GAP-FC. `forward(x, choices)` generates the weights of `choices` and runs it."""

    def __init__(self, space: SmashSpace, *, num_classes: int = 10, in_channels: int = 3,
                 depth_compression: int = 2, growth: Sequence[int] = (10, 10, 10),
                 depth: Sequence[int] = (8, 10, 4)):
        super().__init__()
        self.space, N, N_max = space, space.N, space.N_max
        self.embedding = Embedding(space, depth_compression)
        self.hypernet = HyperNet(1 + self.embedding.channels, N * N * depth_compression, growth, depth)
        self.stem = nn.Conv2d(in_channels, space.in_banks[0] * N, 7, padding=3, bias=False)
        K = space.max_kernel
        # W: the freely learned convs, one set of four per block (SMASH.py self.W). A conv0 / conv2
        # reads the 1x1's output (at most N_max channels here; see Op.n_bottleneck)
        self.W = nn.ParameterList(nn.Parameter(torch.empty(N_max, N_max, K, K))
                                  for _ in range(space.blocks) for _ in range(4))
        self.trans_bn = nn.ModuleList(nn.BatchNorm2d(space.banks[b] * N) for b in range(space.blocks - 1))
        self.trans_conv = nn.ParameterList(nn.Parameter(torch.empty(space.in_banks[b + 1] * N, space.banks[b] * N, 1, 1))
                                           for b in range(space.blocks - 1))
        self.bn = nn.BatchNorm2d(space.banks[-1] * N)
        self.fc = nn.Linear(space.banks[-1] * N, num_classes)
        for w in [self.stem.weight, *self.W, *self.trans_conv]:
            nn.init.orthogonal_(w)
        nn.init.zeros_(self.fc.bias)

    def generate(self, blocks: Sequence[Sequence[Op]], z: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The 1x1 weights of every op, (n_bottleneck, n_in, 1, 1) each, before normalisation."""
        s, N, dc = self.space, self.space.N, self.embedding.dc
        c, starts = self.embedding(blocks)
        device = self.stem.weight.device
        c = c.to(device, self.stem.weight.dtype)
        k, S = c.shape[1:]
        if z is None:
            z = torch.randn(1, 1, k, S).to(c)         # SMASH.py: z ~ N(0, 1), redrawn per call
        h = self.hypernet(torch.cat([z, c[None]], 1))[0]          # (N * dc N, k, S)
        H = h.view(N, dc * N, k, S).permute(2, 0, 3, 1).reshape(k * N, S * dc * N)  # (N_max, S dc N)
        out, n = [], 0
        for ops in blocks:
            for op in ops:
                n_in, col = len(op.reads) * N, starts[n] * dc * N
                n_b = op.n_bottleneck(N, s.N_max, s.bottleneck)
                out.append(H[:n_b, col:col + n_in, None, None])   # (n_bottleneck, n_in, 1, 1)
                n += 1
        return out

    def conv_weight(self, b: int, i: int, op: Op, n_in: int) -> torch.Tensor:
        """The free weight of conv i of an op in block b, sliced to its size (layers.py SMASHC2D):
        G outputs, n_in / groups inputs, the centred kh x kw of the K x K kernel."""
        conv, K = op.convs[i], self.space.max_kernel
        (kh, kw), g = conv.kernel, conv.groups
        return self.W[4 * b + i][:op.width, :n_in // g, (K - kh) // 2:(K + kh) // 2, (K - kw) // 2:(K + kw) // 2]

    def run_op(self, b: int, op: Op, x: torch.Tensor, w1x1: torch.Tensor) -> torch.Tensor:
        h = F.relu(F.conv2d(x, weight_norm(w1x1)))                  # (B, n_bottleneck, H, W)

        def conv(i):
            spec = op.convs[i]
            return lambda t: F.conv2d(F.relu(t), self.conv_weight(b, i, op, t.size(1)), dilation=spec.dilation,
                                      padding=conv_padding(spec.kernel, spec.dilation), groups=spec.groups)

        return combine(op.pattern, [conv(i) if op.convs[i] else None for i in range(4)], h)  # (B, G, H, W)

    def forward(self, x: torch.Tensor, choices: Sequence[int] | None = None, *,
                blocks: Sequence[Sequence[Op]] | None = None, w1x1: Sequence[torch.Tensor] | None = None,
                z: torch.Tensor | None = None) -> torch.Tensor:
        if blocks is None:
            blocks = self.space.arch(choices)
        if w1x1 is None:
            w1x1 = self.generate(blocks, z)
        N, out, n = self.space.N, F.relu(self.stem(x)), 0  # SMASH.py: relu(conv1(x)); MainNet has none
        for b, ops in enumerate(blocks):
            width = written_banks(self.space, b, ops)
            banks = list(out.split(N, dim=1)) + [None] * (width - self.space.in_banks[b])
            for op in ops:
                write_banks(banks, op, self.run_op(b, op, torch.cat([banks[m] for m in op.reads], 1), w1x1[n]), N)
                n += 1
            out = torch.cat(banks, 1)                                # (B, width N, H, W)
            if b < self.space.blocks - 1:                            # layers.py SMASHTransition
                w = self.trans_conv[b][:, :out.size(1)]
                out = F.avg_pool2d(F.conv2d(F.relu(sliced_bn(self.trans_bn[b], out)), w), 2)
        out = F.relu(sliced_bn(self.bn, out)).mean((2, 3))          # (B, width N)
        return F.linear(out, self.fc.weight[:, :out.size(1)], self.fc.bias)
