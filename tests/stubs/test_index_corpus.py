"""Stubs built from a real cassette corpus (sessions plus raw MCP and HTTP exchanges, read by
`recorder.extract_tool_calls.extract_tool_calls`), and prebuilt indexes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recorder.corpus import Corpus
from stubs.api import ToolQuery
from stubs.engine import StubEngine
from stubs.errors import BadIndexFile, IndexMismatch
from stubs.index import StubIndex
from stubs.source import corpus_calls
from stubs.store import is_index_file, load_index, read_header, save_index
from stubs.stub_config import StubConfig
from stubs.testing import sample_calls, write_sample_corpus

CALLS = sample_calls(sessions=25, seed=9)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_sample_corpus(str(tmp_path_factory.mktemp("c") / "sample.cassette"), CALLS)


async def test_every_recorded_mcp_and_http_call_is_answered_as_recorded(corpus: str) -> None:
    engine = StubEngine.from_corpus(corpus)
    assert engine.describe()["corpus_hash"] == Corpus(corpus).content_hash()
    checked = 0
    for c in CALLS:
        if c.kind == "function":
            continue
        # replay each session's own answers: the first recording of this call in the session
        first = next(x for x in CALLS if x.session_id == c.session_id and x.kind == c.kind
                     and x.name == c.name and x.arguments == c.arguments)
        a = await engine.answer(ToolQuery(kind=c.kind, name=c.name, server=c.server,
                                          arguments=c.arguments, session_id=c.session_id,
                                          trajectory_id=f"t{checked}"))
        assert a.provenance == "session"
        if c.kind == "mcp":
            assert a.mcp_result == first.mcp_result
        else:
            assert a.http is not None and first.http is not None
            assert (a.http.status, a.http.body) == (first.http.status, first.http.body)
            assert json.loads(a.result.content) == json.loads(first.http.body)
        checked += 1
    assert checked > 20


async def test_function_view_of_the_same_tools(corpus: str) -> None:
    engine = StubEngine.from_corpus(corpus)
    c = next(x for x in CALLS if x.name == "get_weather")
    a = await engine.answer(ToolQuery(kind="function", name="get_weather",
                                      arguments=c.arguments, session_id=c.session_id))
    assert a.provenance == "session" and a.result.content == c.result.content


async def test_prebuilt_index_answers_the_same(corpus: str, tmp_path: Path) -> None:
    c = Corpus(corpus)
    index = StubIndex.build(corpus_calls(c))
    path = str(tmp_path / "stubs.idx")
    header = save_index(index, path, corpus_hash=c.content_hash(), corpus_paths=c.paths)
    assert is_index_file(path) and not is_index_file(corpus)
    assert read_header(path)["index_hash"] == header["index_hash"] == index.content_hash()
    fast = StubEngine.from_corpus(corpus, index=path, seed=3, profile="chaos")
    slow = StubEngine.from_corpus(corpus, seed=3, profile="chaos")
    assert fast.describe() == slow.describe()
    for x in CALLS[:60]:
        q = ToolQuery(kind=x.kind, name=x.name, server=x.server, arguments=x.arguments,
                      session_id=x.session_id, call_index=x.index, trajectory_id=x.session_id)
        a, b = await fast.answer(q), await slow.answer(q)
        assert (a.provenance, a.result, a.http, a.mcp_result, a.delay_s) == \
            (b.provenance, b.result, b.http, b.mcp_result, b.delay_s)


def test_index_from_another_corpus_version_is_refused(corpus: str, tmp_path: Path) -> None:
    c = Corpus(corpus)
    path = str(tmp_path / "stubs.idx")
    save_index(StubIndex.build(corpus_calls(c)), path, corpus_hash=c.content_hash())
    changed = write_sample_corpus(str(tmp_path / "changed.cassette"), CALLS[:-1])
    with pytest.raises(IndexMismatch, match="different corpus version"):
        StubEngine.from_corpus(changed, index=path)
    with pytest.raises(IndexMismatch, match="different stub configuration"):
        load_index(path, expect_config=StubConfig(repeat="cycle"))
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x28\xb5\x2f\xfdnot really")
    with pytest.raises(BadIndexFile, match="not a prebuilt stub index"):
        load_index(str(bad))
    with pytest.raises(BadIndexFile, match="does not exist"):
        load_index(str(tmp_path / "missing.idx"))
