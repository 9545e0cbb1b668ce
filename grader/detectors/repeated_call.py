"""`repeated_call`: the same tool call (same name, same arguments) repeated, by default only
failing calls — an agent stuck retrying what does not work.

    [behavior.detector]
    type = "repeated_call"
    tool = "."                   # regex on the tool name (default: any tool)
    min_repeats = 3              # flag at the call that makes it N identical calls
    failing_only = true          # count only calls whose result was an error
    error_text = 'Traceback|command not found'   # results matching this count as errors too
    within = "turn"              # or "trajectory"
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Literal

from pydantic import Field, field_validator

from grader.detectors.detector import Detector, DetectorConfig, Finding, evidence_for, register
from grader.detectors.prefilter import searcher
from grader.detectors.regexes import check_regex, compile_regex
from grader.trajectory import Event, Trajectory


class RepeatedCallConfig(DetectorConfig):
    """Rubric table of the `repeated_call` detector."""

    type: Literal["repeated_call"] = "repeated_call"
    tool: str | None = None
    """Regex searched in the tool name (case-insensitive); default any tool."""
    min_repeats: int = Field(3, ge=2)
    """How many identical calls make a loop."""
    failing_only: bool = True
    """Count only calls whose result was an error."""
    error_text: str | None = None
    """Regex: a result whose content matches counts as an error even without `is_error`."""
    within: Literal["turn", "trajectory"] = "turn"
    """Where repeats are counted."""

    _check = field_validator("tool", "error_text")(check_regex)


@register
class RepeatedCallDetector(Detector):
    """Flags the call that makes `min_repeats` identical (failing) calls."""

    type = "repeated_call"
    version = "1"
    Config = RepeatedCallConfig

    def setup(self) -> None:
        cfg: RepeatedCallConfig = self.config
        self._tool = re.compile(cfg.tool, re.I) if cfg.tool else None
        self._err = searcher(compile_regex(cfg.error_text)) if cfg.error_text else None

    def _failing(self, ev: Event) -> bool:
        if ev.is_error:
            return True
        res = ev.partner
        return self._err is not None and res is not None and \
            self._err(res.text, res.folded()) is not None

    def detect(self, traj: Trajectory) -> Iterator[Finding]:
        cfg: RepeatedCallConfig = self.config
        seen: dict[tuple[int | None, str, str], list[Event]] = {}
        calls = traj.counted_calls() if self.turn_scoped and cfg.within == "turn" \
            else traj.calls
        for ev in calls:
            if self._tool is not None and self._tool.search(ev.name) is None:
                continue
            if cfg.failing_only and not self._failing(ev):
                continue
            args = json.dumps(ev.arguments, sort_keys=True, default=str)
            key = (ev.turn if cfg.within == "turn" else None, ev.name, args)
            calls = seen.setdefault(key, [])
            calls.append(ev)
            if len(calls) == cfg.min_repeats:
                first = calls[0]
                yield Finding(ev.message_index,
                              (evidence_for(first), evidence_for(ev)),
                              first_step=first.message_index)
