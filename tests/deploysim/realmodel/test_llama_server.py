"""deploysim.realmodel.llama_server: llama.cpp's server (xllamacpp) on loopback speaks OpenAI Chat
Completions with tools, streamed and not, and JSON grammars, to the official `openai` client;
it stops cleanly. Skips, saying why, without the `real-model` extra."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from deploysim.realmodel import LocalModelServer, RealModelUnavailable

pytestmark = [pytest.mark.real_model, pytest.mark.slow]

TOOLS: Any = [{"type": "function", "function": {
    "name": "lookup_customer", "description": "Look up a customer in the CRM.",
    "parameters": {"type": "object", "properties": {"customer_id": {"type": "string"}},
                   "required": ["customer_id"]}}}]
ASK: Any = [{"role": "system", "content": "You are a support agent with a CRM."},
       {"role": "user", "content": "What's the account tier of customer C-1042?"}]


LLAMA_OPTIONS = {"slots": 1, "ctx_per_slot": 2048, "max_tokens": 64}
"""How `llama_server` (tests/deploysim/conftest.py) starts the server for this module."""


@pytest.fixture(scope="module")
def server(llama_server: LocalModelServer) -> LocalModelServer:
    return llama_server


@pytest.fixture(scope="module")
def client(server: LocalModelServer) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="local", max_retries=0, timeout=120)


def test_a_tool_call_unstreamed(server: LocalModelServer, client: OpenAI) -> None:
    r = client.chat.completions.create(model=server.model, messages=ASK,
                                       tools=TOOLS, tool_choice="required",
                                       temperature=0)
    (call,) = r.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "lookup_customer"
    assert "customer_id" in json.loads(call.function.arguments)
    assert r.choices[0].finish_reason == "tool_calls"


def test_a_named_tool_call_streamed(server: LocalModelServer, client: OpenAI) -> None:
    with client.chat.completions.stream(
            model=server.model, messages=ASK, tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "lookup_customer"}},
            temperature=0) as stream:
        chunks = sum(1 for _ in stream)
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert call.function.name == "lookup_customer"
    assert chunks > 2  # the arguments arrived in pieces
    json.loads(call.function.arguments)


def test_a_json_object_grammar(server: LocalModelServer, client: OpenAI) -> None:
    r = client.chat.completions.create(
        model=server.model, temperature=0, response_format={"type": "json_object"},
        messages=[{"role": "user", "content": 'Is water wet? Answer {"flagged": bool}.'}])
    assert isinstance(json.loads(r.choices[0].message.content or ""), dict)


def test_stop_ends_the_server(tmp_path: Path) -> None:
    try:
        srv = LocalModelServer(slots=1, ctx_per_slot=512, log=tmp_path / "s.log").start()
    except RealModelUnavailable as exc:
        pytest.skip(str(exc))
    url = srv.url
    srv.stop()
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"{url}/health", timeout=2)


def test_a_crashed_server_is_restarted_on_the_same_port(tmp_path: Path) -> None:
    # llama.cpp aborts on some grammar-constrained samples; the watchdog brings it back
    import os
    import signal
    import time

    try:
        srv = LocalModelServer(slots=1, ctx_per_slot=512, log=tmp_path / "s.log").start()
    except RealModelUnavailable as exc:
        pytest.skip(str(exc))
    try:
        url = srv.url
        assert srv._proc is not None
        os.kill(srv._proc.pid, signal.SIGKILL)  # the child this test started
        deadline = time.monotonic() + 60
        while srv.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert srv.restarts == 1 and srv.url == url
        status = 0
        while status != 200 and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
                    status = r.status
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert status == 200
    finally:
        srv.stop()
