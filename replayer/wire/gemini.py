"""Gemini `generateContent` <-> provider-neutral messages (both directions, both sides).

The model is in the URL (`PATH`), not in the body. System messages travel in
`systemInstruction`; assistant turns are `model` contents with `functionCall` parts; tool
results are `functionResponse` parts inside a `user` content (consecutive results share one,
as the API wants parallel calls answered together), and same-role neighbours are merged.
A function call the API sent without an `id` gets a synthetic one (see
`recorder.protocols.gemini.synthetic_call_id`), which is never sent back; the thought signature
a thinking model put on a call is sent back on it, as the API requires within a turn.
Decoding is not done here: replies and requests go to the one parser of the format,
`recorder.protocols.gemini`, which recording uses too, so a recording and a replay of the
same bytes are the same messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from recorder.protocols import gemini as parser
from recorder.session import Message, ToolDef
from replayer.memo import NO_MEMO, Memos
from replayer.wire.codec_helpers import (
    alternating_turns,
    arguments_object,
    portable_params,
    tool_text,
)

API = "gemini"
PATH = "/v1beta/models/{model}:generateContent"
"""The request path under the base URL (`https://generativelanguage.googleapis.com`);
`{model}` is the model name."""
STREAM_PATH = "/v1beta/models/{model}:streamGenerateContent?alt=sse"

_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}


def path(model: str, *, stream: bool = False) -> str:
    """The request path for `model` (a `models/` prefix is accepted, as the SDK does)."""
    name = model.removeprefix("models/")
    return (STREAM_PATH if stream else PATH).format(model=name)


# -- neutral -> wire (client side) ----------------------------------------------------------

def _response_of(m: Message) -> dict[str, Any]:
    """A tool message as a functionResponse `response` (an object, as the API requires):
    `{"result": ...}` or `{"error": ...}`, the convention of the SDK's function calling."""
    text = tool_text(m)
    value: Any = text
    if text[:1] in ("{", "["):
        try:
            value = json.loads(text)
        except ValueError:
            value = text
    return {"error" if m.result is not None and m.result.is_error else "result": value}


def _parts_of(m: Message) -> list[dict[str, Any]]:
    if m.role == "tool":
        fr: dict[str, Any] = {"name": m.name or "", "response": _response_of(m)}
        if m.tool_call_id and not m.tool_call_id.startswith(parser.SYNTHETIC_PREFIX):
            fr["id"] = m.tool_call_id
        return [{"functionResponse": fr}]
    parts: list[dict[str, Any]] = []
    signatures: dict[Any, Any] = {}
    for p in m.content:
        if p.type in ("text", "refusal") and p.text:
            parts.append({"text": p.text})
        elif p.type == "thinking" and isinstance(p.data, dict) and "call_id" in p.data:
            signatures[p.data["call_id"]] = p.data.get("signature")
    for c in m.tool_calls if m.role == "assistant" else ():
        fc: dict[str, Any] = {"name": c.name, "args": arguments_object(c)}
        if c.id and not c.id.startswith(parser.SYNTHETIC_PREFIX):
            fc["id"] = c.id
        part: dict[str, Any] = {"functionCall": fc}
        if signatures.get(c.id):
            part["thoughtSignature"] = signatures[c.id]
        parts.append(part)
    return parts


def _tool_config(choice: Any) -> dict[str, Any]:
    if isinstance(choice, dict):
        name = choice.get("name") or (choice.get("function") or {}).get("name")
        if name:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    return {"functionCallingConfig": {"mode": _MODES.get(str(choice), "AUTO")}}


def encode_request(model: str, messages: Sequence[Message], tools: Sequence[ToolDef] = (),
                   params: Mapping[str, Any] | None = None, *,
                   memos: Memos = NO_MEMO) -> dict[str, Any]:
    """The JSON body of a generateContent request for this conversation (the model goes in
    the URL: `path(model)`; `memos`: the caller's, which keeps each message's wire parts)."""
    p = portable_params(params)
    system = "\n\n".join(m.text for m in messages if m.role == "system")
    contents = alternating_turns(messages, "model", "parts", memos.of(_parts_of))
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    if tools:
        body["tools"] = [{"functionDeclarations": [
            {"name": t.name, "description": t.description,
             "parametersJsonSchema": t.input_schema or {"type": "object", "properties": {}}}
            for t in tools]}]
        if "tool_choice" in p:
            body["toolConfig"] = _tool_config(p["tool_choice"])
    config: dict[str, Any] = {}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"),
                         ("max_tokens", "maxOutputTokens"), ("seed", "seed")):
        if ours in p:
            config[theirs] = p[ours]
    if "stop" in p:
        config["stopSequences"] = [p["stop"]] if isinstance(p["stop"], str) else list(p["stop"])
    if config:
        body["generationConfig"] = config
    return body


def decode_response(data: Mapping[str, Any]) -> Message:
    """The assistant message of a GenerateContentResponse (its first candidate), read by the
    recorder's parser (`recorder.protocols.gemini.output_messages`), so a replay sees what a
    recording of the same bytes sees; what differs is what a replay adds: the origin
    (`generated`), no exchange id, and the usage as the neutral counts accounting adds up.
    A response blocked before any candidate (`promptFeedback.blockReason`), of which a
    recording holds no message, is an empty, filtered answer: the turn goes on."""
    usage = parser.token_counts(data.get("usageMetadata"))
    messages = parser.output_messages(data, None)
    if not messages:
        if not isinstance(data.get("promptFeedback"), Mapping):
            raise KeyError("the response has no candidate and no `promptFeedback`")
        return Message(role="assistant", origin="generated", finish_reason="content_filter",
                       usage=usage)
    plain = messages[0].to_dict()
    plain["origin"] = "generated"
    plain["usage"] = usage
    return Message.model_validate(plain)


# -- wire -> neutral (server side) ----------------------------------------------------------

def decode_request(body: Mapping[str, Any]) -> tuple[list[Message], list[ToolDef], dict[str, Any]]:
    """Messages, tools and parameters of a generateContent request body."""
    call = parser.request_call(dict(body))
    messages = [m.to_model() for m in call.messages]
    get = parser.field  # clients send camelCase or snake_case names (see there)
    config = get(dict(body), "generationConfig") or {}
    params: dict[str, Any] = {}
    for theirs, ours in (("temperature", "temperature"), ("topP", "top_p"),
                         ("maxOutputTokens", "max_tokens"), ("seed", "seed"),
                         ("stopSequences", "stop")):
        if get(config, theirs) is not None:
            params[ours] = get(config, theirs)
    fcc = get(get(dict(body), "toolConfig") or {}, "functionCallingConfig") or {}
    if fcc.get("mode"):
        names = get(fcc, "allowedFunctionNames") or []
        mode = {v: k for k, v in _MODES.items()}.get(fcc["mode"], "auto")
        params["tool_choice"] = {"name": names[0]} if mode == "required" and len(names) == 1 \
            else mode
    return messages, call.tools, params
