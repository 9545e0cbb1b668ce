"""A fake OpenAI-compatible server with the quirks of vLLM, llama.cpp, Ollama and LiteLLM.

`QuirkyServer(policy, quirks={...})` is the fake model server whose Chat Completions answers
(JSON and streamed) are bent the way those servers bend them:

| quirk | what the answer does |
|---|---|
| `no_usage` | no `usage` (nor the final usage chunk of a stream) |
| `no_call_id` | tool calls without `id` |
| `index_only` | tool calls without `id`, numbered by `index` (listed in reverse order) |
| `finish_eos` | `finish_reason: "eos"` for a text answer |
| `finish_tool_call` | `finish_reason: "tool_call"` beside tool calls |
| `finish_null` | `finish_reason: null` |
| `content_missing` | no `content` key beside tool calls (OpenAI sends `content: null`) |
| `object_arguments` | tool-call `arguments` as a JSON object instead of a string (JSON only) |

>>> with serve_in_thread(call_first_tool, server_class=QuirkyServer,
...                      quirks={"no_usage", "index_only"}) as server: ...   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from replayer.testing.fake_model import FakeModelServer, Request, Response, StreamResponse
from replayer.testing.script import Policy
from replayer.wire.codec_helpers import loads

QUIRKS = frozenset({"no_usage", "no_call_id", "index_only", "finish_eos", "finish_tool_call",
                    "finish_null", "content_missing", "object_arguments"})


class QuirkyServer(FakeModelServer):
    """See the module docstring."""

    def __init__(self, policy: Policy, *, quirks: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(policy, **kwargs)
        self.quirks = frozenset(quirks)
        unknown = self.quirks - QUIRKS
        if unknown:
            raise ValueError(f"unknown quirks {sorted(unknown)}; choose from {sorted(QUIRKS)}")

    async def _route(self, request: Request) -> Response | StreamResponse | None:
        answer = await super()._route(request)
        if request.path != "/v1/chat/completions" or answer is None or answer.status != 200:
            return answer
        if isinstance(answer, Response):
            data = self._bend(loads(answer.body), stream=False)
            return Response(200, orjson.dumps(data), answer.content_type, answer.headers)
        return StreamResponse(200, self._stream(answer.chunks), answer.headers)

    def _stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            data = chunk.removeprefix(b"data: ").strip()
            if data == b"[DONE]":
                yield chunk
                continue
            bent = self._bend(loads(data), stream=True)
            if bent is not None:
                yield b"data: " + orjson.dumps(bent) + b"\n\n"

    def _bend(self, data: dict[str, Any], *, stream: bool) -> Any:
        q = self.quirks
        if "no_usage" in q:
            if stream and not data.get("choices"):
                return None  # the final usage chunk
            data.pop("usage", None)
        for choice in data.get("choices") or []:
            msg = choice.get("delta" if stream else "message") or {}
            calls = msg.get("tool_calls") or []
            for i, call in enumerate(calls):
                if q & {"no_call_id", "index_only"}:
                    call.pop("id", None)
                if "index_only" in q:
                    call["index"] = call.get("index", i)
                elif "no_call_id" in q and not stream:
                    call.pop("index", None)
                if "object_arguments" in q and not stream:
                    text = str(call["function"]["arguments"] or "{}")
                    call["function"]["arguments"] = loads(text.encode())
            if "index_only" in q and not stream:
                msg["tool_calls"] = list(reversed(calls))
            if calls and "content_missing" in q:
                msg.pop("content", None)
            if choice.get("finish_reason") or not stream:
                reason = choice.get("finish_reason")
                if "finish_null" in q:
                    choice["finish_reason"] = None
                elif "finish_eos" in q and reason == "stop":
                    choice["finish_reason"] = "eos"
                elif "finish_tool_call" in q and reason == "tool_calls":
                    choice["finish_reason"] = "tool_call"
        return data
