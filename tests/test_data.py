"""Tests for nasbench.data.

The references are independent of the code under test: scikit-learn's raw digits, numpy statistics,
PIL's resize, and tiny data sets written to disk in the real CIFAR-10 / MNIST formats and read back
through the real torchvision loaders.
"""

import gzip
import json
import os
import pickle
import struct
import subprocess
import sys
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from nasbench import data
from nasbench.data import DATASETS, DatasetNotFound, Split, UnknownDataset, load

DIGITS = load_digits()
N_DIGITS = len(DIGITS.target)  # 1797


def pixels(ds, split):
    """Undo the normalisation: (N, C, H, W) float64 on the [0, 1] pixel scale."""
    x = getattr(ds, split).x.double().numpy()
    mean = np.asarray(ds.info["mean"])[None, :, None, None]
    std = np.asarray(ds.info["std"])[None, :, None, None]
    return x * std + mean


def same_tensors(a, b):
    return all(torch.equal(getattr(getattr(a, s), f), getattr(getattr(b, s), f))
               for s in ("train", "valid", "test") for f in ("x", "y", "index"))


# ---------------------------------------------------------------- digits (the embedded default)

def test_digits_shapes_dtypes_and_sizes():
    ds = load()
    assert ds.name == "digits" and ds.num_classes == 10 and ds.shape == (1, 8, 8)
    assert ds.info["root"] is None
    for split in (ds.train, ds.valid, ds.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.shape == (len(split), 1, 8, 8) and split.y.shape == (len(split),)
    assert len(ds.train) + len(ds.valid) + len(ds.test) == N_DIGITS
    assert len(ds.test) == round(0.3 * N_DIGITS)
    assert len(ds.valid) == round(0.5 * (N_DIGITS - len(ds.test)))
    assert ds.info["sizes"] == {s: len(getattr(ds, s)) for s in ("train", "valid", "test")}
    json.dumps(ds.info)  # the run log stores it


def test_digits_splits_are_disjoint_and_index_points_at_the_raw_image():
    ds = load()
    sets = [set(s.index.tolist()) for s in (ds.train, ds.valid, ds.test)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert set.union(*sets) == set(range(N_DIGITS))
    for split in ("train", "valid", "test"):
        idx = getattr(ds, split).index.numpy()
        np.testing.assert_allclose(pixels(ds, split)[:, 0], DIGITS.images[idx] / 16, atol=1e-5)
        np.testing.assert_array_equal(getattr(ds, split).y.numpy(), DIGITS.target[idx])


def test_same_arguments_give_identical_tensors_and_seed_moves_only_train_valid():
    kwargs = dict(n_train=300, size=12, noise=0.1, valid_fraction=0.3)
    a, b = load(seed=5, **kwargs), load(seed=5, **kwargs)
    assert same_tensors(a, b) and a.info == b.info
    c = load(seed=6, **kwargs)
    assert not torch.equal(a.train.index, c.train.index)
    assert not torch.equal(a.valid.index, c.valid.index)
    assert torch.equal(a.test.index, c.test.index)
    assert torch.equal(a.test.y, c.test.y)


@pytest.mark.parametrize("valid_fraction", [0.5, 0.2, 0.9])
def test_every_class_on_both_sides_of_the_split(valid_fraction):
    ds = load(valid_fraction=valid_fraction, seed=1)
    pool = len(ds.train) + len(ds.valid)
    assert len(ds.valid) == round(valid_fraction * pool)
    for split in (ds.train, ds.valid, ds.test):
        counts = np.bincount(split.y.numpy(), minlength=10)
        assert counts.min() > 0
        # stratified: each class's share within one image of its share in the whole set
        expected = np.bincount(DIGITS.target, minlength=10) / N_DIGITS * len(split)
        assert np.abs(counts - expected).max() <= 2


def test_n_train_subsamples_the_pool_before_the_split_and_n_test_caps_test():
    full = load()
    ds = load(n_train=120, n_test=50, seed=3)
    assert len(ds.train) + len(ds.valid) == 120 and len(ds.valid) == 60
    assert len(ds.test) == 50
    assert np.bincount(ds.train.y.numpy(), minlength=10).min() > 0
    assert np.bincount(ds.valid.y.numpy(), minlength=10).min() > 0
    pool = set(full.train.index.tolist()) | set(full.valid.index.tolist())
    assert set(ds.train.index.tolist()) | set(ds.valid.index.tolist()) <= pool
    assert set(ds.test.index.tolist()) <= set(full.test.index.tolist())
    tiny = load(n_train=2)
    assert len(tiny.train) == 1 and len(tiny.valid) == 1


def test_size_resizes_like_pil_bilinear():
    ds = load(size=16)
    assert ds.shape == (1, 16, 16) and ds.train.x.shape[1:] == (1, 16, 16)
    assert ds.info["shape"] == [1, 16, 16]
    got = pixels(ds, "test")[:5, 0]
    for img, idx in zip(got, ds.test.index[:5].tolist()):
        src = Image.fromarray((DIGITS.images[idx] / 16).astype(np.float32), mode="F")
        want = np.asarray(src.resize((16, 16), Image.BILINEAR))
        np.testing.assert_allclose(img, want, atol=1e-4)


def test_noise_is_added_on_the_pixel_scale_and_fixed_by_seed():
    clean, noisy = load(seed=2), load(seed=2, noise=0.25)
    assert torch.equal(clean.train.index, noisy.train.index)
    diff = pixels(noisy, "train") - pixels(clean, "train")
    assert abs(diff.std() - 0.25) < 0.01 and abs(diff.mean()) < 0.01
    assert same_tensors(noisy, load(seed=2, noise=0.25))
    reseeded = load(seed=3, noise=0.25)
    assert torch.equal(reseeded.test.index, noisy.test.index)
    assert not np.allclose(pixels(reseeded, "test"), pixels(noisy, "test"), atol=1e-3)


@pytest.mark.parametrize("kwargs", [{}, {"noise": 0.3, "size": 10, "n_train": 400}])
def test_train_split_is_normalised_per_channel(kwargs):
    ds = load(**kwargs)
    x = ds.train.x.numpy().astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=(0, 2, 3)), 1.0, atol=1e-5)
    if not kwargs:
        raw = DIGITS.images[ds.train.index.numpy()] / 16
        np.testing.assert_allclose(ds.info["mean"], [raw.mean()], rtol=1e-9)
        np.testing.assert_allclose(ds.info["std"], [raw.std()], rtol=1e-9)


# ---------------------------------------------------------------- Split.batches

def test_batches_cover_every_example_once_per_epoch_in_generator_order():
    n = 23
    split = Split(torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1), torch.arange(n))
    sizes = [len(y) for _, y in split.batches(5, generator=torch.Generator().manual_seed(0))]
    assert sizes == [5, 5, 5, 5, 3]

    def order(seed):
        g = torch.Generator().manual_seed(seed)
        return torch.cat([y for _, y in split.batches(5, generator=g)])

    for seed in range(3):
        assert sorted(order(seed).tolist()) == list(range(n))
    for x, y in split.batches(4):
        assert torch.equal(x.view(-1).long(), y)  # x and y stay paired

    assert torch.equal(order(7), order(7)) and not torch.equal(order(7), order(8))
    assert torch.equal(order(7), torch.randperm(n, generator=torch.Generator().manual_seed(7)))
    unshuffled = torch.cat([y for _, y in split.batches(10, shuffle=False)])
    assert torch.equal(unshuffled, torch.arange(n))
    assert [len(y) for _, y in split.batches(5, drop_last=True)] == [5, 5, 5, 5]
    with pytest.raises(ValueError, match="batch_size"):
        next(split.batches(0))


def test_to_device_keeps_the_data():
    ds = load(n_train=20)
    moved = ds.to("cpu")
    assert same_tensors(ds, moved) and moved.info == ds.info and len(moved.train) == len(ds.train)


def test_import_is_light():
    code = ("import sys, nasbench.data\n"
            "assert 'torchvision' not in sys.modules and 'sklearn' not in sys.modules")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# ---------------------------------------------------------------- CIFAR-10, real torchvision loader

CIFAR_BATCH, CIFAR_TEST = 4, 6  # images per data_batch_k (x5) and in test_batch


def write_cifar(root):
    """A tiny CIFAR-10 in the real layout: pickled dicts, rows of 1024 R, 1024 G, 1024 B bytes.

    The real files are Python 2 pickles that torchvision reads with encoding="latin1", which turns
    their keys into str; a protocol-2 pickle with str keys reads back the same way.
    """
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images, labels = [], []
    for k in range(1, 7):
        name = f"data_batch_{k}" if k <= 5 else "test_batch"
        n = CIFAR_BATCH if k <= 5 else CIFAR_TEST
        rows = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        ys = [(k * 7 + i) % 10 for i in range(n)]
        if k == 2:  # a known pixel: 2nd image of batch 2, green channel, row 3, column 5
            rows[1, 1024 * 1 + 32 * 3 + 5] = 200
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "labels": ys, "data": rows,
                         "filenames": [f"{name}_{i}.png" for i in range(n)]}, f, protocol=2)
        images.append(rows.reshape(-1, 3, 32, 32))
        labels.extend(ys)
    with open(folder / "batches.meta", "wb") as f:
        names = ["airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"]
        pickle.dump({"label_names": names, "num_cases_per_batch": CIFAR_BATCH, "num_vis": 3072}, f,
                    protocol=2)
    train = 5 * CIFAR_BATCH
    return (np.concatenate(images[:5]), np.asarray(labels[:train]),
            images[5], np.asarray(labels[train:]))


@pytest.fixture
def no_md5(monkeypatch):
    """torchvision checks each CIFAR file against the real file's MD5; our tiny files cannot match,
    so in tests only, integrity means existence. Everything else is torchvision's real code."""
    import torchvision.datasets.cifar as cifar
    monkeypatch.setattr(cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))


def test_cifar10_through_torchvision(tmp_path, no_md5):
    train_images, train_labels, test_images, test_labels = write_cifar(tmp_path)
    ds = load("CIFAR10", root=tmp_path, n_train=10, seed=1)
    assert ds.name == "cifar10" and ds.shape == (3, 32, 32) and ds.num_classes == 10
    assert len(ds.train) + len(ds.valid) == 10 and len(ds.test) == CIFAR_TEST
    assert ds.info["classes"][0] == "airplane" and ds.info["pool_size"] == 5 * CIFAR_BATCH
    for split, images, labels in (("train", train_images, train_labels),
                                  ("valid", train_images, train_labels),
                                  ("test", test_images, test_labels)):
        idx = getattr(ds, split).index.numpy()
        np.testing.assert_allclose(pixels(ds, split), images[idx] / 255, atol=1e-5)
        np.testing.assert_array_equal(getattr(ds, split).y.numpy(), labels[idx])
    # the known pixel is image 5 of the official train set (batch 2, position 1)
    full = load("cifar10", root=tmp_path, valid_fraction=0.5)
    split = "train" if 5 in full.train.index.tolist() else "valid"
    row = getattr(full, split).index.tolist().index(5)
    assert pixels(full, split)[row, 1, 3, 5] == pytest.approx(200 / 255, abs=1e-5)
    small = load("cifar10", root=tmp_path, size=16, n_test=3)
    assert small.shape == (3, 16, 16) and small.test.x.shape == (3, 3, 16, 16)
    for img, idx in zip(pixels(small, "test"), small.test.index.tolist()):  # antialiased, like PIL
        for c in range(3):
            src = Image.fromarray((test_images[idx, c] / 255).astype(np.float32), mode="F")
            want = np.asarray(src.resize((16, 16), Image.BILINEAR))
            np.testing.assert_allclose(img[c], want, atol=1e-4)


# ---------------------------------------------------------------- MNIST / Fashion-MNIST

def write_idx(folder, prefix, images, labels, gz=False):
    """The real big-endian IDX format: magic 2051, N, rows, cols then the image bytes;
    magic 2049, N then the label bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    image_header = struct.pack(">IIII", 2051, *images.shape)
    label_header = struct.pack(">II", 2049, len(labels))
    blobs = {f"{prefix}-images-idx3-ubyte": image_header + images.tobytes(),
             f"{prefix}-labels-idx1-ubyte": label_header + labels.tobytes()}
    for name, blob in blobs.items():
        if gz:
            with gzip.open(folder / (name + ".gz"), "wb") as f:
                f.write(blob)
        else:
            (folder / name).write_bytes(blob)


def write_mnist(root, folder_name, gz=False):
    rng = np.random.default_rng(1)
    train = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    train[4, 10, 20] = 77  # a known pixel
    test = rng.integers(0, 256, size=(8, 28, 28), dtype=np.uint8)
    train_y, test_y = (np.arange(30) % 10).astype(np.uint8), (np.arange(8) % 10).astype(np.uint8)
    raw = root / folder_name / "raw"
    write_idx(raw, "train", train, train_y, gz)
    write_idx(raw, "t10k", test, test_y, gz)
    return train, train_y, test, test_y


@pytest.mark.parametrize("name, folder, gz", [("mnist", "MNIST", False),
                                              ("Fashion_MNIST", "FashionMNIST", True)])
def test_mnist_family_through_torchvision(tmp_path, name, folder, gz):
    train, train_y, test, test_y = write_mnist(tmp_path, folder, gz)
    ds = load(name, root=tmp_path, n_train=20, seed=4)
    assert ds.shape == (1, 28, 28) and len(ds.train) == 10 and len(ds.valid) == 10
    assert len(ds.test) == 8
    for split, images, labels in (("train", train, train_y), ("valid", train, train_y),
                                  ("test", test, test_y)):
        idx = getattr(ds, split).index.numpy()
        np.testing.assert_allclose(pixels(ds, split)[:, 0], images[idx] / 255, atol=1e-5)
        np.testing.assert_array_equal(getattr(ds, split).y.numpy(), labels[idx])
    full = load(name, root=tmp_path)
    split = "train" if 4 in full.train.index.tolist() else "valid"
    row = getattr(full, split).index.tolist().index(4)
    assert pixels(full, split)[row, 0, 10, 20] == pytest.approx(77 / 255, abs=1e-5)


# ---------------------------------------------------------------- missing files, offline

@pytest.mark.parametrize("name, expected", [
    ("cifar10", ["cifar-10-batches-py", "data_batch_5", "test_batch", "batches.meta",
                 "https://www.cs.toronto.edu/~kriz/cifar.html"]),
    ("mnist", ["MNIST", "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
    ("fashion-mnist", ["FashionMNIST", "train-images-idx3-ubyte"]),
])
def test_missing_files_name_what_to_put_where(tmp_path, name, expected):
    with pytest.raises(DatasetNotFound) as caught:
        load(name, root=tmp_path)
    message = str(caught.value)
    for text in expected + [str(tmp_path), "download=True"]:
        assert text in message
    assert isinstance(caught.value, FileNotFoundError)


@pytest.mark.parametrize("name, module", [("cifar10", "cifar"), ("mnist", "mnist")])
def test_failed_download_ends_in_dataset_not_found(tmp_path, monkeypatch, name, module):
    import importlib
    mod = importlib.import_module(f"torchvision.datasets.{module}")
    calls = []

    def offline(url, *args, **kwargs):  # never touch the network
        calls.append(url)
        raise URLError("no network in tests")

    monkeypatch.setattr(mod, "download_and_extract_archive", offline)
    with pytest.raises(DatasetNotFound, match="download failed") as caught:
        load(name, root=tmp_path, download=True)
    assert calls and str(tmp_path) in str(caught.value)
    assert "\n" not in str(caught.value)  # one paragraph


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs, error, text", [
    ({"name": "imagenet"}, UnknownDataset,
     "unknown dataset 'imagenet'; choose one of: digits, cifar10, mnist, fashion-mnist"),
    ({"valid_fraction": 0.0}, ValueError, "valid_fraction"),
    ({"valid_fraction": 1.0}, ValueError, "valid_fraction"),
    ({"n_train": 1}, ValueError, "n_train"),
    ({"n_train": 5000}, ValueError, "1258"),
    ({"n_test": 0}, ValueError, "n_test"),
    ({"size": 2}, ValueError, "size"),
    ({"noise": -0.1}, ValueError, "noise"),
])
def test_bad_input_names_the_problem(kwargs, error, text):
    with pytest.raises(error, match=text):
        load(**kwargs)


def test_registry_lists_every_loadable_name():
    assert list(DATASETS) == ["digits", "cifar10", "mnist", "fashion-mnist"]
    assert all(isinstance(v, str) and v for v in DATASETS.values())
    assert issubclass(UnknownDataset, ValueError)
    assert issubclass(data.DatasetNotFound, FileNotFoundError)
