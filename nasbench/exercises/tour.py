"""Exercises of notebooks/00_tour.ipynb."""
from __future__ import annotations

import numpy as np
from scipy import stats

from nasbench.ops import PARAMETER_FREE
from nasbench.spaces import Space


def sample_reference(space: Space, rng: np.random.Generator) -> tuple[int, ...]:
    return tuple(int(rng.integers(len(o))) for o in space.options)


def check_sample(sample) -> None:
    """Valid architectures; each decision's options uniform and the decisions independent of
    each other (chi-square on every decision and on neighbouring pairs, 2000 draws), so a
    sampler that puts one op on every edge fails."""
    from nasbench.spaces import get_space
    space = get_space("nb201")
    rng = np.random.default_rng(0)
    first = sample(space, rng)
    assert first is not None, "return a tuple with one int per decision, not None"
    draws = np.array([space.validate(first)] + [space.validate(sample(space, rng)) for _ in range(1999)])
    for d, options in enumerate(space.options):
        counts = np.bincount(draws[:, d], minlength=len(options))
        p = stats.chisquare(counts).pvalue
        assert p > 1e-4, f"decision {space.decisions[d]} is not uniform: counts {counts.tolist()}"
    n = len(space.options[0])
    for d in range(len(space.decisions) - 1):
        pairs = np.bincount(draws[:, d] * n + draws[:, d + 1], minlength=n * n)
        assert stats.chisquare(pairs).pvalue > 1e-4, (
            f"decisions {space.decisions[d]} and {space.decisions[d + 1]} are not independent: "
            f"draw each decision's choice separately")


def parameter_free_reference(space: Space, arch: str) -> int:
    return sum(op in PARAMETER_FREE for op in space.ops_of(space.decode(arch)))


def check_parameter_free(count) -> None:
    from nasbench.spaces import get_space
    space = get_space("nb201")
    cases = {  # worked by hand: none, skip_connect and avg_pool_3x3 have no weights
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|": 3,
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": 6,
        "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|nor_conv_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|": 0,
    }
    for arch, expected in cases.items():
        got = count(space, arch)
        assert got == expected, f"{arch} has {expected} parameter-free ops, you counted {got}"
