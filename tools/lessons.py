"""The numbers the notebooks state, each with the range it takes over seeds, kept in one file.

`notebooks/expected.json` holds, for every notebook, the values each of its key numbers (the
`name = <number>` lines it prints, listed in its metadata `nasbench.key_numbers`) took in default
mode over seeds 0, 1 and 2 (`NASBENCH_SEED`, read in the `parameters` cell), the range a run is
expected to land in, and the notebook's time. The prose of the notebooks, README.md and
docs/teaching.md does not type these numbers: it holds marked spans,

    <!--n:kendall_tau_acc:range-->0.21 to 0.38<!--/n-->          (in a notebook: its own number)
    <!--n:03_one_shot/seconds-->104 s<!--/n-->                   (elsewhere: notebook/name)

and `render` writes each span's text from the file (forms below). The test suite checks that
every span is what the file says and that every key number has a range of three seeds; the
numbers themselves come from running the notebooks, which CI cannot afford:

    python tools/lessons.py record [NOTEBOOK...] [--seeds 0 1 2]   run, store, render (make lessons)
    python tools/lessons.py check [NOTEBOOK...] [--seeds 0]        run, report against the ranges
                                                                   (make check-lessons; exit 1 if
                                                                   a number is out of its range)
    python tools/lessons.py render [--check]                       write (or list) the stale spans

Forms of a span: `range` (default) the lowest to the highest value over the seeds; `mean` the
mean and the sample standard deviation; `seed<N>` one seed's value; `values` every seed's value;
`expected` the range a run is checked against. `seconds` is the median time of the notebook's
runs, in whole seconds (`all/seconds`: the twelve medians added up). A notebook whose parameters cell does not read NASBENCH_SEED (10: it reads
a recording) is run once; its numbers do not depend on a seed.

The expected range is the observed one widened on each side by half its width, and at least by
one unit of the last printed digit: three seeds underestimate the spread of a fourth.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
EXPECTED = NOTEBOOKS / "expected.json"
PROSE = (REPO / "README.md", REPO / "docs" / "teaching.md")   # besides the notebooks
SPAN = re.compile(r"<!--n:([A-Za-z0-9_./-]+?)(?::([a-z0-9]+))?-->(.*?)<!--/n-->", re.S)
LINE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*) = (\S+)\s*")


# -- what a run printed ----------------------------------------------------------------------
def printed_numbers(nb) -> dict[str, str]:
    """{name: text} of every `name = <number>` line in a notebook's text outputs."""
    found = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else out.get("data", {}).get("text/plain", "")
            for line in text.splitlines():
                m = LINE.fullmatch(line)
                if m:
                    found[m.group(1)] = m.group(2)
    return found


def key_numbers(nb) -> list[str]:
    return list(nb.metadata.get("nasbench", {}).get("key_numbers", []))


def seeded(nb) -> bool:
    """Whether the notebook's runs follow NASBENCH_SEED (its parameters cell reads it)."""
    return any("NASBENCH_SEED" in c.source for c in nb.cells
               if "parameters" in c.get("metadata", {}).get("tags", []))


def decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


# -- the file ----------------------------------------------------------------------------------
def load(path: Path = EXPECTED) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"notebooks": {}}


def save(data: dict, path: Path = EXPECTED) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def expected_range(values: list[float], digits: int) -> list[float]:
    lo, hi = min(values), max(values)
    margin = max((hi - lo) / 2, 10.0 ** -digits)
    return [round(lo - margin, digits + 1), round(hi + margin, digits + 1)]


def entry(values: list[float], digits: int) -> dict:
    return {"values": values, "digits": digits, "expected": expected_range(values, digits)}


def fmt(x: float, digits: int) -> str:
    return f"{x:.{digits}f}"


def text(data: dict, notebook: str, key: str, form: str | None) -> str:
    """What span `key:form` of `notebook` reads, from the file."""
    if notebook == "all" and key == "seconds":   # every notebook's median, added up
        total = sum(statistics.median(nb["seconds"]) for nb in data["notebooks"].values())
        return f"{round(total):,} s ({total / 60:.0f} minutes)"
    nb = data["notebooks"].get(notebook)
    if nb is None:
        raise KeyError(f"{notebook} is not in {EXPECTED.name}")
    if key == "seconds":
        return f"{round(statistics.median(nb['seconds']))} s"
    if key not in nb["numbers"]:
        raise KeyError(f"{notebook}: no number {key!r} in {EXPECTED.name}")
    n = nb["numbers"][key]
    v, d = n["values"], n["digits"]
    form = form or "range"
    if form == "range":   # one value where every seed gave it (or the notebook has no seed)
        lo, hi = fmt(min(v), d), fmt(max(v), d)
        return lo if lo == hi else f"{lo} to {hi}"
    if form == "mean":
        return f"{fmt(statistics.mean(v), d)} ± {fmt(statistics.stdev(v), d)}"
    if form == "values":
        return ", ".join(fmt(x, d) for x in v[:-1]) + f" and {fmt(v[-1], d)}"
    if form == "expected":
        return f"{fmt(n['expected'][0], d + 1)} to {fmt(n['expected'][1], d + 1)}"
    if form.startswith("seed"):
        return fmt(v[nb["seeds"].index(int(form[4:]))], d)
    raise ValueError(f"unknown form {form!r} (range, mean, values, expected, seed<N>)")


def render_text(source: str, data: dict, notebook: str | None) -> str:
    """`source` with every span's text written from the file; `notebook` names the notebook a
    bare key belongs to (None outside notebooks: keys must read notebook/name)."""
    def one(m):
        key, form = m.group(1), m.group(2)
        owner, _, name = key.rpartition("/")
        owner = owner or notebook
        if owner is None:
            raise KeyError(f"span {key!r} outside a notebook must name one: <notebook>/{key}")
        suffix = f":{form}" if form else ""
        return f"<!--n:{key}{suffix}-->{text(data, owner, name, form)}<!--/n-->"
    return SPAN.sub(one, source)


def render(data: dict | None = None, write: bool = True) -> list[str]:
    """Write every span from the file (or, write=False, only list the files whose spans are
    stale). Returns the stale files' names."""
    import nbformat
    data = data or load()
    stale = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        changed = False
        for cell in nb.cells:
            if cell.cell_type == "markdown" and "<!--n:" in cell.source:
                new = render_text(cell.source, data, path.stem)
                changed |= new != cell.source
                cell.source = new
        if changed:
            stale.append(path.name)
            if write:
                nbformat.write(nb, path)
    for path in PROSE:
        old = path.read_text()
        new = render_text(old, data, None)
        if new != old:
            stale.append(str(path.relative_to(REPO)))
            if write:
                path.write_text(new)
    return stale


def spans(source: str) -> list[tuple[str, str | None]]:
    return [(m.group(1), m.group(2)) for m in SPAN.finditer(source)]


# -- running the notebooks -------------------------------------------------------------------
def run(path: Path, seed: int, timeout: int = 1800):
    """Run one notebook in default mode with NASBENCH_SEED=seed, from a scratch folder holding
    the recorded runs (as the notebooks folder does); returns the executed notebook and the
    seconds from the kernel being ready to the last cell's reply."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k != "NASBENCH_SMOKE"}
    env.update(NASBENCH_SEED=str(seed), OMP_NUM_THREADS="1", PYTHONFAULTHANDLER="1")
    with tempfile.TemporaryDirectory(prefix="lessons-") as cwd:
        (Path(cwd) / "recorded").symlink_to(NOTEBOOKS / "recorded")
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": cwd}})
        t0 = {}
        client.on_notebook_start = lambda **_: t0.setdefault("t", time.perf_counter())
        client.execute(env=env)     # the kernel process's environment
    return nb, time.perf_counter() - t0["t"]


def kernel_is_this_interpreter() -> None:
    """Point the `python3` kernel at this interpreter through JUPYTER_PATH."""
    root = Path(tempfile.mkdtemp(prefix="lessons-jupyter-"))
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "nasbench lessons", "language": "python"}))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("JUPYTER_PATH")]))


def measure(path: Path, seeds: list[int], log=print) -> dict:
    """Run `path` once per seed (once in all if it is not seeded) and collect its key numbers."""
    import nbformat
    source = nbformat.read(path, as_version=4)
    names, is_seeded = key_numbers(source), seeded(source)
    if not is_seeded:
        seeds = seeds[:1]
    values: dict[str, list[float]] = {k: [] for k in names}
    digits: dict[str, int] = {}
    seconds = []
    for seed in seeds:
        nb, s = run(path, seed)
        seconds.append(round(s, 1))
        found = printed_numbers(nb)
        missing = [k for k in names if k not in found]
        if missing:
            raise RuntimeError(f"{path.stem} seed {seed} never printed {missing}")
        for k in names:
            values[k].append(float(found[k]))
            digits[k] = decimals(found[k])
        log(f"{path.stem} seed {seed}: {s:.0f} s, " + ", ".join(f"{k} = {found[k]}" for k in names))
    return {"seeds": seeds, "seeded": is_seeded, "seconds": seconds,
            "numbers": {k: entry(values[k], digits[k]) for k in names}}


def outside(data: dict, notebook: str, measured: dict) -> list[str]:
    """The numbers of a run (`measure`'s result) that fall outside their expected ranges."""
    known = data["notebooks"].get(notebook, {}).get("numbers", {})
    problems = []
    for k, m in measured["numbers"].items():
        if k not in known:
            problems.append(f"{notebook}: {k} has no expected range (run `record`)")
            continue
        lo, hi = known[k]["expected"]
        for seed, v in zip(measured["seeds"], m["values"]):
            if not lo <= v <= hi or not math.isfinite(v):
                problems.append(f"{notebook} seed {seed}: {k} = {v} is outside its expected {lo} to {hi}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/lessons.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("record", "check", "render"))
    parser.add_argument("notebooks", nargs="*", help="names such as 03_one_shot (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", help="record: 0 1 2; check: 0")
    parser.add_argument("--check", action="store_true", help="render: list stale spans, write nothing")
    args = parser.parse_args(argv)
    if args.command == "render":
        stale = render(write=not args.check)
        print(("stale: " if args.check else "rendered: ") + (", ".join(stale) or "nothing"))
        return 1 if args.check and stale else 0
    paths = ([NOTEBOOKS / f"{n.removesuffix('.ipynb')}.ipynb" for n in args.notebooks]
             or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
    seeds = args.seeds or ([0, 1, 2] if args.command == "record" else [0])
    kernel_is_this_interpreter()
    data, problems = load(), []
    for path in paths:
        measured = measure(path, seeds)
        if args.command == "record":
            data["notebooks"][path.stem] = measured
            save(data)
            continue
        problems += outside(data, path.stem, measured)
        for k, m in measured["numbers"].items():
            lo, hi = data["notebooks"].get(path.stem, {}).get("numbers", {}).get(k, {}).get("expected", ("?", "?"))
            print(f"  {path.stem}: {k} = {', '.join(str(v) for v in m['values'])}  (expected {lo} to {hi})")
    if args.command == "record":
        print("rendered: " + (", ".join(render(data)) or "nothing stale"))
        return 0
    print("\n".join(problems) or "every number is inside its expected range")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
