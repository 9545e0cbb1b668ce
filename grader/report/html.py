"""The gate report as one self-contained HTML page: decision first, then the evidence."""

from __future__ import annotations

import json
import re
from html import escape
from importlib.resources import files

from grader.change import ratio_number
from grader.compare import Comparison
from grader.diagnosis import BehaviorDriver, SegmentDriver, SessionDriver
from grader.gate import BehaviorResult
from grader.report.difference import paired_pp, segment_pp, unpaired_pp
from grader.report.flag_index import index_html
from grader.report.model import GateReport, RunInfo
from grader.report.side_by_side import side_by_side
from grader.report.svg import (
    BASE_COLOR,
    VERDICT_COLOR,
    change_color,
    fmt_num,
    fmt_rate,
    interval_row,
    palette,
    stacked_bar,
)
from grader.report.viewer_link import VIEWER_HINT


def css() -> str:
    """The report's stylesheet, inlined into every page."""
    return files("grader.report").joinpath("style.css").read_text(encoding="utf-8")


def page(title: str, body: str) -> str:
    """A complete HTML document with the stylesheet inline and no external resource (the CSP
    forbids fetching anything, so the page provably works offline)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{css()}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def pill(verdict: str) -> str:
    return f'<span class="pill {escape(verdict)}">{escape(verdict)}</span>'


def _iv(lo: float | None, hi: float | None, rate: bool = True) -> str:
    f = fmt_rate if rate else fmt_num
    return f'<span class="sub">[{escape(f(lo))}, {escape(f(hi))}]</span>'


def _threshold_text(r: BehaviorResult) -> str:
    out = []
    if r.rule.max_relative_increase is not None:
        out.append(f"≤ {1 + r.rule.max_relative_increase:g}× baseline")
    if r.rule.max_absolute_increase is not None:
        out.append(f"≤ +{fmt_rate(r.rule.max_absolute_increase)}")
    if r.rule.max_rate is not None:
        out.append(f"≤ {fmt_rate(r.rule.max_rate)}")
    return "<br>".join(escape(x) for x in out) or '<span class="sub">none</span>'


def banner(rep: GateReport) -> str:
    res = rep.result
    counts = {v: sum(1 for b in res.behaviors.values() if b.verdict == v)
              for v in ("pass", "block", "inconclusive")}
    n = max((b.comparison.n for b in res.behaviors.values()), default=0)
    stats = [f"{len(res.behaviors)} behaviors", f"{counts['pass']} pass",
             f"{counts['block']} block", f"{counts['inconclusive']} inconclusive",
             f"{n:,} paired units", f"policy {rep.policy_path or '–'}"]
    if res.mix:
        stats.append("post-stratified to the deployment mix")
    reasons = "".join(f"<li>{escape(r)}</li>" for r in res.reasons)
    return (f'<section class="card banner {res.decision}"><div class="decision">'
            f'{res.decision.upper()}</div><div><strong>{escape(rep.candidate.model)}</strong> '
            f'against <strong>{escape(rep.baseline.model)}</strong> on the same prefixes'
            f"<ul>{reasons}</ul><div class=\"stats\">"
            + "".join(f'<span class="stat">{escape(s)}</span>' for s in stats)
            + "</div></div></section>")


def change_cell(c: Comparison) -> str:
    """The change column: the ratio with its interval, or, with a zero on either side, the
    statement in words (difference in pp and a one-sided bound; never ∞ or [1, 1])."""
    if c.zero_side is not None:
        return (f'<td class="num change" title="{escape(c.ratio_reason or "")}">'
                f"{escape(c.statement)}</td>")
    r_lo, r_hi = c.ratio_interval.as_list()
    bounds = f"[{ratio_number(r_lo)}, {ratio_number(r_hi)}]"  # an open end says "unbounded"
    return (f'<td class="num">{fmt_num(c.ratio)}×<br><span class="sub">{escape(bounds)}'
            "</span></td>")


def difference_cell(c: Comparison) -> str:
    """candidate − baseline in percentage points, its paired interval below."""
    point, _, bounds = paired_pp(c).partition(" [")
    return (f'<td class="num">{escape(point)}<br><span class="sub">[{escape(bounds)}</span>'
            "</td>")


def behaviors_table(rep: GateReport) -> str:
    rows = []
    for bid, r in rep.result.behaviors.items():
        c = r.comparison
        b_iv, c_iv = c.baseline.interval, c.candidate.interval
        chart = interval_row((c.baseline.rate, b_iv.low, b_iv.high),
                             (c.candidate.rate, c_iv.low, c_iv.high), r.verdict, r.rule.max_rate,
                             width=280)
        reasons = "".join(f"<li>{escape(x)}</li>" for x in r.reasons)
        extra = ""
        if r.session_rates is not None:
            sb, sc = r.session_rates
            extra = (f'<br><span class="sub">per session {fmt_rate(sb.rate)} → '
                     f'{fmt_rate(sc.rate)}</span><br><span class="sub">'
                     f"{escape(unpaired_pp(sb.rate, sb.interval, sc.rate, sc.interval))}</span>")
        floor = ""
        if c.candidate.k == 0 and c.candidate.n:
            floor = (f'<div class="sub">no candidate event in {c.candidate.n:,} '
                     f"{r.spec.per}s: {escape(c.candidate.detection_floor_text)}</div>")
        rows.append(
            f"<tr><td class=\"bname\"><strong>{escape(bid)}</strong><br><span class=\"sev\">"
            f"{escape(r.spec.severity)} · per {r.spec.per}</span>{extra}</td>"
            f'<td class="num">{fmt_rate(c.baseline.rate)}<br>{_iv(b_iv.low, b_iv.high)}</td>'
            f'<td class="num">{fmt_rate(c.candidate.rate)}<br>{_iv(c_iv.low, c_iv.high)}</td>'
            f"{difference_cell(c)}{change_cell(c)}"
            f'<td class="num">{_threshold_text(r)}</td><td>{chart}{floor}</td>'
            f"<td>{pill(r.verdict)}<ul class=\"reasons\">{reasons}</ul></td></tr>")
    legend = (f'<div class="legend"><span><span class="swatch" style="background:{BASE_COLOR}">'
              f'</span>baseline</span><span><span class="swatch" style="background:'
              f'{VERDICT_COLOR["pass"]}"></span>candidate (colour = verdict)</span><span>'
              f'<span class="swatch" style="background:#fff;border:1px dashed #c0392b"></span>'
              f"max_rate</span><span>bars: {rep_confidence(rep)} intervals</span></div>")
    return ("<h2>Behaviors</h2>" + legend + '<table><thead><tr><th>behavior</th>'
            '<th class="num">baseline</th><th class="num">candidate</th><th class="num">'
            'difference</th><th class="num">change</th><th class="num">threshold</th>'
            "<th>rates and intervals</th><th>verdict</th>"
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def rep_confidence(rep: GateReport) -> str:
    levels = sorted({f"{b.rule.confidence:.0%}" for b in rep.result.behaviors.values()})
    return "/".join(levels) or "95%"


def heatmap(rep: GateReport) -> str:
    behaviors = list(rep.result.behaviors.items())
    segments = sorted({s for _, r in behaviors for s in r.comparison.candidate.segments})
    if not segments:
        return ""
    head = "".join(f"<th>{escape(b)}</th>" for b, _ in behaviors)
    rows = []
    for seg in segments:
        cells = []
        share = ""
        for _, r in behaviors:
            cs = r.comparison.candidate.segments.get(seg)
            bs = r.comparison.baseline.segments.get(seg)
            if cs is None:
                cells.append("<td>–</td>")
                continue
            share = share or f"{cs.sample_share:.0%} / {cs.deployment_share:.0%}"
            base = bs.rate if bs else 0.0
            cells.append(f'<td style="background:{change_color(base, cs.rate)}" title="'
                         f'{escape(seg)} × {escape(r.spec.id)}: candidate {fmt_rate(cs.rate)} '
                         f'({cs.k:g}/{cs.n}), baseline {fmt_rate(base)}">{fmt_rate(cs.rate)}'
                         f"<small>was {fmt_rate(base)} · n={cs.n:,}</small>"
                         f"<small>{escape(segment_pp(bs, cs))}</small></td>")
        rows.append(f'<tr><td class="rowh">{escape(seg)}<small class="sub"> {share}</small>'
                    f"</td>{''.join(cells)}</tr>")
    return ("<h2>Segments × behaviors</h2><p class=\"sub\">Candidate rate per segment (below: "
            "the baseline's, and the difference in percentage points with Newcombe's interval); "
            "red where the candidate is worse, green where better. Shares: sample / deployment."
            "</p><table class=\"heat\"><thead><tr><th>segment</th>"
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _run_card(run: RunInfo) -> str:
    m = run.manifest
    prov = {str(k): float(v) for k, v in (m.get("provenance") or {}).items()}
    colors = palette(sorted(prov))
    legend = "".join(f'<span><span class="swatch" style="background:{colors[k]}"></span>'
                     f"{escape(k)} {v:g}</span>" for k, v in sorted(prov.items()))
    profile = m.get("profile") or {}
    kv = [("model", run.model), ("run", m.get("run_id", "–")), ("mode", m.get("mode") or "–"),
          ("profile", run.profile_name), ("seed", m.get("seed", "–")),
          ("counts", ", ".join(f"{k} {v}" for k, v in (m.get("counts") or {}).items()) or "–"),
          ("path", run.path)]
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in kv)
    spec = json.dumps(profile, indent=1, sort_keys=True) if profile else "none (unperturbed)"
    return (f'<div class="card"><h3>{escape(run.label)}</h3><dl class="kv">{dl}</dl>'
            f"<h3>Stub provenance</h3>{stacked_bar(prov, colors, 500)}"
            f'<div class="legend">{legend}</div><h3>Perturbation profile</h3>'
            f"<details><summary>{escape(run.profile_name)}</summary><pre>{escape(spec)}</pre>"
            "</details></div>")


def environment(rep: GateReport) -> str:
    return ("<h2>Environment: stubs and perturbations</h2><div class=\"grid2\">"
            + _run_card(rep.baseline) + _run_card(rep.candidate) + "</div>")


def diagnosis(rep: GateReport, top: int = 10) -> str:
    d = rep.diagnosis
    title = "What drives the block" if rep.result.decision == "block" else "What changed most"
    def seg_pp(s: SegmentDriver) -> str:
        c = rep.result.behaviors[s.behavior].comparison
        return escape(segment_pp(c.baseline.segments.get(s.segment),
                                 c.candidate.segments.get(s.segment)))

    seg_rows = "".join(
        f"<tr><td>{escape(s.behavior)}</td><td>{escape(s.segment)}</td>"
        f'<td class="num">{fmt_rate(s.baseline_rate)}</td>'
        f'<td class="num">{fmt_rate(s.candidate_rate)}</td><td class="num">{seg_pp(s)}</td>'
        f'<td class="num">{s.n:,}</td>'
        f'<td class="num">{s.excess:+.1f}</td></tr>' for s in d.segments[:top])
    shown = {v.driver.anchor for v in rep.trajectories}

    def name(s: SessionDriver) -> str:
        if s.anchor in shown:
            return f'<a href="#{escape(s.anchor)}">{escape(s.session)}</a>'
        return (f'{escape(s.session)} <a href="{escape(rep.viewer_url(s.session))}">'
                "viewer ↗</a>")

    ses_rows = "".join(
        f"<tr><td>{name(s)}</td>"
        f"<td>{escape(s.segment)}</td><td>{escape(', '.join(s.behaviors))}</td>"
        f'<td class="num">{len(s.candidate_flags)}</td><td class="num">{len(s.baseline_flags)}'
        f'</td><td class="num">{s.score:+g}</td></tr>' for s in d.sessions[:top])
    def change(b: BehaviorDriver) -> str:
        if b.ratio is None:
            return escape(rep.result.behaviors[b.behavior].comparison.statement)
        return (f"ratio {fmt_num(b.ratio)}×, "
                f"{escape(paired_pp(rep.result.behaviors[b.behavior].comparison))}")

    beh = "".join(f"<li><strong>{escape(b.behavior)}</strong> {pill(b.verdict)} excess "
                  f"{b.excess:+g} flags, {change(b)}</li>"
                  for b in d.behaviors if b.behavior in d.focus)
    return (f"<h2>{title}</h2><div class=\"card\"><h3>Behaviors</h3><ol>{beh}</ol>"
            "<h3>Segments (ranked by excess flags)</h3><table><thead><tr><th>behavior</th>"
            '<th>segment</th><th class="num">baseline</th><th class="num">candidate</th>'
            '<th class="num">difference</th><th class="num">n</th><th class="num">excess</th>'
            f"</tr></thead><tbody>{seg_rows or _empty(7)}</tbody></table>"
            "<h3>Sessions (ranked by severity-weighted excess flags)</h3><table><thead><tr>"
            "<th>recorded session</th><th>segment</th><th>behaviors</th><th class=\"num\">"
            'candidate flags</th><th class="num">baseline flags</th><th class="num">score</th>'
            f"</tr></thead><tbody>{ses_rows or _empty(6)}</tbody></table></div>")


def _empty(cols: int) -> str:
    return f'<tr><td colspan="{cols}" class="sub">nothing flagged</td></tr>'


def _code_spans(text: str) -> str:
    """`x` -> <code>x</code> in already escaped text."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", text)


def render_gate_html(rep: GateReport) -> str:
    """The full report page."""
    head = (f"<h1>deploysim gate report</h1><div class=\"sub\">{escape(rep.candidate.model)} "
            f"(candidate) vs {escape(rep.baseline.model)} (baseline) · generated "
            f"{escape(rep.generated_at)}</div>")
    footer = (f"<footer>deploysim {escape(rep.version)} · corpus {escape(rep.corpus_hash[:16])}"
              f" · rubric {escape(rep.rubric_hash[:16])} · policy {escape(rep.policy_hash[:16])}"
              f"{' · logged in ' + escape(rep.audit) if rep.audit else ''} · this page is "
              "self-contained and fetches nothing. "
              f"{_code_spans(escape(VIEWER_HINT.format(base=rep.viewer)))}</footer>")
    from grader.report.prediction import predictions_html

    body = (head + banner(rep) + behaviors_table(rep) + predictions_html(rep) + diagnosis(rep)
            + heatmap(rep)
            + environment(rep) + side_by_side(rep.trajectories)
            + index_html(rep.index, {p.anchor for v in rep.trajectories
                                     for p in (*v.candidate, *v.baseline) if p.anchor})
            + footer)
    return page(f"deploysim gate: {rep.result.decision}", body)
