"""Cut an exchange too large for one cassette record down to the first part of each body.

A frame holds at most `framing.DEFAULT_MAX_RECORD` bytes (64 MiB), and the proxy keeps up to
32 MiB of each body; a large upload with a large reply, or a long stream (stored twice: as
chunks and joined as the body), can end over the limit. Refusing it would lose the whole
exchange, so the recorder writes it with every body cut to a prefix that fits, and says in
`problems` which body was cut, from what size to what size:

    >>> fitted = fit_exchange(exchange, max_record=64 * 2**20)     # doctest: +SKIP
    >>> fitted.problems[-1]
    'response body cut to fit the 67108864-byte record limit: kept the first 33554380 of ...'

The request body and the response share the room left by everything else (headers, URL, ...)
equally, and one that needs less than its share leaves the rest to the other. A streamed
response keeps its first chunks (the last kept one possibly cut), and its joined body the same
bytes. Stored bytes are cut as stored: a content-encoded body keeps its first encoded bytes,
which decode to the first part of the content.
"""

from __future__ import annotations

from recorder import codec
from recorder.exchange import Exchange, HttpResponse, StreamChunk
from recorder.records import record_to_obj

__all__ = ["encoded_size", "fit_exchange"]

_BIN_HEADER = 5
"""The most bytes msgpack spends on the header of one binary or array value (bin32/array32)."""
_CHUNK_COST = len(codec.encode(StreamChunk(offset_ms=0.5, data=b"").model_dump())) + _BIN_HEADER
"""The most bytes one stream chunk costs besides its data (a float offset is msgpack's widest
number; the empty data's 2-byte header grows to at most `_BIN_HEADER`)."""


def encoded_size(ex: Exchange) -> int:
    """The bytes the exchange takes as a cassette record payload."""
    return len(codec.encode(record_to_obj(ex)))


def fit_exchange(ex: Exchange, max_record: int) -> Exchange:
    """`ex` with its bodies cut so that its record is at most `max_record` bytes (`ex` itself
    when it fits already). When even the exchange without bodies is over the limit (headers
    or URL of tens of MiB), the result is still too large and the writer refuses it."""
    if encoded_size(ex) <= max_record:
        return ex
    req_size = len(ex.request.body)
    resp = ex.response
    chunks = resp.chunks if resp is not None else None
    resp_size = len(resp.body) if resp is not None else 0
    # what the record costs without its bodies, with the longest notes fitting could add
    worst = [_note("request body", max_record, req_size, req_size)]
    if resp is not None:
        worst.append(_note(_resp_name(chunks), max_record, resp_size, resp_size,
                           len(chunks) if chunks is not None else None))
    bare = _with_bodies(ex, b"", b"", [], [*ex.problems, *worst])
    room = max_record - encoded_size(bare) - 3 * _BIN_HEADER
    if room < 0:
        return ex
    # a streamed response costs each byte twice (chunk and joined body) plus a map per chunk
    resp_need = 2 * resp_size + _CHUNK_COST * len(chunks) if chunks is not None else resp_size
    req_room, resp_room = _share(room, req_size, resp_need)
    req_body = ex.request.body[:req_room]
    notes = []
    if len(req_body) < req_size:
        notes.append(_note("request body", max_record, req_size, len(req_body)))
    if resp is None:
        return _with_bodies(ex, req_body, b"", None, [*ex.problems, *notes])
    if chunks is None:
        resp_body = resp.body[:resp_room]
        kept_chunks = None
        if len(resp_body) < resp_size:
            notes.append(_note("response body", max_record, resp_size, len(resp_body)))
    else:
        kept_chunks = _chunk_prefix(chunks, resp_room)
        resp_body = resp.body[: sum(len(c.data) for c in kept_chunks)]
        if len(resp_body) < resp_size or len(kept_chunks) < len(chunks):
            notes.append(_note(_resp_name(chunks), max_record, resp_size, len(resp_body),
                               len(chunks), len(kept_chunks)))
    return _with_bodies(ex, req_body, resp_body, kept_chunks, [*ex.problems, *notes])


def _share(room: int, a_need: int, b_need: int) -> tuple[int, int]:
    """Split `room` between two needs: equal halves, what one does not need goes to the other."""
    half = room // 2
    if a_need <= half:
        return a_need, room - a_need
    if b_need <= room - half:
        return room - b_need, b_need
    return half, room - half


def _chunk_prefix(chunks: list[StreamChunk], room: int) -> list[StreamChunk]:
    """The first chunks whose cost (two copies of each byte plus its map) fits in `room`; the
    first chunk that does not fit is cut to what does."""
    kept: list[StreamChunk] = []
    for chunk in chunks:
        cost = 2 * len(chunk.data) + _CHUNK_COST
        if cost <= room:
            kept.append(chunk)
            room -= cost
            continue
        part = (room - _CHUNK_COST) // 2
        if part > 0:
            kept.append(chunk.model_copy(update={"data": chunk.data[:part]}))
        break
    return kept


def _resp_name(chunks: list[StreamChunk] | None) -> str:
    return "response stream" if chunks is not None else "response body"


def _note(name: str, limit: int, size: int, kept: int, chunks: int | None = None,
          kept_chunks: int | None = None) -> str:
    """The `problems` entry saying what was cut."""
    tail = f" ({kept_chunks if kept_chunks is not None else chunks} of {chunks} chunks)" if (
        chunks is not None) else ""
    return (f"{name} cut to fit the {limit}-byte record limit: kept the first {kept} of {size} "
            f"bytes{tail}")


def _with_bodies(ex: Exchange, req_body: bytes, resp_body: bytes,
                 chunks: list[StreamChunk] | None, problems: list[str]) -> Exchange:
    """`ex` with other bodies, chunks and problems (chunks stay None for an unstreamed reply)."""
    resp: HttpResponse | None = ex.response
    if resp is not None:
        resp = resp.model_copy(update={
            "body": resp_body, "chunks": chunks if resp.chunks is not None else None})
    return ex.model_copy(update={
        "request": ex.request.model_copy(update={"body": req_body}),
        "response": resp, "problems": problems})
