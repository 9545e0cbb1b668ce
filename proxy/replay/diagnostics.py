"""What was served: every tool answer with its provenance, every miss with its diagnostics,
and the summary `deploysim serve` prints when it stops.

On a miss the closest recorded calls and the field-level diff (from the stub engine's
diagnostics) go to the log at once, and to the run manifest at the end.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from proxy.replay.binding import Binding
from stubs.api import StubAnswer
from stubs.api import ToolQuery as ToolQuery

log = logging.getLogger("deploysim.serve")

MAX_MANIFEST_MISSES = 1000
"""Misses kept (with diagnostics) for the manifest; further ones are only counted."""


@dataclass(frozen=True)
class ServedCall:
    """One tool call the proxy answered."""

    query: ToolQuery
    """What was asked (kind, server, name, arguments, call index, trajectory)."""
    binding: Binding
    answer: StubAnswer

    @property
    def provenance(self) -> str:
        return self.answer.provenance

    @property
    def missed(self) -> bool:
        return self.answer.provenance.split("+", 1)[0] == "miss"


def tool_label(kind: str, server: str | None, name: str) -> str:
    """How a tool is named in messages: `mcp:SERVER/NAME`, `http:SERVER/GET /path`, `NAME`."""
    if kind == "function":
        return name
    return f"{kind}:{server if server is not None else '/'}/{name}"


class ServeLog:
    """Counts and misses of one serve run (event loop only; no locking needed)."""

    def __init__(self) -> None:
        self.provenance: Counter[str] = Counter()
        """Full provenance string (`exact+perturbed:inject`, ...) → tool calls."""
        self.calls = 0
        self.misses: list[dict[str, Any]] = []
        self.miss_count = 0
        self.miss_tools: Counter[str] = Counter()
        self.llm: Counter[str] = Counter()
        """LLM calls by how they were answered: candidate, candidate_failed, recorded, miss."""
        self.llm_failures: Counter[str] = Counter()
        """Candidate model calls that failed, by HTTP status (`"404"` → count)."""

    def tool(self, call: ServedCall) -> None:
        """Count an answered tool call; log and keep a miss with its diagnostics."""
        self.calls += 1
        self.provenance[call.provenance] += 1
        if not call.missed:
            return
        q = call.query
        label = tool_label(q.kind, q.server, q.name)
        self.miss_count += 1
        self.miss_tools[label] += 1
        diag = call.answer.diagnostics
        reason = diag.get("reason") or call.answer.result.content
        log.warning("deploysim serve: stub miss on %s (trajectory %s, call %d): %s%s", label,
                    call.binding.key, q.call_index, reason, _closest_line(diag))
        if len(self.misses) < MAX_MANIFEST_MISSES:
            self.misses.append({"kind": q.kind, "tool": label, "server": q.server,
                                "name": q.name, "arguments": q.arguments,
                                "session": call.binding.session, "trajectory": call.binding.key,
                                "call_index": q.call_index, "diagnostics": _plain(diag)})

    def llm_call(self, how: str, *, route: str | None = None, reason: str | None = None,
                 diagnostics: dict[str, Any] | None = None, status: int | None = None) -> None:
        """Count an LLM call (`candidate`, `candidate_failed`, `recorded`, `miss`); a miss is
        logged and kept, a failed candidate call counted by status."""
        self.llm[how] += 1
        if how == "candidate_failed":
            if not self.llm_failures:
                log.warning("deploysim serve: the candidate model answered HTTP %s on route "
                            "%s; check --candidate (its base URL, with or without /v1)",
                            status, "/" if route is None else route)
            self.llm_failures[str(status)] += 1
            return
        if how != "miss":
            return
        self.miss_count += 1
        label = f"llm:{route if route is not None else '/'}"
        self.miss_tools[label] += 1
        log.warning("deploysim serve: no recorded LLM response for a request on %s: %s", label,
                    reason)
        if len(self.misses) < MAX_MANIFEST_MISSES:
            self.misses.append({"kind": "llm", "tool": label, "server": route,
                                "diagnostics": _plain({"reason": reason, **(diagnostics or {})})})

    def provenance_mix(self) -> dict[str, int]:
        """Full provenance → count, sorted by name (what the run manifest records)."""
        return dict(sorted(self.provenance.items()))

    def answers(self) -> dict[str, Any]:
        """Exact, fallback (by layer) and missed answers (`stubs.miss_policy.answer_mix`)."""
        from stubs.miss_policy import answer_mix

        return answer_mix(self.provenance)

    def warnings(self) -> list[str]:
        """What the stop summary must warn about: fallbacks over the threshold, failing
        candidate model calls."""
        from stubs.miss_policy import fallback_warning

        out = [w for w in [fallback_warning(self.answers())] if w]
        failed = self.llm.get("candidate_failed", 0)
        if failed:
            total = failed + self.llm.get("candidate", 0)
            statuses = ", ".join(f"HTTP {k} x{v}" for k, v in sorted(self.llm_failures.items()))
            out.append(f"{failed} of {total} model call(s) to the candidate failed ({statuses}); "
                       "check --candidate: give the model server's base URL, e.g. "
                       "http://127.0.0.1:8000/v1, and that it serves the model the agent asks "
                       "for.")
        return out

    def summary(self) -> dict[str, Any]:
        """Hits by provenance and misses: the stop summary (`--json` prints this object)."""
        base: Counter[str] = Counter()
        perturbed: Counter[str] = Counter()
        for prov, n in self.provenance.items():
            head, *tail = prov.split("+")
            base[head] += n
            for part in tail:
                perturbed[part.removeprefix("perturbed:")] += n
        return {"tool_calls": self.calls, "by_provenance": dict(sorted(base.items())),
                "perturbed": dict(sorted(perturbed.items())), "misses": self.miss_count,
                "misses_by_tool": dict(self.miss_tools.most_common()),
                "missed_calls": [{k: m.get(k) for k in ("tool", "arguments", "session",
                                                        "trajectory", "call_index")}
                                 for m in self.misses[:20] if m.get("kind") != "llm"],
                "llm_calls": dict(sorted(self.llm.items())),
                "llm_failures": dict(sorted(self.llm_failures.items())),
                "answers": self.answers(), "warnings": self.warnings()}


def format_summary(summary: dict[str, Any]) -> list[str]:
    """The stop summary as lines for a person."""
    from stubs.miss_policy import format_mix

    hits = ", ".join(f"{k} {v}" for k, v in summary["by_provenance"].items()) or "none"
    lines = [f"deploysim serve: {summary['tool_calls']} tool call(s) answered ({hits}); "
             f"{summary['misses']} miss(es)"]
    if summary.get("answers") and summary["tool_calls"]:
        lines.append("  answers: " + format_mix(summary["answers"]))
    if summary["perturbed"]:
        lines.append("  perturbed: " + ", ".join(f"{k} {v}"
                                                  for k, v in summary["perturbed"].items()))
    if summary["llm_calls"]:
        lines.append("  llm calls: " + ", ".join(f"{k} {v}"
                                                  for k, v in summary["llm_calls"].items()))
    for tool, n in list(summary["misses_by_tool"].items())[:10]:
        lines.append(f"  missed {tool}: {n}")
    for m in (summary.get("missed_calls") or [])[:10]:
        args = json.dumps(m.get("arguments"), default=str, ensure_ascii=False)[:160]
        lines.append(f"    {m.get('tool')} {args} (trajectory {m.get('trajectory')}, call "
                     f"{m.get('call_index')})")
    for warning in summary.get("warnings") or []:
        lines.append(f"deploysim serve: warning: {warning}")
    return lines


def _closest_line(diag: dict[str, Any]) -> str:
    closest = diag.get("closest") or []
    if not closest:
        return ""
    best = closest[0]
    return (f"; closest recorded arguments {json.dumps(best.get('arguments'), default=str)}"
            f" (diff {json.dumps(best.get('diff'), default=str)})")


def _plain(value: Any) -> Any:
    """Diagnostics as plain JSON (they go into the manifest)."""
    return json.loads(json.dumps(value, default=str))
