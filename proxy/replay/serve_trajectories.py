"""A serve run's trajectories: the agent's exchanges derived into sessions by the recorder,
then marked as a run's sessions are.

- LLM sessions become `source.type = "replay"` (so only their generated turns count); their
  assistant messages are `generated`, unless the proxy answered that call from a recorded
  response (`recorded`). System and user messages come from the agent harness: `recorded`.
- Every tool message is `generated` (answered in this run). When a stub answered it on the
  wire, its result carries the stub's provenance (`exact`, `synthetic+perturbed:inject`, ...)
  and the recorded latency instead of this run's wall time; tool calls the agent ran itself
  keep provenance None.
- Tool traffic that no conversation claimed stays in `tool_only` sessions, with provenance.
- Wall-clock start and end times are dropped, so the same agent script gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from proxy.replay.diagnostics import ServedCall
from recorder.derive import DeriveOptions, derive
from recorder.exchange import Exchange
from recorder.session import Message, Session, ToolCall


def read_exchanges(paths: Iterable[str]) -> list[Exchange]:
    """Every intact exchange in the cassettes, in file order."""
    from recorder import storage
    from recorder.reader import CassetteReader

    out: list[Exchange] = []
    for path in paths:
        if storage.exists(path):
            out.extend(r for r in CassetteReader(path) if isinstance(r, Exchange))
    return out


def build_trajectories(exchanges: Sequence[Exchange], served: Mapping[str, Sequence[ServedCall]],
                       *, run_id: str, recorded_llm: set[str] | frozenset[str] = frozenset(),
                       session_header: str = "X-Deploysim-Session") -> list[Session]:
    """The run's sessions (see the module docstring), in the order the recorder derives them."""
    derived = derive(exchanges, DeriveOptions(session_header=session_header))
    hints = {ex.session_hint for ex in exchanges if ex.session_hint}
    return [_as_run_session(s, served, run_id, recorded_llm, hints) for s in derived.sessions]


def _as_run_session(s: Session, served: Mapping[str, Sequence[ServedCall]], run_id: str,
                    recorded_llm: set[str] | frozenset[str], hints: set[str]) -> Session:
    calls: dict[str, ToolCall] = {}
    used: set[int] = set()
    messages: list[Message] = []
    for m in s.messages:
        for c in m.tool_calls:
            calls[c.id] = c
        if m.role == "assistant":
            origin = "recorded" if m.exchange_id in recorded_llm else "generated"
            messages.append(m.model_copy(update={"origin": origin}))
        elif m.role == "tool":
            messages.append(_tool_message(m, calls.get(m.tool_call_id or ""), served, used))
        else:
            messages.append(m.model_copy(update={"origin": "recorded"}))
    kind = "replay" if s.source.type == "recorded" else s.source.type
    base_id = s.id.split("~", 1)[0]
    source = s.source.model_copy(update={
        "type": kind, "run_id": run_id, "sample": 0,
        "source_session": base_id if base_id in hints else None})
    return s.model_copy(update={"messages": messages, "source": source, "started_at": None,
                                "ended_at": None})


def _tool_message(m: Message, call: ToolCall | None,
                  served: Mapping[str, Sequence[ServedCall]], used: set[int]) -> Message:
    result = m.result
    found = _served_for(m, call, served, used) if result is not None else None
    if result is None or found is None:
        return m.model_copy(update={"origin": "generated"})
    answer = found.answer
    result = result.model_copy(update={"provenance": answer.provenance,
                                       "latency_ms": answer.result.latency_ms})
    return m.model_copy(update={"origin": "generated", "result": result})


def _served_for(m: Message, call: ToolCall | None, served: Mapping[str, Sequence[ServedCall]],
                used: set[int]) -> ServedCall | None:
    """The stub answer behind a tool message: the call its exchange carried (in a batch, the
    one with the same tool and arguments)."""
    assert m.result is not None
    candidates = [c for c in served.get(m.result.exchange_id or "", ()) if id(c) not in used]
    if not candidates:
        return None
    pick = candidates[0]
    if len(candidates) > 1 and call is not None:
        want = _canon(call.arguments)
        for c in candidates:
            if _canon(c.query.arguments) == want and call.name.endswith(c.query.name):
                pick = c
                break
    used.add(id(pick))
    return pick


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
