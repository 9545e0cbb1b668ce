"""Fidelity: how close is the stubbed tool world to the recorded one?

Hold out a share of the recorded calls, build stubs from the rest, answer every held-out call
with them, and compare with what really came back: which layer answered, how often the answer
was an exact-key hit (`exact_rate`) or byte-for-byte the true response (`match_rate`), and the
mean structural similarity of answer and truth (`similarity`, 0–1). Per tool and overall.

Which calls are held out is a pure function of (seed, position in the corpus), so a report is
reproducible; the corpus is read twice, never held in memory whole.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from recorder.toolcall import RecordedToolCall
from stubs import seeding
from stubs.api import StubAnswer, ToolQuery
from stubs.config import StubConfig
from stubs.document import get_document
from stubs.engine import StubEngine
from stubs.errors import StubConfigError
from stubs.index import StubIndex, tool_label
from stubs.render import reply_of
from stubs.reply import Reply
from stubs.similarity import similarity, text_similarity

EXACT_LAYERS = ("exact", "session")


def response_similarity(truth: Reply, answer: Reply) -> float:
    """Structural similarity of two replies: 0 when one is an error and the other is not; the
    documents compared with `similarity` (texts by word overlap); halved when HTTP statuses
    differ."""
    if truth.is_error != answer.is_error:
        return 0.0
    a, b = get_document(truth), get_document(answer)
    if a.form == "text" or b.form == "text":
        sim = 1.0 if a.value == b.value else (
            text_similarity(str(a.value), str(b.value)) if a.form == b.form else 0.0)
    else:
        sim = similarity(a.value, b.value)
    if truth.status is not None and answer.status is not None and truth.status != answer.status:
        sim *= 0.5
    return sim


def same_response(truth: Reply, answer: Reply) -> bool:
    if truth.is_error != answer.is_error:
        return False
    a, b = get_document(truth), get_document(answer)
    return a.form == b.form and a.value == b.value


@dataclass
class Tally:
    """Running totals for one tool (or all)."""

    calls: int = 0
    exact: int = 0
    matches: int = 0
    similarity: float = 0.0
    by_layer: Counter[str] = field(default_factory=Counter)

    def add(self, provenance: str, match: bool, sim: float) -> None:
        self.calls += 1
        self.exact += provenance in EXACT_LAYERS
        self.matches += match
        self.similarity += sim
        self.by_layer[provenance] += 1

    def to_dict(self) -> dict[str, Any]:
        n = self.calls or 1
        return {"calls": self.calls, "exact_rate": round(self.exact / n, 4),
                "match_rate": round(self.matches / n, 4),
                "similarity": round(self.similarity / n, 4),
                "by_layer": dict(sorted(self.by_layer.items()))}


def held_out(seed: int, position: int, share: float) -> bool:
    return seeding.unit(seed, "fidelity-holdout", position) < share


async def measure(calls: Callable[[], Iterable[RecordedToolCall]], *, holdout: float = 0.2,
                  seed: int = 0, config: StubConfig | None = None,
                  fallbacks: Sequence[str] = ("nearest", "synthesize"),
                  **engine_kwargs: Any) -> dict[str, Any]:
    """The fidelity report (the object `deploysim stubs fidelity --json` prints).

    `calls` is called twice (once to build, once to query) and must yield the same calls in
    the same order both times, as re-reading a corpus does.
    """
    if not 0 < holdout < 1:
        raise StubConfigError(f"--holdout is {holdout}; give a share strictly between 0 and 1, "
                              "such as 0.2.")
    index = StubIndex(config)
    for i, call in enumerate(calls()):
        if not held_out(seed, i, holdout):
            index.add(call)
    engine = StubEngine(index, seed=seed, fallbacks=fallbacks, miss="error", **engine_kwargs)
    overall = Tally()
    tools: dict[str, Tally] = {}
    for i, call in enumerate(calls()):
        # every call of a session is replayed in order, so repeat positions (a polled job going
        # queued -> running -> done) advance as in the recording; only held-out calls are scored
        answer: StubAnswer = await engine.answer(ToolQuery(
            kind=call.kind, name=call.name, arguments=call.arguments, server=call.server,
            session_id=call.session_id, call_index=call.index,
            trajectory_id=f"fidelity:{call.session_id}"))
        if not held_out(seed, i, holdout):
            continue
        truth, got = _truth(call), reply_of(answer)
        match, sim = same_response(truth, got), response_similarity(truth, got)
        label = tool_label(call.kind, call.server, call.name)
        overall.add(answer.provenance, match, sim)
        tools.setdefault(label, Tally()).add(answer.provenance, match, sim)
        if i % 256 == 0:
            await asyncio.sleep(0)  # stay fair to the event loop on big corpora
    return {"holdout": holdout, "seed": seed, "fallbacks": list(fallbacks),
            "indexed": len(index), "overall": overall.to_dict(),
            "tools": {k: tools[k].to_dict() for k in sorted(tools)}}


def _truth(call: RecordedToolCall) -> Reply:
    r = call.result
    http = call.http
    return Reply(content=r.content, structured=r.structured, is_error=r.is_error or
                 call.mcp_error is not None, status=http.status if http else None,
                 headers=tuple(http.headers) if http else (), body=http.body if http else None,
                 mcp_result=call.mcp_result, mcp_error=call.mcp_error)
