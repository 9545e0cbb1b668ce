"""Structural similarity and field-level diffs of JSON values.

`similarity(a, b)` is 1 for equal values and 0 for values of different JSON types; objects score
the mean over the union of their keys (a missing key scores 0), arrays the mean over positions
(a missing item scores 0), and two scalars of the same type at least 0.5 plus how close their
values are. The `nearest` layer ranks recorded arguments with it and `fidelity` scores stubbed
answers against the true ones with it.
"""

from __future__ import annotations

import re
from typing import Any

_MISSING = object()
_WORD = re.compile(r"\w+")


def json_type(v: Any) -> str:
    if v is None:
        return "null"
    if v is True or v is False:
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list | tuple):
        return "array"
    return "other"


def similarity(a: Any, b: Any, base: float = 0.5) -> float:
    """Structural similarity of two JSON values, from 0 (unrelated) to 1 (equal).

    `base` is the credit two different scalars of the same type get for their type alone: 0.5
    when judging shapes (fidelity), 0 when judging values (`nearest` ranking arguments, where
    "Berlin" is not half of "Paris").
    """
    if a is _MISSING or b is _MISSING:
        return 0.0
    ta, tb = json_type(a), json_type(b)
    if ta != tb:
        return 0.0
    if ta == "object":
        keys = a.keys() | b.keys()
        if not keys:
            return 1.0
        return sum(similarity(a.get(k, _MISSING), b.get(k, _MISSING), base)
                   for k in keys) / len(keys)
    if ta == "array":
        n = max(len(a), len(b))
        if n == 0:
            return 1.0
        return sum(similarity(x, y, base) for x, y in zip(a, b, strict=False)) / n
    if a == b:
        return 1.0
    if ta == "string":
        return base + (1 - base) * text_similarity(a, b)
    if ta == "number":
        scale = abs(a) + abs(b)
        return base + (1 - base) * (1 - abs(a - b) / scale) if scale else 1.0
    return base  # booleans that differ, or other equal-typed scalars


def text_similarity(a: str, b: str) -> float:
    """Word-set overlap (Jaccard) of two texts; character-bigram overlap for one-word strings."""
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    if len(wa) <= 1 and len(wb) <= 1:
        wa, wb = _bigrams(a.lower()), _bigrams(b.lower())
    union = wa | wb
    return len(wa & wb) / len(union) if union else 1.0


def _bigrams(s: str) -> set[str]:
    return {s[i:i + 2] for i in range(len(s) - 1)} if len(s) > 1 else {s}


def diff(query: Any, recorded: Any, path: str = "$", limit: int = 20) -> list[dict[str, Any]]:
    """Field-level differences: `[{"path", "query", "recorded"}]`, `<missing>` for absent."""
    out: list[dict[str, Any]] = []
    _diff(query, recorded, path, out, limit)
    return out


def _diff(a: Any, b: Any, path: str, out: list[dict[str, Any]], limit: int) -> None:
    if len(out) >= limit or (a == b and json_type(a) == json_type(b)):
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(a.keys() | b.keys(), key=str):
            _diff(a.get(k, _MISSING), b.get(k, _MISSING), f"{path}.{k}", out, limit)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}[{i}]", out, limit)
        return
    out.append({"path": path, "query": "<missing>" if a is _MISSING else a,
                "recorded": "<missing>" if b is _MISSING else b})
