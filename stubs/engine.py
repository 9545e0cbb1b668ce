"""The stub engine: answers any tool call from recordings, fallbacks, or a live tool, and
perturbs the answer under a profile.

    query ─► exact/session lookup ─► fallbacks in order (nearest, synthesize, simulate)
          ─► miss policy (error with the near-miss diff | forward to the live tool)
          ─► profile (seeded perturbations) ─► StubAnswer with provenance

Every choice except the repeat position is a function of (seed, trajectory, call index, tool,
arguments); the repeat position follows call order within one trajectory. `answer` never
raises: a bad call gets a tool error (provenance `miss`), so a replay never stops half-way.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from recorder.corpus import Corpus
from recorder.recorded_tool_call import RecordedToolCall
from recorder.session import Session, ToolDef
from runtime.model_client import ModelClient
from runtime.response_cache import ResponseCache
from stubs.api import StubAnswer, ToolAnswerer, ToolQuery
from stubs.canonical import dumps, parse_arguments
from stubs.draw import Drawer
from stubs.errors import StubConfigError
from stubs.index import Entry, StubIndex, ToolTable, first_row, tool_label
from stubs.layers import Layers, Outcome
from stubs.miss_policy import FALLBACKS
from stubs.perturb import PerturbContext, Profile, load_profile, perturb
from stubs.render import render, render_row, reply_of
from stubs.repeat import ONE_ROW, POLICIES
from stubs.reply import Reply, unpack_fields
from stubs.stub_config import StubConfig

log = logging.getLogger(__name__)

MISS_POLICIES = ("error", "forward")


class StubEngine(ToolAnswerer):
    """Answers tool calls (a `stubs.api.ToolAnswerer`).

    >>> engine = StubEngine.from_corpus("recordings/", seed=7, profile="flaky")  # doctest: +SKIP
    >>> answer = await engine.answer(ToolQuery(kind="function", name="get_weather",
    ...                                        arguments={"city": "Paris"}, session_id="s1"))
    >>> answer.provenance
    'session'
    """

    def __init__(self, index: StubIndex, *, seed: int = 0, profile: str | Profile = "none",
                 fallbacks: Sequence[str] = ("nearest", "synthesize"), miss: str = "error",
                 simulator: ModelClient | None = None, cache: ResponseCache | None = None,
                 live: ToolAnswerer | None = None, sessions: Mapping[str, Session] | None = None,
                 tools: Mapping[str, ToolDef] | None = None, corpus_hash: str | None = None,
                 corpus_paths: Sequence[str] = ()) -> None:
        for f in fallbacks:
            if f not in FALLBACKS:
                raise StubConfigError(f"The fallback {f!r} is not a stub layer; use any of "
                                      f"{', '.join(FALLBACKS)}, in the order to try them.")
        if miss not in MISS_POLICIES:
            raise StubConfigError(f"The miss policy {miss!r} is unknown; use error (a tool "
                                  "error with the near-miss diff) or forward (call the live "
                                  "tool).")
        if "simulate" in fallbacks and simulator is None:
            raise StubConfigError("The simulate fallback needs a model to play the tools; pass "
                                  "a simulator model (--tool-simulator) or drop `simulate`.")
        if miss == "forward" and live is None:
            raise StubConfigError("The forward miss policy needs a live tool to call; pass one "
                                  "(hybrid mode in `deploysim serve`) or use --miss error.")
        self.index = index
        self.seed = int(seed)
        self.profile = load_profile(profile)
        self.fallbacks = tuple(fallbacks)
        self.miss = miss
        self.live = live
        self.corpus_hash = corpus_hash
        self.corpus_paths = list(corpus_paths)
        self.layers = Layers(index, seed=self.seed, simulator=simulator, cache=cache,
                             sessions=sessions or {}, tools=tools or {})
        self._repeats: dict[tuple[Any, ...], int] = {}
        """How often each trajectory asked each call: (trajectory, first row of the recorded
        key) for recorded calls; (trajectory, tool number, key) for unrecorded ones."""
        self._drawer = Drawer(index, self.seed)
        """Which session's recordings answer a call its own session did not record
        (`stubs.draw`)."""
        self._stats: Counter[str] = Counter()
        self.live_calls: list[RecordedToolCall] = []
        """Calls answered by the live tool (miss = forward), for the caller to persist."""
        if self.layers.history is not None and "simulate" in self.fallbacks:
            # the simulator is shown each trajectory's earlier answers (`stubs.history`);
            # only an engine that simulates pays for keeping them: the others keep `answer`,
            # the exact path bench/stubs.py measures, as it is
            self.answer = self._answer_and_remember  # type: ignore[method-assign]

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_calls(cls, calls: Iterable[RecordedToolCall], *, config: StubConfig | None = None,
                   **kwargs: Any) -> StubEngine:
        """An engine over recorded calls (see `__init__` for the keyword arguments)."""
        return cls(StubIndex.build(calls, config), **kwargs)

    @classmethod
    def from_corpus(cls, corpus: Corpus | str | list[str], *, seed: int = 0,
                    profile: str | Profile = "none",
                    fallbacks: Sequence[str] = ("nearest", "synthesize"), miss: str = "error",
                    simulator: ModelClient | None = None, cache: ResponseCache | None = None,
                    live: ToolAnswerer | None = None, config: StubConfig | None = None,
                    index: str | None = None) -> StubEngine:
        """An engine over a corpus; `index` names a prebuilt index (`deploysim stubs build`)
        that must have been built from this very corpus."""
        from stubs import source
        from stubs.store import load_index

        c = source.open_corpus(corpus)
        corpus_hash = c.content_hash()
        if index is not None:
            built = load_index(index, expect_corpus=corpus_hash, expect_config=config)
        else:
            built = StubIndex.build(source.corpus_calls(c), config)
        sessions: dict[str, Session] = {}
        tools: dict[str, ToolDef] = {}
        if "simulate" in fallbacks:
            sessions = source.corpus_sessions(c)
            tools = source.tool_definitions(c, sessions.values())
        return cls(built, seed=seed, profile=profile, fallbacks=fallbacks, miss=miss,
                   simulator=simulator, cache=cache, live=live, sessions=sessions, tools=tools,
                   corpus_hash=corpus_hash, corpus_paths=c.paths)

    # -- answering ------------------------------------------------------------------------

    async def answer(self, query: ToolQuery) -> StubAnswer:
        """Answer one tool call (never raises; see the module docstring)."""
        stats = self._stats
        try:
            answer = None if self.profile.rules else self._exact(query)
            if answer is not None:  # exact or session: a provenance without parts
                stats[answer.provenance] += 1
                stats["calls"] += 1
                return answer
            answer = await self._answer(query)
        except Exception as exc:  # a bug must not stop a replay: answer with a tool error
            log.exception("stub engine failed on %s", query.name)
            stats["internal_errors"] += 1
            outcome = self.layers.miss(query, None, None, f"the stub engine failed ({exc})")
            answer = render(query.kind, outcome.reply, "miss",
                            diagnostics={**outcome.diagnostics, "error": repr(exc)})
        base, *parts = answer.provenance.split("+")
        stats[base] += 1
        stats["calls"] += 1
        if base == "miss":
            stats["misses"] += 1
        for part in parts:
            stats[part] += 1
        return answer

    async def _answer_and_remember(self, query: ToolQuery) -> StubAnswer:
        """`answer`, keeping what the trajectory was told for the simulator."""
        answer = await StubEngine.answer(self, query)
        if self.layers.history is not None:
            self.layers.history.add(query, answer)
        return answer

    def _exact(self, q: ToolQuery) -> StubAnswer | None:
        """The answer when the call was recorded (provenance exact or session) and no profile
        can perturb it, else None with nothing changed: `_answer`'s first branch without the
        intermediate `Outcome` and `Reply` — the path most replayed calls take."""
        args = q.arguments
        if type(args) is not dict:
            args, _ = parse_arguments(args)
        index = self.index
        session = q.session_id
        table, _, found = index.lookup_call(q.kind, q.server, q.name, args, session)
        if found is None or table is None:
            return None
        rows, provenance, entry = found
        if type(entry) is int and table.config.repeat in ONE_ROW:
            # a key recorded once: its one row answers every repeat under the built-in
            # policies, so no repeat position is kept
            row = entry
        else:
            slot = (q.trajectory_id or session or "", first_row(entry))
            if provenance == "exact" and type(entry) is Entry:
                rows = self._drawer.rows(slot, entry, q.call_index)
            row = self._pick(slot, table, rows)
        return render_row(q.kind, unpack_fields(index.blobs[row]), provenance)

    async def _answer(self, q: ToolQuery) -> StubAnswer:
        trajectory = q.trajectory_id or q.session_id or ""
        args, is_json = parse_arguments(q.arguments)
        table, key, found = self.index.lookup_call(q.kind, q.server, q.name, args, q.session_id)
        outcome: Outcome | None = None
        if found is not None and table is not None:
            rows, provenance, entry = found
            slot = (trajectory, first_row(entry))
            if provenance == "exact" and type(entry) is Entry:
                rows = self._drawer.rows(slot, entry, q.call_index)
            row = self._pick(slot, table, rows)
            outcome = Outcome(Reply.from_row(self.index.row(row)), provenance, row=row)
        if outcome is None and not is_json:
            outcome = self.layers.miss(q, table, args, "the arguments are not valid JSON")
        key_text: str | None = None
        if outcome is None:
            key_text = self._key_text(table, args)
            for layer in self.fallbacks:
                outcome = await self.layers.run(layer, q, table, args, trajectory, key_text)
                if outcome is not None:
                    if outcome.key is not None and table is not None:
                        near = self.index.lookup(table, outcome.key, q.session_id)
                        if near is not None:  # a nearest hit follows the repeat policy too
                            near_slot = (trajectory, table.number, key)
                            near_rows, near_entry = near[0], table.table.get(outcome.key)
                            if near[1] == "exact" and type(near_entry) is Entry:
                                near_rows = self._drawer.rows(near_slot, near_entry,
                                                              q.call_index)
                            row = self._pick(near_slot, table, near_rows)
                            outcome = outcome.with_row(self.index, row)
                    break
        if outcome is None:
            if self.miss == "forward" and self.live is not None:
                try:
                    live = await self.live.answer(q)
                except Exception as exc:  # the live tool is down: a miss that says so
                    outcome = self.layers.miss(q, table, args, f"the live tool failed ({exc})")
                else:
                    self.live_calls.append(self.layers.as_recorded(q, live))
                    outcome = Outcome(reply_of(live), "live")
            else:
                outcome = self.layers.miss(q, table, args, None)
        if outcome.provenance == "miss" or not self.profile.rules:
            return render(q.kind, outcome.reply, outcome.provenance,
                          diagnostics=outcome.diagnostics)
        return self._perturbed(q, table, args, key, key_text or self._key_text(table, args),
                               trajectory, outcome)

    def _perturbed(self, q: ToolQuery, table: ToolTable | None, args: Any, key: Hashable,
                   key_text: str, trajectory: str, outcome: Outcome) -> StubAnswer:
        label = table.label if table is not None else tool_label(q.kind, q.server, q.name)

        def older() -> list[Reply]:
            if table is None:
                return []
            rows = table.rows_of(outcome.key if outcome.key is not None else key)
            before = rows[: rows.index(outcome.row)] if outcome.row in rows else rows
            others = before or [r for r in rows if r != outcome.row]
            return [Reply.from_row(self.index.row(r)) for r in others]

        ctx = PerturbContext(kind=q.kind, tool=label, name=q.name, seed=self.seed,
                             trajectory=trajectory, call_index=q.call_index, key=key_text,
                             arguments=args, older=older)
        applied = perturb(self.profile, ctx, outcome.reply)
        provenance = outcome.provenance + "".join(f"+perturbed:{n}" for n in applied.applied)
        diagnostics = dict(outcome.diagnostics)
        if applied.notes:
            diagnostics["perturbations"] = applied.notes
        return render(q.kind, applied.reply, provenance, delay_s=applied.delay_s,
                      timeout=applied.timeout, diagnostics=diagnostics)

    def _pick(self, slot: tuple[Any, ...], table: ToolTable, rows: Sequence[int]) -> int:
        n = self._repeats.get(slot, 0)
        self._repeats[slot] = n + 1
        return POLICIES[table.config.repeat](rows, n)

    @staticmethod
    def _key_text(table: ToolTable | None, args: Any) -> str:
        return table.canon.text(args) if table is not None else dumps(args)

    def forget(self, trajectory_id: str) -> None:
        """Drop a finished trajectory's repeat positions (memory for long runs)."""
        self._repeats = {k: v for k, v in self._repeats.items() if k[0] != trajectory_id}
        self._drawer.forget(trajectory_id)
        if self.layers.history is not None:
            self.layers.history.forget(trajectory_id)

    # -- reporting ------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """How calls were answered: provenance -> count, `perturbed:NAME` -> count, plus
        `calls` and `misses`."""
        return dict(sorted(self._stats.items()))

    def describe(self) -> dict[str, Any]:
        """What a run manifest records about the stubs: enough to reproduce every answer."""
        return {
            "index_hash": self.index.content_hash(),
            "corpus_hash": self.corpus_hash,
            "corpus": self.corpus_paths,
            "calls": len(self.index),
            "tools": len(self.index.tables),
            "config": self.index.config.spec(),
            "fallbacks": list(self.fallbacks),
            "miss": self.miss,
            "profile": {"name": self.profile.name, "hash": self.profile.hash(),
                        "source": self.profile.source, "spec": self.profile.spec()},
            "seed": self.seed,
            "simulator": self.layers.describe_simulator(),
        }
