"""`deploysim replay --tool-simulator`: the simulator answers unrecorded calls first, the run
folder is usable without --cache-dir, and every client the replay opens is closed (issue 22)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from replay_helpers import TURNS

from deploysim.cli import run
from replayer.run_folder import trajectories
from replayer.testing.fake_model import (
    ScriptedCall,
    ScriptedError,
    ScriptedReply,
    ScriptedRequest,
    by_model,
    serve_in_thread,
)
from runtime.run_manifest import read_manifest

DEPLOYSIM = os.path.join(os.path.dirname(sys.executable), "deploysim")
SIMULATED = "SIMULATED: order 99999 was delivered yesterday"


def unrecorded_caller(request: ScriptedRequest) -> ScriptedReply:
    """Looks up an order no recording has, then repeats what the tool said."""
    last = request.last
    if last is not None and last.role == "tool":
        return ScriptedReply(text=f"The tool said: {last.text[:200]}")
    return ScriptedReply(calls=[ScriptedCall("lookup_order", {"order_id": "99999"})])


def tool_simulator(request: ScriptedRequest) -> ScriptedReply:
    """Plays the tool as a thinking model does: its reasoning first, inline."""
    return ScriptedReply(text=f"<think>The order is probably delivered.</think>\n{SIMULATED}")


def _args(corpus: str, out: str, url: str, *extra: str) -> list[str]:
    return ["replay", corpus, "--model", "sim-candidate", "--base-url", url, "--out", out,
            "--progress", "off", "--tool-simulator", "sim-tool", *extra]


def _generated_results(out: str) -> list[tuple[str | None, str]]:
    return [(m.result.provenance, m.result.content) for t in trajectories(out)
            for m in t.messages
            if m.role == "tool" and m.origin == "generated" and m.result is not None]


def test_simulator_answers_unrecorded_calls_in_a_new_run_folder(corpus_path, tmp_path, capsys):
    out = str(tmp_path / "run")  # no --cache-dir: the cache goes in the run folder
    policy = by_model({"sim-candidate": unrecorded_caller, "sim-tool": tool_simulator})
    with serve_in_thread(policy) as server:
        code = run(_args(corpus_path, out, server.openai_url, "--json"))
        captured = capsys.readouterr()
        asked = [r.model for r in server.requests]
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["counts"]["turns"] == sum(TURNS) and summary["counts"]["errors"] == 0
    results = _generated_results(out)
    assert len(results) == sum(TURNS)
    # the simulator, not the nearest recording, answered every unrecorded call
    assert {p for p, _ in results} == {"simulated"}
    assert all(c == SIMULATED for _, c in results)
    assert "sim-tool" in asked
    manifest = read_manifest(out)
    # the order the engine tried them: the simulator first
    assert manifest.stubs["fallbacks"] == ["simulate", "nearest", "synthesize"]
    assert manifest.stub_stats["simulator_failures"] == 0
    assert os.path.exists(os.path.join(out, "cache", "responses.sqlite"))


def test_a_failing_simulator_falls_back_to_the_other_fallbacks_and_is_counted(
        corpus_path, tmp_path, capsys):
    out = str(tmp_path / "run")
    down = ScriptedReply(error=ScriptedError("bad_request", message="no such model"))
    policy = by_model({"sim-candidate": unrecorded_caller, "sim-tool": lambda r: down})
    with serve_in_thread(policy) as server:
        code = run(_args(corpus_path, out, server.openai_url, "--max-attempts", "1"))
        capsys.readouterr()
    assert code == 0
    results = _generated_results(out)
    assert {p for p, _ in results} <= {"nearest", "synthetic"} and results
    # one failure per distinct prompt (identical prompts share a model call)
    assert read_manifest(out).stub_stats["simulator_failures"] >= 1


def test_a_replay_with_a_tool_simulator_closes_its_clients(corpus_path, tmp_path):
    out = str(tmp_path / "run")
    policy = by_model({"sim-candidate": unrecorded_caller, "sim-tool": tool_simulator})
    env = {**os.environ, "PYTHONWARNINGS": "always::ResourceWarning", "PYTHONDEVMODE": "1"}
    with serve_in_thread(policy) as server:
        done = subprocess.run([DEPLOYSIM, *_args(corpus_path, out, server.openai_url)],
                              capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Unclosed" not in done.stderr and "ResourceWarning" not in done.stderr, done.stderr
    assert {p for p, _ in _generated_results(out)} == {"simulated"}
