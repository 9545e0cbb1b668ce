"""The live tools behind `--miss forward`: a call no recording answers goes to the real tool
server, and its answer (provenance `live`) goes back to the agent and into the run.

MCP servers are called in the protocol generation they were recorded in: one stateless
2026-07-28 POST per call, or a handshake-era session opened once per server (initialize,
initialized) and reused. HTTP tools get the method, path, query and body of the call. The
agent's own headers are not replayed (the stubs see only the call), so tools that need
credentials must take them from the upstream URL or sit behind a `--route NAME=record`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp

from proxy.replay.mcp_protocol import LEGACY_VERSIONS, META_CAPABILITIES, MODERN_VERSIONS
from recorder.protocols.mcp import META_VERSION, result_text
from recorder.protocols.sse import parse_sse
from recorder.recorded_tool_call import HttpReply, McpServerRecord
from recorder.session import ToolResult
from recorder.version import __version__
from stubs.api import StubAnswer, ToolAnswerer, ToolQuery

CLIENT_INFO = {"name": "deploysim-serve", "version": __version__}
_DROPPED = ("content-encoding", "content-length", "transfer-encoding", "connection")


class LiveTools(ToolAnswerer):
    """A `stubs.api.ToolAnswerer` that calls the real tool servers."""

    def __init__(self, upstreams: Mapping[str | None, str],
                 servers: Mapping[str | None, McpServerRecord] | None = None, *,
                 timeout: float = 60.0) -> None:
        self.upstreams = dict(upstreams)
        self.servers = dict(servers or {})
        self.timeout = timeout
        self._client: aiohttp.ClientSession | None = None
        self._sessions: dict[str | None, tuple[str | None, str]] = {}
        self._ids = 0

    def _http(self) -> aiohttp.ClientSession:
        if self._client is None:
            self._client = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                cookie_jar=aiohttp.DummyCookieJar())
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def answer(self, query: ToolQuery) -> StubAnswer:
        """The real tool's answer; a failure to reach it is a tool error, never an exception."""
        base = self.upstreams.get(query.server)
        if base is None:
            return _failed(query, f"no upstream is known for route {query.server!r}; give "
                                  "--upstream NAME=URL to forward its misses")
        try:
            if query.kind == "http":
                return await self._http_call(base, query)
            return await self._mcp_call(base, query)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return _failed(query, f"the live tool at {base} failed: {type(exc).__name__}: {exc}")

    # -- HTTP -----------------------------------------------------------------------------

    async def _http_call(self, base: str, q: ToolQuery) -> StubAnswer:
        method, _, path = q.name.partition(" ")
        args = q.arguments if isinstance(q.arguments, dict) else {}
        url = base.rstrip("/") + path
        if args.get("query"):
            url += "?" + urlencode(args["query"], doseq=True)
        body = args.get("body")
        kw: dict[str, Any] = {}
        if isinstance(body, dict | list):
            kw["json"] = body
        elif isinstance(body, str):
            kw["data"] = body.encode()
        async with self._http().request(method, url, **kw) as resp:
            data = await resp.read()
            headers = [(k, v) for k, v in resp.headers.items() if k.lower() not in _DROPPED]
            status = resp.status
        text = data.decode("utf-8", "replace")
        try:
            structured = json.loads(data) if data.strip() else None
        except ValueError:
            structured = None
        result = ToolResult(content=text, structured=structured, is_error=status >= 400,
                            provenance="live")
        return StubAnswer(result=result, provenance="live",
                          http=HttpReply(status=status, headers=headers, body=data))

    # -- MCP ------------------------------------------------------------------------------

    def _modern(self, server: str | None) -> bool:
        rec = self.servers.get(server)
        if rec is None:
            return False
        return rec.protocol_version in MODERN_VERSIONS or bool(
            rec.init_result and "supportedVersions" in rec.init_result)

    async def _mcp_call(self, base: str, q: ToolQuery) -> StubAnswer:
        params = {"name": q.name, "arguments": q.arguments or {}}
        if self._modern(q.server):
            version = MODERN_VERSIONS[0]
            params["_meta"] = {META_VERSION: version, META_CAPABILITIES: {},
                               "io.modelcontextprotocol/clientInfo": CLIENT_INFO}
            headers = {"mcp-protocol-version": version, "mcp-method": "tools/call",
                       "mcp-name": q.name}
            reply = await self._post(base, "tools/call", params, headers)
        else:
            reply = await self._legacy_call(base, q.server, params)
        if "error" in reply:
            err = reply["error"] if isinstance(reply["error"], dict) else {}
            text = str(err.get("message", "error"))
            return StubAnswer(result=ToolResult(content=text, is_error=True, provenance="live"),
                              provenance="live", mcp_error=err)
        result = reply.get("result") if isinstance(reply.get("result"), dict) else {}
        assert isinstance(result, dict)
        return StubAnswer(
            result=ToolResult(content=result_text(result),
                              structured=result.get("structuredContent"),
                              is_error=bool(result.get("isError")), provenance="live"),
            provenance="live", mcp_result=result)

    async def _legacy_call(self, base: str, server: str | None,
                           params: dict[str, Any]) -> dict[str, Any]:
        for attempt in (0, 1):
            sid, version = self._sessions.get(server) or await self._initialize(base, server)
            headers = {"mcp-protocol-version": version}
            if sid:
                headers["mcp-session-id"] = sid
            try:
                return await self._post(base, "tools/call", params, headers)
            except _SessionGone:
                self._sessions.pop(server, None)
                if attempt:
                    raise ValueError("the MCP server keeps dropping its session") from None
        raise AssertionError("unreachable")

    async def _initialize(self, base: str, server: str | None) -> tuple[str | None, str]:
        rec = self.servers.get(server)
        version = rec.protocol_version if rec and rec.protocol_version in LEGACY_VERSIONS \
            else LEGACY_VERSIONS[0]
        params = {"protocolVersion": version, "capabilities": {}, "clientInfo": CLIENT_INFO}
        reply, sid = await self._post(base, "initialize", params, {}, want_session=True)
        result = reply.get("result") if isinstance(reply.get("result"), dict) else {}
        assert isinstance(result, dict)
        version = str(result.get("protocolVersion") or version)
        headers = {"mcp-protocol-version": version}
        if sid:
            headers["mcp-session-id"] = sid
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        async with self._http().post(base, json=note, headers=_json_headers(headers)):
            pass
        self._sessions[server] = (sid, version)
        return sid, version

    async def _post(self, base: str, method: str, params: dict[str, Any],
                    headers: dict[str, str], *, want_session: bool = False) -> Any:
        self._ids += 1
        msg_id = self._ids
        msg = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}
        async with self._http().post(base, json=msg, headers=_json_headers(headers)) as resp:
            if resp.status == 404 and "mcp-session-id" in headers:
                raise _SessionGone()
            data = await resp.read()
            sid = resp.headers.get("mcp-session-id")
            reply = _reply(data, resp.headers.get("Content-Type", ""), msg_id)
        return (reply, sid) if want_session else reply


class _SessionGone(Exception):
    pass


def _json_headers(extra: dict[str, str]) -> dict[str, str]:
    return {"Accept": "application/json, text/event-stream",
            "Content-Type": "application/json", **extra}


def _reply(data: bytes, content_type: str, msg_id: int) -> dict[str, Any]:
    """The JSON-RPC reply with our id, from a JSON body or an SSE stream."""
    docs: list[Any] = []
    if content_type.startswith("text/event-stream"):
        events, _problems = parse_sse(data)
        docs = [json.loads(e.data) for e in events if e.data.strip()]
    elif data.strip():
        docs = [json.loads(data)]
    for doc in docs:
        for m in doc if isinstance(doc, list) else [doc]:
            if isinstance(m, dict) and m.get("id") == msg_id:
                return m
    raise ValueError(f"no JSON-RPC reply with id {msg_id} came back")


def _failed(q: ToolQuery, message: str) -> StubAnswer:
    result = ToolResult(content=message, is_error=True, provenance="live")
    if q.kind == "http":
        body = json.dumps({"error": {"type": "deploysim_live_error", "message": message}})
        return StubAnswer(result=result, provenance="live", http=HttpReply(
            status=502, headers=[("Content-Type", "application/json")], body=body.encode()))
    return StubAnswer(result=result, provenance="live", mcp_result={
        "content": [{"type": "text", "text": message}], "isError": True})
