"""What a corpus holds: counts by kind, sessions, turns, tool calls, time range, problems."""

from __future__ import annotations

from collections import Counter
from typing import Any

from recorder.corpus import Corpus
from recorder.session import Session
from recorder.turns import counted_turns


def summarize(corpus: Corpus) -> dict[str, Any]:
    """The stable summary `deploysim inspect --json` prints (see docs/cassette-format.md)."""
    kinds: Counter[str] = Counter()
    tools: Counter[str] = Counter()
    sessions = turns = tool_calls = parse_problems = 0
    first: float | None = None
    last: float | None = None
    per_file: dict[str, int] = Counter()
    for path, obj in corpus.objs():
        kind = obj.get("kind", "?")
        kinds[kind] += 1
        per_file[path] += 1
        t0 = obj.get("started_at")
        t1 = obj.get("ended_at")
        if isinstance(t0, int | float):
            first = t0 if first is None else min(first, t0)
        if isinstance(t1, int | float):
            last = t1 if last is None else max(last, t1)
        if kind == "exchange" and obj.get("problems"):
            parse_problems += 1
        if kind == "session":
            try:
                session = Session.model_validate(obj)
            except Exception:
                continue
            sessions += 1
            for turn in counted_turns(session):
                turns += 1
                for call in turn.tool_calls(session):
                    tools[call.name] += 1
                    tool_calls += 1
    return {
        "cassettes": len(corpus.paths),
        "files": [{"path": p, "records": per_file.get(p, 0)} for p in corpus.paths],
        "records": dict(sorted(kinds.items())),
        "exchanges": kinds.get("exchange", 0),
        "sessions": sessions,
        "turns": turns,
        "tool_calls": tool_calls,
        "tools": dict(sorted(tools.items())),
        "exchanges_with_parse_problems": parse_problems,
        "time_range": [first, last] if first is not None else None,
        "problems": [p.to_dict() for p in corpus.problems],
    }
