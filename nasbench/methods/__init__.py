"""Search methods by name. Each is a `Search` subclass in a file of its own, imported on demand
(`get_method`), so one method's dependencies never slow or break another's."""
from __future__ import annotations

import importlib

from nasbench.methods.base import (ConfigError, NonFiniteLoss, RunResult, Search, SearchConfig,
                                   make_config, parse_setting, resolve_device)


class UnknownMethod(ValueError):
    """A method name that is not registered."""


# name -> ("module:Class", one-line description)
METHODS: dict[str, tuple[str, str]] = {
    "smash": ("nasbench.methods.smash:Smash",
              "a hypernetwork generates each sampled memory-bank net's weights (Brock et al. 2018)"),
    "random": ("nasbench.methods.random_ws:RandomSearchWS",
               "random search with weight sharing (Li & Talwalkar 2019)"),
    "enas": ("nasbench.methods.enas:Enas",
             "LSTM controller trained by REINFORCE on shared-weight children (Pham et al. 2018)"),
    "oneshot": ("nasbench.methods.oneshot:OneShot",
                "one-shot model with path dropout, ranked by accuracy and KL (Bender et al. 2018)"),
    "darts": ("nasbench.methods.darts:Darts",
              "differentiable search: softmax-mixed ops, bilevel alpha / weight steps (Liu et al. 2019)"),
    "gdas": ("nasbench.methods.gdas:Gdas",
             "one sampled op per edge, straight-through Gumbel-softmax, tau 10 -> 0.1 (Dong & Yang 2019)"),
    "snas": ("nasbench.methods.snas:Snas",
             "relaxed Gumbel-softmax samples, weights and alpha on one loss (Xie et al. 2019)"),
    "pc-darts": ("nasbench.methods.pc_darts:PcDarts",
                 "DARTS on 1/K of the channels, channel shuffle, edge normalisation (Xu et al. 2020)"),
    "nasp": ("nasbench.methods.nasp:Nasp",
             "proximal iterations: loss and gradients at the discrete architecture (Yao et al. 2020)"),
    "darts-minus": ("nasbench.methods.darts_minus:DartsMinus",
                    "DARTS plus an auxiliary skip whose weight decays 1 -> 0 (Chu et al. 2021)"),
    "spos": ("nasbench.methods.spos:SPOS",
             "single path one-shot: uniform path sampling, then evolution (Guo et al. 2019)"),
    "fairnas": ("nasbench.methods.fairnas:FairNAS",
                "strict fairness: every block trained once per step, then evolution (Chu et al. 2019)"),
    "single-path": ("nasbench.methods.single_path:SinglePathNAS", "superkernels with norm thresholds and a runtime loss (Stamoulis et al. 2019)"),
    "proxyless": ("nasbench.methods.proxyless:ProxylessNAS",
                  "binarised paths, two-path BinaryConnect updates, latency loss from this machine's table (Cai et al. 2019)"),
    "fbnet": ("nasbench.methods.fbnet:FBNet",
              "Gumbel-softmax over a layer-wise space, loss CE * alpha * (log LAT)^beta (Wu et al. 2019)"),
}


def get_method(name: str) -> type[Search]:
    """The Search subclass registered as `name`."""
    if name not in METHODS:
        raise UnknownMethod(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    module, _, cls = METHODS[name][0].partition(":")
    return getattr(importlib.import_module(module), cls)


__all__ = ["METHODS", "UnknownMethod", "get_method", "Search", "SearchConfig", "RunResult",
           "ConfigError", "NonFiniteLoss", "make_config", "parse_setting", "resolve_device"]
