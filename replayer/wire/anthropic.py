"""Anthropic Messages <-> provider-neutral messages (both directions, both sides).

System messages travel in `system`; tool results are `tool_result` blocks inside a user
message (consecutive results share one), and same-role neighbours are merged because the API
expects user and assistant to alternate. Decoding is not done here: replies and requests go
to the one parser of the format, `recorder.protocols.anthropic_messages`, which recording
uses too, so a recording and a replay of the same bytes are the same messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recorder.protocols import anthropic_messages as parser
from recorder.session import Message, ToolCall, ToolDef
from replayer.memo import NO_MEMO, Memos
from replayer.wire.codec_helpers import (
    alternating_turns,
    arguments_object,
    dumps,
    finish_body,
    image_url,
    portable_params,
    select,
    tool_text,
)

API = "anthropic"
PATH = "/v1/messages"
DEFAULT_MAX_TOKENS = 4096
"""Anthropic requires `max_tokens`; used when the recording did not say."""

# -- neutral -> wire (client side) ----------------------------------------------------------

def _blocks_of(m: Message) -> list[dict[str, Any]]:
    if m.role == "tool":
        is_error = bool(m.result and m.result.is_error)
        return [{"type": "tool_result", "tool_use_id": m.tool_call_id or "",
                 "content": tool_text(m), **({"is_error": True} if is_error else {})}]
    blocks: list[dict[str, Any]] = []
    for p in m.content:
        if p.type in ("text", "refusal") and p.text:
            blocks.append({"type": "text", "text": p.text})
        elif p.type == "image" and m.role == "user":
            blocks.append({"type": "image", "source": _source(p.data)})
    if m.role == "assistant":
        blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": arguments_object(c)}
                   for c in m.tool_calls]
    return blocks


def _source(data: Any) -> dict[str, Any]:
    """An image's `source`: as recorded from Anthropic, else a URL source."""
    if isinstance(data, dict) and data.get("type") in ("base64", "url", "file"):
        return data
    return {"type": "url", "url": image_url(data)}


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and "name" in choice:
        return {"type": "tool", "name": choice["name"]}
    return {"required": {"type": "any"}, "none": {"type": "none"}}.get(choice, {"type": "auto"})


def encode_request(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
                   params: Mapping[str, Any] | None = None, *, stream: bool = False,
                   memos: Memos = NO_MEMO) -> dict[str, Any]:
    """The JSON body of a Messages request for this conversation (`memos`: the caller's,
    which keeps each message's wire form; recorded prefixes repeat every step)."""
    p = portable_params(params)
    system = "\n\n".join(m.text for m in messages if m.role == "system")
    turns = alternating_turns(messages, "assistant", "content", memos.of(_blocks_of))
    body: dict[str, Any] = {"model": model,
                            "max_tokens": int(p.get("max_tokens") or DEFAULT_MAX_TOKENS),
                            "messages": turns}
    if system:
        body["system"] = system
    if tools:
        body["tools"] = [{"name": t.name, "description": t.description,
                          "input_schema": t.input_schema or {"type": "object", "properties": {}}}
                         for t in tools]
    body.update(select(p, ("temperature", "top_p")))
    if "stop" in p:
        body["stop_sequences"] = [p["stop"]] if isinstance(p["stop"], str) else list(p["stop"])
    return finish_body(body, p, tools, tool_choice=_tool_choice, stream=stream)


def decode_response(data: Mapping[str, Any]) -> Message:
    """The assistant message of a Messages API response, read by the recorder's parser
    (`recorder.protocols.anthropic_messages.output_messages`), so a replay sees what a
    recording of the same bytes sees; what differs is what a replay adds: the origin
    (`generated`), no exchange id, and the usage as the neutral counts accounting adds up.
    Raises KeyError when the body has no `content` (it is not a message)."""
    if "content" not in data:
        raise KeyError("the response has no `content`: it is not a message")
    [message] = parser.output_messages(data, None)
    plain = message.to_dict()
    plain["origin"] = "generated"
    plain["usage"] = parser.token_counts(data.get("usage"))
    return Message.model_validate(plain)


# -- wire -> neutral (server side) ----------------------------------------------------------

def decode_request(body: Mapping[str, Any]) -> tuple[list[Message], list[ToolDef], dict[str, Any]]:
    """Messages, tools and parameters of a Messages request body, read by the recorder's
    parser (`request_call`); parameters in their portable spelling."""
    call = parser.request_call(dict(body))
    params = dict(call.params)
    if "stop_sequences" in params:
        params["stop"] = params.pop("stop_sequences")
    return [m.to_model() for m in call.messages], call.tools, portable_params(params)


def canonical_input(call: ToolCall) -> str:
    """The JSON text of a tool_use input, for streaming it as `input_json_delta` pieces."""
    return dumps(arguments_object(call))
