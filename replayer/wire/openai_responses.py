"""OpenAI Responses API <-> provider-neutral messages (both directions, both sides).

Leading system messages travel as `instructions`; later ones as `developer` input items.
Requests are sent with `store: false`, so every request carries the whole conversation.
Decoding is not done here: replies and requests go to the one parser of the format,
`recorder.protocols.openai_responses`, which recording uses too, so a recording and a replay
of the same bytes are the same messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recorder.protocols import openai_responses as parser
from recorder.session import Message, ToolDef
from replayer.memo import NO_MEMO, Memos
from replayer.wire.codec_helpers import (
    arguments_text,
    finish_body,
    image_url,
    portable_params,
    select,
    tool_text,
)

API = "openai-responses"
PATH = "/responses"


# -- neutral -> wire (client side) ----------------------------------------------------------

def _items_of(m: Message) -> list[dict[str, Any]]:
    if m.role == "tool":
        return [{"type": "function_call_output", "call_id": m.tool_call_id or "",
                 "output": tool_text(m)}]
    if m.role == "assistant":
        items: list[dict[str, Any]] = []
        if m.text:
            items.append({"role": "assistant", "content": m.text})
        items += [{"type": "function_call", "call_id": c.id, "name": c.name,
                   "arguments": arguments_text(c)} for c in m.tool_calls]
        return items
    role = "developer" if m.role == "system" else m.role
    parts: list[dict[str, Any]] = []
    for p in m.content:
        if p.type == "text":
            parts.append({"type": "input_text", "text": p.text})
        elif p.type == "image" and m.role == "user":
            detail = p.data.get("detail") if isinstance(p.data, dict) else None
            parts.append({"type": "input_image", "image_url": image_url(p.data),
                          "detail": detail or "auto"})
    return [{"role": role, "content": parts}]


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and "name" in choice:
        return {"type": "function", "name": choice["name"]}
    return choice


def encode_request(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
                   params: Mapping[str, Any] | None = None, *, stream: bool = False,
                   memos: Memos = NO_MEMO) -> dict[str, Any]:
    """The JSON body of a Responses request for this conversation (`memos`: the caller's,
    which keeps each message's wire items; recorded prefixes repeat every step)."""
    p = portable_params(params)
    lead = 0
    while lead < len(messages) and messages[lead].role == "system":
        lead += 1
    body: dict[str, Any] = {"model": model, "store": False}
    if lead:
        body["instructions"] = "\n\n".join(m.text for m in messages[:lead])
    items = memos.of(_items_of)
    body["input"] = [item for m in messages[lead:] for item in items(m)]
    if tools:
        body["tools"] = [{"type": "function", "name": t.name, "description": t.description,
                          "parameters": t.input_schema or {"type": "object", "properties": {}},
                          "strict": False} for t in tools]
    body.update(select(p, ("temperature", "top_p", "parallel_tool_calls", "metadata", "user")))
    if "max_tokens" in p:
        body["max_output_tokens"] = p["max_tokens"]
    if "reasoning_effort" in p:
        body["reasoning"] = {"effort": p["reasoning_effort"]}
    return finish_body(body, p, tools, tool_choice=_tool_choice, stream=stream)


def decode_response(data: Mapping[str, Any]) -> Message:
    """The assistant message of a Responses API response, read by the recorder's parser
    (`recorder.protocols.openai_responses.output_messages`), so a replay sees what a
    recording of the same bytes sees; what differs is what a replay adds: the origin
    (`generated`), no exchange id, and the usage as the neutral counts accounting adds up.
    A response without output items, of which a recording holds no message, is an empty
    answer. Raises KeyError when the body has no `output` (it is not a response)."""
    if "output" not in data:
        raise KeyError("the response has no `output`: it is not a response object")
    messages = parser.output_messages(data, None)
    plain: dict[str, Any] = messages[0].to_dict() if messages else {
        "role": "assistant", "finish_reason": parser.finish_reason(data, False)}
    plain["origin"] = "generated"
    plain["usage"] = parser.token_counts(data.get("usage"))
    return Message.model_validate(plain)


# -- wire -> neutral (server side) ----------------------------------------------------------

def decode_request(body: Mapping[str, Any]) -> tuple[list[Message], list[ToolDef], dict[str, Any]]:
    """Messages, tools and parameters of a Responses request body, read by the recorder's
    parser (`request_call`); parameters in their portable spelling (`reasoning.effort` as
    `reasoning_effort`)."""
    call = parser.request_call(dict(body))
    params = {k: v for k, v in call.params.items() if k != "reasoning"}
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and "effort" in reasoning:
        params["reasoning_effort"] = reasoning["effort"]
    return [m.to_model() for m in call.messages], call.tools, portable_params(params)
