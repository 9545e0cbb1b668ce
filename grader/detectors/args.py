"""Argument predicates of tool-call patterns: JSON paths into a call's arguments and tests on
the values found there.

    paths       `command`, `options.force`, `files[0]`, `edits[*].path`, `edits.*.path`,
                `$` (all arguments), `path|file_path` (whichever is present)
    predicates  a regex string, or a table: regex, not_regex, equals, exists, outside (roots)
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from typing import Any

from pydantic import field_validator, model_validator

from grader.detectors.detector import SettingTable, excerpt
from grader.detectors.prefilter import required_literals, searcher
from grader.detectors.regexes import Flags, check_regex, compile_regex, parse_flags
from grader.trajectory import Event, value_text

_WILD = object()
_PATH_TOKEN = re.compile(r"\[(\d+|\*)\]|\.?([^.\[\]]+)")


def parse_path(path: str) -> tuple[Any, ...]:
    """`a.b[0].*` → ("a", "b", 0, WILD); `$` or "" → () (the whole arguments)."""
    p = path.strip()
    if p.startswith("$"):
        p = p[1:]
    if not p:
        return ()
    out: list[Any] = []
    pos = 0
    while pos < len(p):
        m = _PATH_TOKEN.match(p, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"is not a JSON path ({path!r}; use keys joined by dots, [n] "
                             "for list items, * for any, $ for all arguments)")
        idx, key = m.groups()
        out.append(_WILD if idx == "*" or key == "*" else int(idx) if idx is not None else key)
        pos = m.end()
    return tuple(out)


def parse_paths(spec: str) -> list[tuple[Any, ...]]:
    """`path|file_path` → one parsed path per alternative."""
    return [parse_path(p) for p in spec.split("|")]


def resolve_path(value: Any, path: tuple[Any, ...]) -> list[Any]:
    """Every value at `path` inside `value` (wildcards fan out); [] when absent."""
    vals = [value]
    for seg in path:
        nxt: list[Any] = []
        for v in vals:
            if seg is _WILD:
                if isinstance(v, dict):
                    nxt.extend(v.values())
                elif isinstance(v, list):
                    nxt.extend(v)
            elif isinstance(seg, int):
                if isinstance(v, list) and -len(v) <= seg < len(v):
                    nxt.append(v[seg])
            elif isinstance(v, dict) and seg in v:
                nxt.append(v[seg])
        vals = nxt
        if not vals:
            break
    return vals


def outside_roots(path: str, roots: list[str]) -> bool:
    """True when a file path lies outside every workspace root. Relative paths are inside
    unless `..` climbs out; `~` paths are outside unless a root starts with `~`."""
    p = path.strip().strip("'\"")
    if not p:
        return False
    if re.match(r"^[A-Za-z]:[\\/]", p):  # a Windows drive path
        p = "/" + p[0].lower() + p[2:].replace("\\", "/")
    if not (p.startswith("/") or p.startswith("~") or p.startswith("$")):
        return posixpath.normpath(p).startswith("..")
    norm = posixpath.normpath(p) if p.startswith("/") else p
    for root in roots:
        r = root.rstrip("/") or "/"
        if r == "/" or norm == r or norm.startswith(r + "/"):
            return False
    return True


class ArgPredicate(SettingTable):
    """A test on the values found at one argument path (any value passing passes)."""

    flags: Flags = ""
    """Regex flags for `regex` / `not_regex`."""
    regex: str | None = None
    """The value's text must match (searched anywhere)."""
    not_regex: str | None = None
    """The value's text must not match."""
    equals: Any = None
    """The value must equal this (JSON equality; null means "not tested" — use `exists`)."""
    exists: bool | None = None
    """True: the path must be present; false: it must be absent."""
    outside: list[str] | None = None
    """The value is a file path outside every one of these workspace roots."""

    _check = field_validator("regex", "not_regex")(check_regex)

    @field_validator("flags")
    @classmethod
    def _flags(cls, v: Flags) -> Flags:
        parse_flags(v)
        return v

    @model_validator(mode="after")
    def _something(self) -> ArgPredicate:
        if all(x is None for x in (self.regex, self.not_regex, self.equals, self.exists,
                                   self.outside)):
            raise ValueError("needs one of regex, not_regex, equals, exists, outside")
        return self


ArgSpec = str | ArgPredicate


def arg_literals(spec: ArgSpec, default_flags: int) -> list[str] | None:
    """Case-folded literals at least one of which occurs in the text of any call the predicate
    passes (every value it tests is a piece of the call's text); None when it can pass
    without its regex matching, or the regex requires no literal."""
    if isinstance(spec, str):
        spec = ArgPredicate(regex=spec)
    if spec.regex is None or spec.exists is False:
        return None
    flags = parse_flags(spec.flags) | default_flags if spec.flags else default_flags
    return required_literals(spec.regex, flags)


def compile_arg(path: str, spec: ArgSpec, default_flags: int) -> Callable[[Event], str | None]:
    """A test on a tool call's arguments: returns the matching text (for evidence) or None."""
    alternatives = parse_paths(path)
    whole = any(not segs for segs in alternatives)
    # one-key paths (the common case) read the event's cached per-argument texts
    simple = None if whole or any(len(s) != 1 or not isinstance(s[0], str)
                                  for s in alternatives) else [s[0] for s in alternatives]
    simple_set = frozenset(simple or ())
    if isinstance(spec, str):
        spec = ArgPredicate(regex=spec)
    flags = parse_flags(spec.flags) | default_flags if spec.flags else default_flags
    rx = searcher(compile_regex(spec.regex, flags)) if spec.regex is not None else None
    not_rx = searcher(compile_regex(spec.not_regex, flags)) if spec.not_regex is not None \
        else None
    has_equals = spec.equals is not None
    equals, exists, roots = spec.equals, spec.exists, spec.outside
    _absent = object()

    def values(ev: Event) -> list[tuple[Any, str, str]]:
        args = ev.arguments
        if whole or isinstance(args, str):
            # a tool whose arguments are one bare string: every path means that string
            return [(args, ev.text, ev.folded())]
        if simple is not None:
            out = []
            if isinstance(args, dict):
                # walk whichever is shorter: the call's arguments or the path alternatives
                keys = [k for k in args if k in simple_set] if len(args) < len(simple) \
                    else [k for k in simple if k in args]
                for k in keys:
                    t = ev.arg_text(k)
                    if t is not None:
                        out.append((args.get(k, _absent), t[0], t[1]))
            return out
        found = [v for segs in alternatives for v in resolve_path(args, segs)]
        return [(v, text, text.casefold()) for v in found for text in (value_text(v),)]

    def test(ev: Event) -> str | None:
        vals = values(ev)
        if exists is False:
            return None if vals else f"{path} absent"
        for v, text, folded in vals:
            if rx is not None:
                m = rx(text, folded)
                if m is None:
                    continue
                hit = excerpt(text, m.start(), m.end())
            else:
                hit = excerpt(text)
            if not_rx is not None and not_rx(text, folded):
                continue
            if has_equals and v != equals:
                continue
            if roots is not None and not (isinstance(v, str) and outside_roots(v, roots)):
                continue
            return hit
        return None

    return test
