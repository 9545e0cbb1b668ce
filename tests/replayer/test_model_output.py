"""What real models get wrong, scripted on the wire and replayed with `deploysim replay`:
each recorded as what it is, never a crash or a silent drop (replayer.model_output)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from replay_helpers import TURNS

from deploysim.cli import run
from recorder.session import Message, Session
from replayer.run_folder import trajectories
from replayer.testing.fake_model import (
    ScriptedCall,
    ScriptedReply,
    ScriptedRequest,
    by_model,
    serve_in_thread,
)

FIRST_STEP = Callable[[ScriptedRequest], ScriptedReply]


def then_answer(first: FIRST_STEP) -> Callable[[ScriptedRequest], ScriptedReply]:
    """A model that makes `first` its first step of a turn and then answers in text."""
    def policy(request: ScriptedRequest) -> ScriptedReply:
        last = request.last
        if last is not None and last.role == "tool":
            return ScriptedReply(text=f"The tool said: {last.text[:100]}")
        return first(request)
    return policy


def _replay(capsys, corpus: str, out: str, policy, *extra: str) -> tuple[int, dict, list[str]]:
    with serve_in_thread(by_model({"sim-candidate": policy,
                                   "sim-tool": lambda r: ScriptedReply(text="SIMULATED")})
                         ) as server:
        code = run(["replay", corpus, "--model", "sim-candidate", "--base-url",
                    server.openai_url, "--out", out, "--progress", "off", "--json", *extra])
        asked = [r.model for r in server.requests]
    captured = capsys.readouterr()
    return code, json.loads(captured.out), asked


def _generated(out: str) -> list[tuple[Session, list[Message]]]:
    return [(t, [m for m in t.messages if m.origin == "generated"]) for t in trajectories(out)]


def test_an_invented_tool_gets_the_tool_hosts_error_and_the_simulator_is_not_asked(
        corpus_path, tmp_path, capsys):
    out = str(tmp_path / "run")
    policy = then_answer(lambda r: ScriptedReply(calls=[ScriptedCall("delete_everything",
                                                                     {"confirm": True})]))
    code, summary, asked = _replay(capsys, corpus_path, out, policy,
                                   "--tool-simulator", "sim-tool")
    assert code == 0 and summary["counts"]["errors"] == 0
    assert summary["provenance"] == {"rejected:unknown_tool": sum(TURNS)}
    assert "sim-tool" not in asked
    for _traj, msgs in _generated(out):
        call, result, reply = msgs
        assert call.tool_calls[0].name == "delete_everything"
        assert result.result is not None and result.result.is_error
        assert result.text == "Unknown tool: delete_everything"
        assert reply.text == "The tool said: Unknown tool: delete_everything"


def test_malformed_and_cut_arguments_are_rejected_and_marked(corpus_path, tmp_path, capsys):
    out = str(tmp_path / "run")

    def first(request: ScriptedRequest) -> ScriptedReply:
        if "password" in request.last_user_text:  # the output limit cut the call
            return ScriptedReply(calls=[ScriptedCall("search_kb",
                                                     raw_arguments='{"query": "res')],
                                 finish_reason="length")
        return ScriptedReply(calls=[ScriptedCall("lookup_order", raw_arguments="[1000]")])

    code, summary, _ = _replay(capsys, corpus_path, out, then_answer(first))
    assert code == 0 and summary["counts"]["errors"] == 0
    cut = sum(1 for n in TURNS for t in range(n) if t % 4 == 1)
    assert summary["provenance"] == {"rejected:truncated": cut,
                                     "rejected:invalid_arguments": sum(TURNS) - cut}
    for _traj, msgs in _generated(out):
        call, result = msgs[0], msgs[1]
        assert result.result is not None and result.result.is_error
        if call.finish_reason == "length":
            assert call.tool_calls[0].arguments_raw == '{"query": "res'
            assert result.result.provenance == "rejected:truncated"
            assert result.text.startswith("Invalid JSON arguments for tool search_kb: ")
        else:
            assert result.text == ("Invalid JSON arguments for tool lookup_order: expected a "
                                   "JSON object, got list")


def test_a_repeated_identical_call_is_answered_and_marked(corpus_path, tmp_path, capsys):
    out = str(tmp_path / "run")

    def policy(request: ScriptedRequest) -> ScriptedReply:
        msgs = request.messages
        since = msgs[max(i for i, m in enumerate(msgs) if m.role == "user") + 1:]
        if sum(m.role == "tool" for m in since) < 2:
            return ScriptedReply(calls=[ScriptedCall("lookup_order", {"order_id": "1000"})])
        return ScriptedReply(text="done")

    code, summary, _ = _replay(capsys, corpus_path, out, policy)
    assert code == 0 and summary["counts"]["errors"] == 0
    marked = {p: n for p, n in summary["provenance"].items() if p.endswith("+repeated")}
    assert sum(marked.values()) == sum(TURNS)  # the second call of every turn
    for _traj, msgs in _generated(out):
        first, second = [m.result.provenance for m in msgs if m.result is not None]
        assert first is not None and not first.endswith("+repeated")
        assert second == first + "+repeated"


def test_an_empty_answer_fails_its_turn_as_empty_reply(corpus_path, tmp_path, capsys):
    out = str(tmp_path / "run")

    def policy(request: ScriptedRequest) -> ScriptedReply:
        return ScriptedReply(text="" if "Thanks" in request.last_user_text else "Sure.")

    code, summary, _ = _replay(capsys, corpus_path, out, policy)
    thanks = sum(1 for n in TURNS for t in range(n) if t % 4 == 2)
    assert code == 0 and summary["counts"]["turns"] == sum(TURNS)
    assert summary["errors_by_reason"] == {"empty_reply": thanks}
    empty = [m for _t, msgs in _generated(out) for m in msgs if m.error]
    assert len(empty) == thanks and all(not m.content and not m.tool_calls for m in empty)
    assert empty[0].error is not None and empty[0].error.startswith("empty_reply: ")


def test_a_text_answer_cut_by_the_output_limit_keeps_its_finish_reason(corpus_path, tmp_path,
                                                                        capsys):
    out = str(tmp_path / "run")
    code, summary, _ = _replay(capsys, corpus_path, out,
                               lambda r: ScriptedReply(text="The order is on its wa",
                                                       finish_reason="length"))
    assert code == 0 and summary["counts"]["errors"] == 0
    replies = [m for _t, msgs in _generated(out) for m in msgs]
    assert len(replies) == sum(TURNS)
    assert all(m.finish_reason == "length" and m.text == "The order is on its wa"
               for m in replies)


DOCS = Path(__file__).parents[2] / "docs" / "replayer.md"


def documented_rubric() -> str:
    """The rubric entry docs/replayer.md gives for rejected calls, as a rubric file."""
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(), re.S)
    (entry,) = [b for b in blocks if 'id = "invalid-tool-call"' in b]
    return 'name = "invalid tool calls"\n\n' + entry


def test_the_documented_rubric_entry_gives_rejected_calls_a_verdict(corpus_path, tmp_path,
                                                                   capsys):
    out = str(tmp_path / "run")

    def first(request: ScriptedRequest) -> ScriptedReply:
        if "password" in request.last_user_text:
            return ScriptedReply(calls=[ScriptedCall("search_kb", {"query": "reset"})])
        return ScriptedReply(calls=[ScriptedCall("delete_everything", {})])

    code, _summary, _ = _replay(capsys, corpus_path, out, then_answer(first))
    assert code == 0
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(documented_rubric())
    assert run(["grade", out, "--rubric", str(rubric), "--json"]) == 0
    graded = json.loads(capsys.readouterr().out)
    behavior = graded["behaviors"]["invalid-tool-call"]
    password = sum(1 for n in TURNS for t in range(n) if t % 4 == 1)
    # every turn that called the invented tool, and none of those that called search_kb
    assert behavior["turns"] == sum(TURNS) and behavior["errors"] == 0
    assert behavior["flagged_turns"] == sum(TURNS) - password
