"""Data sets as in-memory tensors, split the way a one-shot search needs them.

A bilevel search (DARTS eq. (3)-(4)) touches three disjoint parts of the data:

    train   trains the supernet weights w            min_w  L_train(w, alpha)
    valid   trains or scores the architecture alpha  min_alpha  L_val(w*(alpha), alpha)
    test    held out: no search ever sees it; only the final stand-alone training reports on it

The search *pool* is split into train and valid by `valid_fraction`, stratified by class and
shuffled with `seed` (DARTS 0.5, FBNet 0.2, ENAS 5k of 50k = 0.1). For the torchvision sets the
pool is the official training set and `test` is the official test set. The default set, `digits`,
is scikit-learn's bundled 8x8 digits (1797 images, nothing downloaded): a fixed, stratified 30% is
the test part, drawn with a constant rather than `seed`, so test accuracies are comparable across
seeds; the other 70% is the pool.

A data set is built in four steps:
    1. choose indices: subsample the pool to `n_train` images (stratified, by `seed`), split it
       into train/valid, cap test at `n_test` -- all on the raw uint8 images, so a 2k-image
       CIFAR subset never materialises the 600 MB of 50k float images;
    2. scale pixels to [0, 1] (digits: /16, torchvision: /255) and resize to `size` x `size`;
    3. add Gaussian noise of std `noise`, drawn once for a given seed (not re-drawn each epoch);
    4. normalise every split with the train split's per-channel mean and std.

Same arguments, same tensors, bit for bit. Everything lives in memory and `Split.batches` slices
it directly: a DataLoader's per-item Python overhead dominates small CPU searches.
"""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

DATASETS: dict[str, str] = {
    "digits": "scikit-learn's bundled 8x8 digits, 1797 images, 10 classes (offline, default)",
    "cifar10": "CIFAR-10, 32x32 colour images, 50k train / 10k test, 10 classes (torchvision)",
    "mnist": "MNIST, 28x28 handwritten digits, 60k train / 10k test, 10 classes (torchvision)",
    "fashion-mnist": "Fashion-MNIST, 28x28 clothes, 60k train / 10k test, 10 classes (torchvision)",
}
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
            "cifar-10": "cifar10", "cifar_10": "cifar10"}

DIGITS_TEST_FRACTION = 0.3
_TEST_SEED = 1234  # draws the digits test part and any n_test cap; deliberately not `seed`
_CHUNK = 4096  # images converted to float at a time, bounding peak memory when downsampling


class UnknownDataset(ValueError):
    """The name is not one of DATASETS."""


class DatasetNotFound(FileNotFoundError):
    """A torchvision data set's files are missing (and could not be downloaded)."""


@dataclass
class Split:
    x: torch.Tensor  # (N, C, H, W) float32, normalised with the train split's per-channel mean/std
    y: torch.Tensor  # (N,) int64
    index: torch.Tensor | None = None  # (N,) int64 position of each example in its source set

    def __len__(self) -> int:
        return len(self.y)

    def batches(self, batch_size: int, *, shuffle: bool = True,
                generator: torch.Generator | None = None,
                drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass over the split (one epoch) in batches of (x, y); `generator` fixes the order."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        n = len(self)
        if shuffle:
            device = generator.device if generator is not None else "cpu"
            order = torch.randperm(n, generator=generator, device=device).to(self.x.device)
        else:
            order = torch.arange(n, device=self.x.device)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start:start + batch_size]
            yield self.x[idx], self.y[idx]

    def to(self, device) -> Split:
        return Split(self.x.to(device), self.y.to(device), self.index)


@dataclass
class Dataset:
    name: str
    train: Split  # trains the weights w
    valid: Split  # trains / scores the architecture alpha: the bilevel "validation" half
    test: Split  # held out, never seen by a search
    num_classes: int
    shape: tuple[int, int, int]  # (C, H, W)
    info: dict  # how it was built (JSON-serialisable)

    def to(self, device) -> Dataset:
        return Dataset(self.name, self.train.to(device), self.valid.to(device),
                       self.test.to(device), self.num_classes, self.shape, self.info)


def load(name: str = "digits", *, root: str | os.PathLike | None = None, download: bool = False,
         n_train: int | None = None, n_test: int | None = None, valid_fraction: float = 0.5,
         size: int | None = None, noise: float = 0.0, seed: int = 0) -> Dataset:
    """Load data set `name` as train / valid / test splits of in-memory tensors.

    n_train: total images of the search pool to keep (train + valid), stratified, chosen by seed.
    n_test: cap on the test split (stratified, independent of seed).
    valid_fraction: share of the pool that goes to valid (alpha); the rest trains the weights.
    size: resize images to size x size (bilinear, antialiased).
    noise: std of Gaussian noise added to every image, on the [0, 1] pixel scale.
    """
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise UnknownDataset(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be strictly between 0 and 1, got {valid_fraction}")
    if n_train is not None and n_train <= 1:
        raise ValueError(f"n_train must be at least 2 (one train, one valid image), got {n_train}")
    if n_test is not None and n_test < 1:
        raise ValueError(f"n_test must be at least 1, got {n_test}")
    if size is not None and size < 4:
        raise ValueError(f"size must be at least 4 pixels, got {size}")
    if noise < 0:
        raise ValueError(f"noise must be a non-negative std, got {noise}")
    root = os.fspath(root if root is not None else os.environ.get("NASBENCH_DATA", "data"))

    if key == "digits":
        src = _digits()
    else:
        src = _torchvision(key, root, download)

    rng = np.random.default_rng(seed)
    pool = src.pool
    if n_train is not None:
        if n_train > len(pool):
            raise ValueError(f"n_train={n_train} exceeds the {len(pool)} images in the "
                             f"{key} search pool (train + valid)")
        pool = pool[_stratified_pick(src.pool_labels[pool], n_train, rng)]
    n_valid = min(max(round(valid_fraction * len(pool)), 1), len(pool) - 1)
    in_valid = _stratified_pick(src.pool_labels[pool], n_valid, rng, keep_one_out=True)
    valid_idx = pool[in_valid]
    train_idx = np.delete(pool, in_valid)
    test_idx = src.test
    if n_test is not None and n_test < len(test_idx):
        test_rng = np.random.default_rng(_TEST_SEED)
        test_idx = test_idx[_stratified_pick(src.test_labels[test_idx], n_test, test_rng)]

    xs = {"train": _to_float(src.pool_images[train_idx], src.scale, size),
          "valid": _to_float(src.pool_images[valid_idx], src.scale, size),
          "test": _to_float(src.test_images[test_idx], src.scale, size)}
    if noise > 0:
        for k, split_name in enumerate(xs):
            g = torch.Generator().manual_seed(seed * 3 + k)  # a distinct stream per (seed, split)
            x = xs[split_name]
            x += noise * torch.randn(x.shape, generator=g)

    mean, std = _channel_stats(xs["train"])
    for x in xs.values():
        x.sub_(mean.float()[:, None, None]).div_(std.float()[:, None, None])

    def split(x, labels, idx) -> Split:
        return Split(x, torch.as_tensor(labels[idx], dtype=torch.int64),
                     torch.as_tensor(idx, dtype=torch.int64))

    train = split(xs["train"], src.pool_labels, train_idx)
    valid = split(xs["valid"], src.pool_labels, valid_idx)
    test = split(xs["test"], src.test_labels, test_idx)
    shape = tuple(train.x.shape[1:])
    info = {"name": key, "seed": seed, "n_train": n_train, "n_test": n_test,
            "valid_fraction": valid_fraction, "size": size, "noise": noise, "source": src.source,
            "root": None if key == "digits" else os.path.abspath(root),
            "pool_size": len(src.pool),
            "sizes": {"train": len(train), "valid": len(valid), "test": len(test)},
            "shape": list(shape), "classes": list(src.classes),
            "mean": mean.tolist(), "std": std.tolist()}
    return Dataset(key, train, valid, test, len(src.classes), shape, info)


def _stratified_pick(labels: np.ndarray, k: int, rng: np.random.Generator,
                     keep_one_out: bool = False) -> np.ndarray:
    """Sorted positions of k items, each class taking its share of k (largest remainder).

    Where k allows, every class gets at least one item; with keep_one_out, every class with two or
    more items also leaves at least one behind, so both sides of a split see every class.
    """
    classes, counts = np.unique(labels, return_counts=True)
    lo = (counts >= (2 if keep_one_out else 1)).astype(int)
    hi = np.where(keep_one_out & (counts >= 2), counts - 1, counts)
    if lo.sum() > k or hi.sum() < k:  # too few items to keep every class on both sides
        lo, hi = np.zeros_like(counts), counts
    exact = counts * k / counts.sum()
    quota = np.clip(np.floor(exact).astype(int), lo, hi)
    order = np.argsort(-(exact - quota), kind="stable")  # biggest shortfall first
    while quota.sum() < k:  # hand out what rounding down left over, one item per class a round
        for c in order:
            if quota.sum() < k and quota[c] < hi[c]:
                quota[c] += 1
    while quota.sum() > k:  # or take back what the minimum of one per class overspent
        for c in order[::-1]:
            if quota.sum() > k and quota[c] > lo[c]:
                quota[c] -= 1
    picked = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picked))


def _to_float(images: np.ndarray, scale: float, size: int | None) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 in [0, 1], resized to size x size, a chunk at a time.

    The result has plain NCHW strides. A one-channel array from numpy (digits' `[:, None]`) has a
    stride of 0 on its channel axis, which torch reads as channels-last; every convolution would
    then run channels-last, the layout on which oneDNN's strided 1x1 backward corrupts the heap on
    AVX2 CPUs (docs/onednn.md)."""
    out = []
    for start in range(0, len(images), _CHUNK):
        x = torch.from_numpy(np.ascontiguousarray(images[start:start + _CHUNK]))
        x = x.to(torch.float32, memory_format=torch.contiguous_format) / scale
        if size is not None and tuple(x.shape[2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)
        out.append(x)
    return torch.cat(out)


def _channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (population) std of (N, C, H, W), accumulated in float64 a chunk at
    a time: exact enough to be reproducible, without a float64 copy of all of CIFAR."""
    total = squares = torch.zeros(x.shape[1], dtype=torch.float64)
    for chunk in x.split(_CHUNK):
        chunk = chunk.double()
        total = total + chunk.sum(dim=(0, 2, 3))
        squares = squares + (chunk * chunk).sum(dim=(0, 2, 3))
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-12)
    return mean, std


@dataclass
class _Source:
    """Raw uint8 images (N, C, H, W) and labels; `pool` and `test` index into them."""
    pool_images: np.ndarray
    pool_labels: np.ndarray
    pool: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    test: np.ndarray
    scale: float  # the largest pixel value: maps pixels to [0, 1]
    classes: list
    source: str


def _digits() -> _Source:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.uint8)[:, None]  # (1797, 1, 8, 8), pixels 0..16
    labels = digits.target.astype(np.int64)
    test = _stratified_pick(labels, round(DIGITS_TEST_FRACTION * len(labels)),
                            np.random.default_rng(_TEST_SEED))
    pool = np.setdiff1d(np.arange(len(labels)), test)
    return _Source(images, labels, pool, images, labels, test, 16.0,
                   [str(c) for c in range(10)], "sklearn.datasets.load_digits")


_FILES = {  # name -> (torchvision class, folder under root, files it must hold)
    "cifar10": ("CIFAR10", "cifar-10-batches-py",
                [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]),
    "mnist": ("MNIST", os.path.join("MNIST", "raw"),
              ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
    "fashion-mnist": ("FashionMNIST", os.path.join("FashionMNIST", "raw"),
                      ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
}


def _torchvision(key: str, root: str, download: bool) -> _Source:
    import torchvision.datasets

    class_name, folder, files = _FILES[key]
    if key != "cifar10":
        _gunzip(os.path.join(root, folder), files)
    cls = getattr(torchvision.datasets, class_name)
    try:
        train = cls(root, train=True, download=download)
        test = cls(root, train=False, download=download)
    except (RuntimeError, OSError) as error:  # missing, corrupted, or the download failed
        raise DatasetNotFound(_missing_message(key, root, download, error)) from error

    def nchw(data) -> np.ndarray:  # a view, so nothing is copied until a subset is chosen
        data = np.asarray(data)
        return data.transpose(0, 3, 1, 2) if data.ndim == 4 else data[:, None]

    train_labels = np.asarray(train.targets, dtype=np.int64)
    test_labels = np.asarray(test.targets, dtype=np.int64)
    return _Source(nchw(train.data), train_labels, np.arange(len(train_labels)),
                   nchw(test.data), test_labels, np.arange(len(test_labels)), 255.0,
                   list(train.classes), f"torchvision.datasets.{class_name}")


def _gunzip(raw: str, files: list[str]) -> None:
    """Extract FILE.gz to FILE where only the archive is there (torchvision reads FILE only)."""
    for name in files:
        path = os.path.join(raw, name)
        if not os.path.exists(path) and os.path.exists(path + ".gz"):
            with gzip.open(path + ".gz", "rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)


def _missing_message(key: str, root: str, download: bool, error: Exception) -> str:
    _, folder, files = _FILES[key]
    where = os.path.join(os.path.abspath(root), folder) + os.sep
    if key == "cifar10":
        what = ("the extracted cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html "
                f"there, so that {where} contains {', '.join(files)}")
    else:
        what = f"{', '.join(files)} (the .gz archives are also fine) in {where}"
    tried = f" The download failed: {' '.join(str(error).split())}." if download else ""
    title = DATASETS[key].split(",")[0]
    return (f"{title} not found (or corrupted) under {os.path.abspath(root)}.{tried} "
            f"Put {what}; or pass download=True on a machine with internet. The data root is "
            f"the `root` argument, else $NASBENCH_DATA, else ./data.")
