"""The recording work of a writer: sessions derived on a clean close, streamed, with progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.capture import Capture
from proxy.record_writer import RecordWriter, WriterSettings
from proxy.testing import records
from recorder import derive as derive_module
from recorder.derive import derive_sessions
from recorder.exchange import Exchange
from recorder.session import Session
from recorder.testing import varied_corpus


class Reporter:
    def __init__(self) -> None:
        self.progressed = 0
        self.problems: list[tuple[str, str]] = []

    def recorded(self) -> None: ...

    def error(self, kind: str, detail: str) -> None:
        self.problems.append((kind, detail))

    def warning(self, kind: str, detail: str) -> None:
        self.problems.append((kind, detail))

    def opened(self, path: str) -> None: ...

    def progress(self) -> None:
        self.progressed += 1


def as_capture(ex: Exchange) -> Capture:
    resp = ex.response
    assert resp is not None
    return Capture(
        method=ex.request.method, url=ex.request.url, started_at=ex.started_at,
        request_headers=tuple((k.encode(), v.encode()) for k, v in ex.request.headers),
        request_body=ex.request.body, route=ex.route, ended_at=ex.ended_at,
        status=resp.status, response_headers=tuple((k.encode(), v.encode())
                                                   for k, v in resp.headers),
        response_body=resp.body, session_hint=ex.session_hint, labels=dict(ex.labels),
        chunks=[(c.offset_ms, c.data) for c in resp.chunks] if resp.chunks else None)


def test_a_clean_close_streams_sessions_and_reports_progress(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(derive_module, "PROGRESS_EVERY", 10)
    reporter = Reporter()
    writer = RecordWriter(WriterSettings(base=str(tmp_path / "run"), run_id="r",
                                         redact=False, rotate_bytes=40_000), reporter)
    for ex in varied_corpus(40, 2):
        writer.record(as_capture(ex))
    writer.close()
    assert not reporter.problems
    assert len(writer.paths) > 1  # rotated: derivation reads every file of the run
    written = records(writer.paths)
    recorded = [r for r in written if isinstance(r, Exchange)]
    sessions = [r for r in written if isinstance(r, Session)]
    expected = derive_sessions(recorded)
    assert len(sessions) == writer.sessions_written == len(expected) > 30
    assert [s.model_dump() for s in sessions] == [s.model_dump() for s in expected]
    # every 10 exchanges parsed and read again, calls threaded, sessions built
    assert reporter.progressed >= 2 * len(recorded) // 10 + len(sessions) // 10
