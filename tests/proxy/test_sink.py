"""The recording sink: queue policies, failures counted (never raised), writer isolation."""

from __future__ import annotations

import asyncio
import logging
import os
import time

import pytest
from proxy_helpers import exchanges, records

from proxy.capture import Capture
from proxy.errors import BadOutDir
from proxy.metrics import Metrics
from proxy.sink import RecordingSink
from recorder.exchange import Exchange


def capture(i: int, body: bytes = b"{}") -> Capture:
    return Capture(method="POST", url=f"http://up/v1/x?i={i}", started_at=1_700_000_000.0 + i,
                   request_headers=((b"Content-Type", b"application/json"),), request_body=body,
                   status=200, response_headers=((b"Content-Type", b"application/json"),),
                   response_body=b'{"ok": true}', ended_at=1_700_000_000.5 + i)


class SlowRedactor:
    policy_id = "slow"

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def redact_exchange(self, ex: Exchange) -> Exchange:
        time.sleep(self.delay)
        return ex


class BrokenRedactor:
    policy_id = "broken"

    def redact_exchange(self, ex: Exchange) -> Exchange:
        raise RuntimeError("parser bug")


async def test_drop_policy_counts_what_did_not_fit(tmp_path):
    metrics = Metrics()
    sink = RecordingSink(str(tmp_path), metrics=metrics, isolation="thread", queue_size=2,
                         redactor=SlowRedactor(0.05), derive_sessions=False)
    sink.start()
    t0 = time.perf_counter()
    for i in range(20):
        await sink.put(capture(i))
    assert time.perf_counter() - t0 < 0.5  # the request path never waited for the writer
    await sink.aclose()
    assert metrics.dropped > 0
    assert metrics.recorded + metrics.dropped == 20
    assert len(exchanges(sink.paths)) == metrics.recorded


async def test_block_policy_records_everything(tmp_path):
    metrics = Metrics()
    sink = RecordingSink(str(tmp_path), metrics=metrics, isolation="thread", queue_size=1,
                         policy="block", redactor=SlowRedactor(0.01), derive_sessions=False)
    sink.start()
    await asyncio.gather(*(sink.put(capture(i)) for i in range(15)))
    await sink.aclose()
    assert metrics.dropped == 0 and metrics.recorded == 15
    assert sorted(ex.request.url for ex in exchanges(sink.paths)) == sorted(
        f"http://up/v1/x?i={i}" for i in range(15))


async def test_a_redaction_bug_costs_the_record_and_is_logged_once(tmp_path, caplog):
    metrics = Metrics()
    sink = RecordingSink(str(tmp_path), metrics=metrics, isolation="thread",
                         redactor=BrokenRedactor(), derive_sessions=False)
    sink.start()
    with caplog.at_level(logging.WARNING, logger="deploysim.proxy"):
        for i in range(3):
            await sink.put(capture(i))
        await sink.aclose()
    assert metrics.record_errors == {"redact": 3}
    assert metrics.recorded == 0
    assert sum("recording failed (redact)" in r.message for r in caplog.records) == 1
    assert exchanges(sink.paths) == []  # nothing unredacted reached the disk


async def test_writer_process_redacts_records_and_derives(tmp_path):
    metrics = Metrics()
    sink = RecordingSink(str(tmp_path), metrics=metrics)  # default: writer process, redaction
    sink.start()
    cap = capture(1, body=b'{"messages": [{"role": "user", "content": "hi"}]}')
    cap.request_headers = ((b"Authorization", b"Bearer sk-live-abcdefghijklmnop1234"),)
    await sink.put(cap)
    await sink.aclose()
    assert metrics.recorded == 1 and not metrics.record_errors
    ex, = exchanges(sink.paths)
    assert "sk-live-abcdefghijklmnop1234" not in str(ex.request.headers)
    assert ex.id.startswith(sink.run_id)


async def test_a_dead_writer_process_is_counted_not_raised(tmp_path):
    metrics = Metrics()
    sink = RecordingSink(str(tmp_path), metrics=metrics, derive_sessions=False)
    sink.start()
    await sink.put(capture(0))
    backend = sink._backend
    assert backend is not None
    backend._proc.kill()  # type: ignore[union-attr]
    for _ in range(100):
        if not backend.alive:
            break
        await asyncio.sleep(0.02)
    await sink.put(capture(1))  # must not raise, must not block
    await sink.aclose()
    assert metrics.record_errors.get("writer_died", 0) >= 1


async def test_disk_full_then_recovers(tmp_path, monkeypatch):
    monkeypatch.setattr("proxy.record_writer.REOPEN_DELAY", 0.0)
    metrics = Metrics()
    sink = RecordingSink(str(tmp_path), metrics=metrics, isolation="thread", redact=False,
                         rotate_bytes=None, derive_sessions=False)
    # the first cassette lands on a full disk
    os.symlink("/dev/full", sink._settings.base + ".cassette")
    sink.start()
    await sink.put(capture(0))
    await sink.put(capture(1))
    await sink.aclose()
    assert metrics.record_errors == {"open_ENOSPC": 1}
    assert metrics.recorded == 1
    assert [ex.request.url for ex in exchanges(sink.paths)] == ["http://up/v1/x?i=1"]
    assert sink.paths[0].endswith(".1.cassette")  # a fresh cassette next to the failed one


def test_an_unwritable_out_dir_is_refused_at_start(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(BadOutDir, match="cannot be written"):
        RecordingSink(str(blocker / "out")).start()


async def test_closing_twice_and_putting_after_close_are_harmless(tmp_path):
    metrics = Metrics()
    sink = RecordingSink(str(tmp_path), metrics=metrics, isolation="thread", redact=False)
    sink.start()
    await sink.aclose()
    await sink.aclose()
    await sink.put(capture(0))
    assert metrics.dropped == 1
    assert records(sink.paths) == []


def test_captures_ship_in_size_bounded_groups_in_order():
    from proxy.capture import Capture
    from proxy.sink_backends import SHIP_FRAME_BYTES, _groups

    def cap(n: int, chunks: int = 0) -> Capture:
        return Capture(method="GET", url=f"u{n}", started_at=0.0, request_body=b"x" * n,
                       chunks=[(0.0, b"y" * 10)] * chunks or None)

    caps = [cap(10), cap(10, chunks=3), cap(SHIP_FRAME_BYTES), cap(5), cap(SHIP_FRAME_BYTES - 35),
            cap(2)]
    groups = _groups(caps)  # type: ignore[arg-type]
    assert [c for g in groups for c in g] == caps  # nothing lost, order kept
    assert [len(g) for g in groups] == [2, 1, 3]  # a capture at the limit travels alone
    assert _groups([]) == []
