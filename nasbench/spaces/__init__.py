"""Search spaces, by name. `get_space("nb201")`, `get_space("nb201:nodes=3")`, or a Space instance.

Each entry is a factory plus a one-line description (shown by `nasbench list`). A spec may add
keyword arguments after a colon: `name:key=value,key=value` (ints, floats, strings, and lists
joined by `+`: `nb201:ops=none+skip_connect+nor_conv_3x3`).
"""
from __future__ import annotations

from typing import Callable

from nasbench.ops import UnknownOp
from nasbench.spaces.base import Choices, InvalidArchitecture, Space
from nasbench.spaces.nb201 import NB201Space
from nasbench.spaces.chain import ChainSpace, chain_mbv2, chain_shuffle, chain_small
from nasbench.spaces.darts import DartsSpace
from nasbench.spaces.singlepath import chain_singlepath
from nasbench.spaces.enas import EnasSpace
from nasbench.spaces.oneshot import OneShotSpace
from nasbench.spaces.mobile import fbnet, proxyless
from nasbench.spaces.smash import SmashSpace


class UnknownSpace(ValueError):
    """A space name that is not registered, or a spec the space cannot be built from."""


SPACES: dict[str, tuple[Callable[..., Space], str]] = {
    "nb201": (lambda **kw: NB201Space(**{"nodes": 4, "name": "nb201", **kw}),
              "NAS-Bench-201 cell: 4 nodes, 6 edges x 5 ops (15625 cells)"),
    "nb201-small": (lambda **kw: NB201Space(**{"nodes": 3, "name": "nb201-small", **kw}),
                    "NAS-Bench-201 cell with 3 nodes: 3 edges x 5 ops (125 cells)"),
    "chain-small": (chain_small, "chain of 3 stride-1 layers x 5 options (MBConv k3/k5 x e3/e6, "
                                 "skip): 125 architectures"),
    "chain-shuffle": (chain_shuffle, "SPOS ShuffleNetV2 chain: 20 layers x 4 blocks (shuffle "
                                     "3/5/7, xception); stages=, per_stage=, skip=1"),
    "chain-mbv2": (chain_mbv2, "FairNAS MobileNetV2 chain: 19 layers x 6 MBConvs (k3/5/7 x e3/6); "
                               "stages=, per_stage=, skip=1"),
    "chain-singlepath": (chain_singlepath, "Single-Path NAS MnasNet chain: 20 layers x (MBConv k3/k5 x e3/e6, skip); stages=, per_stage="),
    "proxyless": (proxyless,
                  "ProxylessNAS MobileNetV2: 21 layers x 6 MBConvs (k3/5/7 x e3/6) + zero; stages=, per_stage=, stem_stride="),
    "fbnet": (fbnet,
              "FBNet layer-wise: 22 layers x 9 blocks (ir k3/k5 x e1/3/6, group-conv s2, skip); stages=, per_stage=, stem_stride="),
    "darts": (lambda **kw: DartsSpace(**{"steps": 4, "name": "darts", **kw}),
              "DARTS normal + reduction cells: 2 x 14 edges x 8 ops (~1e18 genotypes); steps="),
    "oneshot": (OneShotSpace,
                "Bender et al. 2018 choice blocks: 4 blocks x (any inputs, 1-2 of 7 ops) "
                "(~6e9 cells); blocks="),
    "smash": (SmashSpace, "SMASH memory banks: 3 blocks of 24/28/32 banks of N=8, up to 16 ops each "
                          "reading / writing banks, 1-4 convs; banks=, in_banks=, ops=, N=, N_max="),
    "smash-small": (lambda **kw: SmashSpace(**{"banks": (6, 6, 6), "in_banks": (2, 2, 2), "ops": 3, "N": 4,
                                               "N_max": 16, "max_groups": 4, "name": "smash-small", **kw}),
                    "SMASH memory banks, CPU size: 3 blocks of 6 banks of N=4, up to 3 ops each, G <= 16"),
    "enas": (lambda **kw: EnasSpace(**{"nodes": 5, "name": "enas", **kw}),
             "ENAS micro cells: normal + reduction, 5 nodes x (2 inputs, 2 of 5 ops) (~2.6e25); nodes="),
}


# families of spaces, for the methods that can search only one kind (`Search.spaces`)
CELL_SPACES = ("nb201", "nb201-small", "darts")       # supernets that take another edge (`edge=`)
CHAIN_SPACES = ("chain-small", "chain-shuffle", "chain-mbv2", "chain-singlepath", "proxyless", "fbnet")


def register_space(name: str, factory: Callable[..., Space], description: str) -> None:
    SPACES[name] = (factory, description)


def _parse_value(text: str):
    if "+" in text:  # a list: ops=none+skip_connect+nor_conv_3x3
        return [_parse_value(t) for t in text.split("+")]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def get_space(spec: "str | Space", **kwargs) -> Space:
    """The space named by `spec` (see module docstring); a Space instance is returned as is."""
    if isinstance(spec, Space):
        return spec
    name, _, args = str(spec).partition(":")
    if name not in SPACES:
        raise UnknownSpace(f"unknown space {name!r}; choose one of: {', '.join(SPACES)}")
    for item in filter(None, args.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise UnknownSpace(f"space spec {spec!r}: expected key=value after ':', got {item!r}")
        kwargs[key] = _parse_value(value)
    factory, _ = SPACES[name]
    try:
        return factory(**kwargs)
    except UnknownOp:
        raise
    except (TypeError, ValueError) as e:
        raise UnknownSpace(f"space {name!r}: {e}") from None



__all__ = ["Choices", "InvalidArchitecture", "Space", "NB201Space", "ChainSpace", "DartsSpace", "EnasSpace",
           "OneShotSpace", "SmashSpace", "SPACES", "CELL_SPACES", "CHAIN_SPACES", "UnknownSpace", "get_space", "register_space"]
