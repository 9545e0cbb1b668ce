"""The recording sink: queue policies, failures counted (never raised), writer isolation."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import pytest

from proxy.capture import Capture
from proxy.errors import BadOutDir
from proxy.metrics import Metrics
from proxy.sink import RecordingSink
from proxy.sink_backends import ProcessBackend
from proxy.testing import exchanges, records
from recorder.exchange import Exchange
from recorder.ledger import Ledger
from recorder.session import Session


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

    def redact_session(self, s: Session) -> Session:
        return s


class BrokenRedactor:
    policy_id = "broken"

    def redact_exchange(self, ex: Exchange) -> Exchange:
        raise RuntimeError("parser bug")

    def redact_session(self, s: Session) -> Session:
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


def ledgers(paths: list[str]) -> list[Ledger]:
    return [r for r in records(paths) if isinstance(r, Ledger)]


async def wait_for(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_killed_writer_process_is_counted_and_replaced(tmp_path):
    metrics = Metrics()
    sink = RecordingSink(str(tmp_path), metrics=metrics, derive_sessions=False, redact=False)
    sink.start()
    for i in range(3):
        await sink.put(capture(i))
    await wait_for(lambda: metrics.recorded == 3)
    backend = sink._backend
    assert isinstance(backend, ProcessBackend)
    first = backend._gen
    assert first is not None
    first.proc.kill()
    await wait_for(lambda: metrics.writer_restarts == 1)  # counted at once, no traffic needed
    for i in range(3, 6):
        await sink.put(capture(i))  # queued meanwhile, written by the new writer
    await sink.aclose()
    assert metrics.recorded == 6 and metrics.forwarded == 6
    assert sorted(ex.request.url for ex in exchanges(sink.paths)) == sorted(
        f"http://up/v1/x?i={i}" for i in range(6))
    assert len(sink.paths) == 2 and "-w1" in sink.paths[1]  # the new writer's own cassette
    ledger, = ledgers(sink.paths)
    assert ledger.clean and ledger.forwarded == 6 and ledger.recorded == 6
    assert ledger.files == [os.path.basename(p) for p in sink.paths]


async def test_a_writer_killed_holding_exchanges_counts_them_lost(tmp_path):
    metrics = Metrics()
    sink = RecordingSink(str(tmp_path), metrics=metrics, derive_sessions=False, redact=False)
    sink.start()
    backend = sink._backend
    assert isinstance(backend, ProcessBackend)
    gen = backend._gen
    assert gen is not None
    gen.proc.send_signal(signal.SIGSTOP)  # it takes captures off the pipe but writes nothing
    for i in range(5):
        await sink.put(capture(i))
    await wait_for(lambda: gen.shipped == 5)
    gen.proc.kill()
    await wait_for(lambda: metrics.record_errors.get("writer_died") == 5)
    await sink.put(capture(5))
    await sink.aclose()
    assert metrics.recorded == 1
    ledger, = ledgers(sink.paths)
    assert (ledger.forwarded, ledger.recorded, ledger.record_errors) == (
        6, 1, {"writer_died": 5})


async def test_a_failing_feed_costs_its_batch_only(tmp_path, monkeypatch):
    from proxy import sink_backends

    real = sink_backends._groups
    calls = {"n": 0}

    def flaky(captures):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug in batching")
        return real(captures)

    monkeypatch.setattr(sink_backends, "_groups", flaky)
    metrics = Metrics()
    sink = RecordingSink(str(tmp_path), metrics=metrics, derive_sessions=False, redact=False)
    sink.start()
    await sink.put(capture(0))
    await wait_for(lambda: metrics.record_errors.get("feed_thread") == 1)
    await sink.put(capture(1))
    await sink.aclose()
    assert metrics.recorded == 1
    ledger, = ledgers(sink.paths)
    assert (ledger.forwarded, ledger.recorded, ledger.record_errors) == (
        2, 1, {"feed_thread": 1})


async def test_exchanges_without_bodies_are_recorded(tmp_path):
    """A batch starting with a bodiless exchange (a DELETE, a 204, a refused upstream) once
    made the batching raise and the feed thread die: nothing after it was recorded."""
    metrics = Metrics()
    sink = RecordingSink(str(tmp_path), metrics=metrics, derive_sessions=False, redact=False)
    sink.start()
    empty = Capture(method="DELETE", url="http://up/mcp", started_at=1.0, status=204)
    refused = Capture(method="POST", url="http://up/v1/x", started_at=2.0,
                      error="refused: connection refused")
    for cap in (empty, refused, capture(3), empty):
        await sink.put(cap)
    await sink.aclose()
    assert metrics.recorded == 4 and not metrics.record_errors
    assert [ex.request.method for ex in exchanges(sink.paths)] == [
        "DELETE", "POST", "POST", "DELETE"]


async def test_the_thread_writer_closes_with_a_ledger(tmp_path):
    metrics = Metrics()
    sink = RecordingSink(str(tmp_path), metrics=metrics, isolation="thread", queue_size=1,
                         redactor=SlowRedactor(0.05), derive_sessions=False)
    sink.start()
    for i in range(5):
        await sink.put(capture(i))
    await sink.aclose()
    ledger, = ledgers(sink.paths)
    assert ledger.clean and ledger.forwarded == 5
    assert ledger.recorded == metrics.recorded == len(exchanges(sink.paths))
    assert ledger.dropped == {"queue_full": 5 - metrics.recorded}


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
    assert metrics.dropped == 1 and metrics.drops == {"closed": 1}
    assert records(sink.paths) == []


def test_captures_ship_in_size_bounded_groups_in_order():
    from proxy.capture import Capture
    from proxy.sink_backends import SHIP_FRAME_BYTES, _groups

    def cap(n: int, chunks: int = 0) -> Capture:
        return Capture(method="GET", url=f"u{n}", started_at=0.0, request_body=b"x" * n,
                       chunks=[(0.0, b"y" * 10)] * chunks or None)

    caps = [cap(10), cap(10, chunks=3), cap(SHIP_FRAME_BYTES), cap(5), cap(SHIP_FRAME_BYTES - 35),
            cap(2)]
    groups = _groups(caps)
    assert [c for g in groups for c in g] == caps  # nothing lost, order kept
    assert [len(g) for g in groups] == [2, 1, 3]  # a capture at the limit travels alone
    assert _groups([]) == []
    empty, over = cap(0), cap(SHIP_FRAME_BYTES + 1)
    assert _groups([empty]) == [[empty]]  # a first capture without bodies opens a group too
    assert [len(g) for g in _groups([empty, empty, over, empty])] == [2, 1, 1]


async def test_a_failing_writer_thread_is_replaced(tmp_path, monkeypatch):
    from proxy.record_writer import RecordWriter

    real = RecordWriter.record
    calls = {"n": 0}

    def flaky(self, capture):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("a bug in the writer")
        return real(self, capture)

    monkeypatch.setattr(RecordWriter, "record", flaky)
    metrics = Metrics()
    sink = RecordingSink(str(tmp_path), metrics=metrics, isolation="thread", redact=False,
                         derive_sessions=False)
    sink.start()
    for i in range(4):
        await sink.put(capture(i))
    await sink.aclose()
    assert metrics.writer_restarts == 1 and metrics.record_errors == {"writer_thread": 1}
    assert metrics.recorded == 3
    ledger, = ledgers(sink.paths)
    assert (ledger.forwarded, ledger.recorded, ledger.record_errors) == (
        4, 3, {"writer_thread": 1})


def test_a_dead_writers_files_tell_what_it_wrote_before_its_reports(tmp_path):
    """`recorded` reports are batched: a writer killed between writing and reporting is
    reconciled from its files, so what it wrote is never counted lost."""
    import subprocess
    import sys

    from proxy.sink_backends import _Generation
    from recorder.writer import CassetteWriter

    path = str(tmp_path / "w.cassette")
    with CassetteWriter(path) as w:
        for i in range(3):
            w.write(capture(i).to_exchange(f"x-{i}"))
    metrics = Metrics()
    sink = RecordingSink(str(tmp_path / "out"), metrics=metrics, redact=False)
    backend = ProcessBackend(sink._settings, _feedback(sink), 10)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    gen = _Generation(0, proc)
    gen.shipped, gen.recorded, gen.paths = 5, 1, [path]
    assert backend._reconcile(gen, gen.unaccounted) == 2
    assert gen.recorded == 3 and gen.unaccounted == 2 and metrics.recorded == 2


def _feedback(sink: RecordingSink):
    from proxy.sink import _MetricsReporter

    return _MetricsReporter(sink.metrics, sink.paths)


async def test_put_nowait_takes_a_capture_only_when_the_policy_never_waits(tmp_path):
    # a producer without a coroutine (mitmproxy's hooks) asks put_nowait first and awaits
    # `put` when told False: under `block` nothing may be queued or counted by the first ask
    blocking = RecordingSink(str(tmp_path / "b"), policy="block", isolation="thread",
                             derive_sessions=False)
    blocking.start()
    assert blocking.put_nowait(capture(0)) is False
    assert blocking.metrics.forwarded == 0
    await blocking.put(capture(0))
    await blocking.aclose()
    assert blocking.metrics.recorded == 1

    dropping = RecordingSink(str(tmp_path / "d"), policy="drop", isolation="thread",
                             queue_size=1, redactor=SlowRedactor(0.05), derive_sessions=False)
    dropping.start()
    assert all(dropping.put_nowait(capture(i)) for i in range(5))  # taken: queued or dropped
    await dropping.aclose()
    assert dropping.metrics.forwarded == 5 and dropping.metrics.dropped > 0
    assert dropping.metrics.recorded + dropping.metrics.dropped == 5


async def test_a_sink_that_only_puts_makes_the_producer_await_put():
    from proxy.sink import Sink

    class Listed(Sink):
        def __init__(self) -> None:
            self.captures: list[Capture] = []

        async def put(self, capture: Capture) -> None:
            self.captures.append(capture)

    sink = Listed()
    assert sink.put_nowait(capture(0)) is False and sink.captures == []
    await sink.put(capture(0))
    assert len(sink.captures) == 1
