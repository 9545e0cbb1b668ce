"""SSE framing and content-encodings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder.protocols.bodies import (
    BodyDecodeError,
    decode_body,
    decode_chunks,
    encode_body,
    encode_chunks,
    encodings_of,
)
from recorder.protocols.sse import SseEvent, parse_sse


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_line_endings_comments_multiline(eol: str) -> None:
    text = eol.join([": keepalive", "event: message", "id: 7", "data: a", "data:b", "",
                     "data: {\"x\": 1}", "", ""])
    events, problems = parse_sse(("\ufeff" + text).encode())
    assert events == [SseEvent("a\nb", "message", "7"), SseEvent('{"x": 1}', None, "7")]
    assert problems == []


def test_truncation_and_bad_utf8_are_reported() -> None:
    events, problems = parse_sse(b"data: one\n\ndata: tw")
    assert [e.data for e in events] == ["one", "tw"] and "truncated" in problems[0]
    events, problems = parse_sse(b"data: \xff\n\n")
    assert events[0].data == "\ufffd" and "UTF-8" in problems[0]


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                               blacklist_characters="\r\n"),
                        max_size=20), max_size=8))
def test_data_round_trips(values: list[str]) -> None:
    wire = "".join(f"data: {v}\n\n" for v in values).encode()
    events, problems = parse_sse(wire)
    assert [e.data for e in events] == [v for v in values] and problems == []


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
@given(data=st.binary(max_size=2000), cuts=st.lists(st.integers(1, 300), max_size=8))
def test_codecs_round_trip_whole_and_chunked(coding: str, data: bytes, cuts: list[int]) -> None:
    assert decode_body(encode_body(data, [coding]), [coding]) == data
    pieces, pos = [], 0
    for c in cuts:
        pieces.append(data[pos:pos + c])
        pos += c
    pieces.append(data[pos:])
    encoded = encode_chunks(pieces, [coding])
    assert len(encoded) == len(pieces)
    assert b"".join(decode_chunks(encoded, [coding])) == data


def test_raw_deflate_chain_and_errors() -> None:
    import zlib

    raw = zlib.compressobj(wbits=-15)
    body = raw.compress(b"hello") + raw.flush()
    assert decode_body(body, ["deflate"]) == b"hello"
    assert encodings_of([("Content-Encoding", "gzip, br")]) == ["gzip", "br"]
    assert decode_body(encode_body(b"x" * 100, ["gzip", "br"]), ["gzip", "br"]) == b"x" * 100
    with pytest.raises(BodyDecodeError):
        decode_body(b"not compressed", ["gzip"])
    with pytest.raises(BodyDecodeError):
        decode_body(b"x", ["compress"])
