"""The recording sink redacts with its --out folder's own key: two recordings into one corpus
share pseudonyms with no key set by hand; another folder gets other ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proxy.capture import Capture
from proxy.metrics import Metrics
from proxy.sink import RecordingSink
from proxy.testing import exchanges
from recorder.errors import UsageError


def _capture(email: str) -> Capture:
    return Capture(method="POST", url="http://up/v1/x", started_at=1_700_000_000.0,
                   request_headers=((b"Content-Type", b"application/json"),),
                   request_body=b'{"to": "' + email.encode() + b'"}', status=200,
                   response_headers=((b"Content-Type", b"application/json"),),
                   response_body=b'{"ok": true}', ended_at=1_700_000_000.5)


async def _record(out: str, email: str) -> str:
    sink = RecordingSink(out, metrics=Metrics(), isolation="thread", derive_sessions=False)
    sink.start()
    await sink.put(_capture(email))
    await sink.aclose()
    [ex] = exchanges(sink.paths)
    token = re.search(rb"\[REDACTED:email:[0-9a-f]{12}\]", ex.request.body)
    assert token is not None and email.encode() not in ex.request.body
    return token.group().decode()


async def test_recordings_into_one_corpus_share_pseudonyms(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYSIM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("DEPLOYSIM_REDACTION_KEY", raising=False)
    monkeypatch.delenv("DEPLOYSIM_REDACTION_KEY_FILE", raising=False)
    out = str(tmp_path / "corpus")
    first = await _record(out, "ana@example.com")
    assert await _record(out, "ana@example.com") == first
    assert await _record(str(tmp_path / "other"), "ana@example.com") != first
    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY", "not-this-corpus-key-0123")
    with pytest.raises(UsageError, match="another key"):
        RecordingSink(out, metrics=Metrics(), isolation="thread").start()
