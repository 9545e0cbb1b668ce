"""Framing: many payloads framed at once equal each framed alone; the records digest sees the
records and ignores the header record."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from recorder import framing


@given(st.lists(st.binary(max_size=300), max_size=30))
def test_frames_is_frame_applied_to_each(payloads: list[bytes]) -> None:
    assert framing.frames(payloads) == b"".join(framing.frame(p) for p in payloads)


def _file(path: Path, header: bytes, records: list[bytes]) -> str:
    path.write_bytes(framing.MAGIC + framing.frame(header) + framing.frames(records))
    return str(path)


def test_records_digest_ignores_the_header_and_sees_every_record(tmp_path: Path) -> None:
    a = _file(tmp_path / "a", b"header written at 10:00", [b"one", b"two"])
    b = _file(tmp_path / "b", b"header written at 11:00, longer", [b"one", b"two"])
    c = _file(tmp_path / "c", b"header written at 10:00", [b"one", b"tw0"])
    assert framing.records_digest(a) == framing.records_digest(b)
    assert framing.records_digest(a) != framing.records_digest(c)
    assert framing.records_digest(a)[0] == len(framing.frames([b"one", b"two"]))
