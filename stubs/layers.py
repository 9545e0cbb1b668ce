"""The engine's answering layers after an exact miss: nearest, synthesize, simulate, and the
miss answer itself. Each returns an `Outcome` or None (\"not me, try the next layer\")."""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from recorder.recorded_tool_call import RecordedToolCall
from recorder.session import Session, ToolDef
from runtime.model_client import ModelClient
from runtime.response_cache import ResponseCache
from stubs import seeding
from stubs.api import StubAnswer, ToolQuery
from stubs.content_order import first_recording, keys_in_content_order
from stubs.document import get_document, put_document, put_text
from stubs.family import families, resembles, signature
from stubs.history import ToolHistory
from stubs.index import StubIndex, ToolTable, tool_label
from stubs.matchers import explain
from stubs.miss_reply import MissReplies
from stubs.nearest import Near, NearestIndex
from stubs.reply import Reply, Row, plain_reply
from stubs.route import RouteSiblings, Sibling, put_ids
from stubs.simulate import ToolSimulator
from stubs.synthesize import Synthesizer

_EXAMPLES = 3
_MAX_SYNTHESIZERS = 1024


@dataclass(frozen=True)
class Outcome:
    """A layer's answer before perturbation and rendering."""

    reply: Reply
    provenance: str
    row: int | None = None
    """The recorded row answering, if any."""
    key: Hashable | None = None
    """For `nearest`: the recorded key whose recordings answer."""
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def with_row(self, index: StubIndex, row: int) -> Outcome:
        return replace(self, reply=Reply.from_row(index.row(row)), row=row)


class Layers:
    """Fallback layers with their per-tool caches (nearest indexes, shapes)."""

    def __init__(self, index: StubIndex, *, seed: int, simulator: ModelClient | None,
                 cache: ResponseCache | None, sessions: Mapping[str, Session],
                 tools: Mapping[str, ToolDef]) -> None:
        self.index = index
        self.seed = seed
        self.sessions = sessions
        self.tools = tools
        self.simulator = ToolSimulator(simulator, seed=seed, cache=cache) \
            if simulator is not None else None
        self.history: ToolHistory | None = ToolHistory() if simulator is not None else None
        """Each trajectory's answered calls, shown to the simulator (`stubs.history`)."""
        self._examples: dict[tuple[int, Any, int], tuple[list[Row], list[Row]]] = {}
        self._nearest: dict[int, NearestIndex] = {}
        self._synth: dict[tuple[int, Any], Synthesizer] = {}
        """Synthesizers per (tool, family of the query's arguments)."""
        self.failures: list[str] = []
        self.miss_replies = MissReplies(index)
        self.routes = RouteSiblings(index)

    def nearest_index(self, table: ToolTable) -> NearestIndex:
        found = self._nearest.get(table.number)
        if found is None:
            found = self._nearest[table.number] = NearestIndex(self.index, table)
        return found

    async def run(self, layer: str, q: ToolQuery, table: ToolTable | None, args: Any,
                  trajectory: str, key_text: str) -> Outcome | None:
        if layer == "nearest":
            return self.nearest(q, table, args)
        if layer == "synthesize":
            return self.synthesize(q, table, args, trajectory, key_text)
        return await self.simulate(q, table, args)

    def nearest(self, q: ToolQuery, table: ToolTable | None, args: Any) -> Outcome | None:
        if table is None and q.kind == "http":
            return self.route_sibling(q, args)
        if table is None or not table.keys:
            return None
        near = self.nearest_index(table).closest(args, 1)
        if not near or near[0].similarity < self.index.config.nearest_min_similarity:
            return None
        best = near[0]
        row = table.rows_of(best.key)[0]
        why = {"nearest": {**best.explain(), "matchers": explain(
            table.config.match_on, table.canon, args, best.arguments)}}
        return Outcome(Reply.from_row(self.index.row(row)), "nearest", row=row, key=best.key,
                       diagnostics=why)

    def route_sibling(self, q: ToolQuery, args: Any) -> Outcome | None:
        """An HTTP path never recorded, answered from a recorded path of its route with the
        ids put right (`stubs.route`)."""
        best: tuple[Sibling, Near] | None = None
        for sib in self.routes.siblings(q.server, q.name):  # in content order: ties go first
            found = self.nearest_index(sib.table).closest(args, 1)
            if found and found[0].similarity >= self.index.config.nearest_min_similarity and (
                    best is None or found[0].similarity > best[1].similarity):
                best = (sib, found[0])
        if best is None:
            return None
        sib, near = best
        row = first_recording(self.index, sib.table, near.key)
        why = {"nearest": {**near.explain(), "route": {
            "recorded": sib.table.label, "ids": sib.ids}}}
        return Outcome(put_ids(Reply.from_row(row), sib.ids), "nearest", diagnostics=why)

    def synthesize(self, q: ToolQuery, table: ToolTable | None, args: Any, trajectory: str,
                   key_text: str) -> Outcome | None:
        if table is None or not table.rows:
            return None
        wanted = families(table.canon.value(args))
        slot = (table.number, signature(wanted))
        synth = self._synth.get(slot)
        if synth is None:
            if len(self._synth) >= _MAX_SYNTHESIZERS:  # many families: keep memory bounded
                self._synth.clear()
            synth = self._synth[slot] = Synthesizer(self.index, table, wanted)
        rnd = seeding.rng(self.seed, trajectory, q.call_index, table.label, key_text,
                          "synthesize")
        reply = synth.answer(args, rnd)
        if reply is None:
            return None
        return Outcome(reply.with_(latency_ms=None, exchange_id=None), "synthetic",
                       diagnostics={"synthetic": {"shape": synth.shape.describe(),
                                                  "family": wanted}})

    async def simulate(self, q: ToolQuery, table: ToolTable | None,
                       args: Any) -> Outcome | None:
        if self.simulator is None:
            return None
        examples: list[tuple[Any, str]] = []
        others: list[tuple[Any, str]] = []
        template: Reply | None = None
        if table is not None:
            alike, unlike = self.examples(table, args)
            for rows, shown in ((alike, examples), (unlike, others)):
                for row in rows:
                    shown.append((row.arguments, row.content))
                    if template is None and not row.is_error:
                        template = Reply.from_row(row)
        messages = self.simulator.prompt(
            name=q.name, arguments=args, tool=self.tools.get(q.name),
            session=self.sessions.get(q.session_id or ""), examples=examples,
            history=self.history.before(q) if self.history is not None else (),
            others=others)
        try:
            text = await self.simulator.output(messages)
        except Exception as exc:  # the model is down or says nothing: try the next layer
            self.failures.append(f"{q.name}: {exc}")
            return None
        if template is None:
            reply = plain_reply(q.kind, text)
        else:
            doc = get_document(template)
            try:
                value = json.loads(text) if doc.form != "text" else text
                reply = put_document(template, value, doc)
            except ValueError:
                reply = put_text(template, text)
        return Outcome(reply.with_(latency_ms=None, exchange_id=None), "simulated",
                       diagnostics={"simulated": {"model": self.simulator.model,
                                                  "prompt_key": self.simulator.key(messages)}})

    def examples(self, table: ToolTable, args: Any) -> tuple[list[Row], list[Row]]:
        """Recorded calls to show the simulator, in content order: up to `_EXAMPLES` that
        resemble the query in meaning (`stubs.family`), and, when fewer do, others to fill up
        (shown for the format only). Cached per tool and family."""
        wanted = families(table.canon.value(args))
        slot = (table.number, signature(wanted), len(table.rows))
        found = self._examples.get(slot)
        if found is None:
            if len(self._examples) >= _MAX_SYNTHESIZERS:
                self._examples.clear()
            alike: list[Row] = []
            unlike: list[Row] = []
            keys = keys_in_content_order(table, None if wanted else _EXAMPLES)
            for key in keys:
                row = first_recording(self.index, table, key)
                if resembles(wanted, families(table.canon.value(row.arguments))):
                    alike.append(row)
                    if len(alike) >= _EXAMPLES:
                        break
                elif len(unlike) < _EXAMPLES:
                    unlike.append(row)
            found = self._examples[slot] = (alike, unlike[: _EXAMPLES - len(alike)])
        return found

    def miss(self, q: ToolQuery, table: ToolTable | None, args: Any,
             reason: str | None) -> Outcome:
        """The tool error a miss answers with: what failed and the closest recorded calls."""
        label = table.label if table is not None else tool_label(q.kind, q.server, q.name)
        diagnostics: dict[str, Any] = {"tool": label}
        if reason is not None:
            message = f"The call of {label} cannot be answered: {reason}."
            diagnostics["arguments"] = args if args is not None else q.arguments
        elif table is None:
            message = self.index.unknown_tool_message(q.kind, q.server, q.name)
        else:
            close = self.nearest_index(table).closest(args, 3, plausible=False) \
                if table.keys else []
            diagnostics["closest"] = [c.explain() for c in close]
            message = f"No recording of {label} matches these arguments"
            if close and close[0].diff:
                d = close[0].diff[0]
                message += (f"; the closest recorded call differs at {d['path']} (here "
                            f"{json.dumps(d['query'], default=str)}, recorded "
                            f"{json.dumps(d['recorded'], default=str)})")
                diagnostics["matchers"] = explain(table.config.match_on, table.canon, args,
                                                  close[0].arguments)
            message += "."
        diagnostics["reason"] = message
        # the model sees the tool's own error, never why it missed (stubs.miss_reply)
        known = table if table is not None else self.index.find(q.kind, q.server, q.name)
        reply = self.miss_replies.reply(q.kind, q.server, q.name, known)
        return Outcome(reply, "miss", diagnostics=diagnostics)

    def as_recorded(self, q: ToolQuery, answer: StubAnswer) -> RecordedToolCall:
        """A live answer as a recorded call (hybrid mode records what it forwarded)."""
        return RecordedToolCall(kind=q.kind, server=q.server, name=q.name,
                                arguments=q.arguments, result=answer.result,
                                session_id=q.session_id, index=q.call_index, http=answer.http,
                                mcp_result=answer.mcp_result, mcp_error=answer.mcp_error)

    def describe_simulator(self) -> dict[str, Any] | None:
        if self.simulator is None:
            return None
        return {"model": self.simulator.model, "calls": self.simulator.calls,
                "failures": len(self.failures)}
