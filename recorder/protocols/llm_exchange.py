"""The part every LLM API shares: decode the bodies, split JSON from SSE, ask the API module
for the request half, the reassembled response, and the assistant messages.

An API module provides `request_call(req) -> LlmCall`,
`accumulate(events, problems) -> (native | None, completed)` and
`output_messages(native, exchange_id, complete) -> list[Message]` (`complete` is False for a
stream cut before its end); `APIS` is the registry. An API whose
model or streaming lives in the URL (Gemini) also provides `with_url(call, url)`, and one whose
stream may also come as a JSON array of chunks `accumulate_array(chunks, problems)`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from recorder.exchange import Exchange
from recorder.protocols import anthropic_messages, gemini, openai_chat, openai_responses
from recorder.protocols.bodies import BodyDecodeError, decode_body, encodings_of, header_value
from recorder.protocols.parsed import LlmCall, Parsed, error_text, load_json
from recorder.protocols.sse import is_event_stream, parse_sse

APIS: dict[str, ModuleType] = {
    "openai_chat": openai_chat,
    "openai_responses": openai_responses,
    "anthropic_messages": anthropic_messages,
    "gemini": gemini,
}


def _decode(data: bytes, headers: list[tuple[str, str]], problems: list[str],
            where: str) -> bytes | None:
    try:
        return decode_body(data, encodings_of(headers))
    except BodyDecodeError as exc:
        problems.append(f"the {where} body could not be decoded ({exc})")
        return None


def parse(ex: Exchange, api: str) -> Parsed:
    """Parse an LLM exchange of API `api`; problems are recorded, never raised."""
    mod = APIS[api]
    problems: list[str] = []
    parsed = Parsed(ex.id, api, problems)  # type: ignore[arg-type]
    body = _decode(ex.request.body, ex.request.headers, problems, "request")
    if body is None:
        return parsed
    req = load_json(body, problems, "the request body")
    if not isinstance(req, dict):
        if req is not None:
            problems.append("the request body is not a JSON object")
        return parsed
    call: LlmCall = mod.request_call(req)
    with_url = getattr(mod, "with_url", None)
    if with_url is not None:
        with_url(call, ex.request.url)
    parsed.llm = call
    resp = ex.response
    if resp is None:
        call.error = ex.error or "no response was recorded"
        return parsed
    rbody = _decode(resp.body, resp.headers, problems, "response")
    if rbody is None:
        call.error = "the response body could not be decoded"
        return parsed
    streamed = is_event_stream(header_value(resp.headers, "content-type")) or (
        resp.chunks is not None and rbody.lstrip().startswith((b"data:", b"event:")))
    native: dict[str, Any] | None = None
    completed = True
    if resp.status >= 400:
        quiet: list[str] = []
        call.error = error_text(resp.status, load_json(rbody, quiet, "body"), rbody)
    elif streamed:
        call.stream = True
        events, sse_problems = parse_sse(rbody)
        problems.extend(sse_problems)
        native, completed = mod.accumulate(events, problems)
    else:
        doc = load_json(rbody, problems, "the response body")
        array = getattr(mod, "accumulate_array", None)
        if isinstance(doc, dict):
            native = doc
        elif isinstance(doc, list) and array is not None:
            native, completed = array(doc, problems)
        elif doc is not None:
            problems.append("the response body is not a JSON object")
    if native is not None:
        if native.get("_error"):
            call.error = f"stream error: {native.pop('_error')}"
        if native.get("status") == "failed":
            err = native.get("error") or {}
            call.error = call.error or f"response failed: {err.get('message') or err}"
        call.native = native
        rid = native.get("id", native.get("responseId"))
        call.response_id = rid if isinstance(rid, str) else None
        try:
            call.outputs = mod.output_messages(native, ex.id, completed)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            problems.append(f"the response does not have the expected shape ({exc})")
    return parsed
