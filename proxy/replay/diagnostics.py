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
        """LLM calls by how they were answered: candidate, recorded, miss."""

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
                 diagnostics: dict[str, Any] | None = None) -> None:
        """Count an LLM call (`candidate`, `recorded`, `miss`); a miss is logged and kept."""
        self.llm[how] += 1
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
                "llm_calls": dict(sorted(self.llm.items()))}


def format_summary(summary: dict[str, Any]) -> list[str]:
    """The stop summary as lines for a person."""
    hits = ", ".join(f"{k} {v}" for k, v in summary["by_provenance"].items()) or "none"
    lines = [f"deploysim serve: {summary['tool_calls']} tool call(s) answered ({hits}); "
             f"{summary['misses']} miss(es)"]
    if summary["perturbed"]:
        lines.append("  perturbed: " + ", ".join(f"{k} {v}"
                                                  for k, v in summary["perturbed"].items()))
    if summary["llm_calls"]:
        lines.append("  llm calls: " + ", ".join(f"{k} {v}"
                                                  for k, v in summary["llm_calls"].items()))
    for tool, n in list(summary["misses_by_tool"].items())[:10]:
        lines.append(f"  missed {tool}: {n}")
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
