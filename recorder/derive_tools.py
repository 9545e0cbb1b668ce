"""Tool traffic (MCP `tools/call`, HTTP tool routes) and its attachment to LLM sessions.

A tool exchange belongs to the session that issued it: the one named by its session header,
else the session whose next model request carries its result (same text, sent after the call
ended), else the session whose assistant called a tool of that name with the same arguments
just before. Each lookup is a dict hit, so attachment stays linear. What matches nothing is
returned unattached (it becomes a tool-only session and still feeds the stubs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from recorder.derive_tree import SessionPath
from recorder.exchange import Exchange
from recorder.protocols.light import LMessage, LResult
from recorder.protocols.mcp import result_text
from recorder.protocols.parsed import Parsed, canonical_json


@dataclass
class ToolUse:
    """One tool call seen on the wire, with what came back."""

    exchange_id: str
    kind: Literal["mcp", "http"]
    server: str | None
    name: str
    arguments: Any
    text: str
    """The result as a model would see it."""
    structured: Any
    is_error: bool
    started_at: float
    ended_at: float
    hint: str | None
    labels: dict[str, str]
    mcp_session: str | None = None
    mcp_result: dict[str, Any] | None = None
    mcp_error: dict[str, Any] | None = None
    position: int = 0
    """Index of the call inside its exchange (JSON-RPC batches hold several)."""

    @property
    def latency_ms(self) -> float:
        return round((self.ended_at - self.started_at) * 1000, 3)


def tool_uses(ex: Exchange, parsed: Parsed, hint: str | None) -> list[ToolUse]:
    """The tool calls an exchange carried (none for LLM and housekeeping traffic)."""
    base = dict(exchange_id=ex.id, server=ex.route, started_at=ex.started_at,
                ended_at=ex.ended_at, hint=hint, labels=ex.labels)
    out: list[ToolUse] = []
    if parsed.mcp is not None:
        for i, c in enumerate(x for x in parsed.mcp.calls if x.request.method == "tools/call"):
            params = c.request.params or {}
            reply = c.reply
            result = reply.result if reply is not None and reply.kind == "result" else None
            error = reply.error if reply is not None and reply.kind == "error" else None
            if isinstance(result, dict):
                text = result_text(result)
                structured = result.get("structuredContent")
                is_error = bool(result.get("isError"))
            else:
                text = str((error or {}).get("message", ex.error or ""))
                structured, is_error = None, True
            out.append(ToolUse(kind="mcp", name=str(params.get("name", "")),
                               arguments=params.get("arguments") or {}, text=text,
                               structured=structured, is_error=is_error,
                               mcp_session=parsed.mcp.session_id,
                               mcp_result=result if isinstance(result, dict) else None,
                               mcp_error=error, position=i, **base))  # type: ignore[arg-type]
    elif parsed.http is not None:
        h = parsed.http
        out.append(ToolUse(kind="http", name=h.name, arguments=h.arguments, text=h.response_text,
                           structured=h.response_json,
                           is_error=h.status is None or h.status >= 400,
                           **base))  # type: ignore[arg-type]
    return out


@dataclass
class _Slot:
    """A tool message inside one or more session paths (shared prefixes share the object)."""

    message: LMessage
    places: list[tuple[SessionPath, int]] = field(default_factory=list)
    introduced_at: float = 0.0
    call_name: str | None = None
    call_args: str | None = None
    taken: bool = False


class Attacher:
    """Indexes the tool messages of the threaded sessions, then attaches tool uses to them."""

    def __init__(self, paths: list[SessionPath]) -> None:
        self.by_text: dict[str, list[_Slot]] = {}
        self.by_args: dict[str, list[_Slot]] = {}
        self.by_group: dict[str, SessionPath] = {}
        slots: dict[int, _Slot] = {}
        for path in paths:
            if path.group is not None:
                self.by_group.setdefault(path.group, path)
            calls: dict[str, tuple[str, str]] = {}
            for i, m in enumerate(path.messages):
                for c in m.tool_calls:
                    calls[c.id] = (c.name, canonical_json(c.arguments))
                if m.role != "tool":
                    continue
                slot = slots.get(id(m))
                if slot is None:
                    slot = slots[id(m)] = _Slot(m, introduced_at=path.introduced_at[i])
                    name, args = calls.get(m.tool_call_id or "", (m.name, None))
                    slot.call_name, slot.call_args = name, args
                    text = m.result.content if m.result is not None else m.text
                    if text:
                        self.by_text.setdefault(text, []).append(slot)
                    if args is not None:
                        self.by_args.setdefault(args, []).append(slot)
                slot.places.append((path, i))

    def attach(self, use: ToolUse) -> list[SessionPath]:
        """Attach a tool use to its session: the paths it joined (forks share), or none."""
        slot = self._find(self.by_text.get(use.text, []) if use.text else [], use, False)
        if slot is None:
            slot = self._find(self.by_args.get(canonical_json(use.arguments), []), use, True)
        if slot is not None:
            slot.taken = True
            _add_result(slot.message, use)  # one object, shared by every fork that holds it
            return list(dict.fromkeys(p for p, _ in slot.places))
        if use.hint is not None and use.hint in self.by_group:
            return [self.by_group[use.hint]]
        return []

    def _find(self, slots: list[_Slot], use: ToolUse, by_args: bool) -> _Slot | None:
        best: _Slot | None = None
        for slot in slots:
            if slot.taken or slot.introduced_at < use.started_at:
                continue
            if use.hint is not None and all(p.group != use.hint for p, _ in slot.places):
                continue
            if by_args and not _same_tool(slot.call_name, use.name):
                continue
            if best is None or slot.introduced_at < best.introduced_at:
                best = slot
        return best


def _same_tool(function_name: str | None, tool_name: str) -> bool:
    """Agents often prefix MCP tool names with the server (`github__search`)."""
    if not function_name:
        return False
    return function_name == tool_name or function_name.endswith(("_" + tool_name,
                                                                 "." + tool_name,
                                                                 "-" + tool_name))


def _add_result(m: LMessage, use: ToolUse) -> None:
    """What the tool exchange adds to the tool message: structure, error, latency, origin."""
    r = m.result if m.result is not None else LResult(content=m.text)
    if use.structured is not None:
        r.structured = use.structured
    r.is_error = r.is_error or use.is_error
    r.latency_ms = use.latency_ms
    r.exchange_id = use.exchange_id
    m.result = r
