"""Adaptive concurrency against servers that serve like llama.cpp's (a few slots and a queue):
`--concurrency` is a ceiling, the calls in flight adapt below it (issue 22)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from replay_helpers import TURNS

from deploysim.cli import run
from replayer.clients.adaptive import AdaptiveLimit
from replayer.run_folder import trajectories
from replayer.testing.fake_model import RuleAgent, ScriptedReply, serve_in_thread
from replayer.testing.slot_server import SlotServer
from replayer.testing.synthetic_sessions import support_corpus, write_corpus
from runtime.run_manifest import read_manifest


def _replay(capsys, corpus: str, out: str, url: str, *extra: str) -> dict:
    code = run(["replay", corpus, "--model", "sim-candidate", "--base-url", url, "--out", out,
                "--progress", "off", "--concurrency", "16", "--json", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def _messages(out: str) -> list[str]:
    """Every trajectory's messages (what the run produced, whatever its run id)."""
    found = sorted(trajectories(out), key=lambda t: t.id)
    return [json.dumps([m.model_dump(mode="json") for m in t.messages]) for t in found]


@pytest.mark.slow
def test_a_one_slot_server_is_found_and_no_call_times_out(tmp_path, capsys):
    corpus = write_corpus(str(tmp_path / "corpus" / "rec.cassette"), support_corpus([6]))
    out = str(tmp_path / "run")
    # 2 s a request, one at a time: sixteen calls sent at once would wait up to 32 s, and
    # every one past the fifth would hit the 10 s timeout and be sent again
    with serve_in_thread(lambda r: ScriptedReply(text="ok"), server_class=SlotServer,
                         slots=1, per_request=2.0) as server:
        summary = _replay(capsys, corpus, out, server.openai_url, "--timeout", "10")
        url = server.openai_url
        assert isinstance(server, SlotServer) and server.max_waiting <= 1
    assert summary["counts"]["turns"] == 6 and summary["counts"]["errors"] == 0
    assert summary["usage"]["retries"] == 0 and summary["usage"]["failures"] == 0
    settled = summary["concurrency"][url]
    assert settled["timeouts"] == 0 and settled["calls"] == 6
    assert 1 <= settled["limit"] <= 2 and settled["peak"] <= 2 and settled["ceiling"] == 16
    assert read_manifest(out).model_dump()["concurrency"] == summary["concurrency"]


def test_a_many_slot_server_keeps_many_calls_in_flight(corpus_path, tmp_path, capsys):
    out = str(tmp_path / "run")
    with serve_in_thread(RuleAgent(), server_class=SlotServer, slots=32,
                         per_request=0.3) as server:
        summary = _replay(capsys, corpus_path, out, server.openai_url)
        settled = summary["concurrency"][server.openai_url]
        assert isinstance(server, SlotServer) and server.max_busy >= 8
    assert summary["counts"]["turns"] == sum(TURNS) and summary["counts"]["errors"] == 0
    assert settled["limit"] >= 8 and settled["peak"] == 16
    assert settled["throttled"] == settled["timeouts"] == settled["cuts"] == 0


def test_a_server_with_no_queue_that_slows_under_load_is_run_at_the_ceiling(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = write_corpus(str(tmp_path / "corpus" / "rec.cassette"), support_corpus([5] * 64))
    out = str(tmp_path / "run")
    # no queue, but each answer 4 ms slower per request served beside it (a busy machine's
    # loopback): 0.2 s alone, 0.45 s at 64 in flight, where 64 calls still finish 2.2 times
    # as many a second as 16; slower per call is not queueing, and the limit must say so
    with serve_in_thread(RuleAgent(), server_class=SlotServer, slots=1000, per_request=0.2,
                         contention_s=0.004) as server:
        code = run(["replay", corpus, "--model", "sim-candidate", "--base-url",
                    server.openai_url, "--out", out, "--progress", "off", "--concurrency", "64",
                    "--json"])
        captured = capsys.readouterr()
        assert isinstance(server, SlotServer) and server.max_busy == 64
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    settled = summary["concurrency"][server.openai_url]
    assert summary["counts"]["turns"] == 320 and summary["counts"]["errors"] == 0
    assert settled["limit"] == settled["peak"] == settled["ceiling"] == 64
    assert settled["cuts"] == 0
    # slow start from one call: a window of calls per doubling, then the ceiling; the time
    # calls spent waiting for a place is the ramp's (about 64 calls for 1.3 s), not a creep
    assert settled["waited_s"] < 0.3 * settled["calls"]


async def test_slow_start_reaches_a_ceiling_of_256_within_200_calls() -> None:
    # 256 callers against an endpoint that answers every call in 50 ms, however many: the ramp
    # is calls spent below the ceiling (1, 2, 8, 32, 128 in flight: 172 calls; doubling
    # from one would take 256)
    limit = AdaptiveLimit(256, timeout=120)
    done = 0
    reached: int | None = None

    async def caller() -> None:
        nonlocal done, reached
        while done < 400:
            started = await limit.acquire()
            await asyncio.sleep(0.05)
            limit.release(started, "ok")
            done += 1
            if reached is None and limit.limit == 256:
                reached = done

    await asyncio.gather(*(caller() for _ in range(256)))
    assert reached is not None and reached <= 200
    assert limit.summary()["limit"] == 256 and limit.cuts == 0


def test_503_with_retry_after_lowers_the_limit_and_the_results_do_not_change(
        corpus_path, tmp_path, capsys):
    wide, narrow = str(tmp_path / "wide"), str(tmp_path / "narrow")
    with serve_in_thread(RuleAgent(), server_class=SlotServer, slots=32,
                         per_request=0.05) as server:
        _replay(capsys, corpus_path, wide, server.openai_url)
    # two slots and no queue: a third call at once is refused with 503 and Retry-After
    with serve_in_thread(RuleAgent(), server_class=SlotServer, slots=2, queue=0,
                         per_request=0.1, retry_after=0.2) as server:
        summary = _replay(capsys, corpus_path, narrow, server.openai_url)
        settled = summary["concurrency"][server.openai_url]
        assert isinstance(server, SlotServer) and server.max_busy <= 2
        refused = server.refused
    assert summary["counts"]["errors"] == 0
    assert settled["throttled"] == refused and settled["limit"] <= 2
    assert summary["usage"]["retries"] == refused  # each refused call was sent again
    assert _messages(narrow) == _messages(wide)  # the limit changes when, never what
