"""Model clients against the fake server: translation both ways, retries, errors, accounting."""

from __future__ import annotations

import asyncio
import time

import pytest

from recorder.session import ContentPart, Message, ToolCall, ToolDef, ToolResult
from replayer.clients import Accounting, Price, PriceTable, RateLimiter, RetryPolicy, make_client
from replayer.clients.limits import parse_retry_after
from replayer.errors import (
    ContextLengthExceeded,
    MalformedResponse,
    ModelHTTPError,
    ModelUnreachable,
    ReplayConfigError,
)
from replayer.testing.fake_model import (
    FakeModelServer,
    ScriptedCall,
    ScriptedReply,
    context_limit,
    echo,
    fail_first,
    scripted,
)
from replayer.wire import APIS

TOOL = ToolDef(name="lookup", description="look up", input_schema={
    "type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]})
CONVO = [
    Message(role="system", content=[ContentPart(text="be brief")]),
    Message(role="user", content=[ContentPart(text="find 7")]),
    Message(role="assistant", content=[ContentPart(text="looking")],
            tool_calls=[ToolCall(id="call_1", name="lookup", arguments={"id": "7"})]),
    Message(role="tool", tool_call_id="call_1", name="lookup",
            content=[ContentPart(text="found 7")], result=ToolResult(content="found 7")),
    Message(role="assistant", content=[ContentPart(text="it is found")]),
    Message(role="user", content=[ContentPart(text="thanks")]),
]
FAST = RetryPolicy(max_attempts=3, base=0.01, cap=0.05)


def _client(api: str, server: FakeModelServer, **kw):
    url = server.url if api in ("anthropic", "gemini") else server.openai_url
    return make_client(api, "sim-candidate", url, retry=kw.pop("retry", FAST), **kw)


def _shape(messages):
    return [(m.role, m.text, [(c.id, c.name, c.arguments) for c in m.tool_calls],
             m.tool_call_id, m.name if m.role == "tool" else None) for m in messages]


@pytest.mark.parametrize("api", APIS)
async def test_conversation_survives_each_wire_format(api):
    reply = ScriptedReply(text="calling", calls=[ScriptedCall("lookup", {"id": "8"})])
    async with FakeModelServer(scripted([reply])) as server:
        client = _client(api, server)
        msg = await client.complete(CONVO, tools=[TOOL], params={"temperature": 0.3,
                                                                 "max_tokens": 50})
        await client.close()
        seen = server.requests[0]
    assert seen.api == api and seen.model == "sim-candidate"
    assert _shape(seen.messages) == _shape(CONVO)
    assert seen.tools == [TOOL]
    assert seen.params["temperature"] == 0.3 and seen.params["max_tokens"] == 50
    assert msg.role == "assistant" and msg.origin == "generated" and msg.text == "calling"
    assert [(c.name, c.arguments) for c in msg.tool_calls] == [("lookup", {"id": "8"})]
    assert msg.finish_reason == "tool_calls"
    assert msg.usage["input_tokens"] > 0 and msg.usage["output_tokens"] > 0
    assert client.accounting.requests == 1


async def test_retries_honour_retry_after_then_succeed():
    async with FakeModelServer(fail_first(echo, 2, kind="rate_limit", retry_after=0.3)) as s:
        client = _client("openai-chat", s)
        t0 = time.monotonic()
        msg = await client.complete(CONVO)
        elapsed = time.monotonic() - t0
        await client.close()
    assert msg.text == "echo: thanks"
    assert elapsed >= 0.6  # two waits of the server's Retry-After, not the 10 ms backoff
    assert client.accounting.retries == 2 and len(s.requests) == 3


@pytest.mark.parametrize("kind", ["server", "overloaded"])
async def test_server_errors_and_resets_are_retried(kind):
    async with FakeModelServer(fail_first(echo, 1, kind=kind)) as s:
        assert (await _client("anthropic", s).complete(CONVO)).text == "echo: thanks"
    async with FakeModelServer(scripted([ScriptedReply(disconnect=True),
                                         ScriptedReply(text="back")])) as s:
        assert (await _client("openai-responses", s).complete(CONVO)).text == "back"


async def test_failures_that_are_not_retried():
    async with FakeModelServer(echo, api_key="right") as s:
        client = make_client("openai-chat", "m", s.openai_url, api_key="wrong", retry=FAST)
        with pytest.raises(ModelHTTPError) as info:
            await client.complete(CONVO)
        assert info.value.status == 401 and info.value.reason == "auth"
        assert len(s.requests) == 1
    async with FakeModelServer(context_limit(echo, 10)) as s:
        for api in APIS:
            with pytest.raises(ContextLengthExceeded):
                await _client(api, s).complete(CONVO)
    async with FakeModelServer(scripted([ScriptedReply(malformed=True)])) as s:
        with pytest.raises(MalformedResponse):
            await _client("anthropic", s).complete(CONVO)


async def test_unreachable_endpoint_is_retried_then_reported():
    async with FakeModelServer(echo) as s:
        url = s.openai_url
    client = make_client("openai-chat", "m", url, retry=FAST)
    with pytest.raises(ModelUnreachable, match="could not reach"):
        await client.complete(CONVO)
    assert client.accounting.retries == 2 and client.accounting.failures == 1
    await client.close()


def test_factory_rejects_bad_configuration(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("NOPE", raising=False)
    with pytest.raises(ReplayConfigError, match="Unknown --api"):
        make_client("cohere", "m", "http://127.0.0.1:1")
    with pytest.raises(ReplayConfigError, match="set OPENAI_API_KEY"):
        make_client("openai-chat", "m", "https://api.example.com/v1")
    with pytest.raises(ReplayConfigError, match="NOPE"):
        make_client("openai-chat", "m", "http://127.0.0.1:1/v1", api_key_env="NOPE")
    monkeypatch.setenv("NOPE", "k")
    assert make_client("openai-chat", "m", "http://127.0.0.1:1/v1",
                       api_key_env="NOPE").api_key == "k"


def test_retry_policy_and_retry_after_parsing():
    policy = RetryPolicy(base=1.0, cap=8.0)
    delays = [policy.delay(n, "req") for n in range(6)]
    assert delays == [policy.delay(n, "req") for n in range(6)]  # deterministic jitter
    assert all(0 <= d <= min(8.0, 2.0**n) for n, d in enumerate(delays))
    assert policy.delay(0, "req", retry_after=3.5) == 3.5
    assert RetryPolicy(max_retry_after=5).delay(0, "r", retry_after=600) == 5
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({}) is None


async def test_rate_limiter_spaces_requests():
    limiter = RateLimiter(requests_per_minute=600)  # 10/s, bucket of 600: burst then wait
    limiter.requests.level = 1  # type: ignore[union-attr]
    t0 = time.monotonic()
    await asyncio.gather(*(limiter.acquire() for _ in range(4)))
    assert time.monotonic() - t0 >= 0.25  # three more at 10/s
    tokens = RateLimiter(tokens_per_minute=6000)  # 100 tokens/s
    tokens.tokens.level = 0  # type: ignore[union-attr]
    t0 = time.monotonic()
    await tokens.acquire(tokens=20)
    assert time.monotonic() - t0 >= 0.18


def test_price_table_and_accounting(tmp_path):
    table = PriceTable({"sim": Price(input=2.0, output=10.0, cached_input=1.0)})
    assert table.lookup("sim-candidate") is table.lookup("sim")
    assert table.cost("sim-x", {"input_tokens": 1000, "cached_tokens": 500,
                                "output_tokens": 100}) == pytest.approx(
        (500 * 2 + 500 * 1 + 100 * 10) / 1e6)
    assert table.cost("other", {"input_tokens": 1}) is None
    acc = Accounting()
    acc.add("sim-a", {"input_tokens": 10, "output_tokens": 5}, table)
    acc.add("other", {"input_tokens": 1, "output_tokens": 1}, table)
    assert acc.unpriced_requests == 1 and acc.tokens == 17 and acc.cost_usd > 0
    path = tmp_path / "prices.toml"
    path.write_text('[sim]\ninput = 1.0\noutput = 2.0\n')
    assert PriceTable.load(str(path)).lookup("sim") == Price(1.0, 2.0)
    path.write_text('{"sim": {"inp": 1}}')
    (tmp_path / "p.json").write_text('{"sim": {"inp": 1}}')
    with pytest.raises(ReplayConfigError, match="not a table"):
        PriceTable.load(str(tmp_path / "p.json"))


async def test_gemini_client_speaks_what_the_sdk_speaks():
    """The `google-genai` SDK and deploysim's client get the same answer from the fake server,
    which reads both requests into the same conversation."""
    from google import genai
    from google.genai import types

    reply = ScriptedReply(text="calling", thinking="hm",
                          calls=[ScriptedCall("lookup", {"id": "8"})],
                          usage={"input_tokens": 11, "output_tokens": 3})
    async with FakeModelServer(scripted([reply, reply])) as server:
        client = _client("gemini", server, api_key="k")
        ours = await client.complete(CONVO[:2], tools=[TOOL], params={"max_tokens": 50})
        await client.close()
        sdk = genai.Client(api_key="k", http_options=types.HttpOptions(
            base_url=server.url, api_version="v1beta"))
        theirs = await sdk.aio.models.generate_content(
            model="sim-candidate", contents="find 7", config=types.GenerateContentConfig(
                system_instruction="be brief", max_output_tokens=50,
                tools=[types.Tool(function_declarations=[types.FunctionDeclaration(
                    name="lookup", description="look up",
                    parameters_json_schema=TOOL.input_schema)])]))
        await sdk.aio.aclose()
        mine, sdks = server.requests
    assert mine.headers["x-goog-api-key"] == sdks.headers["x-goog-api-key"] == "k"
    assert _shape(mine.messages) == _shape(sdks.messages) == _shape(CONVO[:2])
    assert mine.tools == sdks.tools == [TOOL] and mine.params == sdks.params == {"max_tokens": 50}
    call, = theirs.function_calls or []
    assert [(c.name, c.arguments) for c in ours.tool_calls] == [("lookup", call.args)]
    assert ours.tool_calls[0].id.startswith("fc_sim") and call.id.startswith("fc_sim")
    assert ours.content[0].type == "thinking" and ours.text == theirs.text == "calling"
    assert ours.usage == {"input_tokens": 11, "output_tokens": 3, "cached_tokens": 0}
    assert theirs.usage_metadata is not None and theirs.usage_metadata.prompt_token_count == 11
    assert client.accounting.input_tokens == 11 and client.accounting.output_tokens == 3


async def test_gemini_errors_are_classified_like_the_others():
    async with FakeModelServer(echo, api_key="right") as s:
        client = make_client("gemini", "m", s.url, api_key="wrong", retry=FAST)
        with pytest.raises(ModelHTTPError) as info:
            await client.complete(CONVO)
        assert info.value.status == 401 and info.value.reason == "auth"
        await client.close()
    async with FakeModelServer(fail_first(echo, 1, kind="overloaded")) as s:
        client = _client("gemini", s)
        assert (await client.complete(CONVO)).text == "echo: thanks"
        assert client.accounting.retries == 1
    async with FakeModelServer(scripted([ScriptedReply(malformed=True)])) as s:
        with pytest.raises(MalformedResponse):
            await _client("gemini", s).complete(CONVO)


def test_gemini_urls_and_unanswered_calls():
    from replayer.wire import gemini

    client = make_client("gemini", "models/gemini-x", "https://generativelanguage.googleapis.com",
                         api_key="k")
    assert client.url == ("https://generativelanguage.googleapis.com/v1beta/models/gemini-x"
                          ":generateContent")
    assert make_client("gemini", "g", "http://127.0.0.1:1/v1", api_key="k").url == \
        "http://127.0.0.1:1/v1/models/g:generateContent"
    assert client.auth_headers() == {"x-goog-api-key": "k"}
    # a call the API sent without an id gets one, which is never sent back
    msg = gemini.decode_response({"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "lookup", "args": {"id": "7"}}}]}, "finishReason": "STOP"}]})
    call, = msg.tool_calls
    result = Message(role="tool", tool_call_id=call.id, name="lookup",
                     content=[ContentPart(text='{"found": true}')])
    body = gemini.encode_request("g", [CONVO[1], msg, result])
    assert body["contents"][1:] == [
        {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"id": "7"}}}]},
        {"role": "user", "parts": [{"functionResponse": {
            "name": "lookup", "response": {"result": {"found": True}}}}]}]
    # a thinking model's signature on its call goes back with the call
    signed = gemini.decode_response({"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"id": "c9", "name": "lookup", "args": {}}, "thoughtSignature": "sig"}
    ]}}]})
    assert gemini.encode_request("g", [CONVO[1], signed])["contents"][1]["parts"] == [
        {"functionCall": {"id": "c9", "name": "lookup", "args": {}}, "thoughtSignature": "sig"}]
    blocked = gemini.decode_response({"promptFeedback": {"blockReason": "SAFETY"}})
    assert blocked.finish_reason == "content_filter" and not blocked.content
