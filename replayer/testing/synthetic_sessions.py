"""Synthetic recorded sessions for tests, benchmarks and the demo (deterministic, no clock).

A small support-desk agent with two tools; every recorded assistant reply carries a marker
(`RECORDED-REPLY <session>/<turn>`) so a test can prove the candidate never saw the reply of
the turn it regenerated.
"""

from __future__ import annotations

from collections.abc import Sequence

from recorder.session import ContentPart, Message, Session, ToolCall, ToolDef, ToolResult
from recorder.writer import CassetteWriter

TOOLS = [
    ToolDef(name="lookup_order", description="Look up an order by its id",
            input_schema={"type": "object", "properties": {"order_id": {"type": "string"}},
                          "required": ["order_id"]}),
    ToolDef(name="search_kb", description="Search the help articles",
            input_schema={"type": "object", "properties": {"query": {"type": "string"}},
                          "required": ["query"]}),
]

_ASKS = ["Where is my order {n}? Please look it up.", "How do I reset my password? Search the "
         "help articles.", "Thanks, that is all.", "Can you check order {n} again?"]


def _text(text: str) -> list[ContentPart]:
    return [ContentPart(text=text)]


def support_session(sid: str, turns: int, *, segment: str = "support",
                    start: float = 1_750_000_000.0) -> Session:
    """A recorded session with `turns` turns; turns 0 and 3 call lookup_order, turn 1
    search_kb, turn 2 answers without tools (cycling)."""
    msgs = [Message(role="system", content=_text("You are a helpful support agent."))]
    call_n = 0
    for t in range(turns):
        kind = t % 4
        msgs.append(Message(role="user", content=_text(_ASKS[kind].format(n=1000 + t))))
        if kind != 2:
            name = "search_kb" if kind == 1 else "lookup_order"
            args = {"query": "reset password"} if kind == 1 else {"order_id": str(1000 + t)}
            cid = f"call_{sid}_{call_n}"
            call_n += 1
            msgs.append(Message(role="assistant", tool_calls=[ToolCall(id=cid, name=name,
                                                                       arguments=args)]))
            result = (f"Article: to reset your password open Settings ({sid})" if kind == 1
                      else f"Order {1000 + t} shipped on day {t} ({sid})")
            msgs.append(Message(role="tool", tool_call_id=cid, name=name, content=_text(result),
                                result=ToolResult(content=result)))
        msgs.append(Message(role="assistant",
                            content=_text(f"RECORDED-REPLY {sid}/{t}: here you go.")))
    return Session(id=sid, messages=msgs, tools=list(TOOLS),
                   params={"model": "sim-deployed", "temperature": 0.2, "max_tokens": 256},
                   labels={"segment": segment, "model": "sim-deployed"},
                   started_at=start, ended_at=start + 60)


def support_corpus(turns: Sequence[int], *, segments: Sequence[str] = ("billing", "tech")
                   ) -> list[Session]:
    """Sessions `s000, s001, ...` with the given turn counts, segments cycling."""
    return [support_session(f"s{i:03d}", n, segment=segments[i % len(segments)],
                            start=1_750_000_000.0 + 100 * i)
            for i, n in enumerate(turns)]


def write_corpus(path: str, sessions: Sequence[Session]) -> str:
    """Write sessions to one cassette; returns its path."""
    with CassetteWriter(path, producer="deploysim test corpus") as writer:
        writer.write_many(sessions)
    return writer.path
