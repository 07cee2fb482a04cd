"""Exercises of notebooks/01_smash.ipynb: the bank read/write part of the embedding tensor c, and
the simple weight normalisation of the generated weights."""
from __future__ import annotations

import math

import numpy as np
import torch

from nasbench.spaces.smash import Op


def read_write_reference(op: Op, n_banks: int, N: int, k: int, depth_compression: int) -> torch.Tensor:
    """The read and write one-hots of one op's slices of c: (2 n_banks, k, slices), -1 everywhere
    but +1 at (read bank m, rows < G/N, the slice bank m's channels fall in) and at (write bank m,
    rows < G/N, every slice of the op)."""
    slice_width = depth_compression * N
    slices = math.ceil(len(op.reads) * N / slice_width)
    rows = op.width // N
    c = torch.full((2 * n_banks, k, slices), -1.0)
    for r, m in enumerate(op.reads):
        c[m, :rows, r * N // slice_width] = 1.0
    for m in op.writes:
        c[n_banks + m, :rows, :] = 1.0
    return c


def _rule(op: Op, n_banks: int, N: int, k: int, dc: int, ch: int, q: int, s: int) -> float:
    """The value of one entry, written out as a sentence: a read channel is hot where the slice
    holds that bank's channels, a write channel on every slice; only the op's output rows."""
    if q >= op.width // N:
        return -1.0
    if ch < n_banks:
        if ch not in op.reads:
            return -1.0
        first_channel = op.reads.index(ch) * N           # where bank ch sits in the op's input
        return 1.0 if s * dc * N <= first_channel < (s + 1) * dc * N else -1.0
    return 1.0 if ch - n_banks in op.writes else -1.0


def check_read_write(read_write) -> None:
    """Compares your tensor entry by entry with the rule, on a worked case and on random ops."""
    rng = np.random.default_rng(0)
    cases = [(Op((0, 2, 3), (1, 4), 8, "1000", (None,) * 4), 6, 4, 4, 2)]   # 3 reads of 4 ch: 2 slices of 8
    for _ in range(20):
        n_banks, N, dc = int(rng.integers(3, 8)), int(rng.choice([2, 4])), int(rng.choice([1, 2, 4]))
        k = int(rng.integers(1, 5))
        reads = tuple(sorted(rng.choice(n_banks, int(rng.integers(1, n_banks + 1)), replace=False).tolist()))
        writes = tuple(sorted(rng.choice(n_banks, int(rng.integers(1, n_banks + 1)), replace=False).tolist()))
        cases.append((Op(reads, writes, int(rng.integers(1, k + 1)) * N, "1000", (None,) * 4), n_banks, N, k, dc))
    for op, n_banks, N, k, dc in cases:
        got = read_write(op, n_banks, N, k, dc)
        slices = math.ceil(len(op.reads) * N / (dc * N))
        assert tuple(got.shape) == (2 * n_banks, k, slices), \
            f"for reads {op.reads} with N={N}, depth_compression={dc}: shape {tuple(got.shape)}, expected {(2 * n_banks, k, slices)}"
        for ch in range(2 * n_banks):
            for q in range(k):
                for s in range(slices):
                    want = _rule(op, n_banks, N, k, dc, ch, q, s)
                    assert float(got[ch, q, s]) == want, \
                        (f"op reading {op.reads}, writing {op.writes}, G={op.width} (N={N}, dc={dc}): "
                         f"entry (channel {ch}, row {q}, slice {s}) is {float(got[ch, q, s])}, expected {want}")


def weight_norm_reference(w: torch.Tensor) -> torch.Tensor:
    return w / w.norm()


def check_weight_norm(weight_norm) -> None:
    """Properties of dividing by the whole tensor's norm: unit norm, same direction, scale-free,
    rows keep their relative sizes (not per-channel), gradient orthogonal to w."""
    torch.manual_seed(0)
    w = torch.randn(6, 5, 1, 1, dtype=torch.float64)
    w[0] *= 10                                               # one row much larger than the others
    v = weight_norm(w)
    assert v.shape == w.shape, f"shape {tuple(v.shape)}, expected {tuple(w.shape)}"
    assert abs(float(v.norm()) - 1) < 1e-9, f"the result should have norm 1, has {float(v.norm()):.4f}"
    cos = float((v * w).sum() / (v.norm() * w.norm()))
    assert cos > 1 - 1e-9, "the result should point the same way as w"
    assert torch.allclose(weight_norm(3.7 * w), v), "scaling w should not change the result"
    ratio = float(v[0].norm() / v[1].norm()), float(w[0].norm() / w[1].norm())
    assert abs(ratio[0] - ratio[1]) < 1e-9, ("rows should keep their relative sizes: normalise the whole "
                                             "tensor, not each output channel")
    w = w.clone().requires_grad_(True)
    (weight_norm(w) * torch.randn_like(w)).sum().backward()
    assert abs(float((w.grad * w.detach()).sum())) < 1e-9, "the gradient should be orthogonal to w"


# -- the generated weight slice of one op --------------------------------------------------------
def weight_slice_reference(h: torch.Tensor, N: int, depth_compression: int, start: int, n_in: int,
                           n_out: int) -> torch.Tensor:
    """The op's 1x1 weight (n_out, n_in, 1, 1) out of the hypernet's output h (N dc N, k, S): lay
    the blocks out as one (k N, S dc N) matrix, block (q, s) at rows q N.., columns s dc N..
    (h[:, q, s] is the block row by row), then take the op's rows and its columns from slice
    `start` on (`HyperNetworkSmash.generate`)."""
    dc = depth_compression
    k, S = h.shape[1:]
    H = h.reshape(N, dc * N, k, S).permute(2, 0, 3, 1).reshape(k * N, S * dc * N)
    col = start * dc * N
    return H[:n_out, col:col + n_in, None, None]


def check_weight_slice(weight_slice) -> None:
    """Entry by entry against the layout written out as loops on random sizes, then against the
    SMASH network's own `generate` for every op of a random architecture."""
    rng = np.random.default_rng(0)
    for _ in range(6):
        N, dc, k, S = int(rng.choice([2, 4])), int(rng.choice([1, 2])), int(rng.integers(1, 4)), int(rng.integers(2, 5))
        M = torch.tensor(rng.normal(size=(k * N, S * dc * N)))     # the whole matrix the hypernet encodes
        h = torch.empty(N * dc * N, k, S, dtype=M.dtype)
        for q in range(k):
            for s in range(S):
                for a in range(N):                                  # output unit q N + a
                    for b in range(dc * N):                         # input channel s dc N + b
                        h[a * dc * N + b, q, s] = M[q * N + a, s * dc * N + b]
        start = int(rng.integers(S))
        n_in = int(rng.integers(1, (S - start) * dc * N // N + 1)) * N   # whole banks of N channels
        n_out = int(rng.integers(1, k + 1)) * N
        got = weight_slice(h, N, dc, start, n_in, n_out)
        assert isinstance(got, torch.Tensor) and tuple(got.shape) == (n_out, n_in, 1, 1), \
            f"expected a tensor of shape {(n_out, n_in, 1, 1)}, got {getattr(got, 'shape', type(got))}"
        want = M[:n_out, start * dc * N:start * dc * N + n_in]
        bad = (got[:, :, 0, 0] != want).nonzero()
        assert len(bad) == 0, (f"N={N}, depth_compression={dc}, start={start}: weight[{int(bad[0][0])}, "
                               f"{int(bad[0][1])}] should be output unit {int(bad[0][0])}'s weight for input "
                               f"channel {start * dc * N + int(bad[0][1])} of the layout")
    from nasbench.spaces import get_space
    space = get_space("smash-small")
    torch.manual_seed(0)
    net = space.supernet(num_classes=10, in_channels=1)
    blocks = space.arch(space.sample(rng))
    c, starts = net.embedding(blocks)
    z = torch.randn(1, 1, *c.shape[1:])
    with torch.no_grad():
        h = net.hypernet(torch.cat([z, c[None].to(z)], 1))[0]
        library = net.generate(blocks, z)
    ops = [op for ops in blocks for op in ops]
    for n, (op, w) in enumerate(zip(ops, library)):
        got = weight_slice(h, space.N, net.embedding.dc, starts[n], w.shape[1], w.shape[0])
        assert torch.equal(got, w), f"op {n} of a random SMASH architecture: not the weight `generate` gives it"
