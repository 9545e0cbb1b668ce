"""Span arithmetic for redaction: secrets as (start, end, replacement) over the original bytes,
merged, applied, and chunk boundaries mapped through the replacement."""

from __future__ import annotations

import bisect

Span = tuple[int, int, bytes]
"""(start, end, replacement) over the original bytes."""


def literal_spans(data: bytes, literals: dict[bytes, bytes]) -> list[Span]:
    """Every occurrence of each literal value, with its replacement."""
    out: list[Span] = []
    for value, rep in literals.items():
        i = data.find(value)
        while i >= 0:
            out.append((i, i + len(value), rep))
            i = data.find(value, i + len(value))
    return out


def merge(a: list[Span], b: list[Span]) -> list[Span]:
    """Sorted, non-overlapping union of two span lists (earlier start, then longer, wins)."""
    spans = sorted(a + b, key=lambda s: (s[0], -(s[1] - s[0])))
    out: list[Span] = []
    for s in spans:
        if out and s[0] < out[-1][1]:
            continue
        out.append(s)
    return out


def apply(data: bytes, spans: list[Span]) -> bytes:
    """`data` with each (sorted, non-overlapping) span replaced."""
    if not spans:
        return data
    parts, prev = [], 0
    for start, end, rep in spans:
        parts.append(data[prev:start])
        parts.append(rep)
        prev = end
    parts.append(data[prev:])
    return b"".join(parts)


def map_positions(bounds: list[int], spans: list[Span]) -> list[int]:
    """Map original offsets to redacted ones; an offset inside a span snaps to its start."""
    starts = [s[0] for s in spans]
    deltas = [0]
    for start, end, rep in spans:
        deltas.append(deltas[-1] + len(rep) - (end - start))
    out = []
    for b in bounds:
        i = bisect.bisect_left(starts, b) - 1  # last span starting before b
        if i >= 0 and b < spans[i][1]:
            out.append(spans[i][0] + deltas[i])
        else:
            out.append(b + deltas[i + 1] if i >= 0 else b)
    return out
