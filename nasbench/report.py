"""A static HTML report of a run: the same figures as the live views, from the event log alone."""
from __future__ import annotations

import html
import json
import os
from pathlib import Path

from nasbench.events import EventLogError, read_events, validate


def _foreign(events: list, start: dict) -> str | None:
    """The last genotype as DARTS' `Genotype` where the space is DARTS' (a NAS-Bench-201 cell's
    `best` is its string already)."""
    from nasbench.formats import foreign
    last = next((e for e in reversed(events) if e.get("type") == "genotype"), None)
    theirs = foreign(last["choices"], start["space"]) if last and start.get("space") else None
    return theirs if theirs != (last or {}).get("arch") else None


def write_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write `run_dir/report.html` (or `out`) from `run_dir/events.jsonl`; return its path.
    plotly.js is embedded once, so the report opens offline."""
    run_dir = Path(run_dir)
    events = read_events(run_dir / "events.jsonl")
    problems = validate(events, complete=False)
    if problems:  # the views trust the schema: refuse a log that breaks it, naming the problem
        raise EventLogError(f"{run_dir / 'events.jsonl'}: {problems[0]}")
    start = events[0] if events and events[0].get("type") == "run_start" else {}
    end = events[-1] if events and events[-1].get("type") == "run_end" else {}
    from nasbench.widgets.dashboard import views_for   # the views (plotly) only when drawing
    sections, plotlyjs = [], True
    for entry in views_for(events):          # the views a Dashboard of this run shows, in its order
        view = entry.cls().from_events(events, **entry.kwargs)
        sections.append(f"<h2>{html.escape(type(view).__name__)}</h2>\n"
                        + view.to_html(include_plotlyjs=plotlyjs))
        plotlyjs = False
    rows = {
        "method": start.get("method"), "dataset": start.get("dataset"), "seed": start.get("seed"),
        "space": (start.get("space") or {}).get("name"), "status": end.get("status", "unfinished"),
        "best": end.get("best"), "best, as its codebase writes it": _foreign(events, start),
        "wall (s)": end.get("wall"), "error": end.get("error"),
        "events": len(events),
    }
    table = "".join(f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(str(v))}</code></td></tr>"
                    for k, v in rows.items() if v is not None)
    config = html.escape(json.dumps(start.get("config", {}), indent=1))
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>nasbench report: {html.escape(str(rows['method']))}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto}} th{{text-align:left;padding-right:1em}}</style>
</head><body>
<h1>nasbench run: {html.escape(str(rows['method']))}</h1>
<table>{table}</table>
<details><summary>configuration</summary><pre>{config}</pre></details>
{''.join(sections)}
</body></html>
"""
    target = Path(out) if out is not None else run_dir / "report.html"
    target.write_text(page, encoding="utf-8")
    return target
