"""Round trips of every record kind through the writer and reader, locally and on fsspec."""

from __future__ import annotations

import os

import pytest

from recorder import (
    Annotation,
    CassetteReader,
    CassetteWriter,
    ContentPart,
    Corpus,
    Exchange,
    HttpRequest,
    HttpResponse,
    Message,
    Session,
    SessionSource,
    StreamChunk,
    ToolCall,
    ToolDef,
    ToolResult,
)


def make_exchange(i: int = 0, *, streamed: bool = False) -> Exchange:
    body = b'{"model":"m","messages":[{"role":"user","content":"hi %d"}]}' % i
    chunks = [StreamChunk(offset_ms=k * 1.5, data=b"data: %d\n\n" % k) for k in range(3)]
    return Exchange(
        id=f"ex-{i}",
        route="openai",
        started_at=1700000000.0 + i,
        ended_at=1700000000.5 + i,
        request=HttpRequest(method="POST", url="https://api.example/v1/chat/completions",
                            headers=[("Content-Type", "application/json"), ("X-A", "1"),
                                     ("X-A", "2")], body=body),
        response=HttpResponse(status=200, reason="OK",
                              headers=[("content-type", "text/event-stream")],
                              body=b"".join(c.data for c in chunks) if streamed else b'{"ok":true}',
                              chunks=chunks if streamed else None),
        session_hint="s1",
        labels={"segment": "coding"},
    )


def make_session(i: int = 0) -> Session:
    return Session(
        id=f"s-{i}",
        messages=[
            Message(role="system", content=[ContentPart(text="be careful")]),
            Message(role="user", content=[ContentPart(text="list files")]),
            Message(role="assistant", content=[ContentPart(type="thinking", text="hmm")],
                    tool_calls=[ToolCall(id="c1", name="shell", arguments={"command": "ls"})]),
            Message(role="tool", tool_call_id="c1", name="shell",
                    result=ToolResult(content="a.txt", latency_ms=3.0),
                    content=[ContentPart(text="a.txt")]),
            Message(role="assistant", content=[ContentPart(text="There is a.txt")],
                    finish_reason="stop", usage={"input_tokens": 10, "output_tokens": 3}),
        ],
        tools=[ToolDef(name="shell", input_schema={"type": "object"})],
        labels={"segment": "coding", "model": "gpt-x"},
        source=SessionSource(exchange_ids=["ex-0"]),
        started_at=1.0,
        ended_at=2.0,
    )


def make_annotation() -> Annotation:
    return Annotation(id="a1", session_id="s-0", turn=0, type="verdict", name="destructive-shell",
                      value=True, data={"evidence": [{"message_index": 2}]})


@pytest.mark.parametrize("record", [make_exchange(), make_exchange(streamed=True), make_session(),
                                    make_annotation()], ids=["exchange", "stream", "session",
                                                             "annotation"])
def test_every_record_kind_round_trips(tmp_path, record):
    path = str(tmp_path / "r.cassette")
    with CassetteWriter(path, producer="test") as w:
        w.write(record)
    reader = CassetteReader(path)
    assert list(reader) == [record]
    assert reader.problems == []
    assert reader.header is not None and reader.header.producer == "test"


def test_header_records_version_and_redaction_policy(tmp_path):
    path = str(tmp_path / "h.cassette")
    CassetteWriter(path, redaction_policy="pol-123", meta={"run": "r1"}).close()
    reader = CassetteReader(path)
    assert list(reader) == []
    assert reader.header.redaction_policy == "pol-123"
    assert reader.header.format_version == 1
    assert reader.header.meta == {"run": "r1"}


def test_rotation_by_size_splits_into_numbered_files_read_back_as_one_corpus(tmp_path):
    w = CassetteWriter(str(tmp_path / "rec.cassette"), rotate_bytes=2000)
    records = [make_exchange(i) for i in range(20)]
    w.write_many(records)
    w.close()
    assert len(w.paths) > 3
    assert all(os.path.getsize(p) <= 2000 + 600 for p in w.paths)
    assert list(Corpus(str(tmp_path)).exchanges()) == records


def test_memory_fsspec_round_trip():
    path = "memory://bucket/run/rec.cassette"
    records = [make_exchange(1), make_session(2)]
    with CassetteWriter(path) as w:
        w.write_many(records)
    corpus = Corpus("memory://bucket/run")
    assert list(corpus.records()) == records
    assert list(Corpus("memory://bucket/run/*.cassette").records()) == records


@pytest.mark.parametrize("durability", ["record", "interval", "close"])
def test_durability_policies_all_produce_readable_files(tmp_path, durability):
    path = str(tmp_path / "d.cassette")
    with CassetteWriter(path, durability=durability) as w:
        w.write_many(make_exchange(i) for i in range(5))
    assert len(list(CassetteReader(path))) == 5


def test_content_hash_identifies_corpus_version(tmp_path):
    a = tmp_path / "a"
    with CassetteWriter(str(a / "x.cassette")) as w:
        w.write(make_exchange(1))
    h1 = Corpus(str(a)).content_hash()
    assert h1 == Corpus(str(a)).content_hash()
    with CassetteWriter(str(a / "y.cassette")) as w:
        w.write(make_exchange(2))
    assert Corpus(str(a)).content_hash() != h1


def test_reading_never_leaves_the_garbage_collector_paused_for_the_caller(tmp_path):
    import gc

    with CassetteWriter(str(tmp_path / "g.cassette")) as w:
        w.write_many(make_exchange(i) for i in range(1200))  # several decoding batches
    assert gc.isenabled()
    seen = 0
    for _record in Corpus(str(tmp_path)).records():
        assert gc.isenabled()
        seen += 1
    for _path, _obj in Corpus(str(tmp_path)).objs():
        assert gc.isenabled()
    assert seen == 1200
    gc.disable()
    try:  # a caller that turned it off keeps it off
        assert all(not gc.isenabled() for _ in Corpus(str(tmp_path)).exchanges())
    finally:
        gc.enable()
