"""`deploysim grade`, `review export|import`, `rubric show|schema`, in process and end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from deploysim.cli import run
from grader.rubric import load_rubric
from grader.testing import Conv, coding_session, replay_trajectory
from recorder.writer import CassetteWriter
from replayer.testing.fake_model import serve_in_thread
from replayer.testing.script import ScriptedReply, ScriptedRequest

DEPLOYSIM = os.path.join(os.path.dirname(sys.executable), "deploysim")
KEYS = {"turns", "flagged_turns", "rate_per_turn", "sessions", "flagged_sessions",
        "rate_per_session", "errors"}


def read_jsonl(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def corpus(folder, sessions=None) -> str:
    os.makedirs(folder, exist_ok=True)
    with CassetteWriter(os.path.join(folder, "c.cassette")) as w:
        for s in sessions or [coding_session(i) for i in range(7)]:
            w.write(s)
    return str(folder)


def test_grade_json(tmp_path, capsys):
    target = corpus(tmp_path / "c")
    assert run(["grade", target, "--rubric", "default", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rubric"] == load_rubric("default").hash
    assert set(summary["behaviors"]) == {b.id for b in load_rubric("default").behaviors}
    for b in summary["behaviors"].values():
        assert set(b) >= KEYS
    assert summary["behaviors"]["destructive-shell"]["flagged_turns"] > 0
    assert os.path.exists(summary["verdicts_path"])


def test_grade_table_and_no_write(tmp_path, capsys):
    target = corpus(tmp_path / "c")
    assert run(["grade", target, "--no-write"]) == 0
    text = capsys.readouterr().out
    assert "destructive-shell" in text and "per turn" in text
    assert not [f for f in os.listdir(target) if f.startswith("verdicts-")]


def test_bad_rubric_is_one_sentence_exit_2(tmp_path, capsys):
    rubric = tmp_path / "r.toml"
    rubric.write_text('[[behavior]]\nid = "x"\ndescription = "d"\nseverity = "low"\n'
                      'scope = "message"\n[behavior.detector]\ntype = "regex"\n'
                      'pattern = "(unclosed"\n')
    assert run(["grade", corpus(tmp_path / "c"), "--rubric", str(rubric)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("deploysim: error: The rubric")
    assert "line 8" in err and "behavior 'x' field detector.pattern" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_rubric_show_and_schemas(capsys):
    assert run(["rubric", "show"]) == 0
    assert "failing-call-loop" in capsys.readouterr().out
    assert run(["rubric", "show", "default", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["hash"] == load_rubric("default").hash and len(shown["behavior"]) == 9
    assert run(["rubric", "schema"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert run(["schema", "rubric"]) == 0
    assert json.loads(capsys.readouterr().out) == a


def test_review_round_trip(tmp_path, capsys):
    target = corpus(tmp_path / "c")
    out = str(tmp_path / "review")
    assert run(["review", "export", target, "--rubric", "default", "--sample", "20",
                "--stratify", "behavior", "--out", out]) == 0
    assert "review.csv" in capsys.readouterr().out
    items = read_jsonl(os.path.join(out, "review.jsonl"))
    labelled = os.path.join(out, "labels.jsonl")
    with open(labelled, "w") as f:
        for it in items:
            f.write(json.dumps({"item": it["item"], "label": "yes"}) + "\n")
    assert run(["review", "import", labelled, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["labelled"] == len(items)
    for r in report["behaviors"].values():
        assert r["fn"] + r["tp"] == r["n"]  # humans said yes to everything
    assert run(["review", "import", labelled]) == 0
    assert "precision" in capsys.readouterr().out
    assert run(["review", "export", target, "--stratify", "segment", "--out", out]) == 2
    capsys.readouterr()
    taken = tmp_path / "taken"
    taken.write_text("a file")
    assert run(["review", "export", target, "--out", str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"--out {taken} is a file, not a folder" in err and "internal error" not in err


def test_grade_with_an_llm_judge_from_the_command_line(tmp_path, capsys):
    rubric = tmp_path / "judge.toml"
    rubric.write_text('[[behavior]]\nid = "rude"\ndescription = "insults"\nseverity = "low"\n'
                      'scope = "message"\n[behavior.detector]\ntype = "llm_judge"\n')
    sessions = [Conv("a").user("hi").assistant("You idiot.").session(),
                Conv("b").user("hi").assistant("Hello!").session()]
    target = corpus(tmp_path / "c", sessions)

    def policy(req: ScriptedRequest) -> ScriptedReply:
        rude = "idiot" in req.last_user_text
        return ScriptedReply(text=json.dumps({"flagged": rude, "message_index": 1 if rude
                                              else None, "excerpt": "idiot"}))

    with serve_in_thread(policy) as srv:
        args = ["grade", target, "--rubric", str(rubric), "--json", "--judge-model",
                "sim-judge", "--judge-base-url", srv.openai_url, "--judge-cache",
                str(tmp_path / "cache.sqlite")]
        assert run(args) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["behaviors"]["rude"]["flagged_turns"] == 1
        n = len(srv.requests)
        assert run(args) == 0           # cached: the judge is not asked again
        capsys.readouterr()
        assert len(srv.requests) == n
    assert run(["grade", target, "--rubric", str(rubric)]) == 2
    assert "--judge-model" in capsys.readouterr().err


def test_end_to_end_subprocess(tmp_path):
    target = corpus(tmp_path / "c", [replay_trajectory(i) for i in range(20)])
    proc = subprocess.run([DEPLOYSIM, "grade", target, "--rubric", "default", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["turns"] == 20 and summary["sessions"] == 20
    assert summary["behaviors"]["destructive-shell"]["flagged_turns"] == 2
    assert summary["behaviors"]["credential-access"]["flagged_turns"] == 2
    bad = subprocess.run([DEPLOYSIM, "grade", str(tmp_path / "nope")], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "does not exist" in bad.stderr
