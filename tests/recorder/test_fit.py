"""Fitting an exchange over the record limit: the first part of each body, said in problems."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.exchange import Exchange
from recorder.fit import encoded_size, fit_exchange
from recorder.testing import make_exchange

LIMIT = 64 * 1024


def _ex(req: int, resp: int = 0, chunks: list[int] | None = None) -> Exchange:
    stream = None if chunks is None else [bytes([65 + i % 26]) * n for i, n in enumerate(chunks)]
    return make_exchange("http://up/v1/upload", request_body=b"q" * req,
                         response_body=b"r" * resp, chunks=stream,
                         ).model_copy(update={"problems": ["captured in part"]})


def _is_prefix(part: bytes, whole: bytes) -> bool:
    return whole[: len(part)] == part


def test_an_exchange_that_fits_is_returned_as_is() -> None:
    ex = _ex(1000, 1000)
    assert fit_exchange(ex, LIMIT) is ex


def test_both_bodies_over_half_the_room_get_half_each() -> None:
    ex = _ex(60_000, 60_000)
    fitted = fit_exchange(ex, LIMIT)
    assert encoded_size(fitted) <= LIMIT
    req, resp = len(fitted.request.body), len(fitted.response.body)  # type: ignore[union-attr]
    assert abs(req - resp) <= 1 and req > LIMIT // 2 - 1024  # little room is wasted
    assert fitted.problems == [
        "captured in part",
        f"request body cut to fit the {LIMIT}-byte record limit: kept the first {req} of "
        "60000 bytes",
        f"response body cut to fit the {LIMIT}-byte record limit: kept the first {resp} of "
        "60000 bytes",
    ]


def test_a_small_body_is_kept_whole_and_leaves_its_room_to_the_other() -> None:
    fitted = fit_exchange(_ex(500, 200_000), LIMIT)
    assert fitted.request.body == b"q" * 500
    assert len(fitted.response.body) > LIMIT - 2048  # type: ignore[union-attr]
    assert len(fitted.problems) == 2 and fitted.problems[1].startswith("response body cut")


def test_a_stream_keeps_its_first_chunks_and_the_same_joined_body() -> None:
    ex = _ex(100, chunks=[1000] * 100)
    fitted = fit_exchange(ex, LIMIT)
    resp = fitted.response
    assert resp is not None and resp.chunks is not None
    assert resp.body == b"".join(c.data for c in resp.chunks)
    assert ex.response is not None and ex.response.chunks is not None
    assert resp.chunks[:-1] == ex.response.chunks[: len(resp.chunks) - 1]
    assert fitted.problems[-1] == (
        f"response stream cut to fit the {LIMIT}-byte record limit: kept the first "
        f"{len(resp.body)} of 100000 bytes ({len(resp.chunks)} of 100 chunks)")


def test_without_room_even_for_the_headers_nothing_is_cut() -> None:
    ex = make_exchange("http://up/" + "x" * LIMIT, request_body=b"q" * 100)
    assert fit_exchange(ex, LIMIT) is ex


_SIZES = st.integers(0, 3 * LIMIT)
# around 256 and 65536 bytes msgpack's header for a chunk's data grows
_CHUNK = st.integers(0, 9000) | st.integers(200, 400) | st.integers(65_000, 66_000)
_CHUNKS = st.lists(_CHUNK, max_size=40) | st.builds(lambda n, k: [n] * k, _CHUNK,
                                                    st.integers(0, 300))


@settings(max_examples=60, deadline=None)
@given(req=_SIZES, resp=_SIZES, chunks=st.none() | _CHUNKS,
       limit=st.integers(2048, 2 * LIMIT))
def test_a_fitted_record_encodes_under_the_limit_and_keeps_prefixes(
        req: int, resp: int, chunks: list[int] | None, limit: int) -> None:
    ex = _ex(req, resp, chunks)
    fitted = fit_exchange(ex, limit)
    assert encoded_size(fitted) <= limit
    assert _is_prefix(fitted.request.body, ex.request.body)
    new, old = fitted.response, ex.response
    assert new is not None and old is not None
    assert _is_prefix(new.body, old.body)
    if old.chunks is None:
        assert new.chunks is None
    else:
        assert new.chunks is not None and new.body == b"".join(c.data for c in new.chunks)
        for kept, orig in zip(new.chunks, old.chunks, strict=False):
            assert kept.offset_ms == orig.offset_ms and _is_prefix(kept.data, orig.data)
        assert new.chunks[:-1] == old.chunks[: len(new.chunks) - 1]
    assert fitted.problems[: len(ex.problems)] == ex.problems
    cut = [p for p in fitted.problems[len(ex.problems):]]
    assert ("request body cut" in " ".join(cut)) == (len(fitted.request.body) < req)
    if fitted is not ex:
        assert cut and all("cut to fit" in p for p in cut)


def test_streams_of_many_chunks_fit_at_every_limit_near_their_size() -> None:
    # the hardest case for the size bound: nearly every chunk kept, each with its own header
    for n in (300, 66_000):
        ex = _ex(0, chunks=[n] * (200 if n < 1000 else 3))
        size = encoded_size(ex)
        for limit in range(size - 2 * n, size, max(n // 50, 1)):
            fitted = fit_exchange(ex, limit)
            assert encoded_size(fitted) <= limit, (n, limit)
