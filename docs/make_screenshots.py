"""Screenshots of every view at the papers' scale, taken in JupyterLab in chromium, for
docs/views.md: `python docs/make_screenshots.py` writes docs/img/<view>.png (small PNGs)."""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
import lab_driver  # noqa: E402

SHOTS = {  # file name -> the cell that shows the view
    "alpha_darts": "AlphaEvolution.from_events(g.alpha_run('darts'))",
    "alpha_mbv2": "AlphaEvolution.from_events(g.alpha_run('chain-mbv2', collapse=0.0))",
    "graph_darts": "SupernetGraph.from_events(g.alpha_run('darts'))",
    "fairness_shuffle": "SamplingFairness.compare({'SPOS': g.sample_run('chain-shuffle'), "
                        "'FairNAS': g.sample_run('chain-shuffle', fair=True)})",
    "fairness_mbv2": "SamplingFairness.compare({'SPOS': g.sample_run('chain-mbv2'), "
                     "'FairNAS': g.sample_run('chain-mbv2', fair=True)})",
    "board": "TrainingBoard.from_events(g.board_run())",
    "ranking": "KLRanking.from_events(g.eval_run())",
    "evolution": "EvolutionPanel.from_events(g.eval_run())",
    "controller_enas": "ControllerPanel.from_events(g.controller_run())",
    "latency_proxyless": "LatencyPanel.from_events(g.latency_run())",
    "memory_smash": "MemoryBankView.from_events(g.memory_run())",
}


def notebook() -> dict:
    return lab_driver.code_notebook(["import gallery_streams as g\nfrom nasbench.widgets import *",
                                     *SHOTS.values()])


def main(out: Path = HERE / "img") -> None:
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "gallery.ipynb").write_text(json.dumps(notebook()))
        shutil.copy(HERE / "gallery_streams.py", root)
        with lab_driver.jupyter_lab(root, root) as (base, token), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=lab_driver.CHROMIUM, args=lab_driver.ARGS)
            run = lab_driver.run_notebook(browser, base, token, "gallery.ipynb", shots=root / "shots",
                                          viewport=(1280, 2000))
            browser.close()
        assert run.finished and not run.errors, run.errors
        assert len(run.screenshots) == len(SHOTS), f"{len(run.screenshots)} plots for {len(SHOTS)} views"
        out.mkdir(exist_ok=True)
        for name, shot in zip(SHOTS, run.screenshots):
            shutil.copy(shot, out / f"{name}.png")
            print(out / f"{name}.png", shot.stat().st_size // 1024, "KB")


if __name__ == "__main__":
    main()
