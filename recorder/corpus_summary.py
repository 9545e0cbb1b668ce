"""What a corpus holds: counts by kind, sessions, turns, tool calls, time range, problems."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from pydantic import ValidationError

from recorder.completeness import FileCheck, check_runs
from recorder.corpus import Corpus
from recorder.ledger import RECORDING_PRODUCERS, Ledger
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
    exchanges_in: dict[str, int] = Counter()
    ledgers: dict[str, list[Ledger]] = {}
    for path, obj in corpus.objs():
        kind = obj.get("kind", "?")
        kinds[kind] += 1
        per_file[path] += 1
        if kind == "exchange":
            exchanges_in[path] += 1
        elif kind == "ledger":
            with contextlib.suppress(ValidationError):
                ledgers.setdefault(path, []).append(Ledger.model_validate(obj))
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
        "recording_runs": [r.to_dict() for r in check_runs(
            [_file_check(corpus, p, exchanges_in[p], ledgers.get(p, [])) for p in corpus.paths])],
    }


def _file_check(corpus: Corpus, path: str, exchanges: int,
                ledgers: list[Ledger]) -> tuple[FileCheck, list[Ledger], bool]:
    reader = corpus.readers.get(path)
    header = reader.header if reader is not None else None
    run_id = header.meta.get("run_id") if header is not None else None
    check = FileCheck(path, exchanges=exchanges,
                      run_id=run_id if isinstance(run_id, str) else None)
    return check, ledgers, header is not None and header.producer in RECORDING_PRODUCERS
