"""MCP JSON-RPC: streamable HTTP (JSON or SSE replies) and stdio lines, both protocol eras.

- 2025-11-25 (session-based): `initialize` → `notifications/initialized`, `Mcp-Session-Id`,
  replies to POSTs usually SSE; GET opens a server stream, DELETE ends the session.
- 2026-07-28 (stateless): `server/discover`, `_meta` on every request (protocol version,
  client info), JSON replies, `mcp-method` / `mcp-name` headers; server info in result `_meta`.

A stdio exchange holds one client line in `request.body` and the server's reply line(s) in
`response.body` (empty for a notification).
"""

from __future__ import annotations

from typing import Any

from recorder.exchange import Exchange
from recorder.protocols.bodies import BodyDecodeError, decode_body, encodings_of, header_value
from recorder.protocols.parsed import McpCall, McpMessage, McpTraffic, Parsed, load_json
from recorder.protocols.sse import is_event_stream, parse_sse

META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"


def is_jsonrpc(obj: Any) -> bool:
    """True for a JSON-RPC 2.0 message or a non-empty batch of them."""
    if isinstance(obj, list):
        return bool(obj) and all(isinstance(m, dict) and m.get("jsonrpc") == "2.0" for m in obj)
    return isinstance(obj, dict) and obj.get("jsonrpc") == "2.0"


def to_message(obj: Any, problems: list[str], where: str) -> McpMessage | None:
    """One JSON-RPC message, or None (with a problem) when `obj` is not one."""
    if not isinstance(obj, dict) or obj.get("jsonrpc") != "2.0":
        problems.append(f"{where} holds something that is not a JSON-RPC 2.0 message")
        return None
    if isinstance(obj.get("method"), str):
        params = obj.get("params")
        meta = None
        if isinstance(params, dict) and "_meta" in params:
            params = dict(params)
            meta = params.pop("_meta")
        elif params is not None and not isinstance(params, dict):
            params = {"_positional": params}
        return McpMessage(kind="request" if "id" in obj else "notification", id=obj.get("id"),
                          method=obj["method"], params=params,
                          meta=meta if isinstance(meta, dict) else None)
    if "result" in obj:
        return McpMessage(kind="result", id=obj.get("id"), result=obj["result"])
    if "error" in obj:
        err = obj["error"] if isinstance(obj["error"], dict) else {"message": str(obj["error"])}
        return McpMessage(kind="error", id=obj.get("id"), error=err)
    problems.append(f"{where} holds a JSON-RPC message with neither method, result nor error")
    return None


def _messages(doc: Any, problems: list[str], where: str) -> list[McpMessage]:
    items = doc if isinstance(doc, list) else [doc]
    out = []
    for item in items:
        m = to_message(item, problems, where)
        if m is not None:
            out.append(m)
    return out


def _body(data: bytes, headers: list[tuple[str, str]], problems: list[str], where: str) -> bytes:
    try:
        return decode_body(data, encodings_of(headers))
    except BodyDecodeError as exc:
        problems.append(f"the {where} body could not be decoded ({exc})")
        return b""


def parse(ex: Exchange) -> Parsed:
    """Parse an MCP exchange; problems are recorded, never raised."""
    problems: list[str] = []
    traffic = McpTraffic(http_method=ex.request.method)
    req_headers = ex.request.headers
    traffic.session_id = header_value(req_headers, "mcp-session-id")
    traffic.protocol_version = header_value(req_headers, "mcp-protocol-version")
    sent: list[McpMessage] = []
    body = _body(ex.request.body, req_headers, problems, "request")
    if body.strip():
        doc = load_json(body, problems, "the MCP request body")
        if doc is not None:
            sent = _messages(doc, problems, "the MCP request body")
    received: list[McpMessage] = []
    resp = ex.response
    if resp is not None:
        traffic.session_id = traffic.session_id or header_value(resp.headers, "mcp-session-id")
        rbody = _body(resp.body, resp.headers, problems, "response")
        ctype = header_value(resp.headers, "content-type")
        stripped = rbody.lstrip()
        if is_event_stream(ctype) or stripped.startswith((b"event:", b"data:", b"id:", b":")):
            events, sse_problems = parse_sse(rbody)
            problems.extend(f"MCP reply stream: {p}" for p in sse_problems)
            for i, event in enumerate(events):
                if not event.data.strip():
                    continue  # priming events carry no message
                doc = load_json(event.data, problems, f"MCP reply event #{i + 1}")
                if doc is not None:
                    received.extend(_messages(doc, problems, f"MCP reply event #{i + 1}"))
        elif stripped:
            doc = load_json(rbody, problems, "the MCP reply body")
            if doc is not None and (resp.status < 400 or is_jsonrpc(doc)):
                received = _messages(doc, problems, "the MCP reply body")
            elif doc is not None:
                problems.append(f"the MCP reply is HTTP {resp.status} without a JSON-RPC message")
    _pair(traffic, sent, received, problems)
    if traffic.protocol_version is None:
        traffic.protocol_version = _version(traffic)
    return Parsed(ex.id, "mcp", problems, mcp=traffic)


def _pair(traffic: McpTraffic, sent: list[McpMessage], received: list[McpMessage],
          problems: list[str]) -> None:
    by_id: dict[str, McpCall] = {}
    for m in sent:
        if m.kind == "request":
            call = McpCall(request=m)
            traffic.calls.append(call)
            by_id[repr(m.id)] = call
        elif m.kind == "notification":
            traffic.notifications.append(m)
        # results/errors the client sends answer server requests; nothing to pair them with here
    for m in received:
        if m.kind in ("result", "error"):
            match = by_id.get(repr(m.id))
            if match is None:
                problems.append(f"an MCP reply has id {m.id!r}, which no request here used")
            else:
                match.reply = m
        elif m.kind == "notification":
            traffic.notifications.append(m)
        else:
            traffic.server_requests.append(m)


def _version(traffic: McpTraffic) -> str | None:
    for call in traffic.calls:
        meta = call.request.meta or {}
        if isinstance(meta.get(META_VERSION), str):
            return str(meta[META_VERSION])
        if call.request.method == "initialize" and call.reply is not None:
            result = call.reply.result
            if isinstance(result, dict) and isinstance(result.get("protocolVersion"), str):
                return str(result["protocolVersion"])
    return None


def result_text(result: Any) -> str:
    """The text a model sees for a `tools/call` result: its text content items joined."""
    if not isinstance(result, dict):
        return ""
    parts = []
    for item in result.get("content") or []:
        if isinstance(item, dict):
            if item.get("type") == "text" and isinstance(item.get("text"), str):
                parts.append(item["text"])
            elif item.get("type") == "resource" and isinstance(item.get("resource"), dict):
                text = item["resource"].get("text")
                if isinstance(text, str):
                    parts.append(text)
    return "\n".join(parts)
