"""A real browser (Debian's chromium, driven by playwright) against `jupyter lab`: a view shown in a
notebook updates live while the training cell is still running.

This is what no headless test can show: that the Plotly FigureWidget front end (anywidget) loads
in JupyterLab and that redraws sent from a busy kernel reach the page.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.browser

if not os.path.exists(CHROMIUM):
    if os.environ.get("CI"):
        raise RuntimeError("CI needs chromium for the browser test (.ci/run installs it)")
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

RUNS = {  # view -> the search it watches (tiny, a few seconds on one core)
    "TrainingBoard": "get_method('random')('nb201-small', 'digits', epochs=12, C=4, layers=1, batch_size=16,"
                     " n_candidates=2, n_top=1, callbacks=[view], progress=False)",
    "AlphaEvolution": "get_method('darts')('nb201-small', 'digits', epochs=6, C=4, layers=1, batch_size=16,"
                      " alpha_every=1, callbacks=[view], progress=False)",
}


def notebook(view: str) -> dict:
    code = [f"from nasbench.widgets import {view}\nview = {view}(min_interval=0.2)\nview",
            f"from nasbench.methods import get_method\nsearch = {RUNS[view]}\nresult = search.run()\n"
            "print('RUN-' + 'FINISHED', result.status)"]
    return {"cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                       "source": c} for c in code],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    for view in RUNS:
        (tmp_path / f"{view}.ipynb").write_text(json.dumps(notebook(view)))
    port, token = free_port(), "nasbench-browser-test"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
           "--ServerApp.ip=127.0.0.1", "--allow-root",
           f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"]  # no tabs restored from an earlier test
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not start")
        yield base, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def run_cell(page, n: int, tries: int = 6) -> None:
    """Run cell n, retrying while the kernel is still starting (a Shift+Enter sent before the
    kernel is ready moves the cursor but runs nothing)."""
    prompt = f".jp-Notebook .jp-Cell >> nth={n} >> .jp-InputPrompt"
    for _ in range(tries):
        page.click(f".jp-Notebook .jp-Cell >> nth={n} >> .jp-InputArea-editor")
        page.keyboard.press("Escape")
        page.keyboard.press("Shift+Enter")
        for _ in range(40):
            if page.inner_text(prompt).strip() not in ("[ ]:", ""):
                return
            time.sleep(0.5)
    raise AssertionError(f"cell {n} never started running")


@pytest.mark.parametrize("view", sorted(RUNS))
def test_a_view_updates_live_while_the_cell_runs(lab, view):
    from playwright.sync_api import sync_playwright

    base, token = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/{view}.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            run_cell(page, 0)                              # show the view
            try:
                page.wait_for_selector(".js-plotly-plot", timeout=180_000)  # first load is slow
            except Exception:
                page.screenshot(path=str(Path(os.environ.get("NASBENCH_SCREENSHOTS", "/tmp")) / f"nasbench_live_{view}.png"))
                raise
            run_cell(page, 1)                              # start the search
            points = "(() => { const g = document.querySelector('.js-plotly-plot');" \
                     " return g && g.data ? g.data.reduce((n, t) => n + (t.x ? t.x.length : 0), 0) : 0; })()"
            seen, finished = [], False
            deadline = time.time() + 240
            while time.time() < deadline:
                seen.append(page.evaluate(points))
                if "RUN-FINISHED" in page.inner_text(".jp-Notebook"):
                    finished = True
                    break
                time.sleep(0.3)
            page.screenshot(path=str(Path(os.environ.get("NASBENCH_SCREENSHOTS", "/tmp")) / f"nasbench_live_{view}.png"))
        finally:
            browser.close()
    assert finished, f"the search cell did not finish; points seen: {seen[-5:]}"
    distinct = sorted(set(seen) - {0})
    # the curve grew in several steps while the cell was running, not once at the end
    assert len(distinct) >= 3, f"the figure did not update live: point counts seen {distinct}"
