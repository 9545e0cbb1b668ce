"""The record writer and what is wrong with an exchange: malformed traffic flagged at record
time (`recorder.wellformed`), an exchange over the record limit kept in part (`recorder.fit`)."""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

import pytest

from proxy.capture import Capture
from proxy.metrics import Metrics
from proxy.record_writer import RecordWriter, WriterSettings
from proxy.sink import RecordingSink
from proxy.testing import exchanges
from recorder.corpus import Corpus
from recorder.corpus_summary import summarize
from recorder.framing import DEFAULT_MAX_RECORD
from recorder.wellformed import TRUNCATED_BY_ERROR
from recorder.writer import CassetteWriter

JSON = (b"Content-Type", b"application/json")
CHAT = "http://up/v1/chat/completions"


def capture(i: int, body: bytes = b'{"model": "m", "messages": []}', *,
            request_headers: tuple[tuple[bytes, bytes], ...] = (JSON,),
            response_body: bytes = b'{"ok": true}',
            chunks: list[tuple[float, bytes]] | None = None, error: str | None = None,
            ) -> Capture:
    response_type = b"text/event-stream" if chunks is not None else b"application/json"
    return Capture(method="POST", url=f"{CHAT}?i={i}", started_at=1_700_000_000.0 + i,
                   request_headers=request_headers, request_body=body, status=200,
                   response_headers=((b"Content-Type", response_type),),
                   response_body=response_body, chunks=chunks, error=error,
                   ended_at=1_700_000_000.5 + i)


async def record(tmp_path: Path, captures: list[Capture], metrics: Metrics) -> list[str]:
    sink = RecordingSink(str(tmp_path), metrics=metrics, isolation="thread", redact=False,
                         derive_sessions=False)
    sink.start()
    for cap in captures:
        await sink.put(cap)
    await sink.aclose()
    return sink.paths


async def test_malformed_traffic_is_flagged_when_recorded_and_counted_by_inspect(
        tmp_path: Path) -> None:
    gzipped = gzip.compress(json.dumps({"model": "m", "messages": []}).encode())
    event = b'data: {"choices": []}\n\n'
    metrics = Metrics()
    paths = await record(tmp_path, [
        capture(0),
        capture(1, b'{"model": "m", "messages": ['),
        capture(2, gzipped, request_headers=(JSON, (b"Content-Encoding", b"gzip"))),
        capture(3, chunks=[(1.0, event), (2.0, event[:9])]),
        capture(4, chunks=[(1.0, event)], error="client_disconnected: gone"),
    ], metrics)
    assert metrics.recorded == 5 and not metrics.record_errors
    by_i = {ex.request.url.rsplit("=", 1)[1]: ex for ex in exchanges(paths)}
    assert by_i["0"].problems == [] and by_i["2"].problems == []
    assert by_i["2"].request.body == gzipped  # checked on a decoded copy, stored as sent
    assert by_i["1"].problems[0].startswith("the request body is not valid JSON")
    assert by_i["1"].request.body == b'{"model": "m", "messages": ['
    assert by_i["3"].problems == [
        "response: the event stream ends in the middle of an event (truncated)"]
    assert by_i["4"].problems == [f"response: {TRUNCATED_BY_ERROR}"]
    assert summarize(Corpus(paths))["exchanges_with_parse_problems"] == 3


async def test_an_exchange_over_the_record_limit_is_kept_in_part_and_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limit = 64 * 1024  # the real limit (64 MiB) behaves the same, see the next test
    monkeypatch.setattr("proxy.record_writer.CassetteWriter",
                        functools.partial(CassetteWriter, max_record=limit))
    upload, reply = b"u" * 50_000, b'"' + b"r" * 49_998 + b'"'
    chunks = [(float(i), b"data: %05d\n\n" % i) for i in range(10_000)]
    metrics = Metrics()
    paths = await record(tmp_path, [
        capture(0, upload, request_headers=(), response_body=reply),
        capture(1, chunks=chunks),
        capture(2),
    ], metrics)
    assert metrics.recorded == 3 and not metrics.record_errors
    assert metrics.record_warnings == {"cut_to_fit": 2}
    big, stream, small = sorted(exchanges(paths), key=lambda ex: ex.request.url)
    assert small.problems == []
    assert upload.startswith(big.request.body) and len(big.request.body) > 30_000
    assert big.response is not None and reply.startswith(big.response.body)
    assert [p.split(":")[0] for p in big.problems] == [
        f"request body cut to fit the {limit}-byte record limit",
        f"response body cut to fit the {limit}-byte record limit"]
    assert f"of {len(upload)} bytes" in big.problems[0]
    resp = stream.response
    assert resp is not None and resp.chunks is not None and 0 < len(resp.chunks) < len(chunks)
    assert [(c.offset_ms, c.data) for c in resp.chunks[:-1]] == chunks[: len(resp.chunks) - 1]
    assert stream.problems[-1].endswith(f"({len(resp.chunks)} of {len(chunks)} chunks)")


class _Reporter:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def recorded(self) -> None: ...

    def error(self, kind: str, detail: str) -> None:
        raise AssertionError(f"{kind}: {detail}")

    def warning(self, kind: str, detail: str) -> None:
        self.warnings.append(kind)

    def opened(self, path: str) -> None: ...

    def progress(self) -> None: ...


def test_a_50_mb_upload_with_a_50_mb_reply_is_kept_in_part(tmp_path: Path) -> None:
    # what the proxy hands over for it: the first 32 MiB of each body (DEFAULT_MAX_CAPTURE);
    # about 1 s and 400 MB
    part = 32 * 1024 * 1024
    cap = capture(0, b"u" * part, request_headers=(), response_body=b"r" * part)
    reporter = _Reporter()
    writer = RecordWriter(WriterSettings(base=str(tmp_path / "rec"), run_id="r", redact=False,
                                         derive_sessions=False), reporter)
    writer.record(cap)
    writer.close()
    ex, = exchanges(writer.paths)
    assert reporter.warnings == ["cut_to_fit"]
    assert ex.response is not None
    kept = len(ex.request.body) + len(ex.response.body)
    assert DEFAULT_MAX_RECORD - 4096 < kept < DEFAULT_MAX_RECORD
