"""Every notebook in a real browser (Debian's chromium, driven by playwright) against `jupyter lab`
started with the repository's configuration, in smoke mode: Run All, then

- nothing to dismiss on opening (no kernel dialog, no news prompt) and no error output;
- every figure on the page drew data; every live view grew while its cell was still running
  (view.js logs each redraw; a live view turns static only at run_end, inside the cell);
- the bytes over the kernel websocket stay within the target (8 MB for 04_darts in default mode;
  smoke mode moves less);
- saved and opened again, the notebook shows every view as a static figure (no widget state
  needed) and stays small.

Screenshots of every figure go to $NASBENCH_ARTIFACTS (default: <tmp>/nasbench-artifacts).
The notebooks are copied to a temporary folder first, so JupyterLab's autosave never touches git.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

import lab_driver

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not os.path.exists(lab_driver.CHROMIUM):
    if os.environ.get("CI"):
        raise RuntimeError("CI needs chromium for the browser test (.ci/run installs it)")
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

NOTEBOOKS = sorted((lab_driver.REPO_ROOT / "notebooks").glob("*.ipynb"))
# Open (issue 8): in these notebooks' smoke runs one view is drawn once and then only at run_end,
# never redrawn while its cell runs; everything else this test checks passes for them.
NOT_YET_LIVE = {"02_enas.ipynb", "08_single_path_nas.ipynb"}
CASES = [pytest.param(p, marks=pytest.mark.xfail(reason="a view not redrawn while its cell runs (issue 8)",
                                                 strict=False)) if p.name in NOT_YET_LIVE else p
         for p in NOTEBOOKS]
MAX_BYTES = 8e6            # over the kernel websocket, per notebook (issue 8: 04_darts default mode)
MAX_SAVED = 2e6            # the saved notebook, outputs included
ARTIFACTS = Path(os.environ.get("NASBENCH_ARTIFACTS", Path(tempfile.gettempdir()) / "nasbench-artifacts"))
WIDGET = "application/vnd.jupyter.widget-view+json"
PLOTLY = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("notebooks")
    for path in NOTEBOOKS:
        shutil.copy(path, root)
    with lab_driver.jupyter_lab(root, root, env={"NASBENCH_SMOKE": "1"}) as (base, token):
        yield root, base, token


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=lab_driver.CHROMIUM, args=lab_driver.ARGS, headless=True)
        yield b
        b.close()


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_the_browser_with_live_views_kept_on_reopen(lab, browser, path):
    root, base, token = lab
    shots = ARTIFACTS / path.stem
    run = lab_driver.run_notebook(browser, base, token, path.name, shots=shots, save=True)
    print(lab_driver.report_line(run))
    assert run.finished, f"Run All did not finish in time ({run.seconds:.0f} s)"
    assert not run.errors, run.errors[0]
    assert not run.notices, f"something to dismiss on opening: {run.notices}"
    assert run.plots, "no figure on the page"
    empty = [p for p in run.plots if not p["points"]]
    assert not empty, f"figures without data: {empty}"
    keys = {e["key"] for e in run.live_log}
    for key in keys:
        log = [e for e in run.live_log if e["key"] == key]
        assert max(e["points"] for e in log) > log[0]["initial"] and max(e["updates"] for e in log) >= 1, \
            f"a live view never grew while its cell ran: {log}"
    assert not any(p["live"] for p in run.plots), "a view still live after its run ended"
    assert run.ws_bytes < MAX_BYTES, lab_driver.report_line(run)

    saved = root / path.name
    assert saved.stat().st_size < MAX_SAVED, f"saved notebook is {saved.stat().st_size / 1e6:.1f} MB"
    outputs = [o for c in json.loads(saved.read_text())["cells"] for o in c.get("outputs", [])]
    views = [o for o in outputs if WIDGET in o.get("data", {}) and "events>" in "".join(o["data"]["text/plain"])]
    assert not views, "a view left as a widget would be blank on reopen"
    figures = [o for o in outputs if PLOTLY in o.get("data", {})]
    assert len(figures) == len(run.plots)
    # opened again (a fresh page, no widget state): every figure is there, drawn
    again = lab_driver.reopen(browser, base, token, path.name)
    assert len(again) == len(run.plots) and all(p["kind"] for p in again), again
