"""OpenAI-compatible servers' quirks (vLLM, llama.cpp, Ollama, LiteLLM): read by the replayer's
client and by the recorder's parser alike, and a whole replay goes through them."""

from __future__ import annotations

import asyncio
import json

import pytest

from deploysim.cli import run
from recorder.protocols.openai_chat import accumulate, output_messages, request_call
from recorder.protocols.sse import SseEvent
from recorder.session import ContentPart, Message
from replayer.clients import make_client
from replayer.testing.fake_model import call_first_tool, serve_in_thread
from replayer.testing.quirks import QUIRKS, QuirkyServer
from replayer.testing.synthetic_sessions import TOOLS
from replayer.wire.openai_chat import encode_request

ASK = [Message(role="user", content=[ContentPart(text="Where is order 1042?")])]


def _complete(url: str) -> Message:
    async def go() -> Message:
        client = make_client("openai-chat", "sim-candidate", url)
        try:
            return await client.complete(ASK, tools=TOOLS[:1])
        finally:
            await client.close()

    return asyncio.run(go())


@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_the_client_reads_each_quirk_as_openai_would_say_it(quirk):
    with serve_in_thread(call_first_tool, server_class=QuirkyServer, quirks={quirk}) as server:
        reply = _complete(server.openai_url)
        raw = server.requests  # what it was asked (one request)
    assert len(raw) == 1
    [call] = reply.tool_calls
    assert call.name == "lookup_order" and call.arguments == {"order_id": "1042"}
    assert call.id.startswith("call_")
    assert reply.finish_reason == "tool_calls"  # tool_call, null: what the message does
    if quirk == "no_usage":
        assert reply.usage == {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0}
    else:
        assert reply.usage["input_tokens"] > 0


def test_a_text_answer_ending_in_eos_or_null_stopped():
    from replayer.testing.fake_model import echo

    for quirk in ("finish_eos", "finish_null"):
        with serve_in_thread(echo, server_class=QuirkyServer, quirks={quirk}) as server:
            assert _complete(server.openai_url).finish_reason == "stop"


def test_ids_the_server_left_out_agree_between_replay_and_recording():
    quirks = {"index_only", "no_usage", "finish_tool_call", "content_missing",
              "object_arguments"}
    with serve_in_thread(call_first_tool, server_class=QuirkyServer, quirks=quirks) as server:
        reply = _complete(server.openai_url)
        import urllib.request

        body = json.dumps(encode_request("sim-candidate", ASK, TOOLS[:1])).encode()
        with urllib.request.urlopen(urllib.request.Request(
                server.openai_url + "/chat/completions", body,
                {"Content-Type": "application/json"})) as resp:
            native = json.loads(resp.read())
    assert "usage" not in native and "id" not in native["choices"][0]["message"]["tool_calls"][0]
    [recorded] = output_messages(native, "ex1")
    assert recorded.finish_reason == "tool_calls"
    assert [c.id for c in recorded.tool_calls] == [c.id for c in reply.tool_calls]
    assert recorded.tool_calls[0].arguments == {"order_id": "1042"}
    # the agent's next request echoes the call: the recorder links its result by that id
    follow = encode_request("sim-candidate", [*ASK, reply], TOOLS[:1])
    follow["messages"].append({"role": "tool", "tool_call_id": reply.tool_calls[0].id,
                               "content": "shipped"})
    call = request_call(follow)
    assert call.messages[-1].tool_call_id == call.messages[-2].tool_calls[0].id \
        == reply.tool_calls[0].id


def test_a_recorded_stream_without_ids_indexes_or_usage_assembles():
    chunks = [
        {"id": "x", "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": None}}]},
        {"id": "x", "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {"tool_calls": [{"type": "function", "function": {
                "name": "lookup_order", "arguments": '{"order_id":'}}]}}]},
        {"id": "x", "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {"tool_calls": [{"function": {"arguments": ' "1042"}'}}]}}]},
        {"id": "x", "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {}, "finish_reason": "tool_call"}]},
    ]
    events = [SseEvent(data=json.dumps(c)) for c in chunks] + [SseEvent(data="[DONE]")]
    problems: list[str] = []
    native, done = accumulate(events, problems)
    assert done and not problems and native is not None
    [msg] = output_messages(native, "ex1")
    assert msg.finish_reason == "tool_calls" and msg.usage == {}
    [call] = msg.tool_calls
    assert call.name == "lookup_order" and call.arguments == {"order_id": "1042"}
    assert call.id.startswith("call_")


def test_a_replay_goes_through_every_quirk_at_once(corpus_path, tmp_path, capsys):
    every = QUIRKS - {"finish_eos"}  # (finish_null wins over eos; both are tested above)
    with serve_in_thread(call_first_tool, server_class=QuirkyServer, quirks=every) as server:
        code = run(["replay", corpus_path, "--model", "sim-candidate", "--base-url",
                    server.openai_url, "--out", str(tmp_path / "run"), "--progress", "off",
                    "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["counts"]["errors"] == 0
    assert summary["counts"]["tool_calls"] > 0 and summary["usage"]["input_tokens"] == 0
