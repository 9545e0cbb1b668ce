"""Reports: one self-contained HTML page (inline CSS and SVG, no scripts, no fetches), a
Markdown summary and the JSON, for gate decisions and robustness matrices.

>>> write_gate_report("report.html", rep)     # also report.md and report.json   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os

from grader.report.html import render_gate_html
from grader.report.markdown import render_gate_markdown
from grader.report.model import GateReport, Pane, RunInfo, SideBySide

__all__ = ["GateReport", "Pane", "RunInfo", "SideBySide", "render_gate_html",
           "render_gate_markdown", "sibling", "write_gate_report"]


def sibling(path: str, suffix: str) -> str:
    """`report.html` -> `report.md` (the same stem with another suffix)."""
    return os.path.splitext(path)[0] + suffix


def write_gate_report(path: str, rep: GateReport) -> list[str]:
    """Write the HTML page to `path` and the Markdown and JSON beside it; returns the paths."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    outputs = {path: render_gate_html(rep), sibling(path, ".md"): render_gate_markdown(rep),
               sibling(path, ".json"): json.dumps(rep.to_json(), indent=2, default=str) + "\n"}
    for p, text in outputs.items():
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
    return list(outputs)
