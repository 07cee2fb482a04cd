"""Every notebook is committed without outputs and runs top to bottom in smoke mode."""

import importlib.util
import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

REPO_ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("lessons_tool", REPO_ROOT / "tools" / "lessons.py")
lessons = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("lessons_tool", lessons)
_spec.loader.exec_module(lessons)
key_numbers, printed_numbers = lessons.key_numbers, lessons.printed_numbers   # one reading for tests and tool
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 600  # seconds per cell
KERNEL = "python3"
SMOKE_LINE = re.compile(
    r"""SMOKE\s*=\s*os\.environ\.get\(\s*["']NASBENCH_SMOKE["']\s*\)\s*==\s*["']1["']"""
)


def read(path):
    return nbformat.read(path, as_version=4)


def leftovers(nb):
    """What `git add` must not see in a notebook: outputs, execution counts, widget state."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            found.append(f"cell {i} has outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {i} has an execution count")
    if "widgets" in nb.metadata:
        found.append("notebook metadata holds widget state")
    return found


def parameters_cells(nb):
    return [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]


class KernelDied(RuntimeError):
    """The kernel process ended under a cell (a native crash): the message ends with its stderr."""


def crash_report(stderr: str) -> str:
    """A dead kernel's words: its last lines before faulthandler's dump (glibc's message, "Fatal
    Python error"), then the stack of the thread that crashed; other threads' stacks left out."""
    before, found, current = stderr.partition("Current thread")
    said = [line for line in before.splitlines() if line.strip() and not line.startswith("  File ")]
    crashed = (found + current).splitlines()[:25]
    return "\n".join(said[-15:] + crashed)


def execute(nb, cwd):
    """Run a notebook in place, in the `python3` kernel, from cwd; raises on a cell error, and
    with the kernel's last stderr lines (glibc's or faulthandler's words) when the kernel dies."""
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL, resources={"metadata": {"path": str(cwd)}}
    )
    with tempfile.TemporaryFile(mode="w+") as stderr:
        try:
            client.execute(stderr=stderr)  # passed on to the kernel's Popen
        except DeadKernelError as e:
            stderr.seek(0)
            raise KernelDied(f"{e}; the kernel's stderr:\n{crash_report(stderr.read())}") from None
    return nb


@pytest.fixture(scope="session")
def venv_kernel(tmp_path_factory):
    """Point the `python3` kernel at this interpreter, whatever kernels the user has installed.

    JUPYTER_PATH comes before the user's and the system's kernel folders.
    """
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        # Plain tracebacks: test logs are read as text.
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--InteractiveShell.colors=nocolor"],
        "display_name": "Python 3 (nasbench tests)",
        # a native crash prints the Python stack too, into the stderr a dead kernel reports
        "env": {"PYTHONFAULTHANDLER": "1"},
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    with pytest.MonkeyPatch.context() as mp:
        old = os.environ.get("JUPYTER_PATH")
        mp.setenv("JUPYTER_PATH", os.pathsep.join(filter(None, [str(root), old])))
        yield KERNEL


@pytest.fixture
def smoke(monkeypatch):
    # The kernel inherits this process's environment.
    monkeypatch.setenv("NASBENCH_SMOKE", "1")


def test_tour_notebook_exists():
    assert (NOTEBOOKS_DIR / "00_tour.ipynb").is_file()


def test_kernel_is_this_interpreter_in_smoke_mode(venv_kernel, smoke, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import os, sys; print(sys.prefix); print(os.getcwd()); print(os.environ['NASBENCH_SMOKE'])"
    )]
    execute(nb, tmp_path)
    prefix, cwd, flag = nb.cells[0].outputs[0]["text"].split()
    assert (prefix, Path(cwd).resolve(), flag) == (sys.prefix, tmp_path.resolve(), "1")


def test_a_failing_cell_fails_the_run(venv_kernel, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("raise RuntimeError('boom')")]
    with pytest.raises(Exception, match="boom"):
        execute(nb, tmp_path)


def test_a_dead_kernel_fails_the_run_with_its_stderr(venv_kernel, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import os; os.write(2, b'corrupted double-linked list\\n'); os.abort()")]
    with pytest.raises(KernelDied, match="corrupted double-linked list"):
        execute(nb, tmp_path)


def test_leftovers_are_found():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1", execution_count=3)
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "1"})]
    nb.cells = [cell, nbformat.v4.new_code_cell("2")]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    assert leftovers(nb) == [
        "cell 0 has outputs", "cell 0 has an execution count",
        "notebook metadata holds widget state",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    found = leftovers(read(path))
    assert not found, f"strip {path.name} before committing: " + "; ".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_has_smoke_parameters_cell(path):
    cells = parameters_cells(read(path))
    assert cells, f"{path.name} has no cell tagged `parameters`"
    assert any(SMOKE_LINE.search(c.source) for c in cells), (
        f'the `parameters` cell of {path.name} must set SMOKE = os.environ.get("NASBENCH_SMOKE") == "1"'
    )


def check_key_numbers(nb, name):
    """Each key number is printed on a line of its own as `name = <number>`, and is finite."""
    found = printed_numbers(nb)
    for key in key_numbers(nb):
        assert key in found, f"{name} never printed a line `{key} = <number>`"
        try:
            value = float(found[key])
        except ValueError:
            pytest.fail(f"{name}: `{key} = {found[key]}` is not a number")
        assert math.isfinite(value), f"{name}: {key} = {value} is not finite"


def test_key_numbers_are_checked():
    nb = nbformat.v4.new_notebook()
    nb.metadata["nasbench"] = {"key_numbers": ["tau", "acc"]}
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="tau = 0.41\nacc = nan\n")]
    nb.cells = [cell]
    assert printed_numbers(nb) == {"tau": "0.41", "acc": "nan"}
    with pytest.raises(AssertionError, match="acc = nan is not finite"):
        check_key_numbers(nb, "x")
    nb.metadata["nasbench"]["key_numbers"] = ["tau", "loss"]
    with pytest.raises(AssertionError, match="never printed a line `loss = <number>`"):
        check_key_numbers(nb, "x")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_declares_its_key_numbers(path):
    names = key_numbers(read(path))
    assert names, f'{path.name}: add "nasbench": {{"key_numbers": [...]}} to the notebook metadata'
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names), names


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path, venv_kernel, smoke):
    nb = execute(read(path), NOTEBOOKS_DIR)
    check_key_numbers(nb, path.name)
