"""Drive JupyterLab in a real browser (Debian's chromium through playwright): run a notebook's
cells, count the bytes over the kernel websocket, read the JS heap, find the views and check
that they drew data. Used by tests/test_browser.py and benchmarks/bench_views.py."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--enable-precise-memory-info"]

# Every plot on the page: which output it is in, whether it is a live nasbench view, how many
# points it shows; and the live views' own log of redraws (view.js keeps it).
PLOTS_JS = """() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
  return [...document.querySelectorAll('.jp-Notebook .js-plotly-plot')].map(g => {
    const cell = cells.findIndex(c => c.contains(g));
    const live = !!g.closest('.nasbench-view');
    const points = (g._fullData || []).reduce((n, t) => n + (t.x ? t.x.length : 0) + (t.z ? t.z.length : 0)
                                               + (t.cells ? 1 : 0) + (t.values ? t.values.length : 0), 0);
    const r = g.getBoundingClientRect();
    const table = (g._fullData || []).length > 0 && g._fullData.every(t => t.type === 'table');
    return {cell, live, points, table, key: g.dataset.key || null, width: r.width, height: r.height};
  });
}"""
STATE_JS = """() => {
  const nb = document.querySelector('.jp-Notebook');
  if (!nb) return null;
  const prompts = [...nb.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
  const errors = [...nb.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
      .map(e => e.textContent).filter(t => /Error|Traceback/.test(t));
  const tracebacks = [...nb.querySelectorAll('.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]')]
      .map(e => e.textContent.slice(0, 2000));
  return {prompts, errors: tracebacks.concat(errors)};
}"""


KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def code_notebook(cells: list[str]) -> dict:
    """A notebook of code cells on the project's kernel (no "Select Kernel" dialog)."""
    return {"cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                       "source": c} for c in cells],
            "metadata": {"kernelspec": KERNELSPEC}, "nbformat": 4, "nbformat_minor": 5}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root_dir: Path, workdir: Path, env: dict | None = None):
    """`jupyter lab` on root_dir with the repository's configuration (jupyter/), as `make lab`
    runs it; yields (base_url, token)."""
    port, token = free_port(), "nasbench-browser"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
           "--ServerApp.ip=127.0.0.1", "--allow-root", "--LabApp.expose_app_in_browser=True",
           f"--LabApp.workspaces_dir={workdir / 'workspaces'}",
           f"--LabApp.user_settings_dir={workdir / 'user-settings'}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JUPYTER_CONFIG_DIR": str(REPO_ROOT / "jupyter"),
           **(env or {})}
    log = open(workdir / "lab.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"jupyter lab exited: {(workdir / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            raise RuntimeError("jupyter lab did not start")
        yield base, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@dataclass
class NotebookRun:
    name: str
    finished: bool = False
    seconds: float = 0.0
    ws_bytes: int = 0                     # received from the kernel websocket(s)
    ws_sent: int = 0
    largest_frame: int = 0
    heap_peak: float = 0.0                # MB, JSHeapUsedSize sampled while running
    heap_end: float = 0.0                 # MB, after a garbage collection at the end
    heap_live: float = 0.0                # MB, the most the page kept right after a collection
                                          # (with collect_every; else only the one at the end)
    timeline: list = field(default_factory=list)   # (seconds, heap MB, running cell) per sample
    errors: list = field(default_factory=list)
    plots: list = field(default_factory=list)      # PLOTS_JS at the end
    live_log: list = field(default_factory=list)   # view.js' redraws: {key, updates, points, t}
    notices: list = field(default_factory=list)    # dialogs / toasts seen on opening
    console: list = field(default_factory=list)    # the page's console errors and warnings
    plotly_from: str | None = None                 # where the live views took plotly.js from
    page: object = None                            # the open page (run_notebook(keep_open=True))
    screenshots: list = field(default_factory=list)


def run_notebook(browser, base: str, token: str, path: str, timeout: float = 600,
                 shots: Path | None = None, viewport=(1400, 1000), save: bool = False,
                 keep_open: bool = False, collect_every: float | None = None) -> NotebookRun:
    """Open `path` (relative to the lab's root), Run All, wait until every cell ran (then save
    it if asked). `keep_open`: leave the page open as `run.page` (the caller closes it).
    `collect_every`: force a garbage collection every so many seconds and record the heap after
    it (`heap_live`); it changes `heap_peak` too (garbage goes sooner), so measure them apart."""
    run = NotebookRun(path)
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def heap() -> float:
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return metrics.get("JSHeapUsedSize", 0) / 2**20

    def on_ws(ws):
        if "/api/kernels/" not in ws.url:
            return

        def got(payload):
            n = len(payload.encode() if isinstance(payload, str) else payload)
            run.ws_bytes += n
            run.largest_frame = max(run.largest_frame, n)

        def sent(payload):
            run.ws_sent += len(payload.encode() if isinstance(payload, str) else payload)
        ws.on("framereceived", got)
        ws.on("framesent", sent)

    page.on("websocket", on_ws)
    page.on("console", lambda m: run.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    try:
        workspace = "w" + str(abs(hash((path, time.time()))))  # a fresh workspace: no other tabs
        page.goto(f"{base}/lab/workspaces/{workspace}/tree/{path}?reset&token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", state="attached", timeout=120_000)
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                               " && window.jupyterapp.shell.currentWidget.sessionContext"
                               " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                               " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                               " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                               ".connectionStatus === 'connected'", timeout=120_000)
        time.sleep(1.0)
        run.notices = page.evaluate("() => [...document.querySelectorAll('.jp-Dialog, .Toastify__toast')]"
                                    ".map(e => e.textContent.slice(0, 200))")
        n_cells = len(page.evaluate(STATE_JS)["prompts"])
        start = collected = time.time()
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); return 1; }")
        while time.time() - start < timeout:
            time.sleep(0.5)
            used = heap()
            run.heap_peak = max(run.heap_peak, used)
            if collect_every and time.time() - collected > collect_every:   # what the page keeps
                cdp.send("HeapProfiler.collectGarbage")
                run.heap_live = max(run.heap_live, heap())
                collected = time.time()
            state = page.evaluate(STATE_JS)
            running = next((i for i, p in enumerate(state["prompts"]) if p.startswith("[*")), None)
            run.timeline.append((round(time.time() - start, 1), round(used, 1), running))
            if state["errors"]:
                run.errors = state["errors"]
                break
            prompts = state["prompts"]
            if len(prompts) == n_cells and all(p.startswith("[") and p[1:-2].strip().isdigit() for p in prompts):
                busy = page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext"
                                     ".session.kernel.status")
                if busy == "idle":
                    run.finished = True
                    break
        run.seconds = time.time() - start
        time.sleep(2.0)   # the last redraws and static figures
        run.heap_peak = max(run.heap_peak, heap())
        cdp.send("HeapProfiler.collectGarbage")
        run.heap_end = heap()
        run.heap_live = max(run.heap_live, run.heap_end)
        run.plots = page.evaluate(PLOTS_JS)
        if save:
            page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
            time.sleep(1.0)
        run.live_log = page.evaluate("() => globalThis.__nasbenchLog || []")
        run.plotly_from = page.evaluate("() => globalThis.__nasbenchPlotlyFrom || null")
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            stem = Path(path).stem
            for i, g in enumerate(page.query_selector_all(".jp-Notebook .js-plotly-plot")):
                g.scroll_into_view_if_needed()
                target = shots / f"{stem}_{i:02d}.png"
                g.screenshot(path=str(target))
                run.screenshots.append(target)
    finally:
        if keep_open:
            run.page = page
        else:
            page.close()
    return run


def open_page(browser, base: str, token: str, path: str, viewport=(1400, 1000)):
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    workspace = "w" + str(abs(hash((path, time.time()))))
    page.goto(f"{base}/lab/workspaces/{workspace}/tree/{path}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", state="attached", timeout=120_000)
    return page


def reopen(browser, base: str, token: str, path: str) -> list:
    """The figures a saved notebook shows when opened again on a fresh page (no widget state):
    JupyterLab's plotly extension draws each static figure once it is scrolled into view."""
    page = open_page(browser, base, token, path)
    try:
        time.sleep(2.0)
        shown = []
        for out in page.query_selector_all(".jp-Notebook .jp-RenderedPlotly"):
            out.scroll_into_view_if_needed()
            for _ in range(240):  # the saved snapshot (a PNG the extension stored) or a live draw
                img = out.query_selector("img.plot-img")
                if img and img.evaluate("i => i.complete && i.naturalWidth > 0"):
                    shown.append({"kind": "png", "width": img.evaluate("i => i.naturalWidth")})
                    break
                if out.evaluate("e => !!e.querySelector('.main-svg')"):
                    shown.append({"kind": "plot", "width": out.evaluate("e => e.clientWidth")})
                    break
                time.sleep(0.25)
            else:
                shown.append({"kind": None, "width": 0})
        return shown
    finally:
        page.close()


def report_line(run: NotebookRun) -> str:
    return (f"{run.name}: {run.ws_bytes / 1e6:.2f} MB over the websocket (largest frame "
            f"{run.largest_frame / 1e6:.2f} MB), JS heap peak {run.heap_peak:.0f} MB "
            f"(kept after collections: {run.heap_live:.0f} MB), "
            f"{run.seconds:.0f} s, {len(run.plots)} plots, plotly.js from {run.plotly_from}")


def dump(runs: list[NotebookRun], path: Path) -> None:
    path.write_text(json.dumps([{k: (v if k != "screenshots" else [str(s) for s in v])
                                 for k, v in r.__dict__.items() if k != "page"} for r in runs], indent=1))


def drawn_pixels(png: Path | str, min_pixels: int = 40) -> dict:
    """Pixel statistics of a figure's screenshot: `colour`, the fraction of saturated pixels
    (max - min channel > 60: plotly draws data in colour, while axes, grid, labels and an empty
    plot area are white and greys), `distinct` colours, and `drawn`: at least `min_pixels`
    saturated pixels (a smoke run's five scatter markers are about 200) and more than 8 colours.
    A table figure draws its data as text: judge it by its cells, not by this."""
    import numpy as np
    from PIL import Image
    rgb = np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)       # (H, W, 3)
    saturated = (rgb.max(-1) - rgb.min(-1)) > 60
    colour = float(saturated.mean())
    distinct = len(np.unique(rgb.reshape(-1, 3), axis=0))
    return {"colour": colour, "distinct": distinct,
            "drawn": int(saturated.sum()) >= min_pixels and distinct > 8}
