"""`deploysim replay` misses: `--miss error` fails the turn visibly (counted, named, exit 3),
`--miss continue` goes on, `--fallbacks` chooses the layers, the summary gives the answer mix,
and no tool text the candidate reads ever says "deploysim"."""

from __future__ import annotations

import json
from pathlib import Path

from deploysim.cli import run
from recorder.session import ContentPart, Message, Session, ToolCall, ToolDef, ToolResult
from replayer.run_folder import trajectories
from replayer.testing.fake_model import RuleAgent, serve_in_thread
from replayer.testing.script import ScriptedReply, ScriptedRequest
from replayer.testing.synthetic_sessions import support_corpus, write_corpus
from runtime.run_manifest import read_manifest

SHELL = ToolDef(name="shell", description="Run a shell command in the workspace",
                input_schema={"type": "object", "properties": {"command": {"type": "string"}},
                              "required": ["command"]})
DANGER = "rm -rf /tmp/workspace"


def _session(sid: str, commands: list[tuple[str, str, bool]]) -> Session:
    msgs = [Message(role="system", content=[ContentPart(text="You run commands.")]),
            Message(role="user", content=[ContentPart(text="Tidy the workspace.")])]
    for i, (command, output, failed) in enumerate(commands):
        cid = f"c_{sid}_{i}"
        msgs += [Message(role="assistant", tool_calls=[ToolCall(id=cid, name="shell",
                                                               arguments={"command": command})]),
                 Message(role="tool", tool_call_id=cid, name="shell",
                         content=[ContentPart(text=output)],
                         result=ToolResult(content=output, is_error=failed))]
    msgs.append(Message(role="assistant", content=[ContentPart(text="Done.")]))
    return Session(id=sid, messages=msgs, tools=[SHELL], params={"model": "sim-deployed"})


def _corpus(tmp_path: Path) -> str:
    sessions = [
        _session("a", [("ls", "build\nsrc", False)]),
        _session("b", [("make", "Error: HTTP 503: Service Unavailable", True),
                       ("ls -la", "total 2\nbuild\nsrc", False)]),
    ]
    return write_corpus(str(tmp_path / "corpus" / "shell.cassette"), sessions)


def dangerous(request: ScriptedRequest) -> ScriptedReply:
    """Runs the one command nobody recorded, then reports what the tool said."""
    last = request.last
    if last is not None and last.role == "tool":
        return ScriptedReply(text=f"The shell said: {last.text}")
    return ScriptedReply.call("shell", {"command": DANGER})


def _replay(corpus: str, out: str, url: str, *extra: str) -> int:
    return run(["replay", corpus, "--model", "sim-candidate", "--base-url", url, "--out", out,
                "--progress", "off", *extra])


def _tool_texts(out: str) -> list[str]:
    return [m.text + (m.result.content if m.result else "")
            for t in trajectories(out) for m in t.messages
            if m.role == "tool" and m.origin == "generated"]


def test_miss_error_fails_the_turn_names_the_call_and_exits_3(tmp_path, capsys):
    corpus, out = _corpus(tmp_path), str(tmp_path / "run")
    with serve_in_thread(dangerous) as server:
        code = _replay(corpus, out, server.openai_url, "--fallbacks", "none", "--miss",
                       "error")
    captured = capsys.readouterr()
    assert code == 3
    assert "2 turn(s) failed with stub_miss" in captured.err
    # which call, which trajectory and session
    assert f'missed: shell {{"command": "{DANGER}"}} in a#0@0 (session a, call 0)' \
        in captured.out
    assert "exact 0, fallback 0, missed 2" in captured.out
    manifest = read_manifest(out)
    assert manifest.model_dump()["errors_by_reason"] == {"stub_miss": 2}
    assert manifest.model_dump()["answers"]["missed"] == 2
    assert {m["arguments"]["command"] for m in manifest.misses} == {DANGER}
    assert manifest.stubs["miss"] == "error" and manifest.stubs["fallbacks"] == []
    for traj in trajectories(out):
        *_, tool, failed = traj.messages
        # the candidate's tool result is the shell's own failure, the reason is the turn's
        assert tool.result is not None and tool.result.provenance == "miss"
        assert tool.result.content == "Error: HTTP 503: Service Unavailable"
        assert failed.role == "assistant" and failed.error is not None
        assert failed.error.startswith(f"stub_miss: no recording or fallback answers shell "
                                       f'{{"command": "{DANGER}"}}')


def test_miss_continue_lets_the_candidate_read_the_tools_error(tmp_path, capsys):
    corpus, out = _corpus(tmp_path), str(tmp_path / "run")
    with serve_in_thread(dangerous) as server:
        code = _replay(corpus, out, server.openai_url, "--fallbacks", "none", "--miss",
                       "continue", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["counts"]["errors"] == 0
    assert summary["answers"]["missed"] == 2 and summary["failed_by_miss"] == 0
    assert summary["missed_calls"][0]["failed_turn"] is False
    finals = [t.messages[-1].text for t in trajectories(out)]
    assert finals == ["The shell said: Error: HTTP 503: Service Unavailable"] * 2


def test_default_fallbacks_answer_and_the_summary_warns_when_they_carry_the_run(tmp_path,
                                                                              capsys):
    corpus, out = _corpus(tmp_path), str(tmp_path / "run")
    with serve_in_thread(dangerous) as server:
        code = _replay(corpus, out, server.openai_url, "--json")
    summary = json.loads(capsys.readouterr().out)
    manifest = read_manifest(out)
    assert manifest.stubs["fallbacks"] == ["nearest", "synthesize"]
    answers = summary["answers"]
    assert answers["calls"] == 2 and answers["exact"] == 0
    if answers["missed"]:  # the fallbacks declined the call: the miss policy had its say
        assert code == 3
    else:
        assert code == 0 and answers["fallbacks"] == 2
        assert summary["warnings"] and "fallbacks answered 2 of 2" in summary["warnings"][0]
        assert manifest.model_dump()["warnings"] == summary["warnings"]


def test_bad_fallbacks_and_miss_are_one_sentence_exit_2(tmp_path, capsys):
    corpus = _corpus(tmp_path)
    url = "http://127.0.0.1:9/v1"
    assert _replay(corpus, str(tmp_path / "r1"), url, "--fallbacks", "nearest,guess") == 2
    assert "'guess', which is not a fallback" in capsys.readouterr().err
    assert _replay(corpus, str(tmp_path / "r2"), url, "--miss", "forward") == 2
    assert "forward needs a live tool" in capsys.readouterr().err
    assert _replay(corpus, str(tmp_path / "r3"), url, "--fallbacks", "simulate") == 2
    assert "--tool-simulator" in capsys.readouterr().err


def test_no_tool_text_in_any_trajectory_says_deploysim(tmp_path, capsys):
    """Misses, fallbacks and every perturbation profile: the candidate never reads a word of
    the simulation in a tool result."""
    corpus = _corpus(tmp_path)
    support = write_corpus(str(tmp_path / "support" / "s.cassette"), support_corpus([4, 4]))
    texts: list[str] = []
    with serve_in_thread(dangerous) as shell_agent, serve_in_thread(RuleAgent()) as rule:
        for i, (source, url, extra) in enumerate([
            (corpus, shell_agent.openai_url, ["--fallbacks", "none", "--miss", "continue"]),
            (corpus, shell_agent.openai_url, []),
            (corpus, shell_agent.openai_url, ["--profile", "chaos", "--miss", "continue"]),
            (support, rule.openai_url, ["--profile", "hostile", "--fallbacks", "none"]),
            (support, rule.openai_url, ["--profile", "flaky", "--seed", "5"]),
            (support, rule.openai_url, ["--profile", "degraded", "--seed", "2"]),
            (support, rule.openai_url, ["--profile", "chaos", "--seed", "9"]),
        ]):
            out = str(tmp_path / f"run{i}")
            assert _replay(source, out, url, *extra) in (0, 3)
            texts += _tool_texts(out)
    capsys.readouterr()
    assert len(texts) > 20
    leaking = [t for t in texts if "deploysim" in t.lower()]
    assert leaking == []
