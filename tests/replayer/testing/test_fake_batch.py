"""The fake batch server speaks the batch endpoints as the official SDKs call and parse them."""

from __future__ import annotations

import json

import anthropic
import openai

from replayer.testing.fake_batch import serve_batches_in_thread
from replayer.testing.fake_model import echo


def _chat(text: str) -> dict:
    return {"model": "sim-candidate", "messages": [{"role": "user", "content": text}]}


def test_openai_sdk_uploads_creates_retrieves_and_reads_a_batch():
    with serve_batches_in_thread(echo, errors=lambda n, cid: "server" if cid == "b" else None,
                                 expire=lambda n: n == 1) as server:
        client = openai.OpenAI(base_url=server.openai_url, api_key="sim")
        lines = [{"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                  "body": _chat(f"hi {cid}")} for cid in ("a", "b")]
        uploaded = client.files.create(
            file=("in.jsonl", "\n".join(map(json.dumps, lines)).encode()), purpose="batch")
        assert uploaded.purpose == "batch" and uploaded.bytes > 0
        batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                      completion_window="24h")
        done = client.batches.retrieve(batch.id)
        assert done.status == "completed" and done.request_counts is not None
        assert (done.request_counts.completed, done.request_counts.failed) == (1, 1)
        assert done.output_file_id and done.error_file_id
        output = [json.loads(x) for x in client.files.content(done.output_file_id).text.split("\n")
                  if x]
        assert output[0]["custom_id"] == "a"
        assert output[0]["response"]["body"]["choices"][0]["message"]["content"] == "echo: hi a"
        errors = [json.loads(x) for x in client.files.content(done.error_file_id).text.split("\n")
                  if x]
        assert errors[0]["response"]["status_code"] == 500
        # the second batch expires with half its requests run
        again = client.batches.create(input_file_id=uploaded.id,
                                      endpoint="/v1/chat/completions", completion_window="24h")
        expired = client.batches.retrieve(again.id)
        assert expired.status == "expired" and expired.error_file_id
        lost = client.files.content(expired.error_file_id).text
        assert '"code":"batch_expired"' in lost
        assert [b.id for b in server.submissions] == [batch.id, again.id]


def test_anthropic_sdk_creates_retrieves_and_reads_a_message_batch():
    with serve_batches_in_thread(echo, delay=0.0) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="sim")
        params = {"model": "sim-candidate", "max_tokens": 64,
                  "messages": [{"role": "user", "content": "hello"}]}
        batch = client.messages.batches.create(requests=[
            {"custom_id": "one", "params": params}])  # type: ignore[list-item]
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended" and ended.request_counts.succeeded == 1
        results = list(client.messages.batches.results(batch.id))
        assert results[0].custom_id == "one" and results[0].result.type == "succeeded"
        assert results[0].result.message.content[0].text == "echo: hello"  # type: ignore[union-attr]
