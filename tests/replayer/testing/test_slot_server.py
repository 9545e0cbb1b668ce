"""The llama.cpp-like fake server: slots, a queue (or 503 with Retry-After beyond it), prompt
processing time — spoken to by the official OpenAI SDK."""

from __future__ import annotations

import asyncio
import time

import openai
import pytest

from replayer.testing.fake_model import ScriptedReply
from replayer.testing.slot_server import SlotServer


def _ok(_request) -> ScriptedReply:
    return ScriptedReply(text="ok")


async def _ask(server: SlotServer, prompt: str = "hi") -> float:
    client = openai.AsyncOpenAI(base_url=server.openai_url, api_key="sim", max_retries=0)
    t0 = time.monotonic()
    try:
        await client.chat.completions.create(model="sim-candidate",
                                             messages=[{"role": "user", "content": prompt}])
    finally:
        await client.close()
    return time.monotonic() - t0


async def test_requests_beyond_the_slots_queue_and_wait():
    async with SlotServer(_ok, slots=1, per_request=0.2) as server:
        took = sorted(await asyncio.gather(*(_ask(server) for _ in range(3))))
        assert server.max_busy == 1 and server.max_waiting == 2 and server.refused == 0
    # one slot: the last waited for the two ahead of it (only lower bounds: a busy machine
    # adds to every time)
    assert took[2] >= 0.55


async def test_a_full_queue_answers_503_with_retry_after():
    async with SlotServer(_ok, slots=1, per_request=0.3, queue=0, retry_after=2) as server:
        first = asyncio.create_task(_ask(server))
        await asyncio.sleep(0.05)
        with pytest.raises(openai.APIStatusError) as refused:
            await _ask(server)
        await first
        assert server.refused == 1
    assert refused.value.status_code == 503
    assert refused.value.response.headers["retry-after"] == "2"


async def test_prompt_processing_takes_time_in_proportion_to_the_prompt():
    async with SlotServer(_ok, slots=4, prompt_tokens_per_s=2000) as server:
        short = await _ask(server, "hi")
        long = await _ask(server, "word " * 2000)  # ~2,500 tokens: over a second
    assert short < 0.3 and long >= 1.0
