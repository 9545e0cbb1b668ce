"""HTTP tool routes answered from recordings: the recorded status, headers and body.

A request becomes a tool call named `METHOD /path` (the path after the route prefix) with
arguments `{"query": {...}, "body": ...}` — parsed exactly as the recorder parses a recorded
call, so the two meet in the stub index. Perturbations reach the agent as the reply it gets:
another status, an altered body, a delay; a timeout answers 504 after its delay.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from proxy.forward import HOP_BY_HOP
from proxy.replay.binding import bind
from proxy.replay.desk import ToolDesk
from proxy.replay.run_capture import RunCapture, local_capture
from proxy.routes import Route
from recorder.protocols.bodies import BodyDecodeError, decode_body, encodings_of
from recorder.protocols.http_tool import body_value, query_dict
from recorder.recorded_tool_call import HttpReply

if TYPE_CHECKING:
    from proxy.gateway import Gateway

PROVENANCE_HEADER = "X-Deploysim-Provenance"
"""Says how the proxy answered (exact, nearest, synthetic, ..., miss), for people debugging
with curl: sent only to a request carrying `DEBUG_HEADER`, since an agent's shell tool that
prints headers (`curl -i`) would otherwise show the model that it is in a replay."""
DEBUG_HEADER = "X-Deploysim-Debug"
_NOT_REPLAYED = HOP_BY_HOP | {"content-length", "content-encoding", "date", "server"}
"""The recorded body is stored decoded; aiohttp frames it anew."""


class HttpNames:
    """Maps a request path to the recorded tool name of its route.

    Recordings made without an `upstream_path` label name calls by the upstream's full path
    (`/api/v2/items`), while the agent calls `/items` under the route. The upstream's base path
    is the same for every call of a route, so it is learnt once from the first path that only
    matches with a prefix.
    """

    def __init__(self, recorded: Mapping[str | None, set[str]]) -> None:
        self.recorded = {k: set(v) for k, v in recorded.items()}
        self._prefix: dict[str | None, str] = {}

    def resolve(self, route: str | None, method: str, path: str) -> str:
        name = f"{method} {path}"
        known = self.recorded.get(route)
        if not known or name in known:
            return name
        prefix = self._prefix.get(route)
        if prefix is not None:
            return f"{method} {prefix}{path}"
        for other in sorted(known):
            m, _, p = other.partition(" ")
            if m != method or len(p) <= len(path) or not p.endswith(path):
                continue
            base = p[: len(p) - len(path)]
            if base.startswith("/") and not base.endswith("/") and all(
                    q.partition(" ")[2].startswith(base + "/") for q in known):
                self._prefix[route] = base
                return other
        return name


class HttpToolReplayHandler:
    """`RouteHandler` for HTTP tool routes."""

    def __init__(self, desk: ToolDesk, *, names: HttpNames | None = None,
                 capture: RunCapture | None = None, session_header: str = "X-Deploysim-Session",
                 bases: Mapping[str | None, str] | None = None) -> None:
        self.desk = desk
        self.names = names or HttpNames({})
        self.capture = capture
        self.session_header = session_header
        self.bases = dict(bases or {})

    async def start(self, gateway: Gateway) -> None:
        """Nothing to set up."""

    async def close(self) -> None:
        """Nothing to release."""

    async def handle(self, request: web.Request, route: Route, rest: str) -> web.StreamResponse:
        started, t0 = time.time(), time.perf_counter()
        raw = await request.read()
        path, _, query = rest.partition("?")
        body = None
        if raw:
            coding = request.headers.get("Content-Encoding")
            try:
                decoded = decode_body(raw, encodings_of([("content-encoding", coding)])
                                      if coding else [])
            except BodyDecodeError:
                decoded = raw
            problems: list[str] = []
            body = body_value(decoded, request.headers.get("Content-Type"), problems, "body")
        name = self.names.resolve(route.name, request.method.upper(), path or "/")
        binding = bind(request.headers.get(self.session_header))
        served = await self.desk.answer("http", route.name, name,
                                        {"query": query_dict(query), "body": body}, binding)
        answer = served.answer
        if answer.timeout:  # what a gateway in front of a hung service says, nothing more
            reply = HttpReply(status=504, headers=[("Content-Type", "application/json")],
                              body=json.dumps({"error": {
                                  "code": 504, "message": "Gateway Timeout"}}).encode())
        else:
            reply = answer.http or HttpReply(
                status=500 if answer.result.is_error else 200,
                headers=[("Content-Type", "text/plain; charset=utf-8")],
                body=answer.result.content.encode())
        resp = web.Response(status=reply.status, body=reply.body)
        for k, v in reply.headers:
            if k.lower() not in _NOT_REPLAYED:
                resp.headers.add(k, v)
        if DEBUG_HEADER in request.headers:
            resp.headers[PROVENANCE_HEADER] = answer.provenance
        if self.capture is not None:
            cap = local_capture(request, route, self.bases.get(route.name), rest, raw, started,
                                session_header=self.session_header)
            cap.status = reply.status
            cap.response_headers = [(k, v) for k, v in resp.headers.items()]
            cap.response_body = reply.body
            cap.ended_at = started + (time.perf_counter() - t0)
            await self.capture.put(cap, [served])
        return resp
