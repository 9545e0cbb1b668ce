"""Small builders of recorder records for tests (ours and other packages').

    >>> ex = make_exchange("https://api.openai.com/v1/chat/completions",
    ...                    request_json={"model": "m", "messages": []},
    ...                    response_json={"choices": []})
    >>> ex.request.method
    'POST'

Every builder is deterministic: ids and times come from the arguments (or a counter the caller
passes), never from the clock. `varied_corpus` builds a whole seeded corpus of every kind of
traffic, for tests that compare derivations or exercise the writer and reader at scale.
"""

from __future__ import annotations

import json
import random
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


# A varied recorded corpus for tests comparing derivations: every threading and attachment rule
# in one seeded mix, in an order unrelated to time. Concurrent conversations over OpenAI Chat
# (JSON, with tool definitions and parameters), Anthropic Messages (SSE) and the Responses API
# (chained by `previous_response_id`); tool calls answered over MCP (with session ids and
# housekeeping: initialize, tools/list) or REST; retries (identical, and failed then retried),
# forks, `n=2` choices, explicit session headers, segment headers, tool exchanges nobody called
# (tool-only sessions), a request that is not JSON and a chain whose first response is missing
# (problems).

_CHAT = "https://api.openai.com/v1/chat/completions"
_ANTHROPIC = "https://api.anthropic.com/v1/messages"
_RESPONSES = "https://api.openai.com/v1/responses"
_MCP = "http://127.0.0.1:9/mcp"
_TOOLS = [{"type": "function", "function": {"name": n, "description": f"{n} things",
                                           "parameters": {"type": "object", "properties": {
                                               "q": {"type": "string"}}}}}
         for n in ("lookup", "orders")]


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0
        self.out: list[Exchange] = []

    def id(self, tag: str) -> str:
        self.n += 1
        return f"{tag}-{self.n:05d}"

    def add(self, ex: Exchange) -> Exchange:
        self.out.append(ex)
        return ex

    def tool(self, k: int, step: int, name: str, args: dict[str, Any], result: str, t: float,
             hint: str | None, mcp_session: str | None) -> None:
        """The tool exchange answering a model's call (MCP or REST)."""
        if self.rng.random() < 0.6:
            headers = [("Mcp-Session-Id", mcp_session)] if mcp_session else []
            self.add(make_exchange(_MCP, id=self.id("mcp"), route="search", started_at=t,
                                   duration=0.05, session_hint=hint, request_headers=headers,
                                   request_json={"jsonrpc": "2.0", "id": step,
                                                 "method": "tools/call",
                                                 "params": {"name": name, "arguments": args}},
                                   response_json={"jsonrpc": "2.0", "id": step, "result": {
                                       "content": [{"type": "text", "text": result}],
                                       "isError": self.rng.random() < 0.1}}))
        else:
            self.add(make_exchange(f"http://127.0.0.1:8/kv/{k}-{step}", id=self.id("kv"),
                                   route="kv", method="GET", started_at=t, duration=0.05,
                                   session_hint=hint, response_body=result.encode(),
                                   response_headers=[("content-type", "text/plain")]))

    def housekeeping(self, t: float, mcp_session: str, hint: str | None) -> None:
        init = make_exchange(_MCP, id=self.id("init"), route="search", started_at=t,
                             duration=0.01, session_hint=hint,
                             request_json={"jsonrpc": "2.0", "id": 0, "method": "initialize",
                                           "params": {"protocolVersion": "2025-11-25"}},
                             response_headers=[("content-type", "application/json"),
                                               ("mcp-session-id", mcp_session)],
                             response_json={"jsonrpc": "2.0", "id": 0, "result": {
                                 "protocolVersion": "2025-11-25", "capabilities": {}}})
        listing = make_exchange(_MCP, id=self.id("list"), route="search", started_at=t + 0.02,
                                duration=0.01, request_headers=[("Mcp-Session-Id", mcp_session)],
                                request_json={"jsonrpc": "2.0", "id": 1,
                                              "method": "tools/list"},
                                response_json={"jsonrpc": "2.0", "id": 1,
                                               "result": {"tools": []}})
        self.add(init)
        self.add(listing)

    def chat(self, k: int, t: float) -> None:
        rng = self.rng
        hint = f"user-{k % 4}" if rng.random() < 0.2 else None
        mcp_session = f"mcp-{k}" if rng.random() < 0.5 else None
        if mcp_session:
            self.housekeeping(t - 0.5, mcp_session, hint)
        headers = [("X-Deploysim-Segment", rng.choice(["free", "pro"]))] \
            if rng.random() < 0.3 else []
        hist: list[dict[str, Any]] = [{"role": "system", "content": f"agent {k % 3}"}]
        for turn in range(rng.randint(1, 4)):
            hist.append({"role": "user", "content": f"c{k} question {turn}"})
            for step in range(rng.randint(1, 3)):
                last = step > 0 and rng.random() < 0.5
                answers: list[dict[str, Any]]
                if last:
                    answers = [{"role": "assistant", "content": f"c{k} answer {turn}"}]
                else:
                    args = {"q": f"c{k}-{turn}-{step}"}
                    answers = [{"role": "assistant", "content": None, "tool_calls": [{
                        "id": f"call-{k}-{turn}-{step}", "type": "function", "function": {
                            "name": rng.choice(["lookup", "orders"]),
                            "arguments": json.dumps(args)}}]}]
                n = 2 if rng.random() < 0.05 else 1
                if n == 2:
                    answers.append({"role": "assistant", "content": f"alt {k} {turn}"})
                req = {"model": "gpt-x", "messages": list(hist), "tools": _TOOLS,
                       "temperature": rng.choice([0, 0.7]), "n": n}
                resp = {"id": f"chatcmpl-{k}-{turn}-{step}", "object": "chat.completion",
                        "model": "gpt-x", "choices": [
                            {"index": i, "message": m, "finish_reason": "stop"}
                            for i, m in enumerate(answers)],
                        "usage": {"prompt_tokens": 10 * len(hist), "completion_tokens": 5,
                                  "total_tokens": 10 * len(hist) + 5}}
                ex = self.add(make_exchange(_CHAT, id=self.id("chat"), started_at=t,
                                            session_hint=hint, request_headers=headers,
                                            request_json=req, response_json=resp))
                if rng.random() < 0.05:  # the same request again: a retry, not a turn
                    self.add(ex.model_copy(update={"id": self.id("retry"),
                                                   "started_at": t + 0.2}))
                if rng.random() < 0.04:  # failed, then retried
                    self.add(make_exchange(_CHAT, id=self.id("fail"), started_at=t - 0.3,
                                           session_hint=hint, request_json=req, status=500,
                                           response_json={"error": {"message": "overloaded"}}))
                t += rng.uniform(0.3, 1.5)
                choice = answers[-1] if n == 2 and rng.random() < 0.5 else answers[0]
                hist.append(choice)
                calls = choice.get("tool_calls") or []
                for c in calls:
                    result = f"result of {c['id']}"
                    self.tool(k, step, c["function"]["name"],
                              json.loads(c["function"]["arguments"]), result, t,
                              hint if rng.random() < 0.5 else None, mcp_session)
                    t += 0.1
                    hist.append({"role": "tool", "tool_call_id": c["id"], "content": result})
                if not calls:
                    break
            if hist[-1]["role"] == "tool":  # the agent stopped after a tool result
                break
        if rng.random() < 0.15:  # a fork: two different continuations of the same history
            for side in ("left", "right"):
                self.add(make_exchange(_CHAT, id=self.id(side), started_at=t, session_hint=hint,
                                       request_json={"model": "gpt-x", "messages": [
                                           *hist, {"role": "user", "content": side}]},
                                       response_json={"id": "x", "choices": [{
                                           "index": 0, "message": {"role": "assistant",
                                                                   "content": side + "!"},
                                           "finish_reason": "stop"}]}))
                t += 0.5

    def anthropic(self, k: int, t: float) -> None:
        msgs: list[dict[str, Any]] = []
        for turn in range(self.rng.randint(1, 3)):
            msgs.append({"role": "user", "content": f"a{k} question {turn}"})
            use: dict[str, Any] = {"type": "tool_use", "id": f"tu-{k}-{turn}", "name": "lookup",
                   "input": {"q": f"a{k}{turn}"}}
            for final in (False, True):
                blocks: list[Any] = [{"type": "text", "text": f"a{k} says {turn} {final}"}]
                if not final:
                    blocks.append(use)
                events: list[Any] = [{"type": "message_start", "message": {
                    "id": f"msg-{k}-{turn}-{final}", "type": "message", "role": "assistant",
                    "content": [], "model": "claude-x",
                    "usage": {"input_tokens": 5, "output_tokens": 1}}}]
                for i, b in enumerate(blocks):
                    start = dict(b, input={}) if b["type"] == "tool_use" else dict(b, text="")
                    events.append({"type": "content_block_start", "index": i,
                                   "content_block": start})
                    delta = ({"type": "input_json_delta", "partial_json": json.dumps(b["input"])}
                             if b["type"] == "tool_use"
                             else {"type": "text_delta", "text": b["text"]})
                    events += [{"type": "content_block_delta", "index": i, "delta": delta},
                               {"type": "content_block_stop", "index": i}]
                events += [{"type": "message_delta", "delta": {
                    "stop_reason": "end_turn" if final else "tool_use"},
                    "usage": {"output_tokens": 7}}, {"type": "message_stop"}]
                self.add(make_exchange(_ANTHROPIC, id=self.id("anth"), started_at=t,
                                       request_json={"model": "claude-x", "max_tokens": 99,
                                                     "system": "be brief", "stream": True,
                                                     "messages": list(msgs)},
                                       chunks=split_every(sse_events(events, named=True), 97)))
                t += self.rng.uniform(0.3, 1.0)
                msgs.append({"role": "assistant", "content": blocks})
                if final:
                    break
                result = f"found {k} {turn}"
                self.tool(k, turn, "lookup", use["input"], result, t, None, None)
                t += 0.1
                msgs.append({"role": "user", "content": [{"type": "tool_result",
                                                          "tool_use_id": use["id"],
                                                          "content": result}]})

    def responses(self, k: int, t: float) -> None:
        prev: str | None = "resp_missing" if self.rng.random() < 0.1 else None
        for turn in range(self.rng.randint(1, 4)):
            rid = f"resp_{k}_{turn}"
            req: dict[str, Any] = {"model": "gpt-r", "instructions": "sys",
                                   "input": f"r{k} says {turn}"}
            if prev:
                req["previous_response_id"] = prev
            self.add(make_exchange(_RESPONSES, id=self.id("resp"), started_at=t,
                                   request_json=req, response_json={
                                       "id": rid, "object": "response", "status": "completed",
                                       "output": [{"type": "message", "id": "m" + rid,
                                                   "role": "assistant", "content": [{
                                                       "type": "output_text",
                                                       "text": f"r{k} answer {turn}"}]}]}))
            prev = rid
            t += self.rng.uniform(0.5, 2.0)


def varied_corpus(sessions: int = 60, seed: int = 3) -> list[Exchange]:
    """About `sessions` interleaved conversations of every kind, plus strays, shuffled."""
    g = _Gen(seed)
    for k in range(sessions):
        t0 = 1_700_000_000.0 + k * 0.7
        kind = g.rng.random()
        if kind < 0.6:
            g.chat(k, t0)
        elif kind < 0.8:
            g.anthropic(k, t0)
        else:
            g.responses(k, t0)
    for j in range(3):  # tool traffic no model asked for
        g.add(make_exchange(f"http://127.0.0.1:8/kv/stray{j}", id=g.id("stray"), route="kv",
                            method="GET", started_at=1_700_000_000.0 + 5 * j,
                            response_json={"v": j}))
    g.add(make_exchange(_CHAT, id=g.id("broken"), started_at=1_700_000_001.0,
                        request_body=b"{not json", response_json={"choices": []}))
    g.rng.shuffle(g.out)
    return g.out


# A small tool-using conversation over every tool transport, for tool-call extraction tests.
_SYSTEM = {"role": "system", "content": "be brief"}
_ASK = {"role": "user", "content": "weather in Paris?"}
_CALL = {"role": "assistant", "content": None, "tool_calls": [{
    "id": "c1", "type": "function",
    "function": {"name": "forecast", "arguments": '{"city": "Paris"}'}}]}
_RESULT = {"role": "tool", "tool_call_id": "c1", "content": "sunny in Paris"}
_ANSWER = {"role": "assistant", "content": "Sunny."}


def _completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}]}


def tool_conversation() -> list[Exchange]:
    """A chat whose tool call is answered over MCP (initialize, tools/list, tools/call), then two
    REST calls to a CRM (one failing): the recorded tool calls of every kind, in time order."""
    return [
        make_exchange(_CHAT, id="llm-1", started_at=10,
                      request_json={"model": "m", "messages": [_SYSTEM, _ASK]},
                      response_json=_completion(_CALL, "tool_calls")),
        make_exchange("http://127.0.0.1:1/mcp", id="mcp-init", started_at=10.5, route="weather",
                      request_json={"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                    "params": {"protocolVersion": "2025-11-25"}},
                      response_headers=[("content-type", "text/event-stream"),
                                        ("mcp-session-id", "abc")],
                      chunks=[sse_events([{"jsonrpc": "2.0", "id": 1, "result": {
                          "protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                          "serverInfo": {"name": "weather", "version": "1"},
                          "instructions": "Ask me."}}])]),
        make_exchange("http://127.0.0.1:1/mcp", id="mcp-list", started_at=10.6, route="weather",
                      request_headers=[("mcp-session-id", "abc")],
                      request_json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                      response_json={"jsonrpc": "2.0", "id": 2, "result": {"tools": [
                          {"name": "forecast", "description": "Forecast.",
                           "inputSchema": {"type": "object"}}]}}),
        make_exchange("http://127.0.0.1:1/mcp", id="mcp-call", started_at=11, route="weather",
                      request_headers=[("mcp-session-id", "abc")],
                      request_json={"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                    "params": {"name": "forecast",
                                               "arguments": {"city": "Paris"},
                                               "_meta": {"progressToken": 1}}},
                      response_json={"jsonrpc": "2.0", "id": 3, "result": {
                          "content": [{"type": "text", "text": "sunny in Paris"}],
                          "structuredContent": {"result": "sunny in Paris"},
                          "isError": False}}),
        make_exchange(_CHAT, id="llm-2", started_at=12,
                      request_json={"model": "m", "messages": [_SYSTEM, _ASK, _CALL, _RESULT]},
                      response_json=_completion(_ANSWER, "stop")),
        make_exchange("http://127.0.0.1:2/crm/customers/42?fields=name&fields=mail",
                      id="http-1", method="GET", started_at=20, route="crm",
                      labels={"upstream_path": "/crm"}, response_json={"name": "Ana"}),
        make_exchange("http://127.0.0.1:2/crm/notes", id="http-2", started_at=21, route="crm",
                      request_body=b"text=hi&n=1",
                      request_headers=[("content-type", "application/x-www-form-urlencoded")],
                      labels={"upstream_path": "/crm"}, status=500,
                      response_body=b"oops", response_headers=[("content-type", "text/plain")]),
    ]
