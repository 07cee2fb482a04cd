"""Shared test setup: repository paths, one torch thread per core under pytest-xdist, and the
CPU kernels of the machines that crash.

oneDNN runs its AVX2 kernels here whatever the CPU (`DNNL_MAX_CPU_ISA=AVX2`, inherited by every
subprocess and notebook kernel): torch 2.14.1's AVX2 strided 1x1 backward corrupts the heap
(docs/onednn.md), so the whole suite runs as on the AMD EPYC laptops and CI machines that crash,
and a change that lets a convolution reach that kernel fails here too. Set DNNL_MAX_CPU_ISA
yourself to test another ISA.
"""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"

os.environ.setdefault("DNNL_MAX_CPU_ISA", "AVX2")  # before any test module starts oneDNN

# `make test` runs `pytest -n 2` on 2 cores: without this each worker (and each notebook
# kernel it starts, which inherits the environment) would use every core and they would fight.
_workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
if _workers:
    _threads = max(1, (os.cpu_count() or 1) // int(_workers))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, str(_threads))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def notebooks_dir() -> Path:
    return NOTEBOOKS_DIR


def pytest_report_header(config):
    """The machine, in the run's header: a failure on another CPU reads with it."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return None
    from nasbench.onednn import describe
    return [f"{key}: {value}" for key, value in describe().items()]
