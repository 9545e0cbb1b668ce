"""Session threading: interleaved concurrent sessions, forks, retries, explicit session
headers, Responses chains, n>1 choices, and tool exchanges attached to their sessions."""

from __future__ import annotations

import gc
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder import derive as derive_module
from recorder.corpus import Corpus
from recorder.derive import SessionStream, derive, derive_sessions
from recorder.errors import CassetteError
from recorder.exchange import Exchange
from recorder.protocols.light import LMessage
from recorder.session import Session
from recorder.testing import make_exchange, varied_corpus
from recorder.turns import counted_turns
from recorder.writer import CassetteWriter

CHAT = "https://api.openai.com/v1/chat/completions"


def completion(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion", "model": "m",
            "choices": [{"index": i, "message": m,
                         "finish_reason": "tool_calls" if m.get("tool_calls") else "stop"}
                        for i, m in enumerate(messages)]}


def say(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def conversation(name: str, turns: int, t0: float, step: float) -> list[Exchange]:
    """A linear chat of `turns` user messages, one exchange per turn, with a tool step each."""
    history: list[dict[str, Any]] = [{"role": "system", "content": f"agent {name}"}]
    out = []
    t = t0
    for k in range(turns):
        history.append(user(f"{name} question {k}"))
        call = {"role": "assistant", "content": None, "tool_calls": [{
            "id": f"{name}-c{k}", "type": "function",
            "function": {"name": "lookup", "arguments": f'{{"q": "{name}{k}"}}'}}]}
        out.append(make_exchange(CHAT, id=f"{name}-{k}a", started_at=t,
                                 request_json={"model": "m", "messages": list(history)},
                                 response_json=completion(call)))
        history += [call, {"role": "tool", "tool_call_id": f"{name}-c{k}",
                           "content": f"result {name} {k}"}]
        t += step
        out.append(make_exchange(CHAT, id=f"{name}-{k}b", started_at=t,
                                 request_json={"model": "m", "messages": list(history)},
                                 response_json=completion(say(f"{name} answer {k}"))))
        history.append(say(f"{name} answer {k}"))
        t += step
    return out


def by_first_user(sessions: list[Session]) -> dict[str, Session]:
    return {next(m.text for m in s.messages if m.role == "user"): s for s in sessions}


def check_linear(s: Session, name: str, turns: int) -> None:
    assert len(counted_turns(s)) == turns
    assert [m.text for m in s.messages if m.role == "user"] == [
        f"{name} question {k}" for k in range(turns)]
    assert [m.text for m in s.messages if m.role == "assistant" and m.text] == [
        f"{name} answer {k}" for k in range(turns)]
    assert all(m.exchange_id for m in s.messages if m.role == "assistant")


def test_interleaved_concurrent_sessions_separate() -> None:
    exchanges = (conversation("ana", 3, 100, 1.0) + conversation("bo", 4, 100.3, 0.7)
                 + conversation("cy", 2, 100.1, 1.3))
    random.Random(4).shuffle(exchanges)  # file order does not matter, times do
    sessions = derive_sessions(exchanges)
    assert len(sessions) == 3
    found = by_first_user(sessions)
    check_linear(found["ana question 0"], "ana", 3)
    check_linear(found["bo question 0"], "bo", 4)
    check_linear(found["cy question 0"], "cy", 2)
    assert len(found["bo question 0"].source.exchange_ids) == 8


def test_retries_do_not_add_turns() -> None:
    ex = conversation("ana", 2, 100, 1.0)
    failed = make_exchange(CHAT, id="retry-fail", started_at=101.2,
                           request_json=_request(ex[1]), status=500,
                           response_json={"error": {"message": "upstream overloaded"}})
    again = ex[1].model_copy(update={"id": "retry-ok", "started_at": 101.4, "ended_at": 101.6})
    [s] = derive_sessions([*ex, failed, again])
    check_linear(s, "ana", 2)
    assert {"retry-fail", "retry-ok"} <= set(s.source.exchange_ids)


def test_failed_call_then_retry_uses_the_answer() -> None:
    ex = conversation("ana", 1, 100, 1.0)
    failed = ex[1].model_copy(update={"id": "fail", "started_at": 100.5, "response": None,
                                      "error": "timeout"})
    [s] = derive_sessions([ex[0], failed, ex[1]])
    check_linear(s, "ana", 1)


def test_forks_become_separate_sessions() -> None:
    base = conversation("ana", 1, 100, 1.0)
    history = _request(base[1])["messages"] + [say("ana answer 0")]
    left = make_exchange(CHAT, id="left", started_at=110, request_json={
        "model": "m", "messages": [*history, user("left")]}, response_json=completion(say("L")))
    right = make_exchange(CHAT, id="right", started_at=111, request_json={
        "model": "m", "messages": [*history, user("right")]}, response_json=completion(say("R")))
    sessions = derive_sessions([*base, left, right])
    assert len(sessions) == 2
    tails = sorted(s.messages[-1].text for s in sessions)
    assert tails == ["L", "R"]
    for s in sessions:  # both carry the shared prefix
        assert [m.text for m in s.messages[:2]] == ["agent ana", "ana question 0"]
        assert len(counted_turns(s)) == 2
    assert len({s.id for s in sessions}) == 2


def test_explicit_session_header_wins() -> None:
    one = conversation("ana", 1, 100, 1.0)
    two = conversation("ana", 1, 200, 1.0)  # identical content, different users
    tagged = [e.model_copy(update={"session_hint": "user-1", "id": "1" + e.id}) for e in one]
    tagged += [e.model_copy(update={"session_hint": "user-2", "id": "2" + e.id}) for e in two]
    sessions = derive_sessions(tagged)
    assert sorted(s.id for s in sessions) == ["user-1", "user-2"]
    # a header named in the request (not yet lifted into session_hint) counts too
    raw = [e.model_copy(update={"request": e.request.model_copy(update={
        "headers": [*e.request.headers, ("X-Deploysim-Session", "hdr")]})}) for e in one]
    assert [s.id for s in derive_sessions(raw)] == ["hdr"]
    # compaction inside a tagged session: the second chain stays under the same header id
    compacted = make_exchange(CHAT, id="compact", started_at=150, session_hint="user-1",
                              request_json={"model": "m", "messages": [user("summary")]},
                              response_json=completion(say("ok")))
    ids = sorted(s.id for s in derive_sessions([*tagged, compacted]))
    assert ids == ["user-1", "user-1~2", "user-2"]


def test_labels_segment_and_model() -> None:
    ex = [e.model_copy(update={"labels": {"segment": "enterprise"}})
          for e in conversation("ana", 1, 100, 1.0)]
    [s] = derive_sessions(ex)
    assert s.labels == {"segment": "enterprise", "model": "m"}
    hdr = [e.model_copy(update={"request": e.request.model_copy(update={
        "headers": [("X-Deploysim-Segment", "free")]})}) for e in conversation("bo", 1, 1, 1)]
    assert derive_sessions(hdr)[0].labels["segment"] == "free"


def test_n_choices_thread_through_the_chosen_one() -> None:
    first = make_exchange(CHAT, id="n2", started_at=1, request_json={
        "model": "m", "n": 2, "messages": [user("pick")]},
        response_json=completion(say("A"), say("B")))
    follow = make_exchange(CHAT, id="next", started_at=2, request_json={
        "model": "m", "messages": [user("pick"), say("B"), user("more")]},
        response_json=completion(say("C")))
    [s] = derive_sessions([first, follow])
    assert [m.text for m in s.messages] == ["pick", "B", "more", "C"]


def test_responses_chain_by_previous_response_id() -> None:
    url = "https://api.openai.com/v1/responses"

    def resp(rid: str, text: str) -> dict[str, Any]:
        return {"id": rid, "object": "response", "status": "completed", "output": [
            {"type": "message", "id": "m" + rid, "role": "assistant",
             "content": [{"type": "output_text", "text": text}]}]}

    a = make_exchange(url, id="r1", started_at=1, request_json={
        "model": "m", "instructions": "sys", "input": "hi"}, response_json=resp("resp_1", "yo"))
    b = make_exchange(url, id="r2", started_at=2, request_json={
        "model": "m", "previous_response_id": "resp_1", "input": "again"},
        response_json=resp("resp_2", "yo2"))
    c = make_exchange(url, id="r3", started_at=3, request_json={
        "model": "m", "previous_response_id": "resp_1", "input": "fork"},
        response_json=resp("resp_3", "yo3"))
    orphan = make_exchange(url, id="r4", started_at=4, request_json={
        "model": "m", "previous_response_id": "resp_unknown", "input": "lost"},
        response_json=resp("resp_4", "?"))
    d = derive([a, b, c, orphan])
    texts = sorted([m.text for m in s.messages] for s in d.sessions)
    assert texts == [["lost", "?"], ["sys", "hi", "yo", "again", "yo2"],
                     ["sys", "hi", "yo", "fork", "yo3"]]
    assert "r4" in d.problems and "resp_unknown" in d.problems["r4"][0]


def test_anthropic_tool_loop_is_one_turn() -> None:
    url = "https://api.anthropic.com/v1/messages"
    use = {"type": "tool_use", "id": "tu1", "name": "lookup", "input": {"q": 1}}
    first = make_exchange(url, id="a1", started_at=1, request_json={
        "model": "claude", "max_tokens": 10, "messages": [user("find it")]},
        response_json={"id": "msg1", "type": "message", "role": "assistant",
                       "content": [{"type": "thinking", "thinking": "hm", "signature": "s"},
                                   use], "stop_reason": "tool_use"})
    second = make_exchange(url, id="a2", started_at=2, request_json={
        "model": "claude", "max_tokens": 10, "messages": [
            user("find it"), {"role": "assistant", "content": [use]},  # thinking dropped
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu1",
                                          "content": "found"}]}]},
        response_json={"id": "msg2", "type": "message", "role": "assistant",
                       "content": [{"type": "text", "text": "here"}], "stop_reason": "end_turn"})
    [s] = derive_sessions([first, second])
    assert [m.role for m in s.messages] == ["user", "assistant", "tool", "assistant"]
    assert len(counted_turns(s)) == 1
    assert s.messages[1].content[0].type == "thinking"  # kept from the recorded answer


def test_tool_exchanges_attach_by_result_args_or_header() -> None:
    ex = conversation("ana", 2, 100, 1.0)
    mcp = [make_exchange("http://127.0.0.1:9/mcp", id=f"tool-{k}", route="search",
                         started_at=100.2 + 2 * k, request_json={
                             "jsonrpc": "2.0", "id": k, "method": "tools/call",
                             "params": {"name": "lookup", "arguments": {"q": f"ana{k}"}}},
                         response_json={"jsonrpc": "2.0", "id": k, "result": {
                             "content": [{"type": "text",
                                          "text": f"result ana {k}" if k == 0 else "other"}]}})
           for k in range(2)]
    hinted = make_exchange("http://127.0.0.1:8/kv/x", id="kv", route="kv", method="GET",
                           started_at=100.5, session_hint="sess", response_json={"v": 1})
    tagged = [e.model_copy(update={"session_hint": "sess"}) for e in ex]
    stray = make_exchange("http://127.0.0.1:8/kv/y", id="stray", route="kv", method="GET",
                          started_at=500, response_json={"v": 2})
    d = derive([*tagged, *mcp, hinted, stray])
    [s, tools_only] = d.sessions
    assert s.id == "sess" and d.attached == {"tool-0": "sess", "tool-1": "sess", "kv": "sess"}
    results = [m.result for m in s.messages if m.role == "tool"]
    assert [r.exchange_id for r in results if r] == ["tool-0", "tool-1"]  # content, then args
    calls = [c for m in s.messages for c in m.tool_calls]
    assert [c.server for c in calls] == ["search", "search"]
    assert tools_only.source.type == "tool_only" and tools_only.source.exchange_ids == ["stray"]
    assert counted_turns(tools_only) == []


def _request(ex: Exchange) -> dict[str, Any]:
    import json

    return json.loads(ex.request.body)


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(14)), st.integers(min_value=0, max_value=6))
def test_threading_ignores_file_order(order: list[int], retries: int) -> None:
    exchanges = conversation("ana", 2, 100, 1.0) + conversation("bo", 2, 100.5, 1.0)
    exchanges += conversation("cy", 1, 100.2, 1.0)
    exchanges += [e.model_copy(update={"id": e.id + "-retry", "started_at": e.started_at + 0.4})
                  for e in exchanges[:retries]]
    exchanges = exchanges[:14]
    shuffled = [exchanges[i] for i in order if i < len(exchanges)]
    a = derive_sessions(exchanges)
    b = derive_sessions(shuffled)
    assert [s.model_dump() for s in a] == [s.model_dump() for s in b]
    assert sum(len(counted_turns(s)) for s in a) == 5


# -- streamed derivation (SessionStream) -----------------------------------------------------


def _write_corpus(tmp_path: Path, exchanges: list[Exchange]) -> Corpus:
    """Two cassettes (the stream reads across files), in the corpus's own order."""
    half = len(exchanges) // 2
    for name, part in (("a", exchanges[:half]), ("b", exchanges[half:])):
        with CassetteWriter(str(tmp_path / f"{name}.cassette")) as w:
            w.write_many(part)
    return Corpus(str(tmp_path))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streamed_derivation_is_the_in_memory_one(tmp_path: Path, seed: int) -> None:
    corpus = _write_corpus(tmp_path, varied_corpus(60, seed))
    expected = derive(list(corpus.exchanges()))
    stream = SessionStream(corpus.exchanges)
    got = list(stream)
    assert [s.model_dump() for s in got] == [s.model_dump() for s in expected.sessions]
    assert {s.source.type for s in got} == {"recorded", "tool_only"}
    r = stream.result
    assert r.sessions == []  # produced one at a time, never collected
    assert r.problems == expected.problems and len(r.problems) >= 1
    assert r.protocols == expected.protocols and stream.exchanges == sum(r.protocols.values())
    assert r.attached == expected.attached
    assert r.tool_uses == expected.tool_uses


def test_no_exchange_is_held_while_sessions_are_produced(tmp_path: Path) -> None:
    corpus = _write_corpus(tmp_path, varied_corpus(30, 5))
    before = _alive(Exchange)
    alive = [_alive(Exchange) - before for _ in SessionStream(corpus.exchanges)]
    assert alive and max(alive) == 0
    everything = list(corpus.exchanges())  # what deriving a list holds (and the test sees)
    assert _alive(Exchange) - before == len(everything)


def test_threading_keeps_only_hashes_of_the_request_messages(tmp_path: Path) -> None:
    corpus = _write_corpus(tmp_path, conversation("ana", 3, 100, 1.0))
    held: list[int] = []

    def progress(stage: str, done: int) -> None:
        if stage == "thread":  # the first pass is over: what do the calls hold now?
            held.append(_alive(LMessage) - before)

    before = _alive(LMessage)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(derive_module, "PROGRESS_EVERY", 1)
        [s] = SessionStream(corpus.exchanges, progress=progress)
    check_linear(s, "ana", 3)
    assert held and held[0] == 6  # the six answers; none of the 27 request messages


def _alive(kind: type) -> int:
    gc.collect()
    return sum(isinstance(o, kind) for o in gc.get_objects())


def test_progress_is_reported_for_every_stage(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(derive_module, "PROGRESS_EVERY", 4)
    exchanges = varied_corpus(20, 7)
    corpus = _write_corpus(tmp_path, exchanges)
    calls: list[tuple[str, int]] = []
    sessions = list(SessionStream(corpus.exchanges, progress=lambda *a: calls.append(a)))
    stages = list(dict.fromkeys(stage for stage, _ in calls))
    assert stages == ["parse", "thread", "reread", "sessions"]
    parsed = [n for stage, n in calls if stage == "parse"]
    assert parsed == list(range(4, len(exchanges) + 1, 4))
    assert [n for stage, n in calls if stage == "sessions"] == list(
        range(4, len(sessions) + 1, 4))
    in_memory: list[tuple[str, int]] = []
    derive(exchanges, progress=lambda *a: in_memory.append(a))
    assert [s for s, _ in in_memory if s == "parse"] and "reread" not in dict(in_memory)


def test_a_corpus_that_changes_between_the_passes_is_refused() -> None:
    first = conversation("ana", 2, 100, 1.0)
    reads = [first, [first[1], first[0], *first[2:]], first[:-1]]
    with pytest.raises(CassetteError, match="changed while sessions were derived"):
        list(SessionStream(lambda: reads.pop(0)))
    reads = [first, first[:-1]]
    with pytest.raises(CassetteError, match="changed while sessions were derived"):
        list(SessionStream(lambda: reads.pop(0)))
