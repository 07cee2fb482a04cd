"""Ground truth: every architecture of a small space trained stand-alone, a few seeds each.

A weight-sharing method is only as good as the ranking its shared weights give; these tables are
what that ranking is judged against. Each shipped table (`tables/<space>.json`) holds, for every
architecture, its test accuracy per seed, params, FLOPs and training time, plus the record of how
it was built (command, library versions, seeds) and a summary that puts the *spread* between
architectures next to the *noise* between seeds of one architecture: a ranking lesson only means
something when the first clearly beats the second.

    from nasbench import bench
    bench.query("|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|")   # an Entry (mean, std, ...)
    bench.rank("chain-small")[:5]                                    # best first
    data = bench.load_data("nb201-small")                             # the task of its table

The task is not plain 8x8 digits: there most cells land at 97-99%, inside seed noise. `BENCH_DATA`
makes it harder (16x16, Gaussian pixel noise) and the schedule is short, so architectures separate.
`nasbench bench build` rebuilds a table, `nasbench bench verify` retrains a few architectures.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from nasbench import data as datasets
from nasbench.spaces import Space, get_space

TABLES = Path(__file__).resolve().parent / "tables"

# The embedded ground-truth task: `nasbench.data.load(**BENCH_DATA)`: digits upsampled to 16x16,
# with Gaussian pixel noise (std 0.4 on the [0, 1] scale). Chosen so that the spread of mean test
# accuracy among working architectures is well above the seed noise (each table's summary;
# docs/methods.md has the measurements behind the choice).
BENCH_DATA: dict = {"name": "digits", "size": 16, "noise": 0.4}
# The chain network never downsamples: at 16x16 it reaches ~30% and its ranking drowns in seed
# noise (spread/noise 0.45), at 4x the cost; at the native 8x8 (same pixel noise) it ranks.
CHAIN_DATA: dict = {"name": "digits", "noise": 0.4}

# How each table trains one architecture: its data set and `train_standalone` arguments.
SETTINGS: dict[str, dict] = {
    "nb201-small": {"data": BENCH_DATA, "train": {"epochs": 12, "C": 8, "layers": 3}},
    "chain-small": {"data": CHAIN_DATA, "train": {"epochs": 20, "C": 8}},
}
# `Search(space, data="digits-bench")` / `nasbench run ... --dataset digits-bench`: the task of the
# space's table (BENCH_DATA for a space without one), so eval events get their `truth`.
BENCH_DATA_NAME = "digits-bench"
SEEDS = (0, 1, 2)
# The fields of `Dataset.info` that define a data setting (the data seed does not: it redraws
# the split and the noise, not the task).
DATA_KEYS = ("name", "n_train", "n_test", "valid_fraction", "size", "noise")


class NoTable(LookupError):
    """No ground-truth table for that space (or that architecture is not in it)."""


def load_data(space: str | Space | None = None, seed: int = 0, **overrides) -> datasets.Dataset:
    """The task of `space`'s table (`BENCH_DATA` when it has none, or no space is given), drawn
    with `seed` (another seed draws another split and noise of the same task)."""
    name = space.name if isinstance(space, Space) else space
    kwargs = {**SETTINGS.get(name, {"data": BENCH_DATA})["data"], **overrides}
    return datasets.load(kwargs.pop("name"), seed=seed, **kwargs)


def data_setting(info: dict) -> dict:
    """The task-defining part of a `Dataset.info` (or of a `load` keyword dict), with defaults."""
    defaults = {"n_train": None, "n_test": None, "valid_fraction": 0.5, "size": None, "noise": 0.0}
    return {k: info.get(k, defaults.get(k)) for k in DATA_KEYS}


@dataclass
class Entry:
    """One architecture of a table."""
    arch: str
    choices: tuple[int, ...]
    test_acc: float               # mean over seeds
    test_std: float               # std over seeds (ddof=1)
    test_accs: list[float]        # one per seed, in the order of Table.seeds
    valid_acc: float
    params: int
    flops: int
    seconds: float                # mean training time of one seed


class Table:
    """A ground-truth table: `query(arch)`, `rank()`, `truth(arch)`, `summary`."""

    def __init__(self, record: dict):
        self.record = record
        self.space_name: str = record["space"]
        self.setting: dict = record["setting"]
        self.seeds: list[int] = list(record["seeds"])
        self._space: Space | None = None
        self.entries: dict[str, Entry] = {}
        for arch, r in record["archs"].items():
            accs = [float(a) for a in r["test_acc"]]
            self.entries[arch] = Entry(
                arch, tuple(r["choices"]), float(np.mean(accs)),
                float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0, accs,
                float(np.mean(r["valid_acc"])), int(r["params"]), int(r["flops"]), float(np.mean(r["seconds"])))

    @classmethod
    def load(cls, path: str | Path) -> "Table":
        return cls(json.loads(Path(path).read_text()))

    @property
    def space(self) -> Space:
        if self._space is None:
            self._space = get_space(self.space_name)
        return self._space

    def __len__(self) -> int:
        return len(self.entries)

    def _key(self, arch: str | Sequence[int]) -> str:
        return arch if isinstance(arch, str) else self.space.encode(arch)

    def __contains__(self, arch) -> bool:
        try:
            return self._key(arch) in self.entries
        except ValueError:
            return False

    def query(self, arch: str | Sequence[int]) -> Entry:
        """The entry of `arch` (its canonical string or its choices)."""
        key = self._key(arch)
        if key not in self.entries:
            raise NoTable(f"{key!r} is not in the {self.space_name} table")
        return self.entries[key]

    def truth(self, arch: str | Sequence[int]) -> float | None:
        """Mean stand-alone test accuracy of `arch`, or None when the table does not hold it."""
        return self.entries[self._key(arch)].test_acc if arch in self else None

    def rank(self, by: str = "test_acc") -> list[Entry]:
        """Every entry, best first (by mean test accuracy unless `by` names another field;
        params, flops and seconds rank smallest first)."""
        smaller_first = by in ("params", "flops", "seconds", "test_std")
        return sorted(self.entries.values(), key=lambda e: getattr(e, by) if smaller_first else -getattr(e, by))

    @property
    def summary(self) -> dict:
        """Spread between architectures next to noise between seeds (see `spread_and_noise`)."""
        return spread_and_noise([e.test_accs for e in self.entries.values()])

    def ceiling(self) -> dict:
        """How well the table can rank at all: the Kendall tau between one seed's accuracies and
        the mean of the other seeds (averaged over the held-out seed), over every architecture and
        over the working ones, and the mean tau between two single seeds. A search's tau against
        this table is read against these numbers: a perfect single stand-alone run scores about
        `tau_seed_vs_rest`, not 1."""
        from scipy.stats import kendalltau
        accs = np.array([e.test_accs for e in self.entries.values()])    # (archs, seeds)
        working = accs.mean(1) > 0.15
        if accs.shape[1] < 2:
            raise NoTable(f"the {self.space_name} table has one seed: no ceiling to measure")
        rest = [np.delete(accs, i, axis=1).mean(1) for i in range(accs.shape[1])]
        vs_rest = [kendalltau(accs[:, i], r)[0] for i, r in enumerate(rest)]
        vs_rest_working = [kendalltau(accs[working, i], r[working])[0] for i, r in enumerate(rest)]
        pairs = [kendalltau(accs[:, i], accs[:, j])[0]
                 for i in range(accs.shape[1]) for j in range(i + 1, accs.shape[1])]
        return {"space": self.space_name, "seeds": len(self.seeds),
                "tau_seed_vs_rest": float(np.mean(vs_rest)),
                "tau_seed_vs_rest_working": float(np.mean(vs_rest_working)),
                "tau_between_seeds": float(np.mean(pairs))}

    def matches(self, space_name: str, info: dict) -> bool:
        """Whether this table is the ground truth of a run on `space_name` with data `info`. How a
        search divides the same pool between weights and architecture (`valid_fraction`: FBNet's
        80/20, DARTS' 50/50) leaves the pool, the test set and so the truth unchanged."""
        same = lambda d: {k: v for k, v in data_setting(d).items() if k != "valid_fraction"}  # noqa: E731
        return space_name == self.space_name and same(info) == same(self.setting["data"])


def spread_and_noise(accs_per_arch: Sequence[Sequence[float]], broken_below: float = 0.15) -> dict:
    """How far apart architectures are, against how far apart seeds of one architecture are.

    spread: std of the per-architecture mean accuracies, over working architectures (mean above
            `broken_below`: broken ones, e.g. a cell with its output cut off, sit at chance and
            would inflate it); iqr: their interquartile range;
    noise:  the mean over architectures of the std over seeds (ddof=1);
    ratio:  spread / noise -- well above 1 means the ranking is not a coin toss."""
    accs = [np.asarray(a, dtype=float) for a in accs_per_arch]
    means = np.array([a.mean() for a in accs])
    working = means > broken_below
    stds = np.array([a.std(ddof=1) for a, ok in zip(accs, working) if ok and len(a) > 1])
    spread = float(means[working].std(ddof=1)) if working.sum() > 1 else float("nan")
    q1, q3 = np.percentile(means[working], [25, 75]) if working.any() else (np.nan, np.nan)
    noise = float(stds.mean()) if len(stds) else float("nan")
    return {"archs": len(accs), "working": int(working.sum()), "broken": int((~working).sum()),
            "best": float(means.max()), "median_working": float(np.median(means[working])) if working.any() else float("nan"),
            "spread": spread, "iqr": float(q3 - q1), "noise": noise,
            "ratio": spread / noise if noise > 0 else float("nan")}


def table_path(space_name: str) -> Path:
    return TABLES / f"{space_name}.json"


@lru_cache(maxsize=None)
def _load_shipped(space_name: str) -> Table | None:
    path = table_path(space_name)
    return Table.load(path) if path.exists() else None


def available() -> list[str]:
    """Names of the spaces with a shipped table."""
    return sorted(p.stem for p in TABLES.glob("*.json"))


def load_table(space: str | Space = "nb201-small") -> Table:
    """The shipped table of `space` (a name or a Space)."""
    name = space if isinstance(space, str) else space.name
    table = _load_shipped(name)
    if table is None:
        raise NoTable(f"no ground-truth table for {name!r}; tables exist for: {', '.join(available()) or 'none'}")
    return table


def find_table(space_name: str, info: dict) -> Table | None:
    """The shipped table that is the ground truth of a run on `space_name` with data `info`,
    or None (`Search.log_eval` uses this to attach `truth` to `eval` events)."""
    table = _load_shipped(space_name)
    return table if table is not None and table.matches(space_name, info) else None


def query(arch: str | Sequence[int], space: str | Space = "nb201-small") -> Entry:
    """`load_table(space).query(arch)`."""
    return load_table(space).query(arch)


def rank(space: str | Space = "nb201-small", by: str = "test_acc") -> list[Entry]:
    """`load_table(space).rank(by)`: every architecture, best first."""
    return load_table(space).rank(by)


__all__ = ["BENCH_DATA", "CHAIN_DATA", "BENCH_DATA_NAME", "SETTINGS", "SEEDS", "Entry", "Table", "NoTable",
           "load_data", "data_setting", "spread_and_noise", "available", "load_table",
           "find_table", "query", "rank", "table_path"]
