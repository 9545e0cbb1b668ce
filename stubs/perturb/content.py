"""Operators that damage the data: empty, truncate, drop_field, mutate_field, malformed.

They work on the reply's document (`stubs.document`), so the same operator changes an MCP
result's text and structuredContent, an HTTP body, or a function tool's text consistently.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from stubs.document import get_document, put_document, put_text, reply_text
from stubs.jsonpath import PathPart, PathPattern
from stubs.perturb.registry import Effect, PerturbContext, operator
from stubs.reply import Reply

Path = tuple[PathPart, ...]


def walk(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every node below the root with its path, depth first, in document order."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*path, k), v
            yield from walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*path, i), v
            yield from walk(v, (*path, i))


def show(path: Path) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def parent(doc: Any, path: Path) -> Any:
    node = doc
    for p in path[:-1]:
        node = node[p]
    return node


def _pick_paths(ctx: PerturbContext, salt: str, candidates: list[Path], patterns: list[str],
                count: int) -> list[Path]:
    if patterns:
        compiled = [PathPattern(p) for p in patterns]
        candidates = [c for c in candidates if any(p.matches(c) for p in compiled)]
    if not candidates:
        return []
    rnd = ctx.rng(salt)
    return rnd.sample(candidates, min(count, len(candidates)))


@operator("empty", stage="content")
def empty(ctx: PerturbContext, reply: Reply, params: Mapping[str, Any]) -> Effect:
    """The tool succeeds with nothing: `[]`, `{}` or an empty text, in the recorded form."""
    doc = get_document(reply)
    value: Any = ""
    if isinstance(doc.value, dict):
        value = {}
    elif isinstance(doc.value, list):
        value = []
    elif doc.form == "json" and doc.value is None:
        value = None
    return Effect(put_document(reply, value, doc), notes={"was": type(doc.value).__name__})


@operator("truncate", stage="content", params={"keep": 0.5, "mode": "auto"},
          choices={"mode": ("auto", "items", "text")}, ranges={"keep": (0.0, 1.0)})
def truncate(ctx: PerturbContext, reply: Reply, params: Mapping[str, Any]) -> Effect | None:
    """Cut the data short: `items` keeps the first `keep` share of the longest list (the data
    stays valid), `text` cuts the text itself (JSON breaks, as in a torn response); `auto`
    shortens a list when there is one with two or more items and the text otherwise."""
    keep = float(params["keep"])
    doc = get_document(reply)
    mode = params["mode"]
    if mode in ("auto", "items") and doc.form != "text":
        lists = [(p, v) for p, v in [((), doc.value), *walk(doc.value)]
                 if isinstance(v, list) and len(v) >= 2]
        if lists:
            path, longest = max(lists, key=lambda pv: len(pv[1]))  # first longest wins
            n = min(len(longest) - 1, math.floor(len(longest) * keep))
            value = copy.deepcopy(doc.value)
            if path:
                parent(value, path)[path[-1]] = longest[:n]
            else:
                value = longest[:n]
            return Effect(put_document(reply, value, doc),
                          notes={"mode": "items", "path": show(path), "from": len(longest),
                                 "to": n})
        if mode == "items":
            return None
    text = reply_text(reply)
    if len(text) < 2:
        return None
    n = min(len(text) - 1, math.floor(len(text) * keep))
    return Effect(put_text(reply, text[:n]), notes={"mode": "text", "from": len(text), "to": n})


@operator("drop_field", stage="content", params={"fields": [], "count": 1},
          ranges={"count": (1, 1000)})
def drop_field(ctx: PerturbContext, reply: Reply, params: Mapping[str, Any]) -> Effect | None:
    """Remove `count` object fields (any, or those matching the JSON paths in `fields`)."""
    doc = get_document(reply)
    if doc.form == "text":
        return None
    candidates = [p for p, _ in walk(doc.value) if isinstance(p[-1], str)]
    chosen = _pick_paths(ctx, "drop_field", candidates, list(params["fields"]),
                         int(params["count"]))
    if not chosen:
        return None
    value = copy.deepcopy(doc.value)
    # drop deepest first so an outer drop never invalidates an inner path
    for path in sorted(chosen, key=len, reverse=True):
        try:
            del parent(value, path)[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue
    return Effect(put_document(reply, value, doc), notes={"dropped": [show(p) for p in chosen]})


@operator("mutate_field", stage="content", params={"fields": [], "count": 1},
          ranges={"count": (1, 1000)})
def mutate_field(ctx: PerturbContext, reply: Reply,
                 params: Mapping[str, Any]) -> Effect | None:
    """Change `count` leaf values to other plausible values of the same type (a number moves,
    a boolean flips, a string takes another string of the response or is altered)."""
    doc = get_document(reply)
    if doc.form == "text":
        return None
    leaves = [(p, v) for p, v in walk(doc.value)
              if isinstance(v, str | int | float) and not isinstance(v, dict | list)]
    chosen = _pick_paths(ctx, "mutate_field", [p for p, _ in leaves], list(params["fields"]),
                         int(params["count"]))
    if not chosen:
        return None
    rnd = ctx.rng("mutate_field", "values")
    strings = sorted({v for _, v in leaves if isinstance(v, str)})
    value = copy.deepcopy(doc.value)
    changes = []
    for path in chosen:
        holder = parent(value, path)
        old = holder[path[-1]]
        new: Any
        if isinstance(old, bool):
            new = not old
        elif isinstance(old, int):
            new = old + rnd.choice([-1, 1]) * max(1, abs(old) // 2)
        elif isinstance(old, float):
            new = round(old * rnd.uniform(0.5, 1.5), 4) if old else rnd.uniform(0.1, 1.0)
        else:
            others = [s for s in strings if s != old]
            new = rnd.choice(others) if others else (old[::-1] if len(set(old)) > 1
                                                     else old + " (changed)")
        holder[path[-1]] = new
        changes.append({"path": show(path), "from": old, "to": new})
    return Effect(put_document(reply, value, doc), notes={"mutated": changes})


@operator("malformed", stage="content", params={"drop_structured": False})
def malformed(ctx: PerturbContext, reply: Reply, params: Mapping[str, Any]) -> Effect:
    """Corrupt the response text so it no longer parses: a JSON body loses its end and gains
    stray bytes; plain text is garbled. With drop_structured, MCP structuredContent goes too."""
    text = reply_text(reply)
    rnd = ctx.rng("malformed")
    style = rnd.choice(["cut", "garbage", "quote"])
    if style == "cut":
        bad = text[: max(1, len(text) * 2 // 3)] + "\ufffd"
    elif style == "garbage":
        bad = text[: len(text) // 2] + '}{"\x00' + text[len(text) // 2:]
    else:
        bad = text.replace('"', "'", 3) + ",]"
    try:
        json.loads(bad)
        bad = bad + "\x00}"  # still parsed by chance: make sure it does not
    except ValueError:
        pass
    out = put_text(reply, bad)
    if params["drop_structured"] and out.mcp_result is not None:
        result = dict(out.mcp_result)
        result.pop("structuredContent", None)
        out = out.with_(mcp_result=result, structured=None)
    return Effect(out, notes={"style": style})
