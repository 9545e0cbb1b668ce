"""`regex`: a regular expression on assistant text (or user text, tool results, tool-call
arguments), with flags.

    [behavior.detector]
    type = "regex"
    pattern = 'as an ai language model'
    flags = "i"
    on = ["assistant"]           # any of: assistant, user, system, tool_result, tool_call
    tool = "search|fetch"        # optional: only tool results / calls of these tools
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from pydantic import field_validator

from grader.detectors.detector import Detector, DetectorConfig, Finding, register
from grader.detectors.prefilter import searcher
from grader.detectors.regexes import Flags, check_regex, compile_regex, parse_flags
from grader.trajectory import EventKind, Trajectory


class RegexConfig(DetectorConfig):
    """Rubric table of the `regex` detector."""

    type: Literal["regex"] = "regex"
    flags: Flags = ""
    """Regex flags: letters `imsxa` or names (ignorecase, multiline, dotall, verbose, ascii)."""
    pattern: str
    """The regular expression, searched anywhere in the text."""
    on: EventKind | list[EventKind] = "assistant"
    """Which texts to search."""
    tool: str | None = None
    """Regex on the tool name, for tool results and calls (case-insensitive)."""

    _check = field_validator("pattern", "tool")(check_regex)

    @field_validator("flags")
    @classmethod
    def _flags(cls, v: Flags) -> Flags:
        parse_flags(v)
        return v


@register
class RegexDetector(Detector):
    """Flags every event whose text matches the pattern."""

    type = "regex"
    version = "1"
    Config = RegexConfig

    def setup(self) -> None:
        config: RegexConfig = self.config
        self._rx = compile_regex(config.pattern, parse_flags(config.flags))
        self._search = searcher(self._rx)
        self._kinds = frozenset([config.on] if isinstance(config.on, str) else config.on)
        self._tool = re.compile(config.tool, re.I) if config.tool is not None else None

    def detect(self, traj: Trajectory) -> Iterator[Finding]:
        search, kinds, tool = self._search, self._kinds, self._tool
        for ev in self.events(traj):
            if ev.kind not in kinds or not ev.text:
                continue
            if tool is not None and tool.search(ev.name) is None:
                continue
            m = search(ev.text, ev.folded())
            if m is not None:
                yield Finding.at(ev, ev.text, m.start(), m.end())
