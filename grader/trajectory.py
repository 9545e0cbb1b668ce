"""A session as detectors see it: one flat, ordered list of events with turns attached.

Every detector works on the same view, built once per session:

    event kinds   system | user | assistant | tool_call | tool_result
    order         message order; an assistant message's text comes before its tool calls

Turns come from `recorder.turns` (the assistant's whole answer to one user message); a user
message belongs to the turn it opens. `counted` holds the turns that count for rates (generated
turns in a replay, every turn in a recording), so detectors may look at the recorded prefix
while the grader only scores what the candidate did.

>>> traj = Trajectory(session)                                    # doctest: +SKIP
>>> [e.name for e in traj.calls]                                  # every tool call, in order
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

from recorder.session import Message, Session, ToolResult
from recorder.turns import Turn, turns

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
    result         the ToolResult (of a result; of a call, once answered)
    partner        the call a result answers, or the result a call got
    """

    # a plain slotted class: trajectories are built by the hundred thousand, and a dataclass
    # __init__ with keyword defaults costs four times as much
    __slots__ = ("_arg_texts", "_folded", "arguments", "call_index", "error", "generated",
                 "index", "is_error", "kind", "message_index", "name", "partner", "result",
                 "text", "turn")

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
        self.result: ToolResult | None = None
        self.partner: Event | None = None
        self._folded: str | None = None
        self._arg_texts: dict[str, tuple[str, str]] | None = None

    def __repr__(self) -> str:
        return (f"Event({self.index}, {self.kind}, message {self.message_index}, turn "
                f"{self.turn}, {self.name + ': ' if self.name else ''}{self.text[:40]!r})")

    @property
    def result_text(self) -> str:
        """For a tool call: its result's text ("" without one)."""
        return self.partner.text if self.partner is not None else ""

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


def message_text(msg: Message) -> str:
    """`Message.text` (visible text, thinking excluded), fast for the usual single part."""
    parts = msg.content
    if not parts:
        return ""
    if len(parts) == 1:
        p = parts[0]
        return p.text if p.type == "text" or p.type == "refusal" else ""
    return msg.text


def _result_text(msg: Message) -> str:
    res = msg.result
    if res is not None and res.content:
        return res.content
    text = message_text(msg)
    if text or res is None or res.structured is None:
        return text
    return json.dumps(res.structured, sort_keys=True, default=str)


class Trajectory:
    """The event view of one session, with turns, counted turns and pairing identity."""

    __slots__ = ("_calls_by_turn", "_counted_events", "calls", "counted", "counted_indices",
                 "events", "is_replay", "messages", "session", "turn_of", "turns")

    def __init__(self, session: Session) -> None:
        self.session = session
        self.messages = session.messages
        self.is_replay = session.source.type == "replay"
        self.turns: list[Turn] = turns(session)
        # the rule of recorder.turns.counted_turns, without splitting the session twice
        self.counted: list[Turn] = (
            [t for t in self.turns if t.generated] if self.is_replay else self.turns
        )
        self.counted_indices = frozenset(t.index for t in self.counted)
        turn_of: list[int | None] = [None] * len(self.messages)
        for t in self.turns:
            if t.user_index is not None:
                turn_of[t.user_index] = t.index
            for i in range(t.start, t.end):
                turn_of[i] = t.index
        self.turn_of = turn_of
        self.events: list[Event] = []
        self.calls: list[Event] = []
        self._calls_by_turn: dict[int | None, list[Event]] | None = None
        self._counted_events: list[Event] | None = None
        self._build()

    def _build(self) -> None:
        events = self.events
        pending: dict[str, Event] = {}
        for mi, msg in enumerate(self.messages):
            turn = self.turn_of[mi]
            gen = msg.origin == "generated"
            role = msg.role
            if role == "tool":
                call = pending.pop(msg.tool_call_id, None) if msg.tool_call_id else None
                res = msg.result
                ev = Event(len(events), "tool_result", mi, turn, _result_text(msg), gen,
                           msg.error)
                ev.name = msg.name or (call.name if call else "")
                ev.is_error = bool(res and res.is_error)
                ev.result = res
                ev.partner = call
                if call is not None:
                    call.partner = ev
                    call.result = res
                    call.is_error = ev.is_error
                events.append(ev)
                continue
            events.append(Event(len(events), role, mi, turn, message_text(msg), gen, msg.error))
            for ci, tc in enumerate(msg.tool_calls):
                args = tc.arguments
                ev = Event(len(events), "tool_call", mi, turn, value_text(args), gen, msg.error)
                ev.name = tc.name
                ev.call_index = ci
                ev.arguments = args
                events.append(ev)
                self.calls.append(ev)
                pending[tc.id] = ev

    # -- identity ----------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.session.id

    @property
    def segment(self) -> str | None:
        return self.session.labels.get("segment")

    def _source_base(self) -> str:
        src = self.session.source
        return src.source_session or self.session.id if self.is_replay else self.session.id

    def _sample_suffix(self) -> str:
        sample = self.session.source.sample
        return f"@{sample}" if self.is_replay and sample else ""

    def pair_turn(self, turn: int) -> int:
        """The turn's index in the *source* session: in a replay, `source_turn` plus the turn's
        offset from the first generated turn; in a recording, the turn itself."""
        src = self.session.source
        if self.is_replay and src.source_turn is not None and self.counted:
            return src.source_turn + (turn - self.counted[0].index)
        return turn

    def pair_key(self, turn: int | None) -> str:
        """Identity of a unit across runs (see docs/rubric.md, "Pairing"):

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
        src = self.session.source
        if self.is_replay and src.source_turn is not None:
            base = f"{base}#{src.source_turn}"
        return base + self._sample_suffix()

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
        return 0 <= message_index < len(self.messages) and \
            self.messages[message_index].origin == "generated"

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
            for m in self.messages[t.start : t.end]:
                if m.error and m.origin == "generated":
                    out.setdefault(t.index, m.error)
        return out
