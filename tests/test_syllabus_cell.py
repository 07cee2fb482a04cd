"""The syllabus map in 00_tour is the cell tools/syllabus_cell.py writes, and it covers the
notebooks that exist."""

import importlib.util
import json
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("syllabus_cell", REPO_ROOT / "tools" / "syllabus_cell.py")
syllabus_cell = importlib.util.module_from_spec(spec)
spec.loader.exec_module(syllabus_cell)


def test_map_is_the_second_cell_of_the_tour_as_the_script_writes_it():
    cells = json.loads((REPO_ROOT / "notebooks" / "00_tour.ipynb").read_text())["cells"]
    # after a merge that lost or moved it: python tools/syllabus_cell.py
    assert cells[1] == syllabus_cell.cell()


def test_map_lists_every_notebook_once_and_only_notebooks_that_exist():
    rows = re.findall(r"^\| `(\d\d_[a-z_]+)` \|", syllabus_cell.TEXT, flags=re.M)
    on_disk = sorted(p.stem for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(rows) == on_disk
    diagram = syllabus_cell.TEXT.split("```mermaid")[1].split("```")[0]
    assert sorted(set(re.findall(r"\((\d\d)\)", diagram))) == sorted(
        n[:2] for n in on_disk if n[:2] != "10")   # 10 compares them all: a table row, no node
