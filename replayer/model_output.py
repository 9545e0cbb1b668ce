"""What a real model's reply can get wrong, named, and what a tool host answers to it.

A scripted model never calls a tool it was not offered; a small model behind llama.cpp does,
and writes arguments that are not JSON, repeats the same call, answers with nothing, or runs
out of tokens mid-call. Each is kept in the trajectory as what it is, never a crash and never
dropped:

    invented tool        the call is answered as a tool host answers a tool it does not have
                         (`Unknown tool: NAME`, the MCP SDKs' wording), provenance
                         `rejected:unknown_tool`; the stubs are not asked (a simulator would
                         happily play a tool that does not exist)
    malformed arguments  answered `Invalid JSON arguments for tool NAME: ...`, provenance
                         `rejected:invalid_arguments` (`rejected:truncated` when the reply
                         ended with `finish_reason: "length"`: the output limit cut the call)
    repeated call        answered as usual; provenance marked `+repeated` (the same tool with
                         the same arguments earlier in the turn)
    empty answer         no text and no tool call: the turn fails as `empty_reply` (the user
                         would get nothing)
    cut answer           `finish_reason: "length"` stays on the message as the model sent it

The model reads only what a tool host would say; the markers are in the result's provenance,
which graders and `deploysim inspect` see and the replay summary counts.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Literal

from recorder.session import Message, ToolCall, ToolResult
from replayer.wire.codec_helpers import invalid_arguments
from stubs.api import StubAnswer

Problem = Literal["unknown_tool", "invalid_arguments", "truncated"]
REJECTED = "rejected"
"""Provenance prefix of a call the tool host refused (`rejected:unknown_tool`, ...)."""
REPEATED = "+repeated"
"""Provenance suffix of a call identical to one made earlier in its turn."""
EMPTY_REPLY = "empty_reply"
"""The failure reason of a turn whose reply had neither text nor a tool call."""


def call_problem(call: ToolCall, offered: Collection[str], finish_reason: str | None
                 ) -> Problem | None:
    """What is wrong with a call before any tool could run it (None: nothing).
    `offered`: the names of the tools the request offered (empty: unknown, not checked)."""
    if offered and call.name not in offered:
        return "unknown_tool"
    if invalid_arguments(call):
        return "truncated" if finish_reason == "length" else "invalid_arguments"
    return None


def rejection(call: ToolCall, problem: Problem) -> StubAnswer:
    """The tool host's answer to a call it cannot run."""
    if problem == "unknown_tool":
        text = f"Unknown tool: {call.name}"
    else:
        text = f"Invalid JSON arguments for tool {call.name}: {_why(call)}"
    return StubAnswer(result=ToolResult(content=text, is_error=True),
                      provenance=f"{REJECTED}:{problem}",
                      diagnostics={"reason": f"the model's call of {call.name} was rejected "
                                   f"({problem})", "arguments_raw": call.arguments_raw})


def _why(call: ToolCall) -> str:
    raw = call.arguments_raw or ""
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return f"{exc}"
    return f"expected a JSON object, got {type(value).__name__}"


def call_key(call: ToolCall) -> str:
    """The same tool with the same arguments gives the same key."""
    return call.name + "\0" + json.dumps(call.arguments, sort_keys=True, default=str)


def is_empty(reply: Message) -> bool:
    """A reply with no visible text, no refusal and no tool call."""
    return not reply.tool_calls and not reply.text.strip()
