"""Rollout mode: the candidate drives a whole session from its first user message.

After each candidate turn the next recorded user message is sent (or, with a user simulator,
a simulated one), so later turns build on the candidate's own earlier answers. A failed turn
ends the rollout: later turns would have no sound context. One trajectory per (session, sample).
"""

from __future__ import annotations

from collections.abc import Iterator

from recorder.session import Message, Session
from replayer.errors import ModelCallError
from replayer.loop import Candidate, prior_tool_calls, run_turn
from replayer.prefix import WorkKey
from replayer.replayed_trajectory import Trajectory, build_session, recorded, trajectory_id
from replayer.user_sim import UserSimulator
from replayer.wire.codec_helpers import portable_params
from stubs.api import ToolAnswerer


def rollout_keys(session: Session, samples: int) -> Iterator[WorkKey]:
    """Every (session, None, sample) of a session that has a user message."""
    if any(m.role == "user" for m in session.messages):
        for k in range(samples):
            yield (session.id, None, k)


async def replay_session(candidate: Candidate, answerer: ToolAnswerer, session: Session,
                         sample: int, *, run_id: str,
                         user_simulator: UserSimulator | None = None) -> Trajectory:
    """One rollout trajectory of `session`."""
    msgs = session.messages
    first = next(i for i, m in enumerate(msgs) if m.role == "user")
    later_users = [m for m in msgs[first + 1:] if m.role == "user"]
    convo: list[Message] = recorded(msgs[: first + 1])
    params = portable_params(session.params)
    tid = trajectory_id(session.id, None, sample)
    traj = Trajectory(session=session)
    for i in range(len(later_users) + 1):
        outcome = await run_turn(candidate, answerer, convo, session.tools, params,
                                 session_id=session.id, trajectory_id=tid, sample=sample,
                                 call_index=prior_tool_calls(convo))
        convo += outcome.messages
        traj.add(outcome)
        if outcome.error or i == len(later_users):
            break
        if user_simulator is None:
            convo += recorded([later_users[i]])
            continue
        try:
            simulated = await user_simulator.next_message(msgs, convo, i + 1, sample)
        except ModelCallError as exc:  # the candidate did nothing wrong: end, note it
            traj.simulator_errors.append(f"{exc.reason}: {exc}")
            break
        if simulated is None:
            break
        convo.append(simulated)
    traj.session = build_session(session, convo, turn=None, sample=sample, run_id=run_id,
                                 model=candidate.model, params={**params, **candidate.params})
    return traj
