"""Prefix mode (the Deployment Simulation method): regenerate each recorded turn.

For turn t of a recorded session the candidate is sent everything before the turn — system
prompt, earlier user messages, earlier *recorded* assistant turns and tool results, and the
user message the turn answers — with the recorded tools and parameters. It never sees the
recorded reply of the turn it produces. Its tool calls are answered by stubs until it replies
without tools (or `max_steps`). Each (session, turn, sample) is one trajectory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from recorder.session import Session
from recorder.turns import Turn, turns
from replayer.loop import Candidate, prior_tool_calls, run_turn
from replayer.replayed_trajectory import Trajectory, build_session, recorded, trajectory_id
from replayer.wire.codec_helpers import portable_params
from stubs.api import ToolAnswerer

WorkKey = tuple[str, int | None, int]
"""(source session, turn or None for rollout, sample): what a run has done or still owes."""


def prefix_keys(session: Session, samples: int,
                session_turns: Sequence[Turn] | None = None) -> Iterator[WorkKey]:
    """Every (session, turn, sample) of a session in prefix mode (`session_turns`: its turns,
    when the caller has already split it)."""
    for turn in turns(session) if session_turns is None else session_turns:
        for k in range(samples):
            yield (session.id, turn.index, k)


async def replay_turn(candidate: Candidate, answerer: ToolAnswerer, session: Session,
                      turn: Turn, sample: int, *, run_id: str) -> Trajectory:
    """One prefix-mode trajectory: the recorded prefix plus the candidate's regenerated turn."""
    turn_index = turn.index
    prefix = recorded(turn.prefix(session))
    params = portable_params(session.params)
    tid = trajectory_id(session.id, turn_index, sample)
    outcome = await run_turn(candidate, answerer, prefix, session.tools, params,
                             session_id=session.id, trajectory_id=tid, sample=sample,
                             call_index=prior_tool_calls(prefix))
    traj = Trajectory(session=build_session(
        session, [*prefix, *outcome.messages], turn=turn_index, sample=sample, run_id=run_id,
        model=candidate.model, params={**params, **candidate.params}))
    traj.add(outcome)
    return traj
