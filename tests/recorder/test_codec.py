"""The payload codec: whole records and the pieces writers assemble them from agree byte for
byte; bad payloads are refused with ValueError."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder import codec

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=40) | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=5),
    max_leaves=20)


@given(st.dictionaries(st.text(max_size=10), values, max_size=6))
def test_a_record_assembled_from_pieces_is_the_record_encoded_whole(fields: dict[str, Any]
                                                                    ) -> None:
    record = {"kind": "annotation", **fields}
    pieces = [codec.map_header(len(record))]
    for key, value in record.items():
        pieces += [codec.pack(key), codec.pack(value)]
    assert b"".join(pieces) == codec.encode(record)
    assert codec.decode(codec.encode(record)) == record


@given(st.lists(values, max_size=20))
def test_an_array_header_and_its_items_are_the_array(items: list[Any]) -> None:
    joined = codec.array_header(len(items)) + b"".join(codec.pack(v) for v in items)
    assert joined == codec.pack(items)


@given(st.text(alphabet="0123456789abcdef", max_size=31))
def test_fixstr_is_what_pack_gives_for_a_short_ascii_string(text: str) -> None:
    assert codec.fixstr(text) == codec.pack(text)


def test_fixstr_refuses_what_is_not_a_fixstr() -> None:
    with pytest.raises(ValueError, match="at most 31"):
        codec.fixstr("x" * 32)


def test_unknown_types_raise_unless_stringified() -> None:
    when = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    with pytest.raises(TypeError):
        codec.pack(when)
    assert codec.unpack(codec.pack([when], stringify_unknown=True)) == [str(when)]


@pytest.mark.parametrize("payload", [b"", b"\xc1", b"\x92\x01"])
def test_bad_payloads_raise_value_error(payload: bytes) -> None:
    with pytest.raises(ValueError, match="not msgpack"):
        codec.unpack(payload)


def test_decode_refuses_a_value_that_is_not_a_record() -> None:
    with pytest.raises(ValueError, match="not a record"):
        codec.decode(codec.pack({"no": "kind"}))
