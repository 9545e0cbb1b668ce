"""The record-time well-formedness check: malformed bodies flagged, stored bytes untouched."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder.exchange import Exchange
from recorder.protocols import parse_exchange
from recorder.protocols.sse import parse_sse
from recorder.testing import make_exchange, split_every, sse_events
from recorder.wellformed import (
    TRUNCATED_BY_ERROR,
    _tail_start,
    wellformedness_problems,
    with_wellformedness_problems,
)

CHAT = "https://api.openai.com/v1/chat/completions"
MCP = "http://tools.local/mcp"
CHAT_REQ = {"model": "m", "messages": [{"role": "user", "content": "héllo"}]}
CHAT_RESP = {"id": "c1", "choices": [{"index": 0, "message": {"role": "assistant",
                                                              "content": "hi"}}]}
STREAM = sse_events([{"id": "c2", "choices": [{"index": 0, "delta": {"content": "hi"}}]}],
                    done=True)
TOOLS_CALL = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
              "params": {"name": "lookup", "arguments": {"q": "x"}}}
TOOLS_RESULT = {"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text",
                                                                   "text": "ok"}]}}


def _with_error(ex: Exchange, error: str) -> Exchange:
    return ex.model_copy(update={"error": error})


def well_formed() -> list[Exchange]:
    sse_reply = f"event: message\ndata: {json.dumps(TOOLS_RESULT)}\n\n".encode()
    return [
        make_exchange(CHAT, request_json=CHAT_REQ, response_json=CHAT_RESP),
        make_exchange(CHAT, request_json=CHAT_REQ, chunks=split_every(STREAM, 7)),
        make_exchange(MCP, request_json=TOOLS_CALL, response_json=TOOLS_RESULT),
        make_exchange(MCP, request_json=TOOLS_CALL, chunks=[b": prime\n\n", sse_reply]),
        make_exchange(MCP, request_json={"jsonrpc": "2.0", "method": "notifications/x"},
                      response_body=b"", status=202),
        make_exchange("stdio:server", method="STDIO", transport="stdio",
                      request_body=json.dumps(TOOLS_CALL).encode(),
                      response_body=json.dumps(TOOLS_RESULT).encode(), response_headers=[]),
        make_exchange(CHAT, request_body=gzip.compress(json.dumps(CHAT_REQ).encode()),
                      request_headers=[("Content-Type", "application/json"),
                                       ("Content-Encoding", "gzip")], response_json=CHAT_RESP),
        # undeclared or non-UTF-8 text is not judged
        make_exchange("http://t/x", route="t", request_body=b"\xff\xfe",
                      response_body=b"caf\xe9",
                      response_headers=[("content-type", "text/plain; charset=latin-1")]),
        make_exchange("http://t/x", route="t", response_body=b"{\n}\n{",
                      response_headers=[("content-type", "application/x-ndjson")]),
    ]


@pytest.mark.parametrize("ex", well_formed())
def test_well_formed_traffic_is_not_flagged_and_not_copied(ex: Exchange) -> None:
    assert wellformedness_problems(ex) == []
    assert with_wellformedness_problems(ex) is ex


def test_invalid_json_is_flagged_and_kept_raw() -> None:
    ex = make_exchange(CHAT, request_body=b'{"model": "m", "messages": [',
                       request_headers=[("content-type", "application/json")],
                       response_json=CHAT_RESP)
    flagged = with_wellformedness_problems(ex)
    assert len(flagged.problems) == 1
    assert flagged.problems[0].startswith("the request body is not valid JSON")
    assert flagged.request == ex.request  # raw bytes untouched


def test_problems_already_there_are_kept_and_not_repeated() -> None:
    ex = make_exchange(CHAT, request_json=CHAT_REQ, response_body=b"{",
                       ).model_copy(update={"problems": ["response body over 1 bytes"]})
    once = with_wellformedness_problems(ex)
    assert once.problems[0] == "response body over 1 bytes" and len(once.problems) == 2
    assert with_wellformedness_problems(once) is once


def test_content_encoded_bodies_are_checked_on_a_decoded_copy() -> None:
    headers = [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]
    stored = gzip.compress(b'{"model": ')
    ex = make_exchange(CHAT, request_body=stored, request_headers=headers,
                       response_json=CHAT_RESP)
    flagged = with_wellformedness_problems(ex)
    assert flagged.request.body == stored  # still gzip, exactly as on the wire
    assert flagged.problems[0].startswith("the request body is not valid JSON")
    garbage = make_exchange(CHAT, request_body=b"not gzip", request_headers=headers,
                            response_json=CHAT_RESP)
    assert wellformedness_problems(garbage)[0].startswith("the request body could not be decoded")


def test_bad_utf8_is_flagged_where_the_type_declares_utf8() -> None:
    bad_json = make_exchange(CHAT, request_json=CHAT_REQ, response_body=b'{"a": "\xff"}')
    assert wellformedness_problems(bad_json)[0] == "the response body is not valid UTF-8 (byte 7)"
    text = make_exchange("http://t/x", route="t", response_body=b"caf\xc3",
                         response_headers=[("content-type", 'text/plain; charset="UTF-8"')])
    assert wellformedness_problems(text) == ["the response body is not valid UTF-8 (byte 3)"]
    stream = make_exchange(CHAT, request_json=CHAT_REQ, chunks=[b"data: \xff\n\n"])
    assert "not valid UTF-8" in wellformedness_problems(stream)[0]


def test_a_stream_ending_inside_an_event_is_flagged_truncated() -> None:
    ex = make_exchange(CHAT, request_json=CHAT_REQ, chunks=split_every(STREAM[:-5], 9))
    assert wellformedness_problems(ex) == [
        "response: the event stream ends in the middle of an event (truncated)"]


def test_a_stream_cut_by_an_error_is_flagged_wherever_the_cut_fell() -> None:
    whole_events = STREAM[: STREAM.index(b"data: [DONE]")]
    at_boundary = _with_error(make_exchange(CHAT, request_json=CHAT_REQ, chunks=[whole_events]),
                              "client_disconnected: gone")
    mid_event = _with_error(make_exchange(CHAT, request_json=CHAT_REQ, chunks=[STREAM[:-5]]),
                            "reset: peer (after the response started)")
    cut = f"response: {TRUNCATED_BY_ERROR}"
    assert wellformedness_problems(at_boundary) == [cut]
    assert wellformedness_problems(mid_event) == [
        "response: the event stream ends in the middle of an event (truncated)", cut]
    # the full parser calls both truncated too: the flag agrees with it
    for ex in (at_boundary, mid_event):
        assert any("truncated" in p for p in parse_exchange(ex).problems)
    # an MCP server stream (a GET stream) always ends with a disconnect: not a cut
    get_stream = make_exchange(MCP, method="GET", request_headers=[("mcp-session-id", "s")],
                               chunks=[b": ping\n\n"])
    assert wellformedness_problems(_with_error(get_stream, "client_disconnected: gone")) == []


def test_mcp_bodies_must_be_json_rpc() -> None:
    no_method = make_exchange(MCP, request_json={"jsonrpc": "2.0", "id": 1, "params": {}},
                              request_headers=[("mcp-method", "tools/call")],
                              response_json=TOOLS_RESULT)
    assert wellformedness_problems(no_method) == [
        "the request body holds a JSON-RPC message with neither method, result nor error"]
    bad_event = make_exchange(MCP, request_json=TOOLS_CALL,
                              chunks=[b"event: message\ndata: {\"id\": 7}\n\n"])
    assert wellformedness_problems(bad_event) == [
        "response event #1 holds something that is not a JSON-RPC 2.0 message"]
    # a gateway's own error page is not held to JSON-RPC
    refused = make_exchange(MCP, request_json=TOOLS_CALL, response_json={"detail": "no"},
                            status=403)
    assert wellformedness_problems(refused) == []


def test_a_bad_stdio_line_is_flagged() -> None:
    ex = make_exchange("stdio:server", method="STDIO", transport="stdio",
                       request_body=json.dumps(TOOLS_CALL).encode(), response_body=b"oops",
                       response_headers=[])
    assert wellformedness_problems(ex)[0].startswith("the response body is not valid JSON")


def test_json_too_deep_for_the_decoder_is_flagged_not_raised() -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    ex = make_exchange(CHAT, request_body=deep,
                       request_headers=[("content-type", "application/json")],
                       response_json=CHAT_RESP)
    problems = wellformedness_problems(ex)
    assert len(problems) == 1 and "kept raw" in problems[0]


@pytest.mark.parametrize("ex", [
    make_exchange(CHAT, request_body=b"{", request_headers=[("content-type", "application/json")],
                  response_json=CHAT_RESP),
    make_exchange(CHAT, request_json=CHAT_REQ, response_body=b"<html>"),
    make_exchange(CHAT, request_json=CHAT_REQ, chunks=[STREAM[:-3]]),
    make_exchange(MCP, request_json=TOOLS_CALL, response_body=b"[1"),
])
def test_what_the_full_parse_calls_malformed_is_flagged_too(ex: Exchange) -> None:
    assert parse_exchange(ex).problems
    assert wellformedness_problems(ex)


_LINE_END = st.sampled_from(["\n", "\r\n", "\r"])
_LINE = st.one_of(st.just(""), st.sampled_from(["data: x", "event: e", ": c", "id: 1", "data"]))


@given(st.lists(st.tuples(_LINE, _LINE_END), max_size=12), st.sampled_from(["", "data: y"]))
def test_the_tail_alone_gives_the_parsers_truncation_verdict(
        lines: list[tuple[str, str]], last: str) -> None:
    body = ("".join(line + end for line, end in lines) + last).encode()
    tail = body[_tail_start(body):]
    assert parse_sse(tail)[1] == parse_sse(body)[1]
    # and it is the text after the *last* blank line (at most a CRLF's LF left in front)
    text = tail.decode().replace("\r\n", "\n").replace("\r", "\n")
    assert "\n\n" not in text.removeprefix("\n")
