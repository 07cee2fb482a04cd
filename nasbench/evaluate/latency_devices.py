"""Latency tables of named devices beside "this machine": the per-layer tables the papers published,
mapped onto chain-small's three layers.

Two phone tables ship with the package (`latency_data/`, provenance in its README.md), both
measured on a Google Pixel 1 for a MnasNet-shaped ImageNet network (224x224 input; stages of 4
searched MBConv layers at widths 24/40/80/96/192, the first of each stage strided, then a fixed
192 -> 320 block):

    pixel1             Single-Path NAS's `pixel1_runtime_model.json` (dstamoulis/single-path-nas,
                       nas-search/): per block 0..21, the ms of k3e3, k3e6, k5e3, k5e6 ("0".."3");
                       a skipped layer costs 0.7 ms and the rest of the network (stem, head,
                       blocks 0 and 21) 19.6 ms, as `singlepath_supernet.py` adds them.
    proxyless-mobile   ProxylessNAS's mobile lookup table `mobile_trim.yaml` (the file that
                       mit-han-lab/proxylessnas search/utils/latency_estimator.py downloads from
                       han-cai/files): the mean ms of every MBConv by input/output shape, expansion,
                       kernel, stride and residual; `Conv` (stem), `Conv_1` and `Logits` (head).
                       The Zero op costs nothing (it is not in the table).

How they become a table of chain-small (3 stride-1 layers of one width, 5 options each): our three
layers stand for the three stride-1 layers of the phone network's first searched stage (24
channels at 56x56, after its strided first layer), the only place where three searched layers of
one width follow each other as in chain-small. Their entries are taken as published (ms on the
phone); `skip` costs what the paper's code charges for a skipped layer. Everything else the phone
network runs is `base`: the fixed parts the code adds, plus every other searched layer at k3e3 (the
cheapest MBConv: the smallest network around our three layers, so our layers get their largest
share, ~4-11% of the network each, as on the phone). The trade-off the methods face is then the
phone's: k3e3 costs 0.37x k5e6, and skipping a layer saves a few percent of the network.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from nasbench.evaluate.latency import LatencyTable
from nasbench.spaces import get_space

DATA = Path(__file__).with_name("latency_data")
# chain-small's options in the phone tables' terms: (kernel, expansion), None for skip
_OPS = {"mbconv_k3_e3": (3, 3), "mbconv_k3_e6": (3, 6), "mbconv_k5_e3": (5, 3), "mbconv_k5_e6": (5, 6),
        "skip": None}
_PIXEL1_KEY = {(3, 3): "0", (3, 6): "1", (5, 3): "2", (5, 6): "3"}   # singlepath_supernet.py's order
PIXEL1_REST_MS = 19.5999   # singlepath_supernet.py: "rest of runtime (stem, head, logits, block0, block21)"
PIXEL1_SKIP_MS = 0.7       # ...: "negligible (ms) value for skip-op"
OURS = (2, 3, 4)           # the first stage's stride-1 blocks (block 1 is its strided first layer)

# The MnasNet layout of the ProxylessNAS mobile table: (input HxWxC, output HxWxC, residual) of
# every searched layer, in order (4 per stage, the last a single 192 -> 320 layer).
_STAGES = [(56, 24), (28, 40), (14, 80), (14, 96), (7, 192)]


def _proxyless_layers() -> list[tuple[str, str, int, int]]:
    """(input, output, stride, idskip) of the 21 searched layers of the mobile table's network."""
    layers, prev = [], (112, 16)
    for size, width in _STAGES:
        for i in range(4):
            stride = prev[0] // size if i == 0 else 1
            layers.append((f"{prev[0]}x{prev[0]}x{prev[1]}", f"{size}x{size}x{width}", stride,
                           int(i > 0)))
            prev = (size, width)
    layers.append(("7x7x192", "7x7x320", 1, 0))
    return layers


@lru_cache(maxsize=None)
def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def _mbconv_ms(layer, kernel: int, expand: int) -> float:
    x, y, stride, idskip = layer
    key = f"expanded_conv-input:{x}-output:{y}-expand:{expand}-kernel:{kernel}-stride:{stride}-idskip:{idskip}"
    return _load("proxylessnas_mobile_trim.json")[key]["mean"]


def _pixel1(options) -> tuple[list[list[float]], float]:
    lut_json = _load("pixel1_runtime_model.json")
    rows = [[PIXEL1_SKIP_MS if _OPS[o] is None else lut_json[str(b)][_PIXEL1_KEY[_OPS[o]]] for o in opts]
            for b, opts in zip(OURS, options)]
    others = [lut_json[str(b)]["0"] for b in range(1, 21) if b not in OURS]
    return rows, PIXEL1_REST_MS + sum(others)


def _proxyless_mobile(options) -> tuple[list[list[float]], float]:
    table = _load("proxylessnas_mobile_trim.json")
    layers = _proxyless_layers()
    rows = [[0.0 if _OPS[o] is None else _mbconv_ms(layers[b - 1], *_OPS[o]) for o in opts]
            for b, opts in zip(OURS, options)]
    fixed = (table["Conv-input:224x224x3-output:112x112x32"]["mean"]
             + table["expanded_conv-input:112x112x32-output:112x112x16-expand:1-kernel:3-stride:1-idskip:0"]["mean"]
             + table["Conv_1-input:7x7x320-output:7x7x1280"]["mean"]
             + table["Logits-input:7x7x1280-output:1000"]["mean"])
    others = [_mbconv_ms(layer, 3, 3) for i, layer in enumerate(layers) if i + 1 not in OURS]
    return rows, fixed + sum(others)


DEVICES = {
    "pixel1": (_pixel1, "Google Pixel 1 (Single-Path NAS, pixel1_runtime_model.json)"),
    "proxyless-mobile": (_proxyless_mobile, "Google Pixel 1 (ProxylessNAS, mobile_trim.yaml)"),
}


def device_table(device: str, space: str = "chain-small") -> LatencyTable:
    """The published table of `device` (one of DEVICES) as a LatencyTable of `space` (ms on the
    phone; see the module docstring for the mapping). Only chain-small is mapped."""
    if device not in DEVICES:
        raise ValueError(f"unknown latency device {device!r}; named devices: {', '.join(DEVICES)} "
                         f"(or 'this' for a table measured on this machine)")
    space = get_space(space)
    if space.name != "chain-small":
        raise ValueError(f"the {device} table is mapped onto chain-small only, not {space.name}")
    make, described = DEVICES[device]
    lut, base = make(space.options)
    lut = [[round(v, 5) for v in row] for row in lut]
    return LatencyTable(space=space.name, device=device, threads=1, torch_version="", batch_size=1,
                        lut=lut, spread=[[0.0] * len(row) for row in lut], base_ms=round(base, 5),
                        device_name=described, input_shape=[3, 224, 224],
                        options=[list(o) for o in space.options])
