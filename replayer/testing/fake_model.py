"""A scripted fake model server — a simulation, not a model — speaking the real wire formats.

It serves OpenAI Chat Completions (`POST /v1/chat/completions`), OpenAI Responses
(`POST /v1/responses`), Anthropic Messages (`POST /v1/messages`) and Gemini
(`POST /{v1,v1beta}/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`),
streamed and not, exactly as the official `openai`, `anthropic` and `google-genai` SDKs
expect, on 127.0.0.1 at an ephemeral port. A
*policy* decides every answer from the provider-neutral request (see `script.py`). Every
response says it is a simulation (`x-deploysim-simulation` header, `system_fingerprint`).

>>> async with FakeModelServer(RuleAgent()) as server:            # doctest: +SKIP
...     client = openai.AsyncOpenAI(base_url=server.openai_url, api_key="sim")
...     await client.chat.completions.create(model="sim-candidate", messages=[...])
...     server.requests[0].messages                                  # what it was sent

From another thread or a synchronous test: `with serve_in_thread(policy) as server: ...`.
From a shell: `python -m replayer.testing.fake_model --policy rule-agent --latency 0.05`.

It is served by aiohttp (`app()`); the answering code sees a `Request` and returns a
`Response`, a `StreamResponse` or None, plain values that subclasses (`QuirkyServer`,
`SlotServer`, `FakeBatchServer`) bend or wrap without touching HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from recorder.protocols.gemini import model_of
from recorder.session import ContentPart, Message, ToolCall
from replayer.testing import render_anthropic, render_gemini, render_openai
from replayer.testing.script import (
    SIMULATION,
    Api,
    Policy,
    ScriptedCall,
    ScriptedError,
    ScriptedReply,
    ScriptedRequest,
)
from replayer.testing.scripted_policies import (
    RuleAgent,
    by_model,
    call_first_tool,
    context_limit,
    echo,
    fail_first,
    fail_when,
    sample_arguments,
    scripted,
)
from replayer.wire.codec_helpers import (
    conversation_tokens,
    dumps,
    estimate_tokens,
    loads,
    stable_id,
)

__all__ = [
    "SIMULATION", "FakeModelServer", "Policy", "Request", "Response", "RuleAgent",
    "ScriptedCall", "ScriptedError", "ScriptedReply", "ScriptedRequest", "StreamResponse",
    "by_model", "call_first_tool", "context_limit", "echo", "fail_first", "fail_when",
    "sample_arguments", "scripted", "serve_in_thread",
]

MAX_BODY = 256 * 1024 * 1024
"""Largest request body accepted."""

SIM_MODELS = ("sim-deployed", "sim-candidate")
"""Model ids listed by `GET /v1/models` (any model name is accepted)."""

_ROUTES: dict[str, Api] = {"/v1/chat/completions": "openai-chat",
                           "/v1/responses": "openai-responses",
                           "/v1/messages": "anthropic"}

_GEMINI_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED",
                  500: "INTERNAL", 503: "UNAVAILABLE"}
"""Google's status names for the error codes the fake sends."""

_ERRORS: dict[str, tuple[int, str, str, str]] = {
    # kind: (status, openai type, openai code, anthropic type)
    "rate_limit": (429, "requests", "rate_limit_exceeded", "rate_limit_error"),
    "server": (500, "server_error", "server_error", "api_error"),
    "overloaded": (529, "server_error", "overloaded", "overloaded_error"),
    "auth": (401, "invalid_request_error", "invalid_api_key", "authentication_error"),
    "context_length": (400, "invalid_request_error", "context_length_exceeded",
                       "invalid_request_error"),
    "bad_request": (400, "invalid_request_error", "invalid_value", "invalid_request_error"),
}


@dataclass
class Request:
    """One request as the answering code sees it."""

    method: str
    path: str
    """The target's path (without the query)."""
    query: str
    headers: dict[str, str]
    """Header names lower-cased; a repeated header's values joined with `, `."""
    body: bytes
    drop: Callable[[], None] = field(repr=False)
    """Closes the connection at once."""

    def close_connection(self) -> None:
        """Drop the connection without answering (a reset, as the client sees it)."""
        self.drop()


@dataclass
class Response:
    """A reply with a body of known length."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class StreamResponse:
    """A reply whose body is sent in chunks as they come (server-sent events)."""

    status: int
    chunks: Iterable[bytes]
    headers: Mapping[str, str] = field(default_factory=dict)


class FakeModelServer:
    """The scripted model server. `requests` logs every request it decoded, in arrival order.

    `latency`: seconds before each answer; `api_key`: when set, requests must carry it
    (`Authorization: Bearer` or `x-api-key`) or get 401; `chunk`: characters per stream delta;
    `log_requests=False` keeps no log (a server run from a shell has nobody to read it, and
    holding every request body alive would make its garbage collector slower and slower).
    """

    def __init__(self, policy: Policy = echo, *, latency: float = 0.0,
                 api_key: str | None = None, chunk: int = 8, host: str = "127.0.0.1",
                 port: int = 0, log_requests: bool = True) -> None:
        self.policy = policy
        self.latency = latency
        self.api_key = api_key
        self.chunk = chunk
        self.host = host
        self.port = port
        self.log_requests = log_requests
        self.requests: list[ScriptedRequest] = []
        self._count = 0
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Root URL (the Anthropic SDK's `base_url`)."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_url(self) -> str:
        """The OpenAI SDK's `base_url` (root + `/v1`)."""
        return self.url + "/v1"

    def app(self) -> web.Application:
        """The aiohttp application `start` serves (a test may serve it itself); a subclass
        may override it to add middlewares or routes and call `super().app()`. Every request
        goes to `_route` (which refuses unknown paths with 404/405) unless a more specific
        route takes it: aiohttp matches the longest path prefix first, so a route a subclass
        adds wins over this catch-all whatever the order."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{path:.*}", self._aiohttp_handle)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])  # the ephemeral port when port is 0
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _aiohttp_handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp's request in, `_route`'s answer out."""
        def drop() -> None:
            if request.transport is not None:
                request.transport.close()

        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        answer = await self._route(Request(request.method, request.path, request.query_string,
                                           headers, await request.read(), drop))
        if answer is None:
            return web.Response(status=499)  # never delivered: the connection is gone
        if isinstance(answer, Response):
            headers = dict(answer.headers)
            if answer.content_type:
                headers["Content-Type"] = answer.content_type
            return web.Response(status=answer.status, body=answer.body, headers=headers)
        response = web.StreamResponse(status=answer.status, headers=answer.headers)
        await response.prepare(request)
        for chunk in answer.chunks:
            await response.write(chunk)
        await response.write_eof()
        return response

    async def __aenter__(self) -> FakeModelServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- handling --------------------------------------------------------------------------

    async def _route(self, request: Request) -> Response | StreamResponse | None:
        api = _ROUTES.get(request.path) or (
            "gemini" if _gemini_model(request.path) is not None else None)
        if api is not None and request.method == "POST":
            return await self._handle(request, api)
        if request.path == "/v1/models" and request.method == "GET":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": SIMULATION}
                    for m in SIM_MODELS]
            return _json({"object": "list", "data": data})
        known = request.path in _ROUTES or request.path == "/v1/models"
        return Response(405 if known else 404, b"405: Method Not Allowed" if known
                        else b"404: Not Found", "text/plain; charset=utf-8")

    def _authorized(self, request: Request) -> bool:
        if self.api_key is None:
            return True
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        query_key = next((v for k, _, v in (f.partition("=") for f in request.query.split("&"))
                          if k == "key"), "")
        return self.api_key in (bearer, request.headers.get("x-api-key", ""),
                                request.headers.get("x-goog-api-key", ""), query_key)

    async def _handle(self, request: Request, api: Api) -> Response | StreamResponse | None:
        with self._lock:
            index = self._count
            self._count += 1
        raw = request.body
        try:
            body = loads(raw)
            assert isinstance(body, dict)
        except (ValueError, AssertionError) as exc:
            return _error(api, ScriptedError("bad_request", message=f"unreadable request: {exc}"))
        model, stream = str(body.get("model", "")), bool(body.get("stream"))
        if api == "gemini":  # the model and the choice of a stream are in the URL
            model = _gemini_model(request.path) or ""
            stream = request.path.endswith(":streamGenerateContent")
        scripted_request = ScriptedRequest(api=api, model=model, stream=stream, index=index,
                                           headers=request.headers, body=body)
        if self.log_requests:
            with self._lock:
                self.requests.append(scripted_request)
        if not self._authorized(request):
            return _error(api, ScriptedError("auth", message="Incorrect API key provided "
                                             f"({SIMULATION})."))
        try:
            reply = self.policy(scripted_request)
            if inspect.isawaitable(reply):
                reply = await reply
        except (KeyError, TypeError, AttributeError, ValueError) as exc:  # undecodable body
            return _error(api, ScriptedError("bad_request", message=f"unreadable request: {exc}"))
        assert isinstance(reply, ScriptedReply)
        delay = self.latency + reply.latency_s
        if delay > 0:
            await asyncio.sleep(delay)
        if reply.disconnect:
            request.close_connection()
            return None
        if reply.error is not None:
            return _error(api, reply.error, scripted_request)
        return await self._answer(request, scripted_request, reply, raw)

    async def _answer(self, request: Request, req: ScriptedRequest,
                      reply: ScriptedReply, raw: bytes) -> Response | StreamResponse:
        api = req.api
        key = hashlib.sha256(raw).hexdigest()  # ids follow the request's bytes: reproducible
        rid = stable_id({"openai-chat": "chatcmpl-sim", "openai-responses": "resp_sim",
                         "anthropic": "msg_sim", "gemini": "sim"}[api], key)
        msg = _message(api, key, reply)
        # token counts are estimates from sizes (a simulation has no tokenizer)
        usage = reply.usage or {"input_tokens": estimate_tokens(raw.decode(errors="replace")),
                                "output_tokens": max(1, estimate_tokens(msg.text + "".join(
                                    c.name + dumps(c.arguments) for c in msg.tool_calls)))}
        created = int(time.time())
        model = req.model or SIM_MODELS[0]
        if not req.stream:
            if reply.malformed:
                return Response(200, b'{"id": "broken", "choices": [',
                                "application/json; charset=utf-8", _headers())
            data = (render_openai.chat_json(rid, model, created, msg, usage) if api == "openai-chat"
                    else render_openai.responses_json(rid, model, created, msg, usage, req.body)
                    if api == "openai-responses"
                    else render_gemini.generate_json(rid, model, msg, usage) if api == "gemini"
                    else render_anthropic.messages_json(rid, model, msg, usage))
            return _json(data)
        if api == "openai-chat":
            include = bool((req.body.get("stream_options") or {}).get("include_usage"))
            events = render_openai.chat_stream(rid, model, created, msg, usage,
                                               include_usage=include, chunk=self.chunk)
        elif api == "openai-responses":
            events = render_openai.responses_stream(rid, model, created, msg, usage, req.body,
                                                    chunk=self.chunk)
        elif api == "gemini":
            events = render_gemini.generate_stream(rid, model, msg, usage, chunk=self.chunk)
        else:
            events = render_anthropic.messages_stream(rid, model, msg, usage, chunk=self.chunk)
        return StreamResponse(200, _events(events, reply.malformed),
                              {**_headers(), "Content-Type": "text/event-stream",
                               "Cache-Control": "no-cache"})


def _events(events: Iterator[bytes], malformed: bool) -> Iterator[bytes]:
    for i, event in enumerate(events):
        yield b"data: {not json\n\n" if malformed and i == 1 else event


def _message(api: Api, key: str, reply: ScriptedReply) -> Message:
    """The neutral assistant message of a reply, with call ids derived from the request."""
    prefix = {"anthropic": "toolu_sim", "gemini": "fc_sim"}.get(api, "call_sim")
    calls = [ToolCall(id=stable_id(prefix, key, i), name=c.name,
                      arguments=c.arguments if c.arguments is not None else {},
                      arguments_raw=c.raw_arguments)
             for i, c in enumerate(reply.calls)]
    content = [ContentPart(type="thinking", text=reply.thinking)] if reply.thinking else []
    if reply.text:
        content.append(ContentPart(text=reply.text))
    finish = reply.finish_reason or ("tool_calls" if calls else "stop")
    return Message(role="assistant", content=content, tool_calls=calls, finish_reason=finish,
                   origin="generated")


def _gemini_model(path: str) -> str | None:
    """The model of a Gemini call path (`/v1beta/models/M:generateContent` → `M`), else None."""
    if not path.startswith(("/v1/models/", "/v1beta/models/", "/v1alpha/models/")):
        return None
    return model_of(path)


def _headers() -> dict[str, str]:
    return {"x-deploysim-simulation": SIMULATION, "openai-organization": "deploysim-sim"}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response: the body written by orjson (the same JSON value as `json.dumps` would
    give, in UTF-8 rather than `\\u` escapes and without spaces)."""
    return Response(status, orjson.dumps(data), "application/json; charset=utf-8",
                    headers if headers is not None else _headers())


def _error(api: Api, error: ScriptedError, req: ScriptedRequest | None = None) -> Response:
    status, otype, code, atype = _ERRORS[error.kind]
    status = error.status or status
    message = error.message or (
        f"prompt is too long: {conversation_tokens(req.messages, req.tools) if req else 0} "
        "tokens > context window" if error.kind == "context_length"
        else f"{error.kind.replace('_', ' ')} ({SIMULATION})")
    if api == "gemini":
        status = 503 if error.kind == "overloaded" and error.status is None else status
        if error.kind == "context_length" and error.message is None:
            tokens = conversation_tokens(req.messages, req.tools) if req else 0
            message = (f"The input token count ({tokens}) exceeds the maximum number of tokens "
                       f"allowed ({SIMULATION}).")
        body: dict[str, Any] = {"error": {"code": status, "message": message,
                                          "status": _GEMINI_STATUS.get(status, "UNKNOWN")}}
    elif api == "anthropic":
        body = {"type": "error", "error": {"type": atype, "message": message}}
    else:
        param = "messages" if error.kind == "context_length" else None
        body = {"error": {"message": message, "type": otype, "param": param, "code": code}}
    headers = _headers()
    if error.retry_after is not None:
        headers["Retry-After"] = f"{error.retry_after:g}"
        headers["retry-after-ms"] = str(int(error.retry_after * 1000))
    return _json(body, status, headers)


from replayer.testing.fake_model_runner import serve_in_thread  # noqa: E402  (re-exported here)

if __name__ == "__main__":
    from replayer.testing.fake_model_runner import main

    main()
