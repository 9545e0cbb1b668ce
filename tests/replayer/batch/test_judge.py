"""`deploysim grade --judge-batch`: the LLM judge's calls through the fake batch server give
the online grade's verdicts, at batch prices, resumable without resubmitting."""

from __future__ import annotations

import json
import os

import pytest

from deploysim.cli import run
from grader.testing import Conv
from grader.verdict_store import read_verdicts
from recorder.writer import CassetteWriter
from replayer.testing.fake_batch import serve_batches_in_thread
from replayer.testing.scripted_policies import insult_judge

RUBRIC = """[[behavior]]
id = "rude"
description = "insults the user"
severity = "low"
scope = "message"
[behavior.detector]
type = "llm_judge"
model = "sim-judge"
"""

judge = insult_judge()


@pytest.fixture
def setup(tmp_path) -> tuple[str, str, str]:
    folder = tmp_path / "corpus"
    folder.mkdir()
    with CassetteWriter(str(folder / "c.cassette")) as w:
        for s in [Conv("s1").user("hi").assistant("Hello!").user("fix it")
                  .assistant("Only an idiot would ask that.").session(),
                  Conv("s2").user("hi").assistant("garble").user("x").assistant("Sure.")
                  .session(),
                  Conv("s3").user("hi").assistant("explode").session(),
                  Conv("s4").user("hi").assistant("Hello!").session()]:  # s1's first turn again
            w.write(s)
    (tmp_path / "judge.toml").write_text(RUBRIC)
    (tmp_path / "prices.json").write_text(json.dumps({"sim-judge": {"input": 2.0,
                                                                    "output": 8.0}}))
    return str(folder), str(tmp_path / "judge.toml"), str(tmp_path / "prices.json")


def _grade(capsys, corpus: str, rubric: str, url: str, out: str, *extra: str) -> dict:
    assert run(["grade", corpus, "--rubric", rubric, "--json", "--judge-base-url", url,
                "--no-judge-cache", "--verdicts-out", out, *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _verdicts(summary: dict) -> list[str]:
    return sorted(v.model_dump_json() for v in read_verdicts(summary["verdicts_path"]))


def test_a_batch_grade_gives_the_online_verdicts_at_batch_prices(setup, tmp_path, capsys):
    corpus, rubric, prices = setup
    batch_args = ("--judge-batch", "--judge-batch-poll", "0.02", "--judge-prices", prices)
    with serve_batches_in_thread(judge, delay=0.05) as server:
        online = _grade(capsys, corpus, rubric, server.openai_url, str(tmp_path / "online"))
        asked_online = len(server.requests)
        assert asked_online > 0 and not server.submissions
        batch = _grade(capsys, corpus, rubric, server.openai_url, str(tmp_path / "batch"),
                       *batch_args)
        # the fake server answers each batched request as a request: nothing else was asked
        assert len(server.requests) - asked_online == batch["judge_batch"]["requests"]
        submitted = len(server.submissions)
        again = _grade(capsys, corpus, rubric, server.openai_url, str(tmp_path / "batch"),
                       *batch_args)  # resumed from the state: nothing is submitted again
        assert len(server.submissions) == submitted
    assert _verdicts(batch) == _verdicts(online) == _verdicts(again)
    assert batch["behaviors"] == online["behaviors"]
    assert online["behaviors"]["rude"]["flagged_turns"] == 1
    assert online["behaviors"]["rude"]["errors"] == 2  # the garbled and the failed answers
    jb = batch["judge_batch"]
    assert os.path.exists(tmp_path / "batch" / "judge-batch")
    # s4 asks what s1's first turn asked: one request; the failed one is not retried
    assert jb["requests"] == asked_online - 1 and jb["failed"] == 1
    assert jb["usage"]["batch_requests"] == asked_online - 2
    assert jb["usage"]["cost_usd"] > 0


def test_expired_batches_are_retried_and_a_killed_state_resumes(setup, tmp_path, capsys):
    corpus, rubric, _ = setup
    with serve_batches_in_thread(judge, expire=lambda number: number == 0) as server:
        online = _grade(capsys, corpus, rubric, server.openai_url, str(tmp_path / "online"))
        batch = _grade(capsys, corpus, rubric, server.openai_url, str(tmp_path / "batch"),
                       "--judge-batch", "--judge-batch-poll", "0.02")
        assert len(server.submissions) == 2 and batch["judge_batch"]["retried"] > 0
    assert _verdicts(batch) == _verdicts(online)


def test_judge_batch_refuses_what_it_cannot_do(setup, tmp_path, capsys):
    corpus, _, _ = setup
    assert run(["grade", corpus, "--rubric", "default", "--judge-batch"]) == 2
    err = capsys.readouterr().err
    assert "--judge-batch needs a rubric with an llm_judge behavior" in err
    assert "Traceback" not in err
