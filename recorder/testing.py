"""Small builders of recorder records for tests (ours and other packages').

    >>> ex = make_exchange("https://api.openai.com/v1/chat/completions",
    ...                    request_json={"model": "m", "messages": []},
    ...                    response_json={"choices": []})
    >>> ex.request.method
    'POST'

Every builder is deterministic: ids and times come from the arguments (or a counter the caller
passes), never from the clock.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from recorder.exchange import Exchange, Header, HttpRequest, HttpResponse, StreamChunk

JSON_HEADERS: list[Header] = [("content-type", "application/json")]
SSE_HEADERS: list[Header] = [("content-type", "text/event-stream")]


def make_exchange(
    url: str,
    *,
    id: str = "ex-1",
    method: str = "POST",
    request_json: Any = None,
    request_body: bytes = b"",
    request_headers: Sequence[Header] = (),
    response_json: Any = None,
    response_body: bytes = b"",
    response_headers: Sequence[Header] | None = None,
    chunks: Sequence[bytes] | None = None,
    status: int = 200,
    started_at: float = 1_700_000_000.0,
    duration: float = 0.5,
    route: str | None = None,
    session_hint: str | None = None,
    labels: dict[str, str] | None = None,
    transport: Literal["http", "stdio"] = "http",
) -> Exchange:
    """One exchange; JSON arguments are serialised, `chunks` makes a streamed response."""
    req_headers = list(request_headers)
    if request_json is not None:
        request_body = json.dumps(request_json).encode()
        if not any(k.lower() == "content-type" for k, _ in req_headers):
            req_headers.append(("content-type", "application/json"))
    if response_json is not None:
        response_body = json.dumps(response_json).encode()
    if response_headers is None:
        response_headers = SSE_HEADERS if chunks is not None else JSON_HEADERS
    stream = None
    if chunks is not None:
        step = duration * 1000 / max(len(chunks), 1)
        stream = [StreamChunk(offset_ms=round(step * i, 3), data=c) for i, c in enumerate(chunks)]
        response_body = b"".join(chunks)
    return Exchange(
        id=id,
        transport=transport,
        route=route,
        started_at=started_at,
        ended_at=started_at + duration,
        request=HttpRequest(method=method, url=url, headers=req_headers, body=request_body),
        response=HttpResponse(status=status, headers=list(response_headers), body=response_body,
                              chunks=stream),
        session_hint=session_hint,
        labels=dict(labels or {}),
    )


def sse_events(events: Sequence[Any], *, named: bool = False, done: bool = False) -> bytes:
    """Serialise JSON events as SSE (`event: TYPE` lines when `named`, `[DONE]` when `done`)."""
    out = []
    for e in events:
        head = f"event: {e['type']}\n" if named else ""
        out.append(f"{head}data: {json.dumps(e)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def split_every(data: bytes, n: int) -> list[bytes]:
    """`data` cut into n-byte chunks (the last may be shorter)."""
    return [data[i : i + n] for i in range(0, len(data), n)] or [b""]
