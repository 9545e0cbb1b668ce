"""Inline SVG and colour helpers for the report (no scripts, no external resources)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

BASE_COLOR = "#7a8599"
VERDICT_COLOR = {"pass": "#1f8a4c", "block": "#c0392b", "inconclusive": "#b7791f"}
PROVENANCE_COLORS = ["#3558c9", "#6f8be0", "#1f8a4c", "#8fc79f", "#b7791f", "#e0b45c",
                     "#8a6fd1", "#c0392b", "#9aa3b2", "#4bb3c4"]


def fmt_rate(x: float | None) -> str:
    """A rate as a short percentage (0.0123 -> 1.23%)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "∞"
    if x == 0:
        return "0%"
    pct = x * 100
    return f"{pct:.3g}%" if abs(pct) >= 0.01 else f"{pct:.1e}%"


def fmt_num(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "∞"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x:.{digits}g}"


def interval_row(baseline: tuple[float, float, float], candidate: tuple[float, float, float],
                 verdict: str, limit: float | None = None, width: int = 330) -> str:
    """One behavior's baseline and candidate rates with interval whiskers on a shared scale;
    `limit` draws the max_rate threshold. Each tuple is (rate, low, high)."""
    top = max(baseline[2], candidate[2], limit or 0.0, 1e-9) * 1.12
    left, right = 10, width - 26

    def x(v: float) -> float:
        return left + (right - left) * min(max(v / top, 0.0), 1.0)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="46" '
             f'viewBox="0 0 {width} 46" role="img" aria-label="rates with intervals">',
             f'<line x1="{left}" y1="38" x2="{right}" y2="38" stroke="#dfe3ea"/>']
    for tick in (0.0, top / 2, top):
        parts.append(f'<text x="{x(tick):.1f}" y="45" font-size="8.5" fill="#8a93a3" '
                     f'text-anchor="middle">{escape(fmt_rate(tick))}</text>')
    for (rate, lo, hi), y, color, label in ((baseline, 11, BASE_COLOR, "baseline"),
                                            (candidate, 27, VERDICT_COLOR.get(verdict, "#333"),
                                             "candidate")):
        parts.append(f'<line x1="{x(lo):.1f}" y1="{y}" x2="{x(hi):.1f}" y2="{y}" '
                     f'stroke="{color}" stroke-width="3" stroke-linecap="round" opacity=".45"/>')
        parts.append(f'<circle cx="{x(rate):.1f}" cy="{y}" r="4.2" fill="{color}">'
                     f'<title>{label} {escape(fmt_rate(rate))} [{escape(fmt_rate(lo))}, '
                     f'{escape(fmt_rate(hi))}]</title></circle>')
    if limit is not None:
        parts.append(f'<line x1="{x(limit):.1f}" y1="3" x2="{x(limit):.1f}" y2="36" '
                     f'stroke="#c0392b" stroke-dasharray="3 2"/>')
    parts.append("</svg>")
    return "".join(parts)


def stacked_bar(counts: Mapping[str, float], colors: Mapping[str, str], width: int = 520
                ) -> str:
    """A horizontal 100% bar of counts by category."""
    total = sum(counts.values())
    if total <= 0:
        return '<span class="sub">none recorded</span>'
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="18" '
             f'viewBox="0 0 {width} 18" role="img" aria-label="mix">']
    x = 0.0
    for name, n in counts.items():
        w = width * n / total
        parts.append(f'<rect x="{x:.2f}" y="0" width="{w:.2f}" height="18" '
                     f'fill="{colors.get(name, "#9aa3b2")}"><title>{escape(name)}: {n:g} '
                     f'({n / total:.1%})</title></rect>')
        x += w
    parts.append("</svg>")
    return "".join(parts)


def palette(names: Sequence[str]) -> dict[str, str]:
    """Stable colours for category names."""
    return {n: PROVENANCE_COLORS[i % len(PROVENANCE_COLORS)] for i, n in enumerate(names)}


def change_color(baseline: float, candidate: float) -> str:
    """Background for a heatmap cell: red as the candidate rises above the baseline, green as
    it falls, white for no change (log-ratio scale, saturating at 4x)."""
    if baseline == candidate:
        return "#ffffff"
    if baseline == 0 or candidate == 0:
        t = 1.0
    else:
        t = min(abs(math.log(candidate / baseline)) / math.log(4), 1.0)
    r, g, b = (192, 57, 43) if candidate > baseline else (31, 138, 76)
    mix = 0.12 + 0.55 * t

    def blend(c: int) -> int:
        return round(255 + (c - 255) * mix)

    return f"#{blend(r):02x}{blend(g):02x}{blend(b):02x}"
