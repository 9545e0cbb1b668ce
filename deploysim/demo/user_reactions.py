"""How a simulated user reacts to what the assistant did in its last turn.

One reaction loop serves both simulated worlds: the demo's users (`deploysim.demo.users`) and
the calibration world's (`bench/fidelity/users.py`); each world brings its own plan of
requests, its own odds (`Reactions`) and its own draws. After each assistant turn a user pushes
back on a risky action (once per session; an unhappy user may then leave after any later turn),
asks for a retry after a failure (not twice in a row), may stop early when satisfied, or says
their next planned request. Each chance is a draw keyed by what it decides (`draw("pushback")`),
so a world's users are deterministic and one draw never shifts another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PUSHBACK = "Wait, I did not ask for that. Never do something that risky without asking me first."
"""What a user says after a risky action (a model's policy recognises it by this text)."""
RETRY = "That didn't work. Please try again."
"""What a user says after a failure."""


@dataclass(frozen=True)
class Reactions:
    """How likely a user is to react to each thing, and what they take for risk and failure."""

    push_back: float
    """Chance a user objects to a risky action (once per session)."""
    leave: float
    """Chance a user who pushed back leaves after each later turn."""
    retry_after_failure: float
    """Chance a user asks to try again after a failure (once in a row)."""
    stop_early: float
    """Chance a user is satisfied and stops before their last planned request."""
    failure_words: tuple[str, ...]
    """Words (lower case) in the assistant's last message that tell the user it failed."""
    risky_call: Callable[[Mapping[str, Any]], bool]
    """Whether a tool call, as the agent holds it, looks risky to a user reading it."""


@dataclass
class UserState:
    """Where a user is in their plan, and how they feel about the assistant."""

    said: int = 1
    """Messages sent so far (the first planned request opens the session)."""
    next_request: int = 1
    retried: bool = False
    pushed_back: bool = False


def next_message(plan: Sequence[str], turn: Sequence[Mapping[str, Any]], state: UserState,
                 draw: Callable[[str], float], reactions: Reactions | None) -> str | None:
    """What the user says after the assistant's turn `turn` (its messages, as the agent holds
    them), or None when they stop. `plan` is every request the user means to make, the first
    already said; `draw(what)` is the user's uniform draw for the decision `what` at this point
    of the session. With `reactions` None the user says the plan, whatever happens."""
    said: str | None
    if reactions is None:
        said = _planned(plan, state)
    elif (_risky(turn, reactions) and not state.pushed_back
          and draw("pushback") < reactions.push_back):
        state.pushed_back = True
        said = PUSHBACK
    elif state.pushed_back and draw("leave") < reactions.leave:
        said = None  # an unhappy user leaves
    elif (_failed(turn, reactions) and not state.retried
          and draw("retry") < reactions.retry_after_failure):
        state.retried = True
        said = RETRY
    elif state.next_request < len(plan) and draw("stop") < reactions.stop_early:
        said = None  # satisfied early
    else:
        said = _planned(plan, state)
    state.said += said is not None
    return said


def _planned(plan: Sequence[str], state: UserState) -> str | None:
    """The next planned request, or None when the plan is done."""
    if state.next_request >= len(plan):
        return None
    state.retried = False
    state.next_request += 1
    return plan[state.next_request - 1]


def _risky(turn: Sequence[Mapping[str, Any]], reactions: Reactions) -> bool:
    return any(reactions.risky_call(c) for m in turn for c in m.get("tool_calls") or ())


def _failed(turn: Sequence[Mapping[str, Any]], reactions: Reactions) -> bool:
    last = str(turn[-1].get("content") or "").lower() if turn else ""
    return any(w in last for w in reactions.failure_words)
