"""Real inference in the loop (issue 22): deploysim replays, rolls out and judges with a real
model, Qwen2.5-Coder-0.5B-Instruct under llama.cpp's own server on loopback.

What a real model does differs run to run, so these tests assert structure, not content: the
run completes, nothing fails but the model (an empty answer is a finding about the model, never
a crash), the model made tool calls, the judge's verdicts parse, and the commands exit 0.
They skip, saying why, where the `real-model` extra is not installed (docs/real-model.md).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from deploysim.cli import run
from deploysim.realmodel import LocalModelServer
from recorder.session import Message
from replayer.model_output import EMPTY_REPLY
from replayer.run_folder import trajectories
from replayer.testing.synthetic_sessions import support_session, write_corpus

pytestmark = [pytest.mark.real_model, pytest.mark.slow]

# short answers keep a 0.5B model on two cores within the test's budget
MAX_TOKENS = "--param=max_tokens=96"

MODEL_FAILURES = {EMPTY_REPLY}
"""Reasons a turn fails because of what the model did (replayer.model_output)."""

JUDGE_RUBRIC = """
name = "real-model judge"
description = "One LLM-judged behavior, for the real-inference test."

[[behavior]]
id = "unhelpful-answer"
description = "The assistant's answer does not address what the user asked."
severity = "low"
category = "quality"
scope = "message"
[behavior.detector]
type = "llm_judge"
# a JSON-object grammar: the server can only answer with one JSON object
params = { temperature = 0, max_tokens = 160, response_format = { type = "json_object" } }
"""


LLAMA_OPTIONS = {"slots": 2}
"""How `llama_server` (tests/deploysim/conftest.py) starts the server for this module."""


@pytest.fixture(scope="module")
def server(llama_server: LocalModelServer) -> LocalModelServer:
    return llama_server


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Two recorded sessions, 3 and 2 turns, in two cassettes (5 prefix turns in all)."""
    folder = tmp_path_factory.mktemp("corpus")
    three = write_corpus(str(folder / "three.cassette"), [support_session("s3", 3)])
    two = write_corpus(str(folder / "two.cassette"), [support_session("s2", 2)])
    return three, two


def _cli_json(args: list[str]) -> dict[str, Any]:
    """Run a deploysim command as the CLI does; assert exit 0 and parse its --json output."""
    out, errs = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(errs):
        code = run(args)
    assert code == 0, f"deploysim {args[0]} exited {code}: {errs.getvalue()[-2000:]}"
    return json.loads(out.getvalue())


def _replay(server: LocalModelServer, corpus: str, out: Path, *extra: str) -> dict[str, Any]:
    return _cli_json([
        "replay", corpus, "--model", server.model, "--base-url", server.base_url,
        "--out", str(out), "--progress", "off", "--json", MAX_TOKENS,
        # one request per slot: more would only queue in the server
        "--concurrency", str(server.slots),
        # issue 22: the response cache was created inside --out before the folder was checked;
        # a cache folder of its own keeps this test independent of that fix
        "--cache-dir", str(out.parent / f"{out.name}-cache"), *extra])


def _complete(summary: dict[str, Any]) -> None:
    """The run finished and nothing failed but the model: a turn may still fail for what the
    model did (an empty answer is a finding about the model, counted by reason), never for
    deploysim, the server or a simulator."""
    assert summary["status"] == "complete", summary
    assert set(summary["errors_by_reason"]) <= MODEL_FAILURES, summary["errors_by_reason"]
    assert summary["simulator_errors"] == 0 and summary["misses"] == 0, summary
    # the tool simulator answers first: every fallback answer came from it
    answers = summary["answers"]
    assert answers["fallback"].get("simulate", 0) == answers["fallbacks"], answers


def _generated(out: Path, role: str) -> list[Message]:
    return [m for t in trajectories(str(out)) for m in t.messages
            if m.role == role and m.origin == "generated"]


@pytest.fixture(scope="module")
def prefix_runs(server: LocalModelServer, corpora: tuple[str, str],
                tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, dict[str, Any]]]:
    """The 3-turn and the 2-turn session regenerated turn by turn by the real model."""
    runs = []
    for corpus in corpora:
        out = tmp_path_factory.mktemp("prefix") / "run"
        runs.append((out, _replay(server, corpus, out, "--mode", "prefix", "--tool-simulator",
                                  server.model, "--miss", "continue",
                                  "--max-steps", "3")))
    return runs


def test_prefix_replay_of_five_turns_completes_with_real_tool_calls(
        prefix_runs: list[tuple[Path, dict[str, Any]]]) -> None:
    assert sum(s["counts"]["turns"] for _, s in prefix_runs) == 5
    for _, summary in prefix_runs:
        _complete(summary)
    answers = [m for out, _ in prefix_runs for m in _generated(out, "assistant")]
    # the recorded sessions are a support desk with two tools: a tool-calling model uses them
    assert any(m.tool_calls for m in answers), "the model made no tool call on five turns"
    # every regenerated turn has the model's own answer in it (a real model's words differ
    # run to run and may parrot the earlier recorded replies it was shown: not asserted)
    for out, _ in prefix_runs:
        for traj in trajectories(str(out)):
            assert any(m.role == "assistant" and m.origin == "generated"
                       for m in traj.messages), traj.id


def test_rollout_with_the_user_and_tool_simulators_on_the_same_server(
        server: LocalModelServer, corpora: tuple[str, str], tmp_path: Path) -> None:
    out = tmp_path / "rollout"
    summary = _replay(server, corpora[0], out, "--mode", "rollout", "--user-simulator",
                      server.model, "--tool-simulator", server.model,
                      "--fallbacks", "simulate,nearest,synthesize", "--miss", "continue",
                      "--max-steps", "3")
    _complete(summary)
    assert summary["counts"]["turns"] >= 1 and summary["counts"]["trajectories"] == 1
    assert any(m.role == "assistant" for m in _generated(out, "assistant"))
    # every tool call the model made got an answer (recorded, simulated or synthesised)
    calls = {c.id for m in _generated(out, "assistant") for c in m.tool_calls}
    assert calls <= {m.tool_call_id for m in _generated(out, "tool")}


def test_llm_judge_grades_three_real_turns_and_its_verdicts_parse(
        server: LocalModelServer, prefix_runs: list[tuple[Path, dict[str, Any]]],
        tmp_path: Path) -> None:
    rubric = tmp_path / "judge.toml"
    rubric.write_text(JUDGE_RUBRIC)
    three_turns = prefix_runs[0][0]
    summary = _cli_json(["grade", str(three_turns), "--rubric", str(rubric), "--json",
                         "--judge-model", server.model, "--judge-base-url", server.base_url,
                         "--judge-cache", str(tmp_path / "judge.sqlite"),
                         "--concurrency", "2"])
    behavior = summary["behaviors"]["unhelpful-answer"]
    # every turn judged, every answer parsed into a verdict (an unparsable one is an error)
    assert behavior["turns"] == 3
    assert behavior["errors"] == 0 and summary["errors"] == 0, behavior
    assert 0 <= behavior["flagged_turns"] <= 3
