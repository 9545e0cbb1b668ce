"""OpenAI Chat Completions <-> provider-neutral messages (both directions, both sides).

The replayer's client uses `encode_request` and `decode_response`; the scripted fake model
server uses `decode_request` (its responses and streams live in `replayer.testing`).
Decoding is not done here: both decoders hand the body to the one parser of the format,
`recorder.protocols.openai_chat`, which recording uses too, so a recording and a replay of
the same bytes are the same messages (legacy `functions` / `function_call`, `refusal`,
`function`-role messages, and OpenAI-compatible servers' quirks included: no `usage`, tool
calls without `id` or in `index` order, arguments as an object, `finish_reason` spelled
`eos` / `tool_call` / null).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recorder.protocols import openai_chat as parser
from recorder.session import Message, ToolDef
from replayer.memo import NO_MEMO, Memos
from replayer.wire.codec_helpers import (
    arguments_text,
    finish_body,
    image_url,
    json_text,
    portable_params,
    select,
    splice_body,
    tool_text,
)

API = "openai-chat"
PATH = "/chat/completions"

# -- neutral -> wire (client side) ----------------------------------------------------------

def _message_of(m: Message) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": tool_text(m)}
    if m.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": m.text or None}
        if m.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function",
                 "function": {"name": c.name, "arguments": arguments_text(c)}}
                for c in m.tool_calls
            ]
        return out
    images = [p for p in m.content if p.type == "image"]
    if images and m.role == "user":
        parts: list[dict[str, Any]] = []
        for p in m.content:
            if p.type == "text":
                parts.append({"type": "text", "text": p.text})
            elif p.type == "image":
                image = {"url": image_url(p.data)}
                if isinstance(p.data, dict) and "detail" in p.data:  # recorded from Chat
                    image["detail"] = p.data["detail"]
                parts.append({"type": "image_url", "image_url": image})
        return {"role": "user", "content": parts}
    return {"role": m.role, "content": m.text}


def _message_text(m: Message) -> str:
    return json_text(_message_of(m))


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and "name" in choice:
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def _tool_of(t: ToolDef) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": t.name, "description": t.description,
        "parameters": t.input_schema or {"type": "object", "properties": {}}}}


# a schema may hold any float, so a null in orjson's text sends the tool the standard way
def _tool_text(t: ToolDef) -> str:
    return json_text(_tool_of(t), finite=None)


def encode_request(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
                   params: Mapping[str, Any] | None = None, *, stream: bool = False,
                   memos: Memos = NO_MEMO) -> dict[str, Any]:
    """The JSON body of a Chat Completions request for this conversation (`memos`: the
    caller's, which keeps each message's wire form; recorded prefixes repeat every step)."""
    p = portable_params(params)
    body: dict[str, Any] = {"model": model, "messages": memos.of(_message_of).many(messages)}
    if tools:
        body["tools"] = [_tool_of(t) for t in tools]
    body.update(select(p, ("temperature", "top_p", "stop", "seed", "parallel_tool_calls",
                           "reasoning_effort", "user")))
    if "max_tokens" in p:
        body["max_completion_tokens"] = p["max_tokens"]
    finish_body(body, p, tools, tool_choice=_tool_choice, stream=stream)
    if stream:  # the usage arrives in a last chunk only when asked for
        body["stream_options"] = {"include_usage": True}
    return body


def encode_body(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
                params: Mapping[str, Any] | None = None, *, stream: bool = False,
                memos: Memos = NO_MEMO) -> bytes:
    """`encode_request` as the bytes a client sends (compact JSON), each message's and tool's
    text serialised once per object in `memos` rather than once per request."""
    body = encode_request(model, (), tools, params, stream=stream)
    return splice_body(body, {"messages": memos.of(_message_text).many(messages),
                              "tools": memos.of(_tool_text).many(tools)})


def decode_response(data: Mapping[str, Any]) -> Message:
    """The assistant message of a Chat Completions response (its first choice), read by the
    recorder's parser (`recorder.protocols.openai_chat`), so a replay sees what a recording of
    the same bytes sees (`output_messages`); what differs is what a replay adds: the origin
    (`generated`), no exchange id, and the usage as the neutral counts accounting adds up.
    Raises KeyError (or TypeError/AttributeError) when the body holds no choice."""
    ordered = parser.choices(data)
    if not ordered:
        raise KeyError("the response holds no choice")
    plain = parser.choice_message(ordered[0]).to_dict()
    plain["origin"] = "generated"
    plain["usage"] = parser.token_counts(data.get("usage"))
    return Message.model_validate(plain)


# -- wire -> neutral (server side) ----------------------------------------------------------

def decode_request(body: Mapping[str, Any]) -> tuple[list[Message], list[ToolDef], dict[str, Any]]:
    """Messages, tools and parameters of a Chat Completions request body, read by the
    recorder's parser (`request_call`); parameters in their portable spelling."""
    call = parser.request_call(dict(body))
    return [m.to_model() for m in call.messages], call.tools, portable_params(call.params)
