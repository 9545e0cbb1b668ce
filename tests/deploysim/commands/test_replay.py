"""`deploysim replay` end to end: the real stub engine, in-process and as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from replay_helpers import TURNS

from deploysim.cli import run
from replayer.run_folder import trajectories
from replayer.testing.fake_model import RuleAgent, serve_in_thread
from runtime.run_manifest import read_manifest

DEPLOYSIM = os.path.join(os.path.dirname(sys.executable), "deploysim")


def _args(corpus: str, out: str, url: str, *extra: str) -> list[str]:
    return ["replay", corpus, "--model", "sim-candidate", "--base-url", url, "--out", out,
            "--progress", "off", *extra]


def test_cli_replays_with_the_stub_engine_and_profile(corpus_path, tmp_path, capsys):
    out = str(tmp_path / "run")
    with serve_in_thread(RuleAgent()) as server:
        code = run(_args(corpus_path, out, server.openai_url, "--profile", "flaky",
                         "--seed", "3", "--json"))
        summary = json.loads(capsys.readouterr().out)
        assert code == 0
        again = run(_args(corpus_path, str(tmp_path / "again"), server.openai_url,
                          "--profile", "flaky", "--seed", "3", "--no-cache", "--json"))
        capsys.readouterr()
        assert again == 0
    assert summary["counts"]["turns"] == sum(TURNS) and summary["counts"]["errors"] == 0
    manifest = read_manifest(out)
    assert manifest.profile["name"] == "flaky" and manifest.stubs["index_hash"]
    assert manifest.stubs["corpus_hash"] == manifest.corpus_hash
    provenance = manifest.provenance
    assert sum(provenance.values()) == summary["counts"]["tool_calls"] > 0
    assert any(p.startswith("session") for p in provenance)
    assert any("+perturbed:" in p for p in provenance)  # the flaky profile did something
    for traj in trajectories(out):
        for m in traj.messages:
            if m.role == "tool" and m.origin == "generated":
                assert m.result is not None and m.result.provenance
    # same seed and profile: the same tool world, byte for byte
    first = sorted(t.model_dump_json() for t in trajectories(out))
    assert first == sorted(t.model_dump_json() for t in trajectories(str(tmp_path / "again")))


def test_cli_reports_failed_turns_and_exits_1_when_nothing_worked(corpus_path, tmp_path,
                                                                  capsys, monkeypatch):
    monkeypatch.setenv("SIM_KEY", "wrong")
    with serve_in_thread(RuleAgent(), api_key="right") as server:
        code = run(_args(corpus_path, str(tmp_path / "run"), server.url,
                         "--api", "anthropic", "--api-key-env", "SIM_KEY"))
    printed = capsys.readouterr().out
    assert code == 1
    assert f"{sum(TURNS)} errors" in printed
    assert f"errors: {sum(TURNS)} turn(s) failed with auth: check the API key" in printed


def test_cli_bad_configuration_is_one_sentence_exit_2(corpus_path, tmp_path, capsys):
    code = run(_args(corpus_path, str(tmp_path / "run"), "http://127.0.0.1:9/v1",
                     "--api", "cohere"))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == ("deploysim: error: Unknown --api 'cohere'; use one of openai-chat, "
                   "openai-responses, anthropic, gemini.")
    assert run(_args(corpus_path, str(tmp_path / "r2"), "http://127.0.0.1:9/v1",
                     "--param", "nonsense")) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize(("extra", "message"), [
    (["--timeout", "-1"], "--timeout -1 is not a usable number of seconds"),
    (["--timeout", "0"], "--timeout 0 is not a usable number of seconds"),
    (["--timeout", "nan"], "--timeout nan is not a usable number of seconds"),
    (["--rpm", "-5"], "--rpm -5 is not a usable limit per minute"),
    (["--tpm", "inf"], "--tpm inf is not a usable limit per minute"),
    (["--concurrency", "0"], "--concurrency 0 must be at least 1"),
    (["--samples", "0"], "--samples 0 must be at least 1"),
    (["--max-steps", "-1"], "--max-steps -1 must be at least 1"),
    (["--max-attempts", "0"], "--max-attempts 0 must be at least 1"),
    (["--workers", "2"], "--workers 2 is no longer supported: one process keeps a model "
                         "endpoint busy (docs/scaling.md); to spread a replay over more cores "
                         "or machines use --executor ray --ray-workers N."),
    (["--sample", "0"], "--sample 0 must be a positive number of sessions"),
    (["--out", "{tmp}/file"], "is a file, not a folder"),
    (["--out", "{tmp}/file/run"], "is a file, not a folder"),
])
def test_cli_bad_numbers_and_outs_are_one_sentence(corpus_path, tmp_path, capsys, extra,
                                                   message):
    (tmp_path / "file").write_text("a run folder's name, taken")
    args = _args(corpus_path, str(tmp_path / "run"), "http://127.0.0.1:9/v1",
                 *(a.replace("{tmp}", str(tmp_path)) for a in extra))
    assert run(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("deploysim: error: ") and message in err and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "run")
    assert (tmp_path / "file").read_text() == "a run folder's name, taken"


def test_cli_subprocess_end_to_end_across_providers(corpus_path, tmp_path):
    out = str(tmp_path / "run")
    with serve_in_thread(RuleAgent()) as server:
        proc = subprocess.run(
            [DEPLOYSIM, *_args(corpus_path, out, server.url, "--api", "anthropic",
                               "--mode", "rollout", "--samples", "2", "--param",
                               "temperature=0.5", "--progress", "log")],
            capture_output=True, text=True, timeout=120)
        apis = {r.api for r in server.requests}
        temperatures = {r.params.get("temperature") for r in server.requests}
    assert proc.returncode == 0, proc.stderr
    assert "replay: 6/6 (100%)" in proc.stderr  # the plain progress line off a terminal
    assert f"6 trajectories, {2 * sum(TURNS)} turns" in proc.stdout
    assert apis == {"anthropic"} and temperatures == {0.5}
    assert read_manifest(out).model["api"] == "anthropic"


def test_a_rerun_with_a_corrected_url_names_the_field_and_overwrite_starts_afresh(
        corpus_path, tmp_path, capsys):
    """The story of issue 18: a run against a wrong URL fails; the rerun with the right URL
    is told which field differs (the URL, not "model"); --overwrite starts the folder afresh."""
    out = str(tmp_path / "run")
    wrong = "http://127.0.0.1:9/v1"
    assert run(_args(corpus_path, out, wrong, "--max-attempts", "1")) == 1
    capsys.readouterr()
    with serve_in_thread(RuleAgent()) as server:
        assert run(_args(corpus_path, out, server.openai_url)) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("deploysim: error: ") and "\n" not in err
        assert f"its model.base_url was {wrong}, now {server.openai_url}" in err
        assert "differs in model" not in err and "--overwrite" in err
        assert run(_args(corpus_path, out, server.openai_url, "--overwrite", "--json")) == 0
        summary = json.loads(capsys.readouterr().out)
    assert summary["counts"]["turns"] == sum(TURNS) and summary["counts"]["errors"] == 0
    assert summary["skipped"] == 0  # nothing of the failed run was kept
    assert len(list(trajectories(out))) == sum(TURNS)
    assert read_manifest(out).model_dump()["model"]["base_url"] == server.openai_url


def test_overwrite_refuses_a_folder_holding_files_a_run_did_not_write(corpus_path, tmp_path,
                                                                      capsys):
    out = tmp_path / "run"
    with serve_in_thread(RuleAgent()) as server:
        assert run(_args(corpus_path, str(out), server.openai_url)) == 0
        (out / "notes.txt").write_text("mine")
        before = sorted(p.name for p in out.iterdir())
        capsys.readouterr()
        assert run(_args(corpus_path, str(out), server.openai_url, "--seed", "2",
                         "--overwrite")) == 2
    err = capsys.readouterr().err.strip()
    assert "notes.txt" in err and "nothing was removed" in err and "\n" not in err
    assert sorted(p.name for p in out.iterdir()) == before


def test_cli_replays_with_a_gemini_candidate(corpus_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SIM_GEMINI_KEY", "gemini-key")
    prices = tmp_path / "prices.toml"
    prices.write_text('["sim-"]\ninput = 1.0\noutput = 4.0\n')
    with serve_in_thread(RuleAgent(), api_key="gemini-key") as server:
        code = run(_args(corpus_path, str(tmp_path / "run"), server.url, "--api", "gemini",
                         "--api-key-env", "SIM_GEMINI_KEY", "--prices", str(prices), "--json"))
        summary = json.loads(capsys.readouterr().out)
        seen = list(server.requests)
    assert code == 0 and summary["counts"]["errors"] == 0
    assert summary["counts"]["turns"] == sum(TURNS) and summary["counts"]["tool_calls"] > 0
    assert {(r.api, r.model) for r in seen} == {("gemini", "sim-candidate")}
    assert all(r.headers["x-goog-api-key"] == "gemini-key" for r in seen)
    usage = summary["usage"]
    assert usage["requests"] == len(seen) and usage["unpriced_requests"] == 0
    assert usage["cost_usd"] == pytest.approx(
        (usage["input_tokens"] * 1.0 + usage["output_tokens"] * 4.0) / 1e6, abs=1e-6)
    # the candidate's function calls were answered and sent back as function responses
    later = [r for r in seen if any(m.role == "tool" for m in r.messages)]
    assert later and all("functionResponse" in json.dumps(r.body) for r in later)
