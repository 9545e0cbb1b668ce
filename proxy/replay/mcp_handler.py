"""MCP streamable HTTP, answered from recordings: the transport around `McpResponder`.

- POST carries one JSON-RPC message (or a batch, for old clients). Requests get their replies
  as JSON or as an SSE stream: a 2026-07-28 request gets JSON (SSE only when the client does
  not accept JSON), a handshake-era request gets SSE when the client accepts it (what the
  `mcp` SDK's own server sends), else JSON. Notifications alone get `202 Accepted`.
- Handshake-era sessions: `initialize` issues an `Mcp-Session-Id` (derived from the run seed,
  so reruns match), later requests carry it (unknown ids get 404, so the client starts over),
  GET opens the server's event stream (kept open with pings; nothing is ever pushed), DELETE
  ends the session.
- 2026-07-28 requests are checked like the real server checks them (envelope in `_meta`,
  `mcp-method` / `mcp-name` / `mcp-protocol-version` headers agreeing with the body).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from proxy.replay.binding import bind, mcp_session_id
from proxy.replay.desk import ToolDesk
from proxy.replay.diagnostics import ServedCall
from proxy.replay.mcp_protocol import (
    ERROR_HTTP_STATUS,
    INVALID_REQUEST,
    PARSE_ERROR,
    McpCallContext,
    McpResponder,
    error,
    is_modern,
    speaks_modern,
)
from proxy.replay.run_capture import RunCapture, local_capture
from proxy.request_body import decoded_body
from proxy.routes import Route

if TYPE_CHECKING:
    from proxy.gateway import Gateway

SESSION_HEADER = "Mcp-Session-Id"
PING_INTERVAL = 15.0
"""Seconds between keep-alive comments on an open GET stream (also how a gone client is
noticed: the write fails)."""
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache, no-transform",
                "X-Accel-Buffering": "no"}


@dataclass
class _Session:
    """A handshake-era MCP session issued by this proxy."""

    id: str
    route: str | None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    streams: int = 0


class McpReplayHandler:
    """`RouteHandler` for MCP routes: one `McpResponder` per route name."""

    def __init__(self, responders: Mapping[str | None, McpResponder], desk: ToolDesk, *,
                 seed: int = 0, capture: RunCapture | None = None,
                 session_header: str = "X-Deploysim-Session",
                 bases: Mapping[str | None, str] | None = None) -> None:
        self.responders = dict(responders)
        self.desk = desk
        self.seed = seed
        self.capture = capture
        self.session_header = session_header
        self.bases = dict(bases or {})
        self._sessions: dict[str, _Session] = {}
        self._issued: dict[str | None, int] = {}
        self._closing = asyncio.Event()

    async def start(self, gateway: Gateway) -> None:
        # GET streams stay open until the client or the session goes; the gateway's shutdown
        # must end them first, or stopping would wait for every open stream to time out.
        gateway.app.on_shutdown.append(self._on_shutdown)
        self._closing = asyncio.Event()

    async def close(self) -> None:
        self._end_all()

    async def _on_shutdown(self, app: web.Application) -> None:
        self._end_all()

    def _end_all(self) -> None:
        self._closing.set()
        for s in self._sessions.values():
            s.ended.set()

    async def handle(self, request: web.Request, route: Route, rest: str) -> web.StreamResponse:
        method = request.method
        if method == "POST":
            return await self._post(request, route, rest)
        if method == "GET":
            return await self._get(request, route)
        if method == "DELETE":
            return await self._delete(request, route, rest)
        return web.Response(status=405, headers={"Allow": "GET, POST, DELETE"})

    # -- POST -----------------------------------------------------------------------------

    async def _post(self, request: web.Request, route: Route, rest: str) -> web.StreamResponse:
        started, t0 = time.time(), time.perf_counter()
        body = await decoded_body(request)
        headers = request.headers  # case-insensitive lookups, no copy
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:
            failed = error(None, PARSE_ERROR, f"Parse error: {exc}")
            return await self._finish(request, route, rest, body, started, t0, 400,
                                      json_body(failed), {}, [])
        responder = self.responders.get(route.name)
        assert responder is not None, f"no MCP responder for route {route.label}"
        first = doc[0] if isinstance(doc, list) and doc else doc
        modern = speaks_modern(doc, headers.get("mcp-protocol-version"))
        extra: dict[str, str] = {}
        sid: str | None = None
        if not modern:
            sid = headers.get("mcp-session-id")
            if isinstance(first, dict) and first.get("method") == "initialize":
                sid = self._open_session(route.name)
            elif sid is not None and sid not in self._sessions:
                gone = error(None, INVALID_REQUEST, "Session not found")
                return await self._finish(request, route, rest, body, started, t0, 404,
                                          json_body(gone), {}, [])
            if sid is not None:
                extra[SESSION_HEADER] = sid
        ctx = McpCallContext(bind(headers.get(self.session_header), sid), modern)
        replies = await responder.handle_all(doc if isinstance(doc, list) else [doc], ctx,
                                             headers)
        if not replies:
            return await self._finish(request, route, rest, body, started, t0, 202, b"", extra,
                                      ctx.served)
        status = 200
        if modern and len(replies) == 1 and "error" in replies[0]:
            status = ERROR_HTTP_STATUS.get(replies[0]["error"].get("code"), 200)
        accept = headers.get("accept", "")
        wants_sse = "text/event-stream" in accept
        wants_json = "application/json" in accept or "*/*" in accept or not accept
        if (wants_sse and not modern) or (wants_sse and not wants_json):
            events = [sse_event(r) for r in replies]
            return await self._finish(request, route, rest, body, started, t0, status, events,
                                      extra, ctx.served)
        payload = replies if isinstance(doc, list) else replies[0]
        return await self._finish(request, route, rest, body, started, t0, status,
                                  json_body(payload), extra, ctx.served)

    def _open_session(self, route: str | None) -> str:
        n = self._issued.get(route, 0)
        self._issued[route] = n + 1
        sid = mcp_session_id(self.seed, route, n)
        self._sessions[sid] = _Session(sid, route)
        return sid

    async def _finish(self, request: web.Request, route: Route, rest: str, body: bytes,
                      started: float, t0: float, status: int, payload: bytes | list[bytes],
                      extra: dict[str, str], served: list[ServedCall]) -> web.StreamResponse:
        """Send the reply (JSON body, or SSE events written one by one) and capture it."""
        if isinstance(payload, list):
            resp = web.StreamResponse(status=status, headers={**_SSE_HEADERS, **extra})
            await resp.prepare(request)
            for event in payload:
                await resp.write(event)
            await resp.write_eof()
            out: web.StreamResponse = resp
            data = b"".join(payload)
        else:
            ctype = {"Content-Type": "application/json"} if payload else {}
            out = web.Response(status=status, body=payload, headers={**ctype, **extra})
            data = payload
        if self.capture is not None:
            cap = local_capture(request, route, self.bases.get(route.name), rest, body, started,
                                session_header=self.session_header)
            cap.status = status
            cap.response_headers = [(k, v) for k, v in out.headers.items()]
            if isinstance(payload, list):
                cap.chunks = [(0.0, e) for e in payload]
            else:
                cap.response_body = data
            cap.ended_at = started + (time.perf_counter() - t0)
            await self.capture.put(cap, served)
        return out

    # -- GET and DELETE -------------------------------------------------------------------

    async def _get(self, request: web.Request, route: Route) -> web.StreamResponse:
        if is_modern(request.headers.get("mcp-protocol-version")):
            return web.Response(status=405, headers={"Allow": "POST"})
        if "text/event-stream" not in request.headers.get("Accept", ""):
            return web.json_response(error(None, INVALID_REQUEST, "Not Acceptable: Client must "
                                           "accept text/event-stream"), status=406)
        session = self._session_of(request)
        if session is None:
            return web.json_response(error(None, INVALID_REQUEST, "Bad Request: No valid "
                                           "session ID provided"), status=400)
        if session.streams:
            return web.json_response(error(None, INVALID_REQUEST, "Conflict: Only one SSE "
                                           "stream is allowed per session"), status=409)
        session.streams += 1
        resp = web.StreamResponse(headers={**_SSE_HEADERS, SESSION_HEADER: session.id})
        try:
            await resp.prepare(request)
            while not session.ended.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(session.ended.wait(), PING_INTERVAL)
                    break
                await resp.write(b": ping\r\n\r\n")  # fails once the client has gone
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            session.streams -= 1
        with contextlib.suppress(ConnectionResetError, ConnectionError):
            await resp.write_eof()
        return resp

    async def _delete(self, request: web.Request, route: Route, rest: str
                      ) -> web.StreamResponse:
        sid = request.headers.get("mcp-session-id")
        if sid is None:
            return web.json_response(error(None, INVALID_REQUEST, "Bad Request: Missing "
                                           "session ID"), status=400)
        session = self._sessions.pop(sid, None)
        if session is None:
            return web.json_response(error(None, INVALID_REQUEST, "Session not found"),
                                     status=404)
        session.ended.set()
        self.desk.forget(bind(None, sid).key)
        return web.Response(status=200, headers={SESSION_HEADER: sid})

    def _session_of(self, request: web.Request) -> _Session | None:
        sid = request.headers.get("mcp-session-id")
        return self._sessions.get(sid) if sid else None


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""One encoder for every reply (`json.dumps` with options builds a new one per call)."""


def json_body(payload: Any) -> bytes:
    return _ENCODER.encode(payload).encode()


def sse_event(message: dict[str, Any]) -> bytes:
    """One JSON-RPC message as an SSE `message` event, framed as the `mcp` SDK frames it."""
    return b"event: message\r\ndata: " + json_body(message) + b"\r\n\r\n"
