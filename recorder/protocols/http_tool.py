"""Generic HTTP tool backends: method, route path, query, JSON/form body, status, JSON reply.

The tool name is `METHOD /path`. The proxy records the upstream URL; when the exchange's
labels carry `upstream_path` (the path part of the route's upstream base URL), it is removed so
the name is the path the agent called under its route.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from recorder.exchange import Exchange
from recorder.protocols.bodies import BodyDecodeError, decode_body, encodings_of, header_value
from recorder.protocols.parsed import HttpToolCall, Parsed, load_json

UPSTREAM_PATH_LABEL = "upstream_path"


def query_dict(query: str) -> dict[str, Any]:
    """Query parameters: a value each, a list for repeated names; blank values kept."""
    out: dict[str, Any] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        if k in out:
            prev = out[k]
            out[k] = [*prev, v] if isinstance(prev, list) else [prev, v]
        else:
            out[k] = v
    return out


def tool_path(ex: Exchange) -> str:
    """The path the agent called under its route (upstream base path removed when known)."""
    path = urlsplit(ex.request.url).path or "/"
    base = ex.labels.get(UPSTREAM_PATH_LABEL, "").rstrip("/")
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base):] or "/"
    return path


def _decoded(data: bytes, headers: list[tuple[str, str]], problems: list[str],
             where: str) -> bytes:
    try:
        return decode_body(data, encodings_of(headers))
    except BodyDecodeError as exc:
        problems.append(f"the {where} body could not be decoded ({exc}); parsed as raw bytes")
        return data


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def body_value(data: bytes, content_type: str | None, problems: list[str], where: str) -> Any:
    """A body as JSON, a form dict, text, or None when empty."""
    if not data.strip():
        return None
    ctype = (content_type or "").lower()
    if "json" in ctype:
        return load_json(data, problems, where)
    if "application/x-www-form-urlencoded" in ctype:
        return query_dict(_text(data))
    if not ctype and data.lstrip()[:1] in (b"{", b"["):
        quiet: list[str] = []
        value = load_json(data, quiet, where)
        if not quiet:
            return value
    return _text(data)


def parse(ex: Exchange) -> Parsed:
    """Parse a call to an HTTP tool backend; problems are recorded, never raised."""
    problems: list[str] = []
    req = ex.request
    body = body_value(_decoded(req.body, req.headers, problems, "request"),
                      header_value(req.headers, "content-type"), problems, "the request body")
    call = HttpToolCall(method=req.method.upper(), path=tool_path(ex),
                        query=query_dict(urlsplit(req.url).query), body=body,
                        status=ex.response.status if ex.response is not None else None)
    if ex.response is not None:
        data = _decoded(ex.response.body, ex.response.headers, problems, "response")
        call.response_body = data
        call.response_text = _text(data)
        ctype = header_value(ex.response.headers, "content-type")
        if data.strip() and ("json" in (ctype or "").lower() or data.lstrip()[:1] in b"{["):
            quiet: list[str] = []
            call.response_json = load_json(data, quiet, "the response body")
            if quiet and "json" in (ctype or "").lower():
                problems.extend(quiet)
    return Parsed(ex.id, "http_tool", problems, http=call)
