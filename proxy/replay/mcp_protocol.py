"""MCP JSON-RPC answered from recordings, independent of the transport (HTTP or stdio).

Both protocol generations are spoken, as the recorded server would:

- 2025-11-25 and earlier (handshake): `initialize` gets the recorded server info and
  capabilities (the client's version is echoed when it is one we know), `ping` gets `{}`.
- 2026-07-28 (stateless): `server/discover` gets the recorded discover result (or one built
  from the recorded initialize), every result carries `resultType` and the server info in
  `_meta`, and `ping` no longer exists (method not found, as the real server says).

`tools/list` answers the recorded tool definitions; `tools/call` goes to the stubs (matching
ignores `_meta`), whose answer to a call no recording matches is the tool's own error
(`stubs.miss_reply`), and a call of a tool the server never listed gets the server's recorded
"unknown tool" answer (`proxy.replay.mcp_miss`): never a word about the replay. Every other
request (resource, template and prompt lists, `resources/read`, `prompts/get`,
`completion/complete`, ...) gets what the server recorded for it, results and JSON-RPC errors
alike, or a fallback built from its recordings (`proxy.replay.mcp_recorded`), else "Method not
found". Replies carry the incoming id and take the form of the generation the client speaks,
whichever it was recorded in.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from proxy.replay.binding import Binding
from proxy.replay.desk import ToolDesk
from proxy.replay.diagnostics import ServedCall
from proxy.replay.mcp_miss import unknown_tool_reply
from proxy.replay.mcp_recorded import LIST_METHODS, McpRecorded
from recorder.protocols.mcp import META_SERVER_INFO, META_VERSION
from recorder.recorded_tool_call import McpServerRecord

MODERN_VERSIONS = ("2026-07-28",)
"""Protocol versions of the stateless generation (no handshake, `_meta` on every request)."""
LEGACY_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
"""Handshake-era versions, newest first."""
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
REQUEST_TIMEOUT = -32001
HEADER_MISMATCH = -32020
UNSUPPORTED_PROTOCOL_VERSION = -32022

ERROR_HTTP_STATUS = {PARSE_ERROR: 400, INVALID_REQUEST: 400, INVALID_PARAMS: 400,
                     HEADER_MISMATCH: 400, UNSUPPORTED_PROTOCOL_VERSION: 400,
                     METHOD_NOT_FOUND: 404}
"""HTTP status of a 2026-07-28 error reply, by JSON-RPC code (others are 200)."""

_MODERN_ONLY_KEYS = ("resultType", "ttlMs", "cacheScope")
_NAME_PARAMS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


def is_modern(version: str | None) -> bool:
    return version in MODERN_VERSIONS


def request_version(msg: Mapping[str, Any]) -> str | None:
    """The protocol version a 2026-07-28 request names in `params._meta`, if any."""
    params = msg.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    version = meta.get(META_VERSION) if isinstance(meta, dict) else None
    return version if isinstance(version, str) else None


def speaks_modern(doc: Any, header_version: str | None = None) -> bool:
    """Whether a JSON-RPC message or batch speaks 2026-07-28: by its `mcp-protocol-version`
    header (HTTP) or by the version its first message names in `_meta`."""
    first = doc[0] if isinstance(doc, list) and doc else doc
    return is_modern(header_version) or (isinstance(first, dict)
                                         and is_modern(request_version(first)))


def ok(msg_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "result": result}


def error(msg_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": msg_id, "error": err}


def check_modern_envelope(msg: Mapping[str, Any], headers: Mapping[str, str] | None
                          ) -> dict[str, Any] | None:
    """The ladder a 2026-07-28 server runs before dispatch: `_meta` envelope present, routing
    headers agree with the body (`mcp-protocol-version`, `mcp-method`, `mcp-name`), version
    served. The error reply for the first failed rung, or None. `headers` must answer
    lower-case names (a case-insensitive mapping, or one with lower-case keys)."""
    msg_id = msg.get("id")
    params = msg.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        return error(msg_id, INVALID_PARAMS, "params._meta must be an object carrying the "
                     f"required {META_VERSION!r} and {META_CAPABILITIES!r} envelope keys")
    missing = [k for k in (META_VERSION, META_CAPABILITIES) if k not in meta]
    if missing:
        return error(msg_id, INVALID_PARAMS, "params._meta is missing the required envelope "
                     f"key(s): {', '.join(missing)}")
    version = meta[META_VERSION]
    if headers is not None:
        if headers.get("mcp-protocol-version") != version:
            return error(msg_id, HEADER_MISMATCH, "mcp-protocol-version header does not match "
                         "the request envelope's protocol version")
        method = msg.get("method")
        if headers.get("mcp-method") != method:
            return error(msg_id, HEADER_MISMATCH,
                         "mcp-method header does not match the request body's method")
        name_key = _NAME_PARAMS.get(str(method))
        if name_key is not None and isinstance(params, dict):
            value = params.get(name_key)
            if value is not None and _header_text(headers.get("mcp-name")) != value:
                return error(msg_id, HEADER_MISMATCH, "mcp-name header does not match the "
                             f"request body's {name_key!r} parameter")
    if not isinstance(version, str) or version not in MODERN_VERSIONS:
        return error(msg_id, UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version",
                     {"supported": list(MODERN_VERSIONS), "requested": version})
    return None


def _header_text(value: str | None) -> str | None:
    """An `mcp-name` header value; non-ASCII names travel base64-encoded as `=?base64?...?=`."""
    if value is None or not (value.startswith("=?base64?") and value.endswith("?=")):
        return value
    import base64
    import binascii

    try:
        return base64.b64decode(value[len("=?base64?"):-2], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return value


@dataclass
class McpCallContext:
    """What one incoming message needs besides itself."""

    binding: Binding
    modern: bool
    served: list[ServedCall] = field(default_factory=list)
    """Tool calls answered while handling the message (for the run capture)."""


class McpResponder:
    """Answers the MCP requests of one recorded server."""

    def __init__(self, server: str | None, record: McpServerRecord | None, desk: ToolDesk,
                 recorded: McpRecorded | None = None) -> None:
        self.server = server
        self.record = record or McpServerRecord(server=server)
        self.desk = desk
        self.recorded = recorded or McpRecorded()
        """The server's recorded replies to everything but tools/call, and its tool errors."""
        self.listed = frozenset(t["name"] for t in self.record.tools)

    # -- recorded facts -------------------------------------------------------------------

    @functools.cached_property
    def server_info(self) -> dict[str, Any]:
        """The recorded `serverInfo` (shared by every reply: never mutated)."""
        info = self.record.server_info
        return dict(info) if info else {"name": self.server or "mcp", "version": ""}

    def capabilities(self) -> dict[str, Any]:
        caps = dict(self.record.capabilities)
        caps.setdefault("tools", {"listChanged": False})
        return caps

    def initialize_result(self, requested: Any) -> dict[str, Any]:
        """The handshake answer: the recorded one when it was a handshake, else built."""
        recorded = self.record.init_result
        if recorded is not None and "protocolVersion" in recorded:
            result = dict(recorded)
        else:
            result = {"capabilities": self.capabilities(), "serverInfo": self.server_info}
            if self.record.instructions:
                result["instructions"] = self.record.instructions
        if requested in LEGACY_VERSIONS:
            result["protocolVersion"] = requested
        elif self.record.protocol_version in LEGACY_VERSIONS:
            result["protocolVersion"] = self.record.protocol_version
        else:
            result["protocolVersion"] = LEGACY_VERSIONS[0]
        return result

    def discover_result(self) -> dict[str, Any]:
        """The stateless discover answer: the recorded one, or one built from the handshake."""
        recorded = self.record.init_result
        if recorded is not None and "supportedVersions" in recorded:
            return dict(recorded)
        result: dict[str, Any] = {"capabilities": self.capabilities(),
                                  "supportedVersions": list(MODERN_VERSIONS)}
        if self.record.instructions:
            result["instructions"] = self.record.instructions
        return self.modern(result)

    def modern(self, result: dict[str, Any], *, listing: bool = False) -> dict[str, Any]:
        """A result as a 2026-07-28 server sends it."""
        out = dict(result)
        out.setdefault("resultType", "complete")
        if listing or "supportedVersions" in out:
            out.setdefault("ttlMs", 0)
            out.setdefault("cacheScope", "private")
        meta = dict(out.get("_meta") or {})
        meta.setdefault(META_SERVER_INFO, self.server_info)
        out["_meta"] = meta
        return out

    @staticmethod
    def legacy(result: dict[str, Any]) -> dict[str, Any]:
        """A result as a handshake-era server sends it (no stateless-only keys, no server info
        in `_meta`), whichever generation it was recorded in."""
        meta = result.get("_meta")
        modern_meta = isinstance(meta, dict) and META_SERVER_INFO in meta
        if not modern_meta and not any(k in result for k in _MODERN_ONLY_KEYS):
            return result
        out = {k: v for k, v in result.items() if k not in _MODERN_ONLY_KEYS}
        if isinstance(meta, dict) and modern_meta:
            rest = {k: v for k, v in meta.items() if k != META_SERVER_INFO}
            out.pop("_meta")
            if rest:
                out["_meta"] = rest
        return out

    # -- dispatch -------------------------------------------------------------------------

    async def handle_all(self, messages: list[Any], ctx: McpCallContext,
                         headers: Mapping[str, str] | None) -> list[dict[str, Any]]:
        """The replies to a message or batch, in order (notifications get none). A 2026-07-28
        request passes the envelope checks first (`check_modern_envelope`; `headers` None on
        stdio, which has no routing headers)."""
        replies: list[dict[str, Any]] = []
        for msg in messages:
            reply: dict[str, Any] | None = None
            if ctx.modern and isinstance(msg, dict) and "method" in msg and "id" in msg:
                reply = check_modern_envelope(msg, headers)
            if reply is None:
                reply = await self.handle(msg, ctx)
            if reply is not None:
                replies.append(reply)
        return replies

    async def handle(self, msg: Any, ctx: McpCallContext) -> dict[str, Any] | None:
        """The reply to one JSON-RPC message, or None (notifications, client responses)."""
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            return error(None, INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message")
        method = msg.get("method")
        if not isinstance(method, str):
            return None  # a response to a server request we never sent: nothing to do
        if "id" not in msg:
            return None  # notifications (initialized, cancelled, progress, ...) are accepted
        msg_id = msg["id"]
        params = msg.get("params")
        if params is not None and not isinstance(params, dict):
            return error(msg_id, INVALID_PARAMS, "Invalid params: params must be an object")
        params = params or {}
        if method == "tools/call":
            return await self._call(msg_id, params, ctx)
        if method == "initialize":
            return ok(msg_id, self.initialize_result(params.get("protocolVersion")))
        if method == "server/discover":
            return ok(msg_id, self.discover_result())
        if method == "tools/list" and (self.record.tools or not self.recorded.errors(method)):
            result = {"tools": list(self.record.tools)}
            return ok(msg_id, self.modern(result, listing=True) if ctx.modern else result)
        if method == "ping" and not ctx.modern:
            return ok(msg_id, {})
        if method == "logging/setLevel":
            return ok(msg_id, self.modern({}) if ctx.modern else {})
        return self._recorded(msg_id, method, params, ctx)

    async def _call(self, msg_id: Any, params: dict[str, Any],
                    ctx: McpCallContext) -> dict[str, Any]:
        name = params.get("name")
        if not isinstance(name, str):
            return error(msg_id, INVALID_PARAMS, "Invalid params: tools/call needs a tool name")
        arguments = params.get("arguments")
        served = await self.desk.answer("mcp", self.server, name,
                                        arguments if arguments is not None else {}, ctx.binding)
        ctx.served.append(served)
        answer = served.answer
        if answer.timeout:
            return error(msg_id, REQUEST_TIMEOUT, "Request timed out")
        if answer.provenance.startswith("miss"):
            unknown = unknown_tool_reply(name, errors=self.recorded.tool_errors,
                                         listed=self.listed)
            if unknown is not None:
                return self._reply(msg_id, unknown, ctx)
        if answer.mcp_error is not None:
            err = dict(answer.mcp_error)
            err.setdefault("code", -32603)
            err.setdefault("message", answer.result.content or "Internal error")
            return {"jsonrpc": "2.0", "id": msg_id, "error": err}
        result = answer.mcp_result
        if result is None:
            result = {"content": [{"type": "text", "text": answer.result.content}],
                      "isError": answer.result.is_error}
        return ok(msg_id, self.modern(result) if ctx.modern else self.legacy(result))

    def _recorded(self, msg_id: Any, method: str, params: dict[str, Any],
                  ctx: McpCallContext) -> dict[str, Any]:
        # capabilities are known only when the handshake (or discover) was recorded
        caps = self.record.capabilities if self.record.init_result is not None else None
        reply = self.recorded.answer(method, params, caps)
        if reply is None:
            return error(msg_id, METHOD_NOT_FOUND, "Method not found", method)
        return self._reply(msg_id, reply, ctx, listing=method in LIST_METHODS)

    def _reply(self, msg_id: Any, reply: Mapping[str, Any], ctx: McpCallContext, *,
               listing: bool = False) -> dict[str, Any]:
        """A recorded (or recorded-shaped) reply sent with this request's id, its result in
        the form of the generation the client speaks."""
        result = reply.get("result")
        if isinstance(result, dict):
            return ok(msg_id, self.modern(result, listing=listing) if ctx.modern
                      else self.legacy(result))
        err = reply.get("error")
        if isinstance(err, dict):
            return {"jsonrpc": "2.0", "id": msg_id, "error": dict(err)}
        return error(msg_id, -32603, "Internal error")


def route_replies(recorded: Mapping[str | None, McpRecorded],
                  server: str | None) -> McpRecorded:
    """The recorded replies of one server out of a catalogue keyed by route."""
    return recorded.get(server) or McpRecorded()
