"""The agent loop both replay modes share: ask the candidate, answer its tool calls from
stubs, repeat until a final reply or `max_steps`.

A model reply is looked up in the response cache first (key: model, canonical request, sample
index), so re-running a finished step is free and returns the identical message. A failed call
becomes a generated assistant message whose `error` says why; the run goes on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from recorder.session import ContentPart, Message, ToolDef
from replayer.cache import AsyncCache
from replayer.errors import ModelCallError
from replayer.keys import request_key
from replayer.memo import Memos
from replayer.model_output import (
    EMPTY_REPLY,
    REPEATED,
    call_key,
    call_problem,
    is_empty,
    rejection,
)
from runtime.model_client import ModelClient
from stubs.api import StubAnswer, ToolAnswerer, ToolQuery

MAX_MISS_DIAGNOSTICS = 3
"""Misses kept per trajectory with their diagnostics (the rest are only counted)."""


class DeferredAnswers(Protocol):
    """Where a batch replay's answers come from instead of the client (`replayer.batch`)."""

    async def answer(self, key: str, conversation: Sequence[Message],
                     tools: Sequence[ToolDef], params: Mapping[str, Any]) -> Message:
        """The answer a batch gave to this request (`key`: its cache key); raises
        `StepDeferred` when it has none yet (the request joins the next batch), or the
        `ModelCallError` the request failed with for good."""
        ...


@dataclass
class Candidate:
    """The model under test as the loop sees it."""

    client: ModelClient
    model: str
    """Model name (part of the cache key)."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Parameter overrides applied on top of each session's recorded parameters."""
    cache: AsyncCache | None = None
    max_steps: int = 8
    fail_on_miss: bool = False
    """`--miss error`: a tool call nothing could answer fails its turn (`stub_miss`) once the
    reply's calls are answered; otherwise the candidate reads the tool's error and goes on."""
    deferred: DeferredAnswers | None = None
    """`--batch`: a step the cache cannot answer is answered from batches, not the client."""
    memos: Memos = field(default_factory=Memos)
    """Request-key fragments of the messages this candidate is asked about, for its run."""


@dataclass
class TurnOutcome:
    """What one generated turn produced and how it went."""

    messages: list[Message] = field(default_factory=list)
    error: str | None = None
    """The failure reason category, when the turn failed."""
    tool_calls: int = 0
    steps: int = 0
    max_steps_reached: bool = False
    provenance: Counter[str] = field(default_factory=Counter)
    misses: list[dict[str, Any]] = field(default_factory=list)
    cache_hits: int = 0


def _failed(reason: str, message: str) -> Message:
    return Message(role="assistant", origin="generated", error=f"{reason}: {message}")


async def ask(candidate: Candidate, conversation: Sequence[Message], tools: Sequence[ToolDef],
              params: Mapping[str, Any], sample: int) -> tuple[Message, bool]:
    """The candidate's next message (from the cache when present) and whether it was cached.

    Raises ModelCallError when the call fails; failures are never cached.
    """
    key = request_key(candidate.model, conversation, tools, params, sample,
                      memos=candidate.memos)
    if candidate.cache is not None and (hit := await candidate.cache.get(key)) is not None:
        return hit, True
    if candidate.deferred is not None:  # a batch's answer takes the path a client's reply takes
        reply = await candidate.deferred.answer(key, conversation, tools, params)
    else:
        reply = await candidate.client.complete(conversation, tools=tools, params=params)
    if reply.origin != "generated" or reply.exchange_id is not None:
        reply = reply.model_copy(update={"origin": "generated", "exchange_id": None})
    if candidate.cache is not None:
        candidate.cache.put(key, reply)
    return reply, False


def tool_message(call_id: str, name: str, answer: StubAnswer) -> Message:
    """The generated tool message that carries a stub's answer, provenance included."""
    result = answer.result
    if answer.timeout:
        result = result.model_copy(update={"is_error": True,
                                           "content": result.content or "tool call timed out"})
    result = result.model_copy(update={"provenance": answer.provenance})
    return Message(role="tool", origin="generated", tool_call_id=call_id, name=name,
                   content=[ContentPart(text=result.content)], result=result)


async def run_turn(candidate: Candidate, answerer: ToolAnswerer, prefix: Sequence[Message],
                   tools: Sequence[ToolDef], params: Mapping[str, Any], *, session_id: str,
                   trajectory_id: str, sample: int, call_index: int) -> TurnOutcome:
    """Generate one turn after `prefix`: steps until a reply without tool calls.

    `call_index` is the position of the first tool call this turn makes in the trajectory
    (the recorded prefix's calls included), so stub answers line up with recorded positions.
    """
    out = TurnOutcome()
    merged = {**params, **candidate.params}
    offered = {t.name for t in tools}
    made: set[str] = set()
    """The turn's calls so far (`call_key`), to mark repeats."""
    for _ in range(candidate.max_steps):
        try:
            reply, cached = await ask(candidate, [*prefix, *out.messages], tools, merged, sample)
        except ModelCallError as exc:
            out.messages.append(_failed(exc.reason, str(exc)))
            out.error = exc.reason
            return out
        out.steps += 1
        out.cache_hits += cached
        if is_empty(reply):  # the user would get nothing (replayer.model_output)
            out.messages.append(reply.model_copy(update={
                "error": f"{EMPTY_REPLY}: the model answered with neither text nor a tool "
                         f"call (finish_reason {reply.finish_reason})"}))
            out.error = EMPTY_REPLY
            return out
        out.messages.append(reply)
        if not reply.tool_calls:
            return out
        missed: list[dict[str, Any]] = []
        for call in reply.tool_calls:
            problem = call_problem(call, offered, reply.finish_reason)
            if problem is not None:  # what a tool host answers; the stubs are not asked
                answer = rejection(call, problem)
            else:
                answer = await answerer.answer(ToolQuery(
                    kind="function", name=call.name, arguments=call.arguments,
                    session_id=session_id, call_index=call_index, trajectory_id=trajectory_id))
                if (key := call_key(call)) in made:
                    answer = replace(answer, provenance=answer.provenance + REPEATED)
                made.add(key)
            call_index += 1
            out.tool_calls += 1
            out.provenance[answer.provenance] += 1
            if answer.provenance.startswith("miss"):
                # why it missed goes to the run (manifest, the turn's error), never to the
                # model: the tool message holds only the tool's own error
                miss = {"trajectory": trajectory_id, "session": session_id, "tool": call.name,
                        "arguments": call.arguments, "call_index": call_index - 1,
                        "reason": answer.diagnostics.get("reason"),
                        "failed_turn": candidate.fail_on_miss,
                        "diagnostics": answer.diagnostics}
                missed.append(miss)
                if len(out.misses) < MAX_MISS_DIAGNOSTICS:
                    out.misses.append(miss)
            out.messages.append(tool_message(call.id, call.name, answer))
        if missed and candidate.fail_on_miss:
            out.messages.append(_failed(MISS_REASON, _miss_message(missed)))
            out.error = MISS_REASON
            return out
    out.max_steps_reached = True
    return out


MISS_REASON = "stub_miss"
"""The failure reason of a turn that `--miss error` failed."""


def _miss_message(missed: list[dict[str, Any]]) -> str:
    """Names the first unanswered call: tool, arguments, position, session, why."""
    m = missed[0]
    args = json.dumps(m["arguments"], default=str, ensure_ascii=False)
    if len(args) > 200:
        args = args[:197] + "..."
    more = f" (and {len(missed) - 1} more call(s))" if len(missed) > 1 else ""
    reason = f": {m['reason']}" if m.get("reason") else ""
    return (f"no recording or fallback answers {m['tool']} {args} (call {m['call_index']} of "
            f"trajectory {m['trajectory']}, session {m['session']}){more}{reason}")


def prior_tool_calls(messages: Sequence[Message]) -> int:
    """How many tool calls the messages hold (the call index the next call gets)."""
    return sum(len(m.tool_calls) for m in messages if m.role == "assistant")
