"""Fidelity: how close is the stubbed tool world to the recorded one?

Hold out a share of the recorded calls, build stubs from the rest, answer every held-out call
with them, and compare with what really came back: which layer answered, how often the answer
was an exact-key hit (`exact_rate`) or byte-for-byte the true response (`match_rate`), and the
mean structural similarity of answer and truth (`similarity`, 0–1). Per tool and overall.

Plausibility: `plausible_rate` is the share of fallback answers (nearest, synthetic) that came
from recordings of the query's own meaning family (`stubs.family`: same program, path family,
URL route); `distribution_overlap` compares, over held-out calls whose call the corpus holds
with different answers, the answers given with the true ones (1 minus the total variation
distance, per call key): 1 when the stubs reproduce how the live tool varied, the share of the
most common answer when they always give one.

Which calls are held out is a pure function of (seed, position in the corpus), so a report is
reproducible; the corpus is read twice, never held in memory whole.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from recorder.recorded_tool_call import RecordedToolCall
from stubs import seeding
from stubs.api import StubAnswer, ToolQuery
from stubs.canonical import parse_arguments
from stubs.document import get_document
from stubs.draw import Groups
from stubs.engine import StubEngine
from stubs.errors import StubConfigError
from stubs.family import families, resembles
from stubs.index import Entry, StubIndex, tool_label
from stubs.render import reply_of
from stubs.reply import Reply
from stubs.similarity import similarity, text_similarity
from stubs.stub_config import StubConfig

EXACT_LAYERS = ("exact", "session")
FALLBACK_LAYERS = ("nearest", "synthetic")


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
class ToolTally:
    """Running totals for one tool (or all)."""

    calls: int = 0
    exact: int = 0
    matches: int = 0
    similarity: float = 0.0
    by_layer: Counter[str] = field(default_factory=Counter)
    fallbacks: int = 0
    plausible: int = 0
    given: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(call key, answer) of held-out calls whose key the corpus holds with several answers."""
    truth: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add_fallback(self, plausible: bool) -> None:
        self.fallbacks += 1
        self.plausible += plausible

    def add_varied(self, key: str, given: str, truth: str) -> None:
        self.given[key, given] += 1
        self.truth[key, truth] += 1

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
                "by_layer": dict(sorted(self.by_layer.items())),
                "fallbacks": self.fallbacks,
                "plausible_rate": round(self.plausible / self.fallbacks, 4)
                if self.fallbacks else None,
                "varied_calls": sum(self.truth.values()),
                "distribution_overlap": self.overlap()}

    def overlap(self) -> float | None:
        n = sum(self.truth.values())
        if not n:
            return None
        return round(sum(min(c, self.given[k]) for k, c in self.truth.items()) / n, 4)


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
    groups: dict[int, bool] = {}
    overall = ToolTally()
    tools: dict[str, ToolTally] = {}
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
        tally = tools.setdefault(label, ToolTally())
        for t in (overall, tally):
            t.add(answer.provenance, match, sim)
        base = answer.provenance.split("+")[0]
        if base in FALLBACK_LAYERS:
            plausible = _plausible(call, answer)
            overall.add_fallback(plausible)
            tally.add_fallback(plausible)
        varied = _varied_key(index, call, groups)
        if varied is not None:
            given, true = _answer_id(got), _answer_id(truth)
            overall.add_varied(f"{label} {varied}", given, true)
            tally.add_varied(varied, given, true)
        if i % 256 == 0:
            await asyncio.sleep(0)  # stay fair to the event loop on big corpora
    return {"holdout": holdout, "seed": seed, "fallbacks": list(fallbacks),
            "indexed": len(index), "overall": overall.to_dict(),
            "tools": {k: tools[k].to_dict() for k in sorted(tools)}}


def _plausible(call: RecordedToolCall, answer: StubAnswer) -> bool:
    """Whether a fallback answer came from recordings of the call's own meaning family."""
    wanted = families(parse_arguments(call.arguments)[0])
    near = answer.diagnostics.get("nearest")
    if isinstance(near, dict):
        return resembles(wanted, families(near.get("arguments")))
    synthetic = answer.diagnostics.get("synthetic")
    return isinstance(synthetic, dict) and synthetic.get("family") == wanted


def _varied_key(index: StubIndex, call: RecordedToolCall, cache: dict[int, bool]) -> str | None:
    """The call's canonical key when the index holds it with several different answers."""
    table = index.find(call.kind, call.server, call.name)
    if table is None:
        return None
    args, _ = parse_arguments(call.arguments)
    entry = table.table.get(table.key(args))
    if not isinstance(entry, Entry):
        return None
    varied = cache.get(entry.rows[0])
    if varied is None:
        varied = cache[entry.rows[0]] = Groups(index, entry).varied
    return table.canon.text(args) if varied else None


def _answer_id(reply: Reply) -> str:
    doc = get_document(reply)
    return repr((reply.is_error, doc.form, doc.value))


def _truth(call: RecordedToolCall) -> Reply:
    r = call.result
    http = call.http
    return Reply(content=r.content, structured=r.structured, is_error=r.is_error or
                 call.mcp_error is not None, status=http.status if http else None,
                 headers=tuple(http.headers) if http else (), body=http.body if http else None,
                 mcp_result=call.mcp_result, mcp_error=call.mcp_error)
