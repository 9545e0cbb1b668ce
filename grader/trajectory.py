"""A session as detectors see it: one flat, ordered list of events with turns attached.

Every detector works on the same view, built once per session:

    event kinds   system | user | assistant | tool_call | tool_result
    order         message order; an assistant message's text comes before its tool calls

Turns come from `recorder.turns` (the assistant's whole answer to one user message); a user
message belongs to the turn it opens. `counted` holds the turns that count for rates (generated
turns in a replay, every turn in a recording), so detectors may look at the recorded prefix
while the grader only scores what the candidate did.

The view is built from the session record's plain form (what the cassette reader decodes), so
grading a corpus does not validate every session into pydantic models; `traj.session` gives
the typed `Session` on demand (validated once, when a detector asks for it).

>>> traj = Trajectory(session)                                    # doctest: +SKIP
>>> traj = Trajectory.from_record(obj)                            # a decoded session record
>>> [e.name for e in traj.calls]                                  # every tool call, in order
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterator
from typing import Any, Literal, cast

from recorder.session import Session
from recorder.turns import Turn

EventKind = Literal["system", "user", "assistant", "tool_call", "tool_result"]
EVENT_KINDS: tuple[EventKind, ...] = ("system", "user", "assistant", "tool_call", "tool_result")


class Event:
    """One thing that happened in a trajectory, in order.

    index          position in `Trajectory.events`
    kind           system | user | assistant | tool_call | tool_result
    message_index  index of its message in the session's messages
    turn           index of its turn (recorder.turns numbering); None before the first turn
    text           visible text: the message's; a tool call's arguments as text (string
                   leaves joined by newlines); a tool result's content
    generated      the message was generated (by a candidate, or a stub answering it)
    error          for a generated message that failed: why
    name           tool name (tool calls and results)
    call_index     a tool call's position in its message's tool_calls
    arguments      a tool call's parsed JSON arguments (or the raw string)
    is_error       a tool result (and its call) reported an error
    result         the tool result in plain form (content, structured, is_error, provenance,
                   ...), on the result event and, once answered, on its call
    partner        the call a result answers, or the result a call got (a result holds its
                   call weakly, so a trajectory forms no reference cycle and is freed as soon
                   as it is dropped, without waiting for the cyclic garbage collector)
    """

    # a plain slotted class: trajectories are built by the hundred thousand, and a dataclass
    # __init__ with keyword defaults costs four times as much
    __slots__ = ("__weakref__", "_arg_texts", "_folded", "_partner", "arguments", "call_index",
                 "error", "generated", "index", "is_error", "kind", "message_index", "name",
                 "result", "text", "turn")

    def __init__(self, index: int, kind: EventKind, message_index: int, turn: int | None,
                 text: str, generated: bool = False, error: str | None = None) -> None:
        self.index = index
        self.kind: EventKind = kind
        self.message_index = message_index
        self.turn = turn
        self.text = text
        self.generated = generated
        self.error = error
        self.name = ""
        self.call_index: int | None = None
        self.arguments: Any = None
        self.is_error = False
        self.result: dict[str, Any] | None = None
        self._partner: Event | weakref.ref[Event] | None = None
        self._folded: str | None = None
        self._arg_texts: dict[str, tuple[str, str]] | None = None

    def __repr__(self) -> str:
        return (f"Event({self.index}, {self.kind}, message {self.message_index}, turn "
                f"{self.turn}, {self.name + ': ' if self.name else ''}{self.text[:40]!r})")

    @property
    def partner(self) -> Event | None:
        """The call a result answers, or the result a call got (None without one)."""
        p = self._partner
        return p if p is None or type(p) is Event else p()  # type: ignore[operator]

    @partner.setter
    def partner(self, other: Event | None) -> None:
        # a result refers to its call weakly: the call (held by the trajectory) refers to it
        self._partner = weakref.ref(other) if other is not None and self.kind == "tool_result" \
            else other

    @property
    def provenance(self) -> str:
        """For a tool result (or an answered call): how the result was produced ("" unknown)."""
        return (self.result or {}).get("provenance") or ""

    @property
    def result_text(self) -> str:
        """For a tool call: its result's text ("" without one)."""
        p = self.partner
        return p.text if p is not None else ""

    def folded(self) -> str:
        """`text.casefold()`, computed once (for literal prefilters)."""
        f = self._folded
        if f is None:
            f = self._folded = self.text.casefold()
        return f

    def arg_text(self, key: str) -> tuple[str, str] | None:
        """For a tool call with object arguments: (text, casefolded text) of one top-level
        argument, computed once; None when absent."""
        cache = self._arg_texts
        if cache is None:
            cache = self._arg_texts = {}
        hit = cache.get(key)
        if hit is None:
            args = self.arguments
            if not isinstance(args, dict) or key not in args:
                return None
            text = value_text(args[key])
            hit = cache[key] = (text, text.casefold())
        return hit


def value_text(value: Any) -> str:
    """The text of a JSON value for matching: strings as they are, containers as the string
    leaves joined by newlines (so `rm -rf` in `{"command": "rm -rf /"}` matches unescaped)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        try:  # the common case, flat string arguments, at C speed
            return "\n".join(value.values())
        except TypeError:
            pass
    parts: list[str] = []
    _leaves(value, parts)
    return "\n".join(parts)


def _leaves(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _leaves(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _leaves(v, out)
    elif value is not None:
        out.append(value_text(value))


_TEXTUAL = ("text", "refusal")


def message_text(msg: dict[str, Any]) -> str:
    """`Message.text` of a plain message: text and refusal parts, thinking excluded."""
    parts: list[dict[str, Any]] = msg["content"]
    if len(parts) == 1:
        p = parts[0]
        return cast(str, p["text"]) if p["type"] in _TEXTUAL else ""
    return "".join(p["text"] for p in parts if p["type"] in _TEXTUAL)


def _result_text(msg: dict[str, Any]) -> str:
    res = msg["result"]
    if res and res["content"]:
        return cast(str, res["content"])
    text = message_text(msg)
    if text or not res or res["structured"] is None:
        return text
    return json.dumps(res["structured"], sort_keys=True, default=str)


def split_turns(msgs: list[dict[str, Any]]) -> tuple[list[Turn], list[int | None]]:
    """`recorder.turns.turns` of plain messages, in one pass, with each message's turn (a user
    message belongs to the turn it opens; None outside every turn). Tests hold it equal to
    `recorder.turns.turns` on every role and origin sequence."""
    out: list[Turn] = []
    turn_of: list[int | None] = [None] * len(msgs)
    user_index: int | None = None
    start = 0
    answered = generated = False
    for i, m in enumerate(msgs):
        role = m["role"]
        if role == "user":
            if answered:
                _close(out, turn_of, user_index, start, i, generated)
            user_index, start = i, i + 1
            answered = generated = False
        elif role == "assistant":
            answered = True
            if not generated and m["origin"] == "generated":
                generated = True
    if answered:
        _close(out, turn_of, user_index, start, len(msgs), generated)
    return out, turn_of


def _close(out: list[Turn], turn_of: list[int | None], user_index: int | None, start: int,
           end: int, generated: bool) -> None:
    index = len(out)
    out.append(Turn(index, user_index, start, end, generated))
    if user_index is not None:
        turn_of[user_index] = index
    turn_of[start:end] = [index] * (end - start)


class Trajectory:
    """The event view of one session, with turns, counted turns and pairing identity."""

    __slots__ = ("_calls_by_turn", "_counted_calls", "_counted_events", "_folded_calls", "_msgs",
                 "_obj",
                 "_session", "calls", "counted", "counted_indices", "events", "id", "is_replay",
                 "labels", "source", "turn_of", "turns")

    def __init__(self, session: Session) -> None:
        obj = {"id": session.id, "labels": session.labels,
               "source": session.source.model_dump(),
               "messages": [m.model_dump() for m in session.messages]}
        self._setup(obj, session)

    @classmethod
    def from_record(cls, obj: dict[str, Any]) -> Trajectory:
        """The view of a session record in plain form (as `Corpus.objs()` yields it, every
        field present, as deploysim writes them). A record of another shape raises (KeyError,
        TypeError): validate it into a `Session` (which fills defaults, or says what is
        wrong) and use `Trajectory(session)`."""
        traj = cls.__new__(cls)
        traj._setup(obj, None)
        return traj

    def _setup(self, obj: dict[str, Any], session: Session | None) -> None:
        self._obj = obj
        self._session = session
        self.id: str = obj["id"]
        self.labels: dict[str, str] = obj.get("labels") or {}
        self.source: dict[str, Any] = obj.get("source") or {}
        msgs: list[dict[str, Any]] = obj.get("messages") or []
        self._msgs = msgs
        self.is_replay = self.source.get("type") == "replay"
        self.turns: list[Turn]
        self.turn_of: list[int | None]
        self.turns, self.turn_of = split_turns(msgs)
        # the rule of recorder.turns.counted_turns, without splitting the session twice
        self.counted: list[Turn] = (
            [t for t in self.turns if t.generated] if self.is_replay else self.turns
        )
        self.counted_indices = frozenset(t.index for t in self.counted)
        self.events: list[Event] = []
        self.calls: list[Event] = []
        self._calls_by_turn: dict[int | None, list[Event]] | None = None
        self._counted_events: list[Event] | None = None
        self._counted_calls: list[Event] | None = None
        self._folded_calls: dict[bool, str] = {}
        self._build()

    def _build(self) -> None:
        events = self.events
        calls = self.calls
        turn_of = self.turn_of
        pending: dict[str, Event] = {}
        for mi, msg in enumerate(self._msgs):
            turn = turn_of[mi]
            gen = msg["origin"] == "generated"
            error = msg["error"]
            role = msg["role"]
            if role == "tool":
                cid = msg["tool_call_id"]
                call = pending.pop(cid, None) if cid else None
                res = msg["result"]
                ev = Event(len(events), "tool_result", mi, turn, _result_text(msg), gen, error)
                ev.name = msg["name"] or (call.name if call else "")
                ev.is_error = bool(res and res["is_error"])
                ev.result = res
                if call is not None:
                    ev._partner = weakref.ref(call)  # no cycle: see Event.partner
                    call._partner = ev
                    call.result = res
                    call.is_error = ev.is_error
                events.append(ev)
                continue
            parts = msg["content"]  # message_text(msg), inlined: it runs for every message
            if len(parts) == 1:
                p = parts[0]
                text = p["text"] if p["type"] in _TEXTUAL else ""
            else:
                text = "".join([p["text"] for p in parts if p["type"] in _TEXTUAL])
            events.append(Event(len(events), role, mi, turn, text, gen, error))
            tool_calls = msg["tool_calls"]
            if not tool_calls:
                if tool_calls is None:  # not a record deploysim writes: validate it instead
                    raise TypeError("a message's tool_calls is null")
                continue
            for ci, tc in enumerate(tool_calls):
                args = tc["arguments"]
                ev = Event(len(events), "tool_call", mi, turn, value_text(args), gen, error)
                ev.name = tc["name"]
                ev.call_index = ci
                ev.arguments = args
                events.append(ev)
                calls.append(ev)
                pending[tc["id"]] = ev

    # -- identity ----------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        """The typed session (validated from the record on first use)."""
        if self._session is None:
            self._session = Session.model_validate(self._obj)
        return self._session

    @property
    def segment(self) -> str | None:
        return self.labels.get("segment")

    @property
    def message_count(self) -> int:
        return len(self._msgs)

    def _source_base(self) -> str:
        return (self.source.get("source_session") or self.id) if self.is_replay else self.id

    def _sample_suffix(self) -> str:
        sample = self.source.get("sample")
        return f"@{sample}" if self.is_replay and sample else ""

    def pair_turn(self, turn: int) -> int:
        """The turn's index in the *source* session: in a replay, `source_turn` plus the turn's
        offset from the first generated turn; in a recording, the turn itself."""
        source_turn = self.source.get("source_turn")
        if self.is_replay and source_turn is not None and self.counted:
            return int(source_turn) + (turn - self.counted[0].index)
        return turn

    def pair_key(self, turn: int | None) -> str:
        """Identity of a unit across runs (see docs/rubric.md, "Pairing keys"):

        - turn, recording: `session#turn`
        - turn, replay: `source_session#source_turn` (+ `@sample` when sample > 0), so a
          baseline and a candidate replay of one prefix pair up, and sample 0 pairs with the
          recorded production turn;
        - trajectory: `session` for a recording or a rollout, `source_session#source_turn` for
          a prefix replay (each regenerated prefix is its own trajectory), + `@sample`.
        """
        base = self._source_base()
        if turn is not None:
            return f"{base}#{self.pair_turn(turn)}{self._sample_suffix()}"
        source_turn = self.source.get("source_turn")
        if self.is_replay and source_turn is not None:
            base = f"{base}#{source_turn}"
        return base + self._sample_suffix()

    def turn_pair_keys(self) -> dict[int, str]:
        """`pair_key(t.index)` of every counted turn, the shared parts computed once."""
        base, suffix = self._source_base(), self._sample_suffix()
        source_turn = self.source.get("source_turn")
        if self.is_replay and source_turn is not None and self.counted:
            offset = int(source_turn) - self.counted[0].index
            return {t.index: f"{base}#{t.index + offset}{suffix}" for t in self.counted}
        return {t.index: f"{base}#{t.index}{suffix}" for t in self.counted}

    # -- queries -----------------------------------------------------------------------------

    def counts(self, message_index: int | None) -> bool:
        """True when a message lies in a turn that counts for rates (None: the whole session)."""
        if message_index is None:
            return True
        turn = self.turn_of[message_index] if 0 <= message_index < len(self.turn_of) else None
        return turn in self.counted_indices

    def generated(self, message_index: int | None) -> bool:
        """True when the message was generated, or the trajectory is a recording."""
        if not self.is_replay or message_index is None:
            return True
        return 0 <= message_index < len(self._msgs) and \
            self._msgs[message_index].get("origin") == "generated"

    def text_of(self, message_index: int) -> str:
        """The visible text of a message."""
        return message_text(self._msgs[message_index])

    def counted_events(self) -> list[Event]:
        """The events of counted turns (all events of a recording past its system prompt).
        Turn-scope detectors look only here: findings elsewhere would not be graded."""
        if self._counted_events is None:
            if not self.is_replay and len(self.counted) == len(self.turns):
                self._counted_events = [e for e in self.events if e.turn is not None]
            else:
                idx = self.counted_indices
                self._counted_events = [e for e in self.events if e.turn in idx]
        return self._counted_events

    def counted_calls(self) -> list[Event]:
        """The tool calls of counted turns, in order (`counted_events()` of kind tool_call)."""
        if self._counted_calls is None:
            self._counted_calls = [e for e in self.counted_events() if e.kind == "tool_call"]
        return self._counted_calls

    def folded_calls(self, counted: bool) -> str:
        """The case-folded texts of every tool call (of counted turns only, when `counted`),
        joined by newlines, computed once: a literal absent from it is absent from every
        call's text, and so from every argument of every call."""
        text = self._folded_calls.get(counted)
        if text is None:
            calls = self.counted_calls() if counted else self.calls
            text = self._folded_calls[counted] = "\n".join([c.folded() for c in calls])
        return text

    def calls_in_turn(self, turn: int | None) -> list[Event]:
        """The tool calls of one turn, in order."""
        if self._calls_by_turn is None:
            by: dict[int | None, list[Event]] = {}
            for c in self.calls:
                by.setdefault(c.turn, []).append(c)
            self._calls_by_turn = by
        return self._calls_by_turn.get(turn, [])

    def of_kind(self, *kinds: EventKind) -> Iterator[Event]:
        return (e for e in self.events if e.kind in kinds)

    def failed_turns(self) -> dict[int, str]:
        """Counted turns whose generation failed (a generated message with `error`)."""
        out: dict[int, str] = {}
        for t in self.counted:
            for m in self._msgs[t.start : t.end]:
                if m.get("error") and m.get("origin") == "generated":
                    out.setdefault(t.index, m["error"])
        return out
