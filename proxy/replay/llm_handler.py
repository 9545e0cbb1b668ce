"""LLM API routes: forwarded to the candidate model, or answered from recorded responses.

With `--candidate [NAME=]URL` a route's model calls go to the candidate, streamed through
untouched by the gateway's forwarder and captured for the run: the agent's own loop drives
the candidate. Without one, they are answered from the corpus (`proxy.replay.llm_index`), so
an agent's tool-handling code can be tested against the recorded model, deterministically.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from proxy.forward import HOP_BY_HOP
from proxy.replay.binding import bind
from proxy.replay.diagnostics import ServeLog
from proxy.replay.llm_index import Found, LlmIndex, RecordedResponse, request_view
from proxy.replay.run_capture import SERVED_LABEL, RunCapture, local_capture
from proxy.request_body import decoded_body
from proxy.routes import Mode, Route

if TYPE_CHECKING:
    from proxy.gateway import Gateway

_NOT_REPLAYED = HOP_BY_HOP | {"content-length", "date"}


class LlmRouteHandler:
    """`RouteHandler` for LLM routes (see the module docstring)."""

    def __init__(self, log: ServeLog, *, candidates: Mapping[str | None, str] | None = None,
                 index: LlmIndex | None = None, capture: RunCapture | None = None,
                 session_header: str = "X-Deploysim-Session",
                 bases: Mapping[str | None, str] | None = None) -> None:
        self.log = log
        self.candidates = {name: Route(name, url, Mode.RECORD)
                           for name, url in (candidates or {}).items()}
        self.index = index or LlmIndex()
        self.capture = capture
        self.session_header = session_header
        self.bases = dict(bases or {})
        self._positions: Counter[tuple[str | None, str]] = Counter()
        self._gateway: Gateway | None = None

    async def start(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def close(self) -> None:
        """The forwarder belongs to the gateway."""

    async def handle(self, request: web.Request, route: Route, rest: str) -> web.StreamResponse:
        candidate = self.candidates.get(route.name)
        if candidate is not None:
            assert self._gateway is not None and self._gateway.forwarder is not None
            resp = await self._gateway.forwarder.forward(
                request, candidate, candidate_path(candidate.upstream_path, rest),
                record=self.capture is not None,
                labels={SERVED_LABEL: "deploysim serve", "llm": "candidate"})
            # a candidate that answers every call with an error (a wrong --candidate URL
            # answers 404) must not pass for one that answered: counted apart and warned of
            if resp.status >= 400:
                self.log.llm_call("candidate_failed", route=route.name, status=resp.status)
            else:
                self.log.llm_call("candidate")
            return resp
        return await self._recorded(request, route, rest)

    async def _recorded(self, request: web.Request, route: Route,
                        rest: str) -> web.StreamResponse:
        started, t0 = time.time(), time.perf_counter()
        body = await decoded_body(request)
        path = rest.partition("?")[0] or "/"
        headers = [(k, v) for k, v in request.headers.items()]
        call = request_view(request.method, path, headers, body)
        # Gemini asks for a stream in the URL (`:streamGenerateContent`), the others in the body
        stream = _wants_stream(body) or (call is not None and call.stream)
        session = request.headers.get(self.session_header)
        binding = bind(session)
        if call is None:
            found = Found(None, "miss", f"{request.method} {path} is not a model call deploysim "
                                        "can answer from recordings")
        else:
            slot = (route.name, binding.key)
            position = self._positions[slot]
            self._positions[slot] = position + 1
            found = self.index.lookup(route.name, call, body, stream=stream,
                                      trajectory=binding.key, session=session,
                                      position=position)
        if found.response is None:
            self.log.llm_call("miss", route=route.name, reason=found.reason)
            resp = _miss(call.api if call else "", found.reason)
            out: web.StreamResponse = resp
            status, data, chunks = resp.status, resp.body, None
        else:
            self.log.llm_call("recorded")
            out, status, data, chunks = await self._send(request, found.response, stream)
        if self.capture is not None:
            cap = local_capture(request, route, self.bases.get(route.name), rest, body, started,
                                session_header=self.session_header)
            cap.labels["llm"] = "recorded" if found.response is not None else "miss"
            cap.status = status
            cap.response_headers = [(k, v) for k, v in out.headers.items()]
            if chunks is not None:
                cap.chunks = [(0.0, c) for c in chunks]
            else:
                cap.response_body = data if isinstance(data, bytes) else b""
            cap.ended_at = started + (time.perf_counter() - t0)
            await self.capture.put(cap, recorded_llm=found.response is not None)
        return out

    async def _send(self, request: web.Request, r: RecordedResponse, stream: bool
                    ) -> tuple[web.StreamResponse, int, bytes, list[bytes] | None]:
        if r.chunks is not None and stream:
            resp = web.StreamResponse(status=r.status)
            _copy_headers(resp, r.headers)
            await resp.prepare(request)
            for chunk in r.chunks:
                await resp.write(chunk)
            await resp.write_eof()
            return resp, r.status, b"", list(r.chunks)
        if r.chunks is not None:  # a stream answering a plain request: what it added up to
            data = json.dumps(r.native).encode()
            plain = web.Response(status=r.status, body=data, content_type="application/json")
            return plain, r.status, data, None
        plain = web.Response(status=r.status, body=r.body)
        _copy_headers(plain, r.headers)
        return plain, r.status, r.body, None


def candidate_path(base_path: str, rest: str) -> str:
    """The path to send to a candidate whose base URL has `base_path`: `rest` without the
    segments the base already ends with, so `--candidate http://host:8000/v1` and
    `--candidate http://host:8000` both turn the agent's `/v1/chat/completions` into
    `http://host:8000/v1/chat/completions`.

    >>> candidate_path("/v1", "/v1/chat/completions?x=1")
    '/chat/completions?x=1'
    """
    path, sep, query = rest.partition("?")
    base = [p for p in base_path.split("/") if p]
    parts = path.split("/")
    segments = [p for p in parts if p]
    for k in range(min(len(base), len(segments)), 0, -1):
        if base[-k:] == segments[:k]:
            trimmed = "/" + "/".join(segments[k:])
            if path.endswith("/") and segments[k:]:
                trimmed += "/"
            return trimmed + sep + query
    return rest


def _copy_headers(resp: web.StreamResponse, headers: list[tuple[str, str]]) -> None:
    for k, v in headers:
        if k.lower() not in _NOT_REPLAYED:
            resp.headers.add(k, v)


def _wants_stream(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and bool(doc.get("stream"))


def _miss(api: str, reason: str) -> web.Response:
    """A 400 the SDKs raise at once (no retries), in the provider's error format."""
    message = f"deploysim serve: {reason}."
    if api == "anthropic_messages":
        body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    elif api == "gemini":
        body = {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
    else:
        body = {"error": {"message": message, "type": "invalid_request_error",
                          "param": None, "code": "deploysim_no_recorded_response"}}
    return web.json_response(body, status=400)
