"""`make student`: the student edition of the notebooks, and the autograder that grades it.

    python tools/student.py build [--out build]           # build/student/ and build/autograder/
    python tools/student.py grade SUBMISSION... [--out DIR] [--timeout 60]

The teacher's notebooks stay the single source. An exercise is found where a notebook calls
`attempt(fn, <reference>, <check>)` (nasbench.exercises); nothing here lists them by hand.

build/student/ is what students get: the notebooks without outputs, each `attempt` call without
its reference argument, and a copy of nasbench whose exercise modules lack every `*_reference`
function. So that an unwritten exercise still lets the notebook run top to bottom, the student
edition's `attempt` falls back to the references' compiled code (no source; it loads on the
Python version that built it) which nothing in the package exposes under a name, and which the
autograder's copy of nasbench does not have.

build/autograder/ is what the instructor keeps: one otter-grader test file per exercise
(exception-based: it calls the exercise's check on the student's function), exercises.json, the
student edition's nasbench (so a submission cannot import a reference either) and this file as
grade.py. Grading a notebook runs no search: only its imports, its function and class
definitions and its literal constants, then each exercise's test, in a worker process; an
exercise that raises fails alone, one that runs past --timeout is stopped (the worker is killed
and a new one grades the next exercise), and one that kills the worker costs only itself.
"""
from __future__ import annotations

import argparse
import ast
import base64
import copy
import csv
import importlib
import inspect
import json
import marshal
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "exercises.json"
# What the student edition carries besides the notebooks (docs: the notebooks link to them).
SHIPPED = ["nasbench", "pyproject.toml", "environment.yml", "jupyter", "docs"]
NOT_SHIPPED = {"teaching.md", "student-edition.md", "testing.md", "__pycache__", "state",
               ".ipynb_checkpoints"}


@dataclass
class Exercise:
    notebook: str   # "04_darts"
    function: str   # the name the student writes: "mixed_op"
    check: str      # "nasbench.exercises.darts.check_mixed_op"
    reference: str  # "nasbench.exercises.darts.mixed_op_reference"
    points: float = 1.0

    @property
    def name(self) -> str:
        return f"{self.notebook}.{self.function}"

    @property
    def test_file(self) -> str:
        return f"tests/{self.notebook}-{self.function}.py"


class BuildError(Exception):
    pass


# -- reading notebooks ------------------------------------------------------------------------
def _python(source: str) -> str:
    """A cell's source as plain Python (IPython's magics and `!` lines turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(source)


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(_python(source))
    except SyntaxError:
        return None


def _attempt_calls(tree: ast.AST):
    """(call, student, reference, check) for every `attempt(...)` call in `tree`."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if func != "attempt":
            continue
        # The teacher's attempt(fn, reference, check), the student edition's attempt(fn, check).
        names = ("student", "check") if len(node.args) == 2 else ("student", "reference", "check")
        args = dict(zip(names, node.args))
        args.update({k.arg: k.value for k in node.keywords if k.arg in ("student", "reference", "check")})
        yield node, args.get("student"), args.get("reference"), args.get("check")


def _last_name(expr: ast.AST | None) -> str | None:
    """`check_x` of `ex.check_x` or of `check_x`."""
    return expr.attr if isinstance(expr, ast.Attribute) else getattr(expr, "id", None)


def _exercise_imports(tree: ast.Module) -> list[ast.stmt]:
    """The statements of a cell that import from nasbench.exercises."""
    out = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nasbench.exercises"):
            out.append(node)
        elif isinstance(node, ast.ImportFrom) and node.module == "nasbench" \
                and any(a.name == "exercises" for a in node.names):
            out.append(node)
        elif isinstance(node, ast.Import) and any(a.name.startswith("nasbench.exercises") for a in node.names):
            out.append(node)
    return out


def _qualname(obj) -> str:
    return f"{obj.__module__}.{obj.__name__}"


def discover(notebook: Path) -> list[Exercise]:
    """The exercises of a teacher notebook, in order: each `attempt` call, its reference and check
    resolved by running the notebook's imports from nasbench.exercises (nothing else)."""
    import nbformat
    nb = nbformat.read(notebook, as_version=4)
    ns: dict = {}
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or (tree := _parse(cell.source)) is None:
            continue
        for stmt in _exercise_imports(tree):
            exec(compile(ast.Module([stmt], []), f"<{notebook.name} cell {i}>", "exec"), ns)
        for _, student, reference, check in _attempt_calls(tree):
            if not isinstance(student, ast.Name) or reference is None or check is None:
                raise BuildError(f"{notebook.name} cell {i}: attempt() needs (function, reference, check)")
            resolve = lambda e: eval(compile(ast.Expression(e), "<attempt>", "eval"), ns)  # noqa: E731
            found.append(Exercise(notebook.stem, student.id, _qualname(resolve(check)),
                                  _qualname(resolve(reference))))
    names = [e.name for e in found]
    if len(set(names)) != len(names):
        raise BuildError(f"{notebook.name}: two exercises ask for the same function name: {names}")
    return found


def exercise_modules() -> list[str]:
    import pkgutil
    import nasbench.exercises as package
    return [f"nasbench.exercises.{m.name}" for m in pkgutil.iter_modules(package.__path__)
            if not m.name.startswith("_")]


def references(exercises: list[Exercise]) -> dict[str, list[str]]:
    """module -> the names of its references: the ones the notebooks use, and every top-level
    function named *_reference (a reference no notebook uses yet must not ship either)."""
    out: dict[str, set[str]] = {}
    for module_name in exercise_modules():
        module = importlib.import_module(module_name)
        out[module_name] = {n for n, v in vars(module).items()
                            if n.endswith("_reference") and inspect.isfunction(v)}
    for e in exercises:
        module_name, name = e.reference.rsplit(".", 1)
        out.setdefault(module_name, set()).add(name)
    return {m: sorted(names) for m, names in out.items()}


# -- source surgery -----------------------------------------------------------------------------
def _offset(source: str, lineno: int, col: int) -> int:
    """Character offset of an ast position (1-based line, UTF-8 byte column)."""
    lines = source.splitlines(keepends=True)
    return sum(map(len, lines[:lineno - 1])) + len(lines[lineno - 1].encode()[:col].decode())


def _span(source: str, node: ast.AST) -> tuple[int, int]:
    return (_offset(source, node.lineno, node.col_offset),
            _offset(source, node.end_lineno, node.end_col_offset))


def _splice(source: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, text in sorted(edits, reverse=True):
        source = source[:start] + text + source[end:]
    return source


def strip_definitions(source: str, names: set[str]) -> str:
    """`source` without the top-level functions `names` (decorators and all)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    drop = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            drop |= set(range(first - 1, node.end_lineno))
    text = "".join(l for i, l in enumerate(lines) if i not in drop)
    return re.sub(r"\n{4,}", "\n\n\n", text)


def student_cell(source: str, stripped: set[str]) -> str:
    """A teacher cell as students get it: every `attempt` call without its reference argument,
    and no import of a reference."""
    if (tree := _parse(source)) is None:
        return source
    edits = []
    for call, _, reference, _ in _attempt_calls(tree):
        if reference is None:  # already the student edition's attempt(fn, check)
            continue
        if _python(source).rstrip("\n") != source.rstrip("\n"):
            raise BuildError(f"an attempt() call in a cell with IPython magics: {source[:60]!r}")
        parts = sorted(list(call.args) + list(call.keywords), key=lambda n: (n.lineno, n.col_offset))
        k = next(i for i, p in enumerate(parts) if p is reference or getattr(p, "value", None) is reference)
        start, end = _span(source, parts[k])
        if k + 1 < len(parts):
            end = _span(source, parts[k + 1])[0]
        else:
            start = _span(source, parts[k - 1])[1]
        edits.append((start, end, ""))
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(a.name in stripped for a in node.names):
            kept = [a for a in node.names if a.name not in stripped]
            start, end = _span(source, node)
            text = ast.unparse(ast.ImportFrom(node.module, kept, node.level)) if kept else ""
            if not kept and source[end:end + 1] == "\n":
                end += 1
            edits.append((start, end, text))
    return _splice(source, edits)


# The student edition's `attempt`: the teacher's, with the reference taken from the compiled
# fallbacks (appended to the copy of nasbench/exercises/__init__.py).
STUDENT_ATTEMPT = '''

# -- student edition (written by tools/student.py) ---------------------------------------------
# The references do not ship; an unwritten or wrong exercise falls back to their compiled code.
_teacher_attempt = attempt


def _fallback(check: Callable) -> Callable:
    import base64
    import importlib
    import marshal
    import sys
    import types

    from nasbench.exercises import _fallbacks
    key = f"{check.__module__}.{check.__name__}"
    if tuple(_fallbacks.PYTHON) != tuple(sys.version_info[:2]):
        def unavailable(*args, **kwargs):
            raise RuntimeError(f"this student edition was built for Python {_fallbacks.PYTHON[0]}."
                               f"{_fallbacks.PYTHON[1]}: write the function above to go on")
        return unavailable
    module_name, reference = _fallbacks.REFERENCE[key].rsplit(".", 1)
    scope = dict(vars(importlib.import_module(module_name)))  # the reference's module, less itself
    for name, blob in _fallbacks.CODE[module_name].items():
        code, defaults, kwdefaults = marshal.loads(base64.b64decode(blob))
        scope[name] = types.FunctionType(code, scope, name, defaults)
        scope[name].__kwdefaults__ = kwdefaults
    return scope[reference]


def attempt(student: Callable, check: Callable[[Callable], None], name: str | None = None) -> Callable:
    """Check `student` with `check`; fall back to the library's version while it is unwritten or wrong."""
    return _teacher_attempt(student, _fallback(check), check, name)
'''


def _fallbacks_module(refs: dict[str, list[str]], exercises: list[Exercise]) -> str:
    code = {}
    for module_name, names in refs.items():
        module = importlib.import_module(module_name)
        code[module_name] = {}
        for name in names:
            f = getattr(module, name)
            blob = marshal.dumps((f.__code__, f.__defaults__, f.__kwdefaults__))
            code[module_name][name] = base64.b64encode(blob).decode()
    reference = {e.check: e.reference for e in exercises}
    return (f'"""Compiled code of the exercises\' references (written by tools/student.py)."""\n'
            f"PYTHON = {tuple(sys.version_info[:2])!r}\nREFERENCE = {reference!r}\nCODE = {code!r}\n")


# -- build --------------------------------------------------------------------------------------
def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, ignore=lambda d, names: [n for n in names if n in NOT_SHIPPED])
    else:
        shutil.copy2(src, dst)


def build(out: Path, teacher: Path = ROOT) -> list[Exercise]:
    import nbformat
    if str(teacher) not in sys.path:
        sys.path.insert(0, str(teacher))  # `python tools/student.py` puts tools/ first, not the repo
    import nasbench
    if Path(nasbench.__file__).resolve().parents[1] != teacher.resolve():
        raise BuildError(f"nasbench imports from {nasbench.__file__}, not from {teacher}")
    notebooks = sorted((teacher / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    exercises = [e for nb in notebooks for e in discover(nb)]
    refs = references(exercises)
    stripped = {n for names in refs.values() for n in names}

    student, grader = out / "student", out / "autograder"
    for d in (student, grader):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    for name in SHIPPED:
        _copy(teacher / name, student / name)
    package = student / "nasbench" / "exercises"
    for module_name, names in refs.items():
        path = package / (module_name.rsplit(".", 1)[1] + ".py")
        path.write_text(strip_definitions(path.read_text(), set(names)))
    init = package / "__init__.py"
    init.write_text(init.read_text() + STUDENT_ATTEMPT)
    (package / "_fallbacks.py").write_text(_fallbacks_module(refs, exercises))
    (student / "README.md").write_text(STUDENT_README.format(python="%d.%d" % sys.version_info[:2]))

    (student / "notebooks").mkdir()
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        nb.metadata.pop("widgets", None)
        for cell in nb.cells:
            cell.metadata.pop("execution", None)
            if cell.cell_type == "code":
                cell.source = student_cell(cell.source, stripped)
                cell.outputs, cell.execution_count = [], None
            for name in stripped:
                if re.search(rf"\b{name}\b", cell.source):
                    raise BuildError(f"{path.name} still names {name} after the rewrite: {cell.source[:80]!r}")
        nbformat.write(nb, student / "notebooks" / path.name)
    _copy(teacher / "notebooks" / "recorded", student / "notebooks" / "recorded")  # the recorded runs 04, 10 and 11 replay

    # Grading runs without the fallbacks: a function that hands back the library's version
    # (nasbench.exercises._fallback) gets nothing from it there.
    shutil.copytree(student / "nasbench", grader / "nasbench",
                    ignore=lambda d, names: ["_fallbacks.py"] if Path(d).name == "exercises" else [])
    (grader / "tests").mkdir()
    for e in exercises:
        (grader / e.test_file).write_text(TEST_FILE.format(e=e, module=e.check.rsplit(".", 1)[0],
                                                           check=e.check.rsplit(".", 1)[1]))
    shutil.copy2(Path(__file__), grader / "grade.py")
    (grader / MANIFEST).write_text(json.dumps([asdict(e) for e in exercises], indent=1) + "\n")
    return exercises


TEST_FILE = '''"""{e.function} of notebooks/{e.notebook}.ipynb: an otter-grader test file (exception-based),
written by tools/student.py from the notebook's attempt() call."""
from otter.test_files import test_case

from {module} import {check}

OK_FORMAT = False
name = "{e.name}"
points = {e.points!r}


@test_case(points={e.points!r})
def passes_its_check({e.function}):
    if not callable({e.function}):
        raise AssertionError("no function named {e.function} in the notebook")
    try:
        {check}({e.function})
    except NotImplementedError:
        raise AssertionError("not written yet (it still raises NotImplementedError)") from None
'''

STUDENT_README = """# nasbench: the student edition

Install once (Python {python}, the version this edition was built with): `python -m venv .venv && .venv/bin/pip install -e ".[lab]"`
(or `conda env create -f environment.yml`), then `jupyter lab notebooks/`.

Each exercise asks you to write one function in the cell that raises `NotImplementedError`; the
cell after it checks your function and tells you whether it is right. Until it is, the notebook uses
the library's version so that everything below still runs. Hand in the notebooks as they are
(File > Save); your functions are graded on their own, so they may use the notebook's imports,
their arguments and helpers you define, not variables computed elsewhere in the notebook.
"""


# -- grading ------------------------------------------------------------------------------------
def _kept(tree: ast.Module) -> list[ast.stmt]:
    """What grading runs of a cell: imports, function and class definitions, literal constants."""
    kept = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kept.append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            try:
                ast.literal_eval(node.value)
                kept.append(node)
            except ValueError:
                pass
    return kept


def _match(notebook: str, submitted: list[Path]) -> Path | None:
    """The submitted file for `notebook` ("04_darts"): the same name, or one that starts with it
    ("04_darts (1).ipynb", as learning platforms rename)."""
    exact = [p for p in submitted if p.stem == notebook]
    return (exact or [p for p in submitted if p.stem.startswith(notebook)] or [None])[0]


def _chunks(path: Path) -> list[tuple[int, str | None, set | str]]:
    """A submitted notebook as what grading runs: (cell, statement, None) for each kept
    statement; after each cell (cell, None, the checks its attempt() calls name); (cell, None,
    a note) for a cell that does not parse."""
    import nbformat
    out = []
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code":
            continue
        if (tree := _parse(cell.source)) is None:
            out.append((i, None, f"cell {i + 1} has a syntax error and was skipped"))
            continue
        out += [(i, ast.unparse(stmt), None) for stmt in _kept(tree)]
        out.append((i, None, {_last_name(c) for _, _, _, c in _attempt_calls(tree)}))
    return out


def plan(submission: Path, exercises: list[Exercise], grader: Path) -> list[dict]:
    """The worker's job: per exercise, the statements to run first (the notebook's imports and
    definitions up to the cell that checks it) and its test file."""
    submitted = [submission] if submission.is_file() else sorted(submission.glob("*.ipynb"))
    jobs, read = [], {}
    for e in exercises:
        job = {"name": e.name, "notebook": e.notebook, "test": str(grader / e.test_file),
               "points": e.points, "chunks": [], "note": ""}
        jobs.append(job)
        path = _match(e.notebook, submitted)
        if path is None:
            job["note"] = f"notebook {e.notebook}.ipynb was not submitted"
            continue
        if path not in read:
            try:
                read[path] = _chunks(path)
            except Exception as err:  # noqa: BLE001 - not a notebook, or not JSON
                read[path] = f"{path.name} could not be read: {type(err).__name__}: {err}"
        if isinstance(read[path], str):
            job["note"] = read[path]
            continue
        check = e.check.rsplit(".", 1)[1]
        chunks = read[path]
        upto = next((k for k, (_, _, c) in enumerate(chunks) if isinstance(c, set) and check in c), None)
        job["chunks"] = [(i, code) for i, code, _ in chunks[:upto] if code is not None]
        notes = [c for _, code, c in chunks[:upto] if isinstance(c, str)]
        if upto is None:
            notes.append(f"no cell calls attempt(..., {check}): graded on the whole notebook")
        job["note"] = "; ".join(notes)
    return jobs


def _otter_test_files():
    """otter.test_files, without otter's package __init__: that one imports otter's whole command
    line (nbconvert, the PDF exporters), 1.5-2 s of CPU in every worker for nothing it uses."""
    import importlib.util
    import types
    if "otter" not in sys.modules:
        package = types.ModuleType("otter")
        package.__path__ = list(importlib.util.find_spec("otter").submodule_search_locations)
        sys.modules["otter"] = package
    return importlib.import_module("otter.test_files")


def worker(job_file: str, start: int) -> None:
    """Grades jobs[start:], one JSON line each on the original stdout; what the student's code
    prints goes to stderr."""
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout, sys.stdin = sys.stderr, open(os.devnull)
    import torch
    torch.set_num_threads(1)
    import nasbench
    ExceptionTestFile = _otter_test_files().ExceptionTestFile
    jobs = json.loads(Path(job_file).read_text())
    grader = Path(jobs[0]["test"]).parents[1] if jobs else None
    if grader and Path(nasbench.__file__).resolve().parents[1] != grader.resolve():
        raise SystemExit(f"the worker imported {nasbench.__file__}, not the student edition's")
    # Every test file is loaded (and so every check imported) before any student code runs.
    tests = {j["name"]: ExceptionTestFile.from_file(j["test"]) for j in jobs[start:]}

    def send(**msg):
        protocol.write(json.dumps(msg) + "\n")
        protocol.flush()

    send(ready=True)
    env, notebook, done = {}, None, 0
    for job in jobs[start:]:
        if job["notebook"] != notebook:
            env, notebook, done = {"__name__": "__main__"}, job["notebook"], 0
        errors = []
        for cell, code in job["chunks"][done:]:
            try:
                exec(compile(code, f"<{notebook} cell {cell + 1}>", "exec"), env)
            except BaseException as e:  # noqa: BLE001 - a student's import or class body
                errors.append(f"cell {cell + 1}: {type(e).__name__}: {e}")
        done = len(job["chunks"])
        send(setup=job["name"])
        test = tests[job["name"]]
        try:
            test.run(env)
            score, feedback = test.score, test.summary()
        except BaseException as e:  # noqa: BLE001 - SystemExit and the like, from the student's code
            score, feedback = 0, f"{job['name']}: {type(e).__name__}: {e}"
        if errors and not score:
            feedback += "\n" + "\n".join(f"    while loading the notebook: {m}" for m in errors)
        send(name=job["name"], score=score, feedback=feedback)


class _Lines:
    """Lines from a pipe, each awaited until a deadline."""

    def __init__(self, stream):
        self.fd, self.buffer = stream.fileno(), b""

    def next(self, deadline: float) -> dict | None:
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise TimeoutError
            data = os.read(self.fd, 1 << 16)
            if not data:
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


def grade(submission: Path, grader: Path, timeout: float = 60.0, startup: float = 300.0) -> dict:
    """Per-exercise scores and feedback for one student's submission (a notebook, or a folder of
    their notebooks)."""
    exercises = [Exercise(**e) for e in json.loads((grader / MANIFEST).read_text())]
    jobs = plan(Path(submission), exercises, grader)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        job_file = Path(tmp) / "jobs.json"
        job_file.write_text(json.dumps(jobs))
        start = 0
        while start < len(jobs):
            env = dict(os.environ, PYTHONPATH=str(grader), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
            with open(Path(tmp) / "stderr", "ab") as err:
                proc = subprocess.Popen([sys.executable, str(grader / "grade.py"), "worker", str(job_file),
                                         str(start)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                        stderr=err, env=env, start_new_session=True)
            lines, current, why = _Lines(proc.stdout), None, None
            try:
                if lines.next(time.monotonic() + startup) is None:
                    raise RuntimeError("the grading worker did not start: "
                                       + (Path(tmp) / "stderr").read_text()[-2000:])
                for job in jobs[start:]:
                    current = job
                    if lines.next(time.monotonic() + max(timeout, startup)) is None:  # its imports
                        break
                    msg = lines.next(time.monotonic() + timeout)
                    if msg is None:
                        break
                    results[job["name"]] = msg
                    start += 1
            except TimeoutError:
                if current is None:
                    raise RuntimeError(f"the grading worker did not start within {startup:g} s") from None
                why = f"stopped after {timeout:g} s (an endless loop?)"
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                proc.stdout.close()
            if start < len(jobs):  # the current exercise timed out or ended the worker
                why = why or f"the grading process died while running it (exit code {proc.returncode})"
                results[current["name"]] = {"name": current["name"], "score": 0, "feedback": f"{current['name']}: {why}"}
                start += 1
    rows = []
    for job in jobs:
        r = results[job["name"]]
        feedback = r["feedback"] + (f"\n    {job['note']}" if job["note"] else "")
        rows.append({"name": job["name"], "score": r["score"], "possible": job["points"], "feedback": feedback})
    return {"submission": str(submission), "total": sum(r["score"] for r in rows),
            "possible": sum(r["possible"] for r in rows), "exercises": rows}


def report(result: dict) -> str:
    lines = [f"{result['submission']}: {result['total']:g} / {result['possible']:g}", ""]
    lines += [f"{r['score']:>4g} / {r['possible']:g}  {r['name']}" for r in result["exercises"]]
    lines += ["", "Feedback:", ""] + [r["feedback"] + "\n" for r in result["exercises"]]
    return "\n".join(lines)


def _default_grader() -> Path:
    here = Path(__file__).resolve().parent
    return here if (here / MANIFEST).exists() else ROOT / "build" / "autograder"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build/student and build/autograder from the teacher notebooks")
    b.add_argument("--out", type=Path, default=ROOT / "build")
    g = sub.add_parser("grade", help="grade submissions: notebooks, or one folder of notebooks per student")
    g.add_argument("submissions", nargs="+", type=Path)
    g.add_argument("--autograder", type=Path, default=_default_grader())
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per exercise")
    g.add_argument("--out", type=Path, default=Path("grades"),
                   help="writes grades.csv and, per submission, NAME.json and NAME.txt (its feedback)")
    w = sub.add_parser("worker")
    w.add_argument("jobs")
    w.add_argument("start", type=int)
    args = parser.parse_args(argv)
    if args.command == "build":
        exercises = build(args.out)
        print(f"{len(exercises)} exercises in {len({e.notebook for e in exercises})} notebooks: "
              f"{args.out / 'student'} (hand out) and {args.out / 'autograder'} (keep)")
    elif args.command == "worker":
        worker(args.jobs, args.start)
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        results = []
        for s in args.submissions:
            result = grade(s, args.autograder, args.timeout)
            results.append(result)
            stem = s.stem if s.is_file() else s.name
            (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
            (args.out / f"{stem}.txt").write_text(report(result))
            print(f"{stem}: {result['total']:g} / {result['possible']:g}")
        with open(args.out / "grades.csv", "w", newline="") as f:
            names = [r["name"] for r in results[0]["exercises"]]
            out = csv.writer(f)
            out.writerow(["submission", "total", "possible"] + names)
            for r in results:
                out.writerow([r["submission"], r["total"], r["possible"]] + [x["score"] for x in r["exercises"]])


if __name__ == "__main__":
    main()
