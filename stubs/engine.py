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
from stubs.render import render, reply_of
from stubs.repeat import ONE_ROW, POLICIES
from stubs.reply import Reply
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
        self._history = self.layers.history if "simulate" in self.fallbacks else None
        """Where each trajectory's answers are kept for the simulator (`stubs.history`): only
        an engine that simulates pays for keeping them."""

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
        try:
            answer = await self._answer(query)
        except Exception as exc:  # a bug must not stop a replay: answer with a tool error
            log.exception("stub engine failed on %s", query.name)
            self._stats["internal_errors"] += 1
            outcome = self.layers.miss(query, None, None, f"the stub engine failed ({exc})")
            answer = render(query.kind, outcome.reply, "miss",
                            diagnostics={**outcome.diagnostics, "error": repr(exc)})
        self._count(answer.provenance)
        if self._history is not None:  # the simulator is shown what the trajectory was told
            self._history.add(query, answer)
        return answer

    async def _answer(self, q: ToolQuery) -> StubAnswer:
        """How an answer is made: the recording of this very call, else the fallbacks in
        order, else the miss policy; then the profile's perturbations."""
        trajectory = q.trajectory_id or q.session_id or ""
        args, is_json = parse_arguments(q.arguments)
        table, key, found = self.index.lookup_call(q.kind, q.server, q.name, args, q.session_id)
        outcome: Outcome | None = None
        key_text: str | None = None
        if found is not None and table is not None:  # recorded: exact or session
            rows, provenance, entry = found
            row = self._choose((trajectory, first_row(entry)), table, rows, provenance, entry,
                               q.call_index)
            if not self.profile.rules:  # nothing to perturb: the recording is the answer
                return render(q.kind, self.index.row(row), provenance)
            outcome = Outcome(Reply.from_row(self.index.row(row)), provenance, row=row)
        elif not is_json:
            outcome = self.layers.miss(q, table, args, "the arguments are not valid JSON")
        else:
            key_text = self._key_text(table, args)
            outcome = await self._fallback(q, table, args, key, key_text, trajectory)
        if outcome is None:
            outcome = await self._miss(q, table, args)
        if outcome.provenance == "miss" or not self.profile.rules:
            return render(q.kind, outcome.reply, outcome.provenance,
                          diagnostics=outcome.diagnostics)
        return self._perturbed(q, table, args, key, key_text or self._key_text(table, args),
                               trajectory, outcome)

    async def _fallback(self, q: ToolQuery, table: ToolTable | None, args: Any, key: Hashable,
                        key_text: str, trajectory: str) -> Outcome | None:
        """The first fallback layer that answers, or None."""
        for layer in self.fallbacks:
            outcome = await self.layers.run(layer, q, table, args, trajectory, key_text)
            if outcome is None:
                continue
            if outcome.key is not None and table is not None:
                near = self.index.lookup(table, outcome.key, q.session_id)
                if near is not None:  # a nearest hit follows the repeat policy too
                    rows, provenance = near
                    row = self._choose((trajectory, table.number, key), table, rows,
                                       provenance, table.table[outcome.key], q.call_index)
                    outcome = outcome.with_row(self.index, row)
            return outcome
        return None

    async def _miss(self, q: ToolQuery, table: ToolTable | None, args: Any) -> Outcome:
        """The miss policy: the live tool (forward), or a tool error with the near misses."""
        if self.miss != "forward" or self.live is None:
            return self.layers.miss(q, table, args, None)
        try:
            live = await self.live.answer(q)
        except Exception as exc:  # the live tool is down: a miss that says so
            return self.layers.miss(q, table, args, f"the live tool failed ({exc})")
        self.live_calls.append(self.layers.as_recorded(q, live))
        return Outcome(reply_of(live), "live")

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

    def _choose(self, slot: tuple[Any, ...], table: ToolTable, rows: Sequence[int],
                provenance: str, entry: int | Entry, call_index: int) -> int:
        """Which recorded row answers: with every session's recordings to choose from
        (`exact`), one drawn session's (`stubs.draw`); then the repeat policy's pick for how
        often this trajectory asked before (`slot` names the call within the trajectory)."""
        if isinstance(entry, int) and table.config.repeat in ONE_ROW:
            return entry  # its one row answers every repeat: no repeat position to keep
        if provenance == "exact" and isinstance(entry, Entry):
            rows = self._drawer.rows(slot, entry, call_index)
        n = self._repeats.get(slot, 0)
        self._repeats[slot] = n + 1
        return POLICIES[table.config.repeat](rows, n)

    def _count(self, provenance: str) -> None:
        base, *parts = provenance.split("+")
        self._stats[base] += 1
        self._stats["calls"] += 1
        if base == "miss":
            self._stats["misses"] += 1
        for part in parts:
            self._stats[part] += 1

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
