"""Step patterns: a test on one trajectory event (a tool call, a tool result, an assistant or
user message), validated in the rubric and compiled once into a fast matcher. The `tool_call`
detector is one step pattern; the `sequence` detector orders several.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from grader.detectors.args import ArgSpec, arg_literals, compile_arg, parse_paths
from grader.detectors.detector import EXCERPT_CHARS, SettingTable, excerpt
from grader.detectors.prefilter import required_literals, searcher
from grader.detectors.regexes import (
    Flags,
    check_regex,
    compile_regex,
    flags_of,
    parse_flags,
)
from grader.trajectory import Event, EventKind


class StepPattern(SettingTable):
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
                    compile_regex(spec, flags_of(info))
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


def step_literals(step: StepPattern) -> list[str] | None:
    """Case-folded literals at least one of which occurs in the case-folded text of every event
    the step matches (None: no such set is known). A step whose `text` regex, or whose argument
    regexes, must match needs one of their required literals; a tool call's argument values
    are pieces of its text. Detectors use it to skip a whole trajectory at once."""
    flags = parse_flags(step.flags)
    options: list[list[str] | None] = []
    if step.text is not None:
        options.append(required_literals(step.text, flags))
    tests = [arg_literals(spec, flags) for spec in step.args.values()]
    if tests and step.match == "all":
        options.extend(tests)  # every predicate must pass: any one's literals will do
    elif tests and all(t is not None for t in tests):
        options.append(sorted({lit for t in tests for lit in t or ()}))
    if step.any:
        alts = [step_literals(a) for a in step.any]
        if all(a is not None for a in alts):
            options.append(sorted({lit for a in alts for lit in a or ()}))
    known = [o for o in options if o]
    return min(known, key=len) if known else None


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

    def tool_matches(name: str) -> bool:
        ok = names.get(name)
        if ok is None:
            ok = names[name] = tool is not None and tool.search(name) is not None
        return ok

    plain = text is None and not_text is None and result is None and is_error is None
    if plain and not alts and arg_tests and len(arg_tests) == 1:
        # the most common step, a tool name and one argument predicate: the same tests as
        # `match` below, without the ones that do not apply
        arg_test = arg_tests[0]

        def tool_and_arg(ev: Event) -> str | None:
            if kind is not None and ev.kind != kind:
                return None
            if tool is not None and not tool_matches(ev.name):
                return None
            return arg_test(ev)

        return tool_and_arg
    if plain and alts and tool is None and not arg_tests:
        # alternatives alone (`any = [...]`): the first that matches gives the excerpt

        def any_of(ev: Event) -> str | None:
            if kind is not None and ev.kind != kind:
                return None
            for alt in alts:
                h = alt(ev)
                if h is not None:
                    return h
            return None

        return any_of

    def match(ev: Event) -> str | None:
        if kind is not None and ev.kind != kind:
            return None
        hit: str | None = None
        if tool is not None and not tool_matches(ev.name):
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
