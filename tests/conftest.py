"""Shared test setup: repository paths, and one torch thread per core under pytest-xdist."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"

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
