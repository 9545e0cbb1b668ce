"""Damage handling: torn tails, corrupted records, size limits, foreign and future files."""

from __future__ import annotations

import struct

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recorder import CassetteReader, CassetteWriter, Exchange, HttpRequest, HttpResponse
from recorder.errors import NotACassette, RecordTooLarge, UnsupportedFormat
from recorder.framing import MAGIC, frame


def ex(i: int, body: bytes = b"") -> Exchange:
    return Exchange(id=f"e{i}", started_at=float(i), ended_at=float(i),
                    request=HttpRequest(method="POST", url="http://x/", body=body),
                    response=HttpResponse(status=200, body=body[::-1]))


def write(path, records) -> list[int]:
    """Write records; return the end offset of the header and of every record."""
    ends = []
    with CassetteWriter(str(path)) as w:
        ends.append(w._file_bytes)
        for r in records:
            w.write(r)
            ends.append(w._file_bytes)
    return ends


bodies = st.lists(st.binary(max_size=300), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies=bodies, cut=st.floats(min_value=0, max_value=1))
def test_cut_anywhere_reads_exactly_the_complete_records(tmp_path_factory, bodies, cut):
    path = tmp_path_factory.mktemp("cut") / "c.cassette"
    records = [ex(i, b) for i, b in enumerate(bodies)]
    ends = write(path, records)
    data = path.read_bytes()
    at = int(cut * len(data))
    path.write_bytes(data[:at])
    complete = sum(1 for e in ends[1:] if e <= at)
    reader = CassetteReader(str(path))
    got = list(reader)
    assert got == records[:complete]
    if at in ends:  # cut exactly between records: nothing is damaged
        assert reader.problems == []
    else:
        assert [p.kind for p in reader.problems] == ["torn_tail"]
        starts = [len(MAGIC), *ends[:-1]]  # where each frame (header first) begins
        expected = max(s for s in starts if s <= at) if at >= len(MAGIC) else at
        assert reader.problems[0].offset == expected


def test_flipped_byte_in_the_middle_is_reported_and_reading_resumes(tmp_path):
    path = tmp_path / "f.cassette"
    records = [ex(i, b"x" * 100) for i in range(10)]
    ends = write(path, records)
    data = bytearray(path.read_bytes())
    data[ends[4] + 40] ^= 0xFF  # inside record 5 (index 4)
    path.write_bytes(bytes(data))
    reader = CassetteReader(str(path))
    got = list(reader)
    assert got == records[:4] + records[5:]
    assert len(reader.problems) == 1
    p = reader.problems[0]
    assert p.kind == "corrupt" and p.offset == ends[4] and p.skipped_bytes == ends[5] - ends[4]


def test_damaged_length_field_is_caught_by_the_checksum(tmp_path):
    path = tmp_path / "l.cassette"
    records = [ex(i, b"y" * 50) for i in range(5)]
    ends = write(path, records)
    data = bytearray(path.read_bytes())
    data[ends[2] + 4] ^= 0x01  # length of record index 2
    path.write_bytes(bytes(data))
    reader = CassetteReader(str(path))
    assert list(reader) == records[:2] + records[3:]
    assert [p.kind for p in reader.problems] == ["corrupt"]


def test_record_over_the_limit_is_refused_by_the_writer(tmp_path):
    w = CassetteWriter(str(tmp_path / "big.cassette"), max_record=1000)
    with pytest.raises(RecordTooLarge, match="exceeds the 1000-byte limit"):
        w.write(ex(1, b"z" * 2000))
    w.write(ex(2, b"small"))
    w.close()
    assert [r.id for r in CassetteReader(str(tmp_path / "big.cassette"))] == ["e2"]


def test_record_over_the_reader_limit_is_skipped_not_loaded(tmp_path):
    path = tmp_path / "hostile.cassette"
    records = [ex(0, b"a"), ex(1, b"b" * 5000), ex(2, b"c")]
    write(path, records)
    reader = CassetteReader(str(path), max_record=1000)
    assert [r.id for r in reader] == ["e0", "e2"]
    assert [p.kind for p in reader.problems] == ["too_large"]


def test_not_a_cassette(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a cassette at all")
    with pytest.raises(NotACassette, match="is not a deploysim cassette"):
        list(CassetteReader(str(path)))


def test_newer_format_version_is_refused_with_advice(tmp_path):
    path = tmp_path / "future.cassette"
    header = {"kind": "header", "format_version": 99, "created": 0.0, "producer": "x",
              "deploysim_version": "9"}
    path.write_bytes(MAGIC + frame(msgpack.packb(header)))
    with pytest.raises(UnsupportedFormat, match="upgrade deploysim"):
        list(CassetteReader(str(path)))


def test_payload_that_is_not_a_record_is_reported_and_skipped(tmp_path):
    path = tmp_path / "junk.cassette"
    write(path, [ex(0)])
    with open(path, "ab") as f:
        f.write(frame(b"\xc1 not msgpack"))
        f.write(frame(msgpack.packb({"kind": "exchange", "id": 3})))  # wrong shape
    with CassetteWriter(str(tmp_path / "tmp.cassette")) as w:
        w.write(ex(9))
    reader = CassetteReader(str(path))
    assert [r.id for r in reader] == ["e0"]
    assert sorted(p.kind for p in reader.problems) == ["invalid", "undecodable"]


def test_frame_layout_is_documented_layout():
    payload = b"abc"
    data = frame(payload)
    sync, length, _crc = struct.unpack("<4sII", data[:12])
    assert sync == b"\xd5\xca\x55\xe7" and length == 3 and data[12:] == payload
