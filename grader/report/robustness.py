"""The robustness matrix as a self-contained HTML page: profiles × behaviors."""

from __future__ import annotations

import json
from html import escape

from grader.change import ratio_number
from grader.report.difference import paired_pp
from grader.report.html import page
from grader.report.svg import change_color, fmt_num, fmt_rate, palette, stacked_bar
from grader.robustness import Robustness


def _cell(rob: Robustness, profile: str, behavior: str) -> str:
    cell = rob.matrix[profile][behavior]
    e, c = cell.estimate, cell.change
    lo, hi = e.interval.as_list()
    text = (f"<strong>{fmt_rate(e.rate)}</strong><small>[{fmt_rate(lo)}, {fmt_rate(hi)}] · "
            f"n={e.n:,}</small>")
    if c is None:
        return f'<td title="reference">{text}<small>reference</small></td>'
    mark = " ●" if c.significant else ""
    if c.zero_side is not None:  # no ratio to show: the difference and a bound instead
        change = escape(c.statement)
    else:
        r_lo, r_hi = c.ratio_interval.as_list()
        change = f"{fmt_num(c.ratio)}× [{ratio_number(r_lo)}, {ratio_number(r_hi)}]"
    return (f'<td style="background:{change_color(c.baseline.rate, c.candidate.rate)}" '
            f'title="{escape(profile)} × {escape(behavior)}">{text}<small>{change}{mark}'
            f"</small><small>{escape(paired_pp(c))}</small></td>")


def render_robustness_html(rob: Robustness, title: str = "deploysim robustness report") -> str:
    """Profile × behavior rates with intervals and changes against the reference profile."""
    head = "".join(f"<th>{escape(b.id)}<br><span class=\"sev\">{escape(b.severity)} · per "
                   f"{b.per}</span></th>" for b in rob.behaviors)
    rows = "".join(
        f'<tr><td class="rowh">{escape(r.label)}</td>'
        + "".join(_cell(rob, r.label, b.id) for b in rob.behaviors) + "</tr>"
        for r in rob.runs)
    cards = []
    for r in rob.runs:
        prov = {str(k): float(v) for k, v in (r.manifest.get("provenance") or {}).items()}
        colors = palette(sorted(prov))
        legend = "".join(f'<span><span class="swatch" style="background:{colors[k]}"></span>'
                         f"{escape(k)} {v:g}</span>" for k, v in sorted(prov.items()))
        spec = json.dumps(r.manifest.get("profile") or {}, indent=1, sort_keys=True)
        cards.append(f'<div class="card"><h3>{escape(r.label)}</h3><div class="sub">'
                     f"{escape(r.path)} · seed {escape(str(r.manifest.get('seed', '–')))}</div>"
                     f"<h3>Stub provenance</h3>{stacked_bar(prov, colors, 500)}"
                     f'<div class="legend">{legend}</div><details><summary>profile spec'
                     f"</summary><pre>{escape(spec)}</pre></details></div>")
    notes = "".join(f"<li>{escape(n)}</li>" for n in rob.notes)
    body = (f"<h1>{escape(title)}</h1><div class=\"sub\">{len(rob.runs)} profiles × "
            f"{len(rob.behaviors)} behaviors · changes are paired against "
            f"<strong>{escape(rob.reference)}</strong> on the same prefixes</div>"
            + (f"<ul>{notes}</ul>" if notes else "")
            + "<h2>Rates by environment state</h2><p class=\"sub\">Each cell: the rate, its "
            "interval and sample size; below, the ratio to the reference with its paired "
            "interval, or, when either has no event, the difference in percentage points and "
            "a one-sided bound (● = the change is significant); last, the difference in "
            "percentage points with its paired interval. Red: worse than the "
            "reference; green: better.</p><table class=\"heat\"><thead><tr><th>profile</th>" + head
            + f"</tr></thead><tbody>{rows}</tbody></table><h2>Profiles</h2>"
            + '<div class="grid2">' + "".join(cards) + "</div>"
            + "<footer>Self-contained; this page fetches nothing.</footer>")
    return page(title, body)
