"""Runs that are safe to share: a checkpoint that would run code when unpickled is refused, and
strings from a log (HTML, script tags) are text in the report, never markup or code."""
import json
import os
import re
import shutil
from html.parser import HTMLParser

import pytest
import torch

from nasbench.cli import main
from nasbench.events import make_event, read_events
from nasbench.methods import ConfigError, get_method
from nasbench.report import write_report

TINY = ["--set", "C=4", "--set", "layers=1", "--set", "n_candidates=2", "--set", "n_top=1",
        "--set", "n_train=200", "--set", "batch_size=32", "--quiet"]


class Payload:
    """Unpickling this object calls `exec`, which writes a marker file: real code execution."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


def poison(checkpoint, marker):
    """Replace a real checkpoint's RNG state by the payload (the file stays a valid torch file)."""
    state = torch.load(checkpoint, weights_only=True)
    state["rng"]["python"] = Payload(marker)
    torch.save(state, checkpoint)


def test_the_payload_really_runs_code_when_unpickled_unsafely(tmp_path):
    # the reference that makes the next tests meaningful: weights_only=False would execute it
    torch.save({"x": Payload(tmp_path / "marker")}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert (tmp_path / "marker").read_text() == "pwned"


def test_checkpoints_hold_only_plain_data_and_resume_refuses_code(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "random", "--epochs", "2", "--out", str(out), *TINY]) == 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)  # raises if anything is not data
    assert isinstance(state["rng"]["numpy_global"][1], list)
    log = (out / "events.jsonl").read_bytes()

    poison(out / "checkpoint.pt", tmp_path / "marker")
    rc = main(["run", "random", "--epochs", "2", "--out", str(out), "--resume", *TINY])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert str(out / "checkpoint.pt") in err and "refused" in err, err
    assert not (tmp_path / "marker").exists(), "the checkpoint's code ran"
    assert (out / "events.jsonl").read_bytes() == log, "a refused resume leaves the log as it was"


def test_the_search_api_refuses_it_too(tmp_path):
    out = tmp_path / "run"
    kw = dict(epochs=1, C=4, layers=1, n_candidates=2, n_top=1, n_train=200, batch_size=32)
    get_method("random")("nb201-small", out=out, progress=False, device="cpu", **kw).run()
    torch.save({"next_epoch": 1, "x": Payload(tmp_path / "marker")}, out / "checkpoint.pt")
    search = get_method("random")("nb201-small", out=out, resume=True, progress=False, device="cpu", **kw)
    with pytest.raises(ConfigError, match="refused"):
        search.run()
    assert not (tmp_path / "marker").exists()


# -- the report ------------------------------------------------------------------------------
EVIL = ('<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
        '<a href="javascript:window.pwned=3">link</a>')


def log_with(s: str) -> list[dict]:
    """A valid log of every event type whose strings (names, archs, config) all carry `s`."""
    space = {"name": f"space{s}", "decisions": [f"a{s}", f"b{s}"],
             "options": [["skip_connect", f"op{s}"], ["nor_conv_3x3", f"op{s}", "none"]]}
    space["graph"] = {"nodes": [{"id": f"in{s}", "kind": "input"},
                                *({"id": d, "kind": "choice", "decision": k} for k, d in enumerate(space["decisions"])),
                                {"id": f"out{s}", "kind": "output"}],
                      "edges": [{"source": u, "target": v} for u, v in
                                zip([f"in{s}", *space["decisions"]], [*space["decisions"], f"out{s}"])]}
    arch = lambda c: f"a{s}={space['options'][0][c[0]]},b{s}={space['options'][1][c[1]]}"  # noqa: E731
    events = [make_event("run_start", 0, method=f"m{s}", dataset=f"d{s}", seed=0,
                         config={f"k{s}": f"v{s}", "n": 1}, space=space)]
    for k in range(4):
        c = [k % 2, k % 3]
        events += [make_event("sample", 0.1 * k, step=k, choices=c, arch=arch(c), purpose="train"),
                   make_event("step", 0.1 * k, step=k, epoch=0, phase=f"weights{s}", loss=1.0 / (k + 1), acc=0.5),
                   make_event("alpha", 0.1 * k, step=k, probs=[[0.5, 0.5], [0.2, 0.3, 0.5]]),
                   make_event("genotype", 0.1 * k, step=k, arch=arch(c), choices=c),
                   make_event("metric", 0.1 * k, step=k, name=f"entropy{s}", value=0.5),
                   make_event("eval", 0.1 * k, arch=arch(c), choices=c, score=0.1 * k, metric=f"acc{s}",
                              truth=0.2 * k, kl=0.1, step=k, generation=k, params=1.0 + k)]
    events.append(make_event("run_end", 1, status="failed", error=f"boom{s}", best=arch([0, 0]), wall=1))
    return events


class Elements(HTMLParser):
    """Every element the browser would build from the page, with its attributes, and the text of
    each script element."""

    def __init__(self, page):
        super().__init__()
        self.tags, self.attrs, self.scripts, self._in_script = [], [], [], False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def report_of(events, tmp_path, name):
    run = tmp_path / name
    run.mkdir()
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    assert main(["validate", str(run)]) == 0
    return write_report(run).read_text()


def test_strings_from_a_log_are_text_in_the_report(tmp_path):
    benign = Elements(report_of(log_with("_x"), tmp_path, "benign"))
    page = report_of(log_with(EVIL), tmp_path, "evil")
    evil = Elements(page)
    # the same page structure as a log with harmless strings: no element, attribute or script added
    assert evil.tags == benign.tags and sorted(evil.attrs) == sorted(benign.attrs)
    assert "img" not in evil.tags and not any(a.startswith("on") for a in evil.attrs)
    figures = [s for s in evil.scripts if s.lstrip().startswith("window.PLOTLYENV")]
    benign_figures = [s for s in benign.scripts if s.lstrip().startswith("window.PLOTLYENV")]
    # every view that draws this kind of run (a view may keep to its own runs: MemoryBankView, ...)
    assert len(figures) == len(benign_figures) >= 5
    assert len(evil.scripts) == len(benign.scripts)
    assert not any("<" in s for s in figures), "a figure's data is raw HTML inside its script"
    # the strings are there, as text: escaped in the HTML, \u003c-escaped in the figures' JSON
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page
    # in the figures: escaped for plotly's markup by the views (&lt;), or \u003c-escaped JSON
    assert any(re.search(r"(\\u003c|&lt;)script(\\u003e|&gt;)window.pwned=1", f) for f in figures)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is not installed")
def test_in_a_real_browser_the_report_runs_none_of_the_logs_strings(tmp_path):
    """plotly.js draws the figures' strings as SVG text: tags it does not know stay text, and it
    drops `javascript:` links (it does render <b>, <br> and http(s) links: see docs/your-search.md)."""
    from playwright.sync_api import sync_playwright
    report_of(log_with(EVIL), tmp_path, "evil")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page, dialogs = browser.new_page(), []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto((tmp_path / "evil" / "report.html").as_uri())
        page.wait_for_function("document.querySelectorAll('.main-svg').length >= 6", timeout=30000)
        state = page.evaluate("""({pwned: window.pwned === undefined ? null : window.pwned,
            imgs: document.querySelectorAll('img').length,
            scripts: Array.from(document.querySelectorAll('script')).filter(s => s.textContent.includes('pwned=1</')).length,
            js: Array.from(document.querySelectorAll('a')).filter(a => /javascript:/i.test(
                a.getAttribute('href') || a.getAttribute('xlink:href') || '')).length,
            text: Array.from(document.querySelectorAll('svg text')).some(t => t.textContent.includes('<script>window.pwned=1'))})""")
        browser.close()
    assert state == {"pwned": None, "imgs": 0, "scripts": 0, "js": 0, "text": True} and not dialogs
