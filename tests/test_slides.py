"""The reading-group decks (tools/slides.py) and the closing questions of the notebooks.

Fast: no notebook is run; decks are built from a hand-made notebook and from two real ones
without executing them. The structure is checked against counts made here from the notebook's
text, and the deck's HTML is read with the standard library's parser.
"""
from __future__ import annotations

import base64
import importlib.util
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


slides = load_tool("slides")


class Deck(HTMLParser):
    """Top-level <section>s (slides), nested ones (sub-slides), and every script / style sheet
    the page loads, with the text of each slide."""

    def __init__(self, text):
        super().__init__()
        self.depth, self.slides, self.subslides, self.loads, self.inline_css = 0, [], 0, [], []
        self._in_style = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.depth += 1
            if self.depth == 1:
                self.slides.append("")
            else:
                self.subslides += 1
        if tag == "script" and attrs.get("src"):
            self.loads.append(attrs["src"])
        if tag == "link" and attrs.get("rel") == "stylesheet":
            self.loads.append(attrs["href"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "section":
            self.depth -= 1
        self._in_style = False

    def handle_data(self, data):
        if self.depth and self.slides:
            self.slides[-1] += data
        if self._in_style:
            self.inline_css.append(data)


def sections(nb) -> int:
    """`#` and `##` headings of the markdown cells, outside code fences: one slide each."""
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        fenced = False
        for line in cell.source.splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif not fenced and re.match(r"#{1,2} ", line):
                count += 1
    return count


def assert_offline(deck: Deck, out: Path):
    """Every script and style sheet is a local file that exists; no CSS imports from the web."""
    assert deck.loads, "the deck loads no scripts at all?"
    for url in deck.loads:
        assert not re.match(r"(https?:)?//", url), f"loads {url} from the network"
        assert (out / url).is_file(), f"{url} is not in {out}"
    css = "\n".join(deck.inline_css)
    assert not re.search(r"@import\s+(url\()?\s*['\"]?(https?:)?//", css)
    for sheet in [u for u in deck.loads if u.endswith(".css")]:
        text = (out / sheet).read_text(encoding="utf-8")
        assert not re.search(r"@import\s+(url\()?\s*['\"]?(https?:)?//", text), sheet
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", text), sheet


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("slides")
    slides.copy_assets(out)
    return out


def tiny_notebook():
    figure = {"data": [{"type": "bar", "x": ["a", "b"], "y": [1, 3]}],
              "layout": {"height": 300, "title": {"text": "recorded figure"}}}
    plot = nbformat.v4.new_code_cell("view")
    plot.outputs = [nbformat.v4.new_output("display_data", {
        slides.PLOTLY_MIME: figure, "text/plain": "<TrainingBoard: 12 events>"})]
    live = nbformat.v4.new_code_cell("live_view")
    live.outputs = [nbformat.v4.new_output("display_data", {
        slides.WIDGET_MIME: {"model_id": "abc", "version_major": 2, "version_minor": 0},
        "text/plain": "<AlphaEvolution: 3 events>"})]
    params = nbformat.v4.new_code_cell("SMOKE = True  # PARAMETERS_CELL")
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title\n\nIntro with $x^2$."),
        params,
        nbformat.v4.new_markdown_cell("## One\n\ntext\n\n```\n## not a heading\n```\n\n"
                                      "### A sub-part\n\nmore\n\n## Two\n\nsecond section"),
        nbformat.v4.new_code_cell("print(1)"),
        plot,
        live,
        nbformat.v4.new_markdown_cell("## Closing questions\n\n1. Why?"),
    ])
    # what nbclient stores after a run that displayed a widget: its state, which the deck drops
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {"abc": {"model_name": "LiveFigure", "state": {}}},
        "version_major": 2, "version_minor": 0}}
    return nb


def test_local_images_are_inlined(out, tmp_path):
    png = bytes.fromhex("89504e470d0a1a0a") + b"not a real image, only bytes"
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "tree.png").write_bytes(png)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "# T\n\n![family tree](img/tree.png) ![web](https://example.org/x.png) ![gone](img/no.png)")])
    html = slides.build_deck(nb, out, "images", base=tmp_path).read_text(encoding="utf-8")
    assert "data:image/png;base64," + base64.b64encode(png).decode() in html
    assert "https://example.org/x.png" in html and "img/no.png" in html   # left as they were


def test_tiny_deck_structure_and_outputs(out):
    nb = tiny_notebook()
    deck = Deck(slides.build_deck(nb, out, "tiny").read_text(encoding="utf-8"))
    # by hand: Title, One, Two, Closing questions (the fenced "## not a heading" is code)
    assert len(deck.slides) == 4 == sections(nb)
    # "### A sub-part" and the code cell with a figure start sub-slides (nbconvert nests every
    # slide's first part in a <section> of its own, hence the 4)
    assert deck.subslides == 4 + 2
    assert "not a heading" in deck.slides[1] and "A sub-part" in deck.slides[1]
    assert deck.slides[3].strip().startswith("Closing questions")
    html = (out / "tiny.html").read_text(encoding="utf-8")
    assert "PARAMETERS_CELL" not in html                       # the SMOKE switch is left out
    # the plotly output is drawn by the local plotly.js, the widget's output leaves its text only
    assert re.search(r'Plotly\.newPlot\("nasbench-figure-1", \[\{"type": "bar"', html)
    assert "recorded figure" in html and "model_id" not in html
    assert "widget-state" not in html and "LiveFigure" not in html    # no stored widget state
    assert "&lt;AlphaEvolution: 3 events&gt;" in html
    assert_offline(deck, out)
    # the notebook itself got no slideshow metadata
    assert all("slideshow" not in c.metadata for c in nb.cells)


@pytest.mark.parametrize("name", ["04_darts", "09_fairnas"])
def test_notebook_deck(out, name):
    path = ROOT / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    html = slides.build_deck(nb, out, name, base=path.parent).read_text(encoding="utf-8")
    deck = Deck(html)
    assert len(deck.slides) == sections(nb)
    assert_offline(deck, out)
    closing = deck.slides[-1]
    assert closing.strip().startswith("Closing questions")
    for item in re.findall(r"^\d+\. (.+)$", nb.cells[-1].source, flags=re.M):
        assert item.split("`")[0].split("$")[0].strip() in closing
    # the guide's link leads to the guide rendered next to the decks, offline, and back
    assert f'href="guides/{name}.html"' in html
    guide = (out / "guides" / f"{name}.html").read_text(encoding="utf-8")
    assert_offline(Deck(guide), out / "guides")
    assert f'href="../{name}.html"' in guide and "Where it is" in guide


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_ends_with_closing_questions(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    last = "".join(nb["cells"][-1]["source"])
    assert nb["cells"][-1]["cell_type"] == "markdown" and last.startswith("## Closing questions")
    assert 3 <= len(re.findall(r"^\d+\. ", last, flags=re.M)) <= 5
    assert "**For a reading group**" in last and re.search(r"^- ", last, flags=re.M)
    guide = f"../docs/guides/{path.stem}.md"
    assert f"]({guide})" in last and (path.parent / guide).resolve().is_file()
    assert all(not c.get("outputs") for c in nb["cells"])      # outputs stay out of git
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_closing_questions_are_current():
    """The cells are what tools/closing_questions.py writes (run it after editing the questions)."""
    assert load_tool("closing_questions").main(["--check"]) == 0


def test_teaching_points_to_every_guide():
    teaching = (ROOT / "docs" / "teaching.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert f"(guides/{path.stem}.md)" in teaching, path.stem
