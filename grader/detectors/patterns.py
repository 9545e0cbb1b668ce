"""Building blocks shared by the rule detectors, validated in the rubric and compiled once:

- regexes with flags (`flags = "i"` or `["ignorecase", "multiline"]`);
- argument predicates on JSON paths (`command`, `options.force`, `files[0]`, `edits.*.path`,
  `$` for all arguments, `path|file_path` for whichever is present): a regex string, or a
  table with `regex`, `not_regex`, `equals`, `exists`, `outside` (workspace roots);
- step patterns that match one trajectory event (a tool call, a tool result, an assistant or
  user message), used by `tool_call` and `sequence`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from grader.detectors.base import EXCERPT_CHARS, excerpt
from grader.detectors.prefilter import searcher
from grader.trajectory import Event, EventKind, value_text

_FLAG_LETTERS = {"i": re.I, "m": re.M, "s": re.S, "x": re.X, "a": re.A}
_FLAG_NAMES = {"ignorecase": re.I, "multiline": re.M, "dotall": re.S, "verbose": re.X,
               "ascii": re.A}

Flags = str | list[str]


def parse_flags(flags: Flags) -> int:
    """`"im"` or `["ignorecase", "multiline"]` as `re` flags; ValueError names a bad one."""
    items = list(flags) if isinstance(flags, str) else flags
    out = 0
    for f in items:
        key = f.lower()
        val = _FLAG_LETTERS.get(key) if isinstance(flags, str) else _FLAG_NAMES.get(key,
                                                                              _FLAG_LETTERS.get(key))
        if val is None:
            raise ValueError(f"has an unknown regex flag {f!r} (use letters i, m, s, x, a or "
                             "names ignorecase, multiline, dotall, verbose, ascii)")
        out |= val
    return out


def compile_regex(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile, turning `re.error` into a ValueError that reads well after a field name."""
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression ({exc})") from None


def _flags_of(info: ValidationInfo) -> int:
    try:
        return parse_flags(info.data.get("flags", ""))
    except ValueError:
        return 0


class _Cfg(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def check_regex(value: str | None, info: ValidationInfo) -> str | None:
    """Field validator body: the pattern must compile with the model's `flags`."""
    if value is not None:
        compile_regex(value, _flags_of(info))
    return value


# -- argument predicates -------------------------------------------------------------------

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


class ArgPredicate(_Cfg):
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


# -- step patterns ---------------------------------------------------------------------------


class StepPattern(_Cfg):
    """Matches one trajectory event. `on` defaults to `tool_call` when `tool`, `args` or
    `result` is given, to `tool_result` for `is_error` alone, else to `assistant`."""

    on: EventKind | None = None
    """Event kind: system, user, assistant, tool_call, tool_result."""
    flags: Flags = ""
    """Regex flags for `text`, `not_text`, `result` and string `args` (tool names always
    match case-insensitively)."""
    tool: str | None = None
    """Regex searched in the tool name (tool calls and results)."""
    args: dict[str, ArgSpec] = Field(default_factory=dict)
    """Argument path → regex or predicate table (tool calls)."""
    match: Literal["all", "any"] = "all"
    """Whether all or any of the `args` predicates must hold."""
    text: str | None = None
    """Regex on the event's text (message text, a call's argument text, a result's content)."""
    not_text: str | None = None
    """The event's text must not match this regex."""
    result: str | None = None
    """Tool calls: regex on the result content the call got."""
    is_error: bool | None = None
    """Tool results (or a call's result): the tool reported an error (or did not)."""
    any: list[StepPattern] = Field(default_factory=list)
    """Alternatives: at least one must match too (each with its own `on`)."""

    _check = field_validator("tool", "text", "not_text", "result")(check_regex)

    @field_validator("flags")
    @classmethod
    def _flags(cls, v: Flags) -> Flags:
        parse_flags(v)
        return v

    @field_validator("args")
    @classmethod
    def _paths(cls, v: dict[str, ArgSpec], info: ValidationInfo) -> dict[str, ArgSpec]:
        for path, spec in v.items():
            try:
                parse_paths(path)
                if isinstance(spec, str):
                    compile_regex(spec, _flags_of(info))
            except ValueError as exc:
                raise ValueError(f"entry {path!r} {exc}") from None
        return v

    def kind(self) -> EventKind | None:
        if self.on is not None:
            return self.on
        if self.tool is not None or self.args or self.result is not None:
            return "tool_call"
        if self.any:
            return None
        if self.is_error is not None and self.text is None:
            return "tool_result"
        return "assistant"


Matcher = Callable[[Event], str | None]


def compile_step(step: StepPattern, kind_default: EventKind | None = None) -> Matcher:
    """A fast matcher for one event: the evidence excerpt when it matches, else None."""
    kind = step.on or kind_default or step.kind()
    flags = parse_flags(step.flags)
    tool = compile_regex(step.tool, re.I) if step.tool is not None else None
    text = searcher(compile_regex(step.text, flags)) if step.text is not None else None
    not_text = searcher(compile_regex(step.not_text, flags)) if step.not_text is not None \
        else None
    result = searcher(compile_regex(step.result, flags)) if step.result is not None else None
    is_error = step.is_error
    arg_tests = [compile_arg(p, s, flags) for p, s in step.args.items()]
    need_all = step.match == "all"
    alts = [compile_step(a, kind) for a in step.any]

    names: dict[str, bool] = {}  # tool names repeat: remember which ones match

    def match(ev: Event) -> str | None:
        if kind is not None and ev.kind != kind:
            return None
        hit: str | None = None
        if tool is not None:
            ok = names.get(ev.name)
            if ok is None:
                ok = names[ev.name] = tool.search(ev.name) is not None
            if not ok:
                return None
        if is_error is not None and ev.is_error != is_error:
            return None
        if text is not None:
            m = text(ev.text, ev.folded())
            if m is None:
                return None
            hit = excerpt(ev.text, m.start(), m.end())
        if not_text is not None and not_text(ev.text, ev.folded()) is not None:
            return None
        if result is not None:
            partner = ev.partner
            if partner is None:
                return None
            m = result(partner.text, partner.folded())
            if m is None:
                return None
            hit = hit or excerpt(partner.text, m.start(), m.end())
        if arg_tests:
            hits = [t(ev) for t in arg_tests]
            found = [h for h in hits if h is not None]
            if (need_all and len(found) < len(hits)) or not found:
                return None
            hit = hit or found[0]
        if alts:
            for alt in alts:
                h = alt(ev)
                if h is not None:
                    hit = hit or h
                    break
            else:
                return None
        if hit is None:  # matched on kind, name or error alone: show the start of the text
            hit = excerpt(ev.text, 0, min(len(ev.text), EXCERPT_CHARS))
        return hit

    return match
