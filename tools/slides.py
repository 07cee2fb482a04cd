"""Build the notebooks into reveal.js slide decks that open offline (`make slides`).

    python tools/slides.py [--no-execute] [--out build/slides] [NOTEBOOK ...]

The slide boundaries come from each notebook's structure, at build time (no slideshow metadata
is stored in the notebooks): every `#` or `##` heading starts a slide, a `###` heading a
sub-slide below it, a code cell whose output is a figure a sub-slide of its own, any other code
cell a fragment. Cells tagged `parameters` (the SMOKE switch) are left out.

By default each notebook is first run in smoke mode (NASBENCH_SMOKE=1, the tiny run the tests
use): its live views end their run as static plotly figures (`EventView.finish`), so the deck
shows the figures of the run recorded while building it. `--no-execute` keeps the notebook's
stored outputs instead (none, as committed). Every script and style sheet is local: reveal.js and
KaTeX from tools/slides_assets/ (vendored, see VENDORED.md) and plotly.js from the plotly package
are copied into OUT/lib/ once, and every deck links them by relative path: hand out OUT/ whole.
Links written for the checkout keep working there: a link to a notebook leads to its deck, a
link to a paper guide (docs/guides/*.md) to that guide rendered into OUT/guides/, and markdown
images are inlined.
"""
from __future__ import annotations

import argparse
import base64
import copy
import json
import mimetypes
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter

ROOT = Path(__file__).resolve().parent.parent
ASSETS = Path(__file__).resolve().parent / "slides_assets"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
FIGURE_MIMES = {PLOTLY_MIME, "text/html", "image/png", "image/svg+xml"}
HEADING = re.compile(r"^(#{1,3})\s")     # a markdown heading of level 1-3
FENCE = re.compile(r"^\s*(```|~~~)")
IMAGE = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)(\))")   # ![alt](target)
LINK = re.compile(r"(?<!!)(\[[^\]]*\]\()([^)\s]+)(\))")  # [text](target), not an image
GUIDE_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="{lib}/katex/katex.min.css">
<script src="{lib}/katex/katex.min.js"></script>
<script src="{lib}/katex/contrib/auto-render.min.js"></script>
<style>body{{font-family:sans-serif;max-width:52em;margin:2em auto;padding:0 1em;line-height:1.45}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:.3em .5em;vertical-align:top}}
code{{background:#f3f3f3}} a.anchor-link{{display:none}}</style>
</head><body>
{body}
<script>renderMathInElement(document.body, {{delimiters: [
  {{left: "$$", right: "$$", display: true}}, {{left: "$", right: "$", display: false}}],
  throwOnError: false}});</script>
</body></html>
"""


# -- the notebook's structure -> slides -------------------------------------------------------
def split_at_headings(source: str) -> list[str]:
    """A markdown cell cut before each heading of level 1-3 (outside code fences), so that each
    section is its own cell and so its own slide (or sub-slide)."""
    parts, current, fenced = [], [], False
    for line in source.splitlines(keepends=True):
        if FENCE.match(line):
            fenced = not fenced
        m = None if fenced else HEADING.match(line)
        if m and any(s.strip() for s in current):
            parts.append("".join(current))
            current = []
        current.append(line)
    parts.append("".join(current))
    return [p.strip("\n") for p in parts if p.strip()]


def heading_level(cell) -> int | None:
    """The level of the heading the markdown cell opens with (None: no heading first)."""
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    m = HEADING.match(first) if cell.cell_type == "markdown" else None
    return len(m.group(1)) if m else None


def has_figure(cell) -> bool:
    return any(FIGURE_MIMES & set(o.get("data", {})) for o in cell.get("outputs", []))


def slide_type(cell) -> str:
    """reveal.js' role for one cell, from its kind, heading and outputs."""
    if "parameters" in cell.metadata.get("tags", []):
        return "skip"
    if cell.cell_type == "markdown":
        return {1: "slide", 2: "slide", 3: "subslide"}.get(heading_level(cell), "-")
    if cell.cell_type == "code":
        return "subslide" if has_figure(cell) else "fragment"
    return "skip"


def embed_images(source: str, base: Path | None) -> str:
    """Markdown images given by a path relative to the notebook, inlined as data URIs: the deck
    lives elsewhere (build/slides/) and must not depend on the checkout."""
    def inline(m):
        path = base / m.group(2) if base is not None else None
        if path is None or re.match(r"[a-z][a-z0-9+.-]*:", m.group(2)) or not path.is_file():
            return m.group(0)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"{m.group(1)}data:{mime};base64,{data}{m.group(3)}"
    return IMAGE.sub(inline, source)


def local_links(source: str, base: Path | None, out: Path, page_dir: Path) -> str:
    """Relative links of markdown written for the checkout, made to work from the deck folder:
    a notebook becomes its deck (NAME.html in `out`), a markdown page (a paper guide) is rendered
    into out/guides/, another local file is linked by its path from `page_dir`."""
    def relink(m):
        target, _, anchor = m.group(2).partition("#")
        if base is None or not target or re.match(r"[a-z][a-z0-9+.-]*:", target):
            return m.group(0)
        path = (base / target).resolve()
        if path.suffix == ".ipynb":
            new = out / f"{path.stem}.html"
        elif path.suffix == ".md" and path.is_file():
            new = render_page(path, out)
        elif path.exists():
            new = path
        else:
            return m.group(0)
        link = os.path.relpath(new, page_dir).replace(os.sep, "/") + (f"#{anchor}" if anchor else "")
        return f"{m.group(1)}{link}{m.group(3)}"
    return LINK.sub(relink, source)


_RENDERED: set[Path] = set()


def render_page(path: Path, out: Path) -> Path:
    """A markdown page (a paper guide) as out/guides/NAME.html, its math by the local KaTeX."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune
    target = out / "guides" / f"{path.stem}.html"
    if target not in _RENDERED:              # once per run (guides may link each other)
        _RENDERED.add(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = local_links(embed_images(path.read_text(encoding="utf-8"), path.parent), path.parent,
                           out, target.parent)
        title = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")),
                     path.stem)
        target.write_text(GUIDE_PAGE.format(title=title, lib="../lib",
                                            body=markdown2html_mistune(text)), encoding="utf-8")
    return target


def structure(nb, base: Path | None = None, out: Path | None = None):
    """A copy of the notebook with its markdown split per section, local images inlined and
    every cell's slide_type set (the copy only: the notebook on disk keeps no slide metadata).
    `base`: the notebook's folder, which relative image paths start from."""
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            if out is not None:
                source = local_links(embed_images(cell.source, base), base, out, out)
            else:
                source = embed_images(cell.source, base)
            cells += [nbformat.v4.new_markdown_cell(part, metadata=copy.deepcopy(cell.metadata))
                      for part in split_at_headings(source)]
        else:
            cells.append(cell)
    for cell in cells:
        cell.metadata["slideshow"] = {"slide_type": slide_type(cell)}
    nb.cells = cells
    return nb


# -- outputs: the recorded run's figures, static ---------------------------------------------
def plotly_html(figure: dict, n: int) -> str:
    """A plotly figure as a div drawn by the deck's local plotly.js."""
    height = (figure.get("layout") or {}).get("height") or 450
    data = json.dumps(figure.get("data", [])).replace("</", "<\\/")
    layout = json.dumps(figure.get("layout", {})).replace("</", "<\\/")
    div = f"nasbench-figure-{n}"
    return (f'<div id="{div}" class="nasbench-figure" style="height:{int(height)}px"></div>\n'
            f'<script>Plotly.newPlot("{div}", {data}, {layout}, '
            '{"responsive": true, "displaylogo": false});</script>')


def static_outputs(nb):
    """Each plotly output becomes HTML for the deck's plotly.js; a live widget's output (no
    state is kept, so nothing to draw) keeps only its line of text."""
    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data:
                continue
            data.pop(WIDGET_MIME, None)
            if PLOTLY_MIME in data:
                n += 1
                data["text/html"] = plotly_html(data.pop(PLOTLY_MIME), n)
    nb.metadata.pop("widgets", None)  # the kernel's widget state (MBs: the plotly.js loader)
    return nb


# -- running the notebook (smoke mode) --------------------------------------------------------
def execute(nb, cwd: Path, timeout: int):
    """Run the notebook in smoke mode with this interpreter as its kernel."""
    from nbclient import NotebookClient
    with tempfile.TemporaryDirectory() as jupyter_path:
        spec_dir = Path(jupyter_path) / "kernels" / "nasbench-slides"
        spec_dir.mkdir(parents=True)
        (spec_dir / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                     "--InteractiveShell.colors=nocolor"],
            "display_name": "nasbench slides", "language": "python"}))
        env = {"JUPYTER_PATH": os.pathsep.join(filter(None, [jupyter_path,
                                                             os.environ.get("JUPYTER_PATH")])),
               "NASBENCH_SMOKE": "1"}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="nasbench-slides",
                           resources={"metadata": {"path": str(cwd)}}).execute()
        finally:
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return nb


# -- the deck ---------------------------------------------------------------------------------
def copy_assets(out: Path) -> Path:
    """reveal.js (in the dist/ layout nbconvert's template expects), KaTeX and plotly.js into
    out/lib/."""
    import plotly
    lib = out / "lib"
    (lib / "reveal.js" / "dist").mkdir(parents=True, exist_ok=True)
    shutil.copytree(ASSETS / "reveal.js", lib / "reveal.js" / "dist", dirs_exist_ok=True)
    shutil.copytree(ASSETS / "katex", lib / "katex", dirs_exist_ok=True)
    shutil.copy2(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", lib)
    return lib


def exporter() -> SlidesExporter:
    slides = SlidesExporter(template_file=str(ASSETS / "nasbench_slides.html.j2"))
    slides.reveal_url_prefix = "lib/reveal.js"
    slides.reveal_theme = "simple"
    slides.exclude_input_prompt = slides.exclude_output_prompt = True
    return slides


def build_deck(nb, out: Path, name: str, base: Path | None = None) -> Path:
    """Write out/NAME.html from a notebook (already run, or not; `base` its folder); return its
    path."""
    body, _ = exporter().from_notebook_node(
        structure(static_outputs(copy.deepcopy(nb)), base, out),
        resources={"slides_lib": "lib", "metadata": {"name": name}})
    target = out / f"{name}.html"
    target.write_text(body, encoding="utf-8")
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        default=sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "slides")
    parser.add_argument("--no-execute", dest="execute", action="store_false",
                        help="keep the stored outputs (none, as committed) instead of a smoke run")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    copy_assets(args.out)
    failed = []
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        if args.execute:
            try:
                nb = execute(nb, path.parent, args.timeout)
            except Exception as e:   # still write the deck (without this run's outputs): say so
                failed.append(path.name)
                print(f"{path.name}: the smoke run failed ({type(e).__name__}: "
                      f"{str(e).strip().splitlines()[-1] if str(e).strip() else ''}); "
                      "deck written without outputs", file=sys.stderr)
                nb = nbformat.read(path, as_version=4)
        print(build_deck(nb, args.out, path.stem, path.parent))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
