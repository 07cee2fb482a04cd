"""`make student` (tools/student.py): the student edition ships no reference yet an unwritten
exercise still runs; the autograder gives the references full marks and a wrong answer, an
untouched stub or a missing notebook nothing; an exception, an endless loop or a dying process
costs only its own exercise. The student edition is built once (session fixture); every grading
run is a few worker processes, no search is run."""
import ast
import csv
import importlib
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("student_tool", ROOT / "tools" / "student.py")
student = sys.modules["student_tool"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(student)


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    return out, student.build(out)


def _student_python(built, code: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter that sees the student edition's nasbench only."""
    out, _ = built
    env = dict(os.environ, PYTHONPATH=str(out / "student"), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300, cwd=out)


# -- the build ----------------------------------------------------------------------------------
def test_every_attempt_call_of_the_teacher_notebooks_is_an_exercise(built):
    # Counted on the raw text, independently of the tool's ast walk.
    _, exercises = built
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        code = "\n".join(c.source for c in nbformat.read(path, 4).cells if c.cell_type == "code")
        calls = re.findall(r"^\s*(\w+)\s*=\s*attempt\(\s*(\w+)", code, re.M)
        assert calls and all(a == b for a, b in calls), path.name
        assert [f for _, f in calls] == [e.function for e in exercises if e.notebook == path.stem]


def _teacher_references(exercises):
    return {e.reference: getattr(importlib.import_module(e.reference.rsplit(".", 1)[0]),
                                 e.reference.rsplit(".", 1)[1]) for e in exercises}


def test_no_reference_code_ships_to_students(built):
    out, exercises = built
    text = "\n".join(p.read_text(errors="replace") for p in (out / "student").rglob("*")
                     if p.is_file() and p.suffix in (".py", ".ipynb", ".md"))
    # A line the library itself has (the module the exercise re-derives) is not a leak.
    checked, library = 0, "\n".join(p.read_text() for p in (ROOT / "nasbench").rglob("*.py") if "exercises" not in p.parts)
    for name, ref in _teacher_references(exercises).items():
        body = [line.strip() for line in inspect.getsource(ref).splitlines()[1:]]
        distinctive = [line for line in body if len(line) > 25 and not line.startswith(("\"\"\"", "#"))
                       and line not in library]
        assert not [line for line in distinctive if line in text], f"{name}'s code ships to students"
        checked += bool(distinctive)
    assert checked > len(exercises) / 2  # most references have a line of their own to look for
    assert not re.search(r"def \w+_reference\b", text)
    assert (out / "student" / "nasbench" / "exercises" / "_fallbacks.py").exists()
    assert not (out / "autograder" / "nasbench" / "exercises" / "_fallbacks.py").exists()
    assert not re.search(r"def \w+_reference\b", "\n".join(
        p.read_text() for p in (out / "autograder").rglob("*.py") if p.name != "grade.py"))


def test_student_notebooks_are_clean_and_call_the_students_attempt(built):
    out, exercises = built
    for path in sorted((out / "student" / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, 4)
        assert nb.metadata.kernelspec.name == "python3"
        cells = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in cells)
        calls = re.findall(r"attempt\(\s*(\w+),\s*([\w.]+)\)", "\n".join(c.source for c in cells))
        assert [f for f, _ in calls] == [e.function for e in exercises if e.notebook == path.stem]
        assert all(c.rsplit(".", 1)[-1].startswith("check_") for _, c in calls), calls


def test_the_student_edition_carries_the_recorded_runs_its_notebooks_replay(built):
    out, _ = built
    teacher = ROOT / "notebooks" / "recorded"
    shipped = out / "student" / "notebooks" / "recorded"
    files = sorted(p.relative_to(teacher) for p in teacher.rglob("*") if p.is_file())
    assert files, "no recorded runs in the teacher's notebooks/recorded"
    assert [f for f in files if not (shipped / f).is_file()] == []


@pytest.mark.slow
def test_the_student_edition_has_no_importable_reference_but_falls_back(built):
    out, exercises = built
    jobs = [(e.check, e.function) for e in exercises]
    result = _student_python(built, textwrap.dedent(f"""
        import importlib, pkgutil, nasbench, nasbench.exercises as package
        from nasbench.exercises import attempt
        assert nasbench.__file__.startswith({str(out / 'student')!r}), nasbench.__file__
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module("nasbench.exercises." + info.name)
            assert not [n for n in vars(module) if n.endswith("_reference")], info.name
        def stub(*args, **kwargs):
            raise NotImplementedError
        for check, function in {jobs!r}:
            module, name = check.rsplit(".", 1)
            check = getattr(importlib.import_module(module), name)
            got = attempt(stub, check, name=function)
            assert got is not stub  # and attempt() ran the check on what it fell back to
        print("OK")
    """))
    assert result.returncode == 0 and result.stdout.strip().endswith("OK"), result.stderr[-3000:]
    assert result.stdout.count("not written yet; using the library's version") == len(exercises)


# -- submissions --------------------------------------------------------------------------------
def _unannotated(source: str, name: str, renames: dict) -> str:
    """A function's source under another name, without annotations (the notebook has no
    `from __future__ import annotations`), its globals `renames` renamed."""
    tree = ast.parse(textwrap.dedent(source))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in renames:
            node.id = renames[node.id]
    f = tree.body[0]
    f.name, f.returns, f.decorator_list = name, None, []
    for a in f.args.posonlyargs + f.args.args + f.args.kwonlyargs + [f.args.vararg, f.args.kwarg]:
        if a is not None:
            a.annotation = None
    return ast.unparse(tree)


def _globals_of(code) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if inspect.iscode(c):
            names |= _globals_of(c)
    return names


def solution(e, name=None) -> str:
    """The reference written as a student would, in the notebook: its module's globals imported."""
    module_name, ref_name = e.reference.rsplit(".", 1)
    module = importlib.import_module(module_name)
    ref = getattr(module, ref_name)
    deps = sorted(n for n in _globals_of(ref.__code__) if n in vars(module) and not n.endswith("_reference"))
    # A reference that calls the library's function of the same name (`return indicator(x)`)
    # imports it under another name, or the student's def would call itself.
    renames = {n: f"_library_{n}" for n in deps if n == e.function}
    imports = "".join(f"from {module_name} import {n}" + (f" as {renames[n]}" if n in renames else "") + "\n"
                      for n in deps)
    return imports + _unannotated(inspect.getsource(ref), name or e.function, renames)


GARBAGE = '''
import copy as _copy

def _garbage(v):
    """Something of the right type, but not the answer."""
    import numpy as np
    import torch
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v + 1
    if isinstance(v, (torch.Tensor, np.ndarray)):
        return ~v if v.dtype in (torch.bool, np.bool_) else v + 1
    if isinstance(v, str):
        return v + "?"
    if isinstance(v, (list, tuple)):
        return type(v)([_garbage(v[0])] + list(v[1:]) if v else [0])
    if isinstance(v, set):
        return set(sorted(v, key=repr)[1:]) if v else {"?"}
    return v  # None: the right work was done on a copy of the arguments
'''


def wrong(e) -> str:
    """The reference's answer, computed on a copy of the arguments and then spoiled."""
    return (solution(e, f"_right_{e.function}") + "\n" + GARBAGE + textwrap.dedent(f"""
        def {e.function}(*args, **kwargs):
            try:
                args, kwargs = _copy.deepcopy((args, kwargs))
            except Exception:
                pass
            return _garbage(_right_{e.function}(*args, **kwargs))
        """))


def submission(built, folder: Path, bodies: dict, notebooks=None) -> Path:
    """The student notebooks with the functions named in `bodies` (exercise name -> source)
    written in place of their stubs (only the `def`: the rest of the cell is kept)."""
    out, exercises = built
    folder.mkdir()
    for path in sorted((out / "student" / "notebooks").glob("*.ipynb")):
        if notebooks is not None and path.stem not in notebooks:
            continue
        nb = nbformat.read(path, 4)
        for e in (e for e in exercises if e.notebook == path.stem and e.name in bodies):
            check = e.check.rsplit(".", 1)[1]
            at = next(i for i, c in enumerate(nb.cells) if re.search(rf"attempt\(\s*{e.function},.*{check}", c.source))
            i, node = next((i, n) for i in range(at, -1, -1) if nb.cells[i].cell_type == "code"
                           for n in ast.parse(nb.cells[i].source).body
                           if isinstance(n, ast.FunctionDef) and n.name == e.function)
            lines = nb.cells[i].source.splitlines()
            lines[node.lineno - 1:node.end_lineno] = bodies[e.name].splitlines()
            nb.cells[i].source = "\n".join(lines)
        nbformat.write(nb, folder / path.name)
    return folder


def graded(built, folder, **kwargs) -> dict[str, dict]:
    out, _ = built
    result = student.grade(folder, out / "autograder", **kwargs)
    rows = {r["name"]: r for r in result["exercises"]}
    assert result["total"] == sum(r["score"] for r in rows.values())
    return rows


@pytest.mark.slow
def test_the_references_score_full_marks(built, tmp_path):
    _, exercises = built
    rows = graded(built, submission(built, tmp_path / "ada", {e.name: solution(e) for e in exercises}))
    failed = {n: r["feedback"] for n, r in rows.items() if r["score"] != r["possible"]}
    assert not failed, failed
    assert set(rows) == {e.name for e in exercises}


@pytest.mark.slow
def test_each_wrong_answer_loses_its_points(built, tmp_path):
    _, exercises = built
    rows = graded(built, submission(built, tmp_path / "bob", {e.name: wrong(e) for e in exercises}))
    passed = [n for n, r in rows.items() if r["score"] != 0]
    assert not passed, f"a wrong answer scored: {passed}"
    assert all("Test case failed" in r["feedback"] for r in rows.values())


@pytest.mark.slow
def test_a_loop_a_crash_or_an_exception_costs_only_its_exercise(built, tmp_path):
    """One student's folder through the command line: in three notebooks an endless loop, a
    function that ends the process and one that raises, each followed by a right answer; the
    other notebooks untouched, the last one not handed in."""
    out, exercises = built
    by_notebook = {}
    for e in exercises:
        by_notebook.setdefault(e.notebook, []).append(e)
    (loop, ok1), (die, ok2), (bad, ok3) = [by_notebook[nb][:2] for nb in sorted(by_notebook)[:3]]
    lazy = by_notebook[sorted(by_notebook)[3]][0]  # hands back what attempt() falls back to
    module, check = lazy.check.rsplit(".", 1)
    bodies = {  # the loop sleeps (a hang): the kill is the same, and it costs the suite no CPU
        loop.name: f"def {loop.function}(*args, **kwargs):\n    import time\n    while True:\n        time.sleep(0.1)",
        die.name: f"def {die.function}(*args, **kwargs):\n    import os\n    os._exit(3)",
        bad.name: f"def {bad.function}(*args, **kwargs):\n    return 1 / 0",
        lazy.name: f"def {lazy.function}(*args, **kwargs):\n    from nasbench.exercises import _fallback\n"
                   f"    from {module} import {check}\n    return _fallback({check})(*args, **kwargs)",
        **{e.name: solution(e) for e in (ok1, ok2, ok3)},
    }
    missing = sorted(by_notebook)[-1]
    folder = submission(built, tmp_path / "cy", bodies, notebooks=set(by_notebook) - {missing})
    result = subprocess.run([sys.executable, str(out / "autograder" / "grade.py"), "grade", str(folder),
                             "--timeout", "15", "--out", str(tmp_path / "grades")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    graded = json.loads((tmp_path / "grades" / "cy.json").read_text())
    rows = {r["name"]: r for r in graded["exercises"]}
    assert [rows[e.name]["score"] for e in (loop, ok1, die, ok2, bad, ok3)] == [0, 1, 0, 1, 0, 1]
    assert "stopped after 15 s" in rows[loop.name]["feedback"]
    assert "died" in rows[die.name]["feedback"] and "exit code 3" in rows[die.name]["feedback"]
    assert "ZeroDivisionError" in rows[bad.name]["feedback"]
    assert rows[lazy.name]["score"] == 0 and "_fallbacks" in rows[lazy.name]["feedback"]
    others = [e for e in exercises if e.name not in bodies]
    assert all(rows[e.name]["score"] == 0 for e in others)
    assert all("not written yet" in rows[e.name]["feedback"] for e in others if e.notebook != missing)
    assert all("was not submitted" in rows[e.name]["feedback"] for e in by_notebook[missing])
    assert graded["total"] == 3 and graded["possible"] == len(exercises)
    table = list(csv.DictReader((tmp_path / "grades" / "grades.csv").open()))
    assert len(table) == 1 and float(table[0]["total"]) == 3 and table[0][ok1.name] == "1.0"
    assert "not written yet" in (tmp_path / "grades" / "cy.txt").read_text()


def test_an_unreadable_notebook_or_a_syntax_error_is_a_note_not_a_failure(built, tmp_path):
    # What the worker would run (no worker started): the broken notebook's exercises get a note.
    out, exercises = built
    first, second = sorted({e.notebook for e in exercises})[:2]
    (tmp_path / f"{first}.ipynb").write_text("{ not json")
    nb = nbformat.read(out / "student" / "notebooks" / f"{second}.ipynb", 4)
    broken = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells[broken].source += "\ndef oops(:\n"
    nbformat.write(nb, tmp_path / f"{second}.ipynb")
    jobs = {j["name"]: j for j in student.plan(tmp_path, exercises, out / "autograder")}
    for e in exercises:
        if e.notebook == first:
            assert "could not be read" in jobs[e.name]["note"] and not jobs[e.name]["chunks"]
        elif e.notebook == second:
            assert f"cell {broken + 1} has a syntax error" in jobs[e.name]["note"]
            assert any(f"def {e.function}(" in code for _, code in jobs[e.name]["chunks"])
