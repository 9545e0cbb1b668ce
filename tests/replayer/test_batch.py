"""`deploysim replay --batch` against the fake batch server: the online trajectories byte for
byte, at batch prices, through partial failures and expired batches."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from deploysim.cli import run
from replayer.batch.rounds import ATTEMPTS
from replayer.run_folder import record_payload, trajectories
from replayer.testing.fake_batch import serve_batches_in_thread
from replayer.testing.fake_model import RuleAgent

DEPLOYSIM = os.path.join(os.path.dirname(sys.executable), "deploysim")


def _args(corpus: str, out: str, url: str, *extra: str) -> list[str]:
    return ["replay", corpus, "--model", "sim-candidate", "--base-url", url, "--out", out,
            "--progress", "off", "--profile", "flaky", "--seed", "3", "--json", *extra]


def records(out: str) -> list[bytes]:
    """The run's trajectory records, as written, in id order."""
    return [record_payload(t) for t in sorted(trajectories(out), key=lambda t: t.id)]


def _replay(capsys, *args: str) -> tuple[int, dict]:
    code = run(list(args))
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def prices(tmp_path) -> str:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"sim-candidate": {"input": 2.0, "output": 8.0}}))
    return str(path)


@pytest.mark.parametrize("api", ["openai-chat", "openai-responses", "anthropic"])
def test_batch_replay_equals_the_online_replay_at_half_price(corpus_path, tmp_path, capsys,
                                                            prices, api):
    online, batch = str(tmp_path / "online"), str(tmp_path / "batch")
    with serve_batches_in_thread(RuleAgent(), delay=0.05) as server:
        url = server.url if api == "anthropic" else server.openai_url
        # one at a time online: two trajectories asking the same thing then share one call,
        # as a batch shares one request (concurrently both would call)
        code, first = _replay(capsys, *_args(corpus_path, online, url, "--api", api,
                                             "--prices", prices, "--concurrency", "1"))
        assert code == 0 and not server.submissions
        code, second = _replay(capsys, *_args(corpus_path, batch, url, "--api", api,
                                              "--prices", prices, "--batch",
                                              "--batch-poll", "0.02"))
        assert code == 0
        rounds = len(server.submissions)
    assert records(batch) == records(online)  # byte for byte
    assert second["run_id"] == first["run_id"] and second["counts"] == first["counts"]
    assert second["provenance"] == first["provenance"]
    # a turn with tool calls takes one round per step: the rule agent calls, then answers
    assert rounds == second["batch"]["rounds"] >= 2
    assert second["batch"]["failed"] == second["batch"]["retried"] == 0
    u1, u2 = first["usage"], second["usage"]
    assert u2["batch_requests"] == u2["requests"] == u1["requests"] > 0
    assert (u2["input_tokens"], u2["output_tokens"]) == (u1["input_tokens"], u1["output_tokens"])
    assert u2["cost_usd"] == pytest.approx(u1["cost_usd"] / 2, rel=1e-4)


def _ledger(out: str) -> dict:
    try:
        with open(os.path.join(out, "batch", "ledger.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def test_a_killed_batch_replay_resumes_without_resubmitting(corpus_path, tmp_path, capsys):
    online, batch = str(tmp_path / "online"), str(tmp_path / "batch")
    with serve_batches_in_thread(RuleAgent(), delay=0.5) as server:
        assert run(_args(corpus_path, online, server.openai_url)) == 0
        capsys.readouterr()
        proc = subprocess.Popen([DEPLOYSIM, *_args(corpus_path, batch, server.openai_url,
                                                   "--batch", "--batch-poll", "0.02")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:  # killed once round 1 is collected and round 2 is in flight
            deadline = time.monotonic() + 30
            while len(_ledger(batch).get("batches", [])) < 2 and time.monotonic() < deadline:
                assert proc.poll() is None, "the replay ended before it could be killed"
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
        ledger = _ledger(batch)
        assert [b["state"] for b in ledger["batches"]] == ["collected", "submitted"]
        in_flight = ledger["batches"][1]["id"]
        before = len(server.submissions)
        polls = server.polls
        code, summary = _replay(capsys, *_args(corpus_path, batch, server.openai_url,
                                               "--batch", "--batch-poll", "0.02"))
        assert code == 0
        resubmitted = [b.id for b in server.submissions[before:]]
        asked = [cid for b in server.submissions for cid, _ in b.requests]
    assert in_flight not in resubmitted and server.polls > polls  # polled again, not resent
    assert len(asked) == len(set(asked))  # no request was ever submitted twice
    assert records(batch) == records(online)
    assert summary["batch"]["rounds"] == len(server.submissions)


def test_partial_failures_and_expired_batches_are_retried(corpus_path, tmp_path, capsys):
    online, batch = str(tmp_path / "online"), str(tmp_path / "batch")
    seen: dict[str, int] = {}

    def flaky(number: int, custom_id: str) -> str | None:
        seen[custom_id] = seen.get(custom_id, 0) + 1  # each request fails its first time
        return "server" if seen[custom_id] == 1 and number < 2 else None

    with serve_batches_in_thread(RuleAgent(), errors=flaky,
                                 expire=lambda number: number == 1) as server:
        assert run(_args(corpus_path, online, server.openai_url)) == 0
        capsys.readouterr()
        code, summary = _replay(capsys, *_args(corpus_path, batch, server.openai_url,
                                               "--batch", "--batch-poll", "0.02"))
    assert code == 0
    assert records(batch) == records(online)  # retried until answered: nothing lost
    assert summary["batch"]["retried"] > 0 and summary["batch"]["failed"] == 0
    assert summary["counts"]["errors"] == 0


def test_requests_failing_for_good_fail_their_turns_as_online(corpus_path, tmp_path, capsys):
    batch = str(tmp_path / "batch")
    with serve_batches_in_thread(RuleAgent(),
                                 errors=lambda number, cid: "server" if cid[0] in "0123"
                                 else "bad_request" if cid[0] == "4" else None) as server:
        code, summary = _replay(capsys, *_args(corpus_path, batch, server.openai_url,
                                               "--batch", "--batch-poll", "0.02"))
        asked = Counter(cid for b in server.submissions for cid, _ in b.requests)
    failed = summary["errors_by_reason"]
    assert code == 0 and set(failed) == {"server_error", "http_400"}
    # a 5xx is asked again until ATTEMPTS batches have failed it, a 400 only once
    assert {n for cid, n in asked.items() if cid[0] in "0123"} == {ATTEMPTS}
    assert {n for cid, n in asked.items() if cid[0] == "4"} == {1}
    assert summary["batch"]["failed"] == sum(1 for cid in asked if cid[0] in "01234")
    for traj in trajectories(batch):
        errors = [m.error for m in traj.messages if m.error]
        assert all(e.startswith(("server_error: HTTP 500", "http_400: HTTP 400"))
                   for e in errors)


def test_a_server_without_batches_and_bad_options_stop_with_one_sentence(corpus_path, tmp_path,
                                                                        capsys):
    from replayer.testing.fake_model import serve_in_thread

    with serve_in_thread(RuleAgent()) as server:  # online endpoints only, like vLLM
        code = run(_args(corpus_path, str(tmp_path / "run"), server.openai_url, "--batch"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("deploysim: error: The batch API failed uploading the "
                                        "batch input (HTTP 404")
    assert "\n" not in err and "Traceback" not in err
    code = run(_args(corpus_path, str(tmp_path / "r2"), "http://127.0.0.1:9/v1", "--batch",
                     "--executor", "ray"))
    assert code == 2 and "--batch runs in one process" in capsys.readouterr().err


DEMO_SESSIONS = 8


def test_a_batch_replay_of_the_demo_corpus_equals_the_online_replay(tmp_path, capsys,
                                                                    monkeypatch):
    """The demo's production corpus, recorded through the gateway as `deploysim demo` does,
    replayed under its `hostile` profile online and in batches by the demo world's model."""
    from deploysim.demo import pipeline
    from deploysim.demo.policies import CANDIDATE, world_policy

    monkeypatch.setenv("DEPLOYSIM_REDACTION_KEY", "deploysim-demo-key-7")
    res = pipeline.DemoResult(out=tmp_path / "demo")
    res.out.mkdir()
    with pipeline.World(res.out / "logs" / "world.log") as world:
        pipeline.aio_run(pipeline._record(res, world, DEMO_SESSIONS, 7, lambda _: None))
    online, batch = str(tmp_path / "online"), str(tmp_path / "batch")
    with serve_batches_in_thread(world_policy(), chunk=32) as server:
        # the demo's own replay command, with the fake batch server as the model
        cmd = pipeline._replay_cmd(res, tmp_path / "unused", CANDIDATE.name, pipeline.PROFILE,
                                   server.openai_url, 7)
        args = [*cmd[cmd.index("replay"):cmd.index("--out")], "--progress", "off", "--json"]
        code, first = _replay(capsys, *args, "--out", online, "--concurrency", "1")
        assert code == 0 and not server.submissions
        code, second = _replay(capsys, *args, "--out", batch, "--batch", "--batch-poll", "0.02")
        assert code == 0 and server.submissions
    assert first["counts"]["trajectories"] >= DEMO_SESSIONS
    assert records(batch) == records(online)  # byte for byte
    assert second["run_id"] == first["run_id"] and second["counts"] == first["counts"]
    assert second["batch"]["rounds"] >= 2 and second["batch"]["failed"] == 0
    assert second["usage"]["batch_requests"] == first["usage"]["requests"] > 0
