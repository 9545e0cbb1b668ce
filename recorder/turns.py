"""Turns and steps: how a session divides into the assistant's answers to user messages.

A turn is the assistant's whole answer to one user message: every assistant message (step) and
tool result from that user message up to the next one. Only answered user messages make turns.
In a replay run, only turns whose messages were generated count towards rates.
"""

from __future__ import annotations

from dataclasses import dataclass

from recorder.session import Message, Session, ToolCall


@dataclass(frozen=True)
class Turn:
    """One turn of a session, by message indices."""

    index: int
    """Position among the session's turns (0-based)."""
    user_index: int | None
    """Index of the user message the turn answers (None if the assistant spoke first)."""
    start: int
    """Index of the first message after the user message."""
    end: int
    """One past the last message of the turn."""
    generated: bool
    """True when the turn's assistant messages were generated (by a candidate in a run)."""

    def messages(self, session: Session) -> list[Message]:
        return session.messages[self.start : self.end]

    def steps(self, session: Session) -> list[Message]:
        """The assistant messages (model calls) of the turn."""
        return [m for m in self.messages(session) if m.role == "assistant"]

    def tool_calls(self, session: Session) -> list[ToolCall]:
        return [c for m in self.steps(session) for c in m.tool_calls]

    def prefix(self, session: Session) -> list[Message]:
        """Everything the model saw before producing this turn."""
        return session.messages[: self.start]


def turns(session: Session) -> list[Turn]:
    """Every answered turn of a session, in order."""
    out: list[Turn] = []
    msgs = session.messages
    user_index: int | None = None
    start = 0
    for i in range(len(msgs) + 1):
        if i == len(msgs) or msgs[i].role == "user":
            seg = msgs[start:i]
            assistants = [m for m in seg if m.role == "assistant"]
            if assistants:
                generated = any(m.origin == "generated" for m in assistants)
                out.append(Turn(len(out), user_index, start, i, generated))
            if i < len(msgs):
                user_index = i
                start = i + 1
    return out


def counted_turns(session: Session) -> list[Turn]:
    """The turns that count for rates: generated ones in a replay, all in a recording."""
    all_turns = turns(session)
    if session.source.type == "replay":
        return [t for t in all_turns if t.generated]
    return all_turns
