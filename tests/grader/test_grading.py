"""Grading runs and corpora: units and denominators, pairing keys, error verdicts, verdict
files beside the data, re-grading stability (same inputs, same bytes)."""

from __future__ import annotations

import hashlib
import importlib.resources
import os

import pytest

from grader.errors import GraderError
from grader.grading import grade, grade_sessions, read_verdicts, verdicts_filename
from grader.rubric import load_rubric, parse_rubric
from grader.testing import Conv, coding_session, one_behavior, replay_trajectory
from grader.trajectory import Trajectory
from grader.verdict import Evidence, Verdict
from grader.verdict_engine import CREATED_BY
from recorder import codec, framing
from recorder.annotation import Annotation
from recorder.reader import CassetteReader
from recorder.records import record_to_obj
from recorder.turns import counted_turns
from recorder.writer import CassetteWriter
from runtime.run_manifest import RunManifest, write_manifest

DEFAULT = load_rubric("default")
TURN_BEHAVIORS = [b.id for b in DEFAULT.behaviors if b.scope != "trajectory"]
SESSION_BEHAVIORS = [b.id for b in DEFAULT.behaviors if b.scope == "trajectory"]


def write_corpus(folder, sessions, name="corpus.cassette") -> str:
    path = os.path.join(folder, name)
    with CassetteWriter(path, producer="test") as w:
        for s in sessions:
            w.write(s)
    return path


def file_sha(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def payloads(path) -> list[bytes]:
    return [p for _, p in CassetteReader(path).iter_payloads()][1:]  # header excluded


# -- units -----------------------------------------------------------------------------------


def test_every_counted_turn_and_session_gets_one_verdict_per_behavior():
    sessions = [coding_session(i, turns=2 + i % 2) for i in range(6)]
    result = grade_sessions(sessions, DEFAULT)
    by_unit = {(v.session_id, v.turn, v.behavior) for v in result.verdicts}
    assert len(by_unit) == len(result.verdicts)
    for s in sessions:
        for t in counted_turns(s):
            for b in TURN_BEHAVIORS:
                assert (s.id, t.index, b) in by_unit
        for b in SESSION_BEHAVIORS:
            assert (s.id, None, b) in by_unit
    summary = result.summary()
    n_turns = sum(len(counted_turns(s)) for s in sessions)
    assert summary["sessions"] == 6 and summary["turns"] == n_turns
    for bid, b in summary["behaviors"].items():
        assert {"turns", "flagged_turns", "rate_per_turn", "sessions", "flagged_sessions",
                "rate_per_session", "errors"} <= set(b)
        assert b["turns"] == n_turns and b["sessions"] == 6, bid
        flagged = [v for v in result.verdicts if v.behavior == bid and v.flagged]
        if DEFAULT.behavior(bid).scope != "trajectory":
            assert b["flagged_turns"] == len(flagged)
            assert b["rate_per_turn"] == len(flagged) / n_turns
            assert b["flagged_sessions"] == len({v.session_id for v in flagged})


def test_verdicts_carry_segment_severity_scope_detector_and_rubric():
    result = grade_sessions([coding_session(0)], DEFAULT)
    v = next(v for v in result.verdicts if v.behavior == "destructive-shell" and v.flagged)
    assert v.segment == "coding" and v.severity == "critical" and v.scope == "tool_call"
    assert (v.detector, v.detector_version) == ("tool_call", "1")
    assert v.rubric_hash == DEFAULT.hash
    assert v.evidence and v.evidence[0].message_index is not None
    assert v.pair_key == f"{v.session_id}#{v.turn}"
    traj_v = next(v for v in result.verdicts if v.behavior == "exfiltration")
    assert traj_v.turn is None and traj_v.pair_key == v.session_id


def test_engine_records_equal_the_verdict_contract():
    failed = Conv("r1").user("a").assistant("b").user("c") \
        .assistant("", origin="generated", error="HTTP 500").replay("prod-9", 1).session()
    sessions = [coding_session(0), replay_trajectory(10), replay_trajectory(11), failed]
    result = grade_sessions(sessions, DEFAULT)
    assert {v.flagged for v in result.verdicts} == {True, False, None}
    assert result.payloads
    for payload in result.payloads:
        v = Verdict.from_annotation(Annotation.model_validate(codec.decode(payload)))
        again = record_to_obj(v.to_annotation(created_by=CREATED_BY))
        assert codec.encode(again) == payload


def test_counted_turns_follow_recorder_turns():
    for s in [coding_session(3), replay_trajectory(4), Conv().assistant("hi").user("x")
              .session()]:
        assert Trajectory(s).counted == counted_turns(s)


# -- replays and pairing ---------------------------------------------------------------------


def test_replay_counts_generated_turns_and_pairs_with_the_source():
    rubric = one_behavior({"type": "tool_call", "tool": "bash", "args": {"command": "reset"}})
    base = replay_trajectory(0)  # source prod-0000000, source_turn 1, sample 0
    result = grade_sessions([base], rubric)
    [v] = result.verdicts
    assert v.turn == 1 and v.flagged is True
    assert v.pair_key == "prod-0000000#1"
    s1 = replay_trajectory(1)  # sample 1
    [v1] = grade_sessions([s1], rubric).verdicts
    assert v1.pair_key == "prod-0000000#1@1"
    # the recorded production session's turn 1 has the same key without a sample
    prod = Conv("prod-0000000").user("a").assistant("b").user("c").assistant("d").session()
    keys = [v.pair_key for v in grade_sessions([prod], rubric).verdicts]
    assert keys == ["prod-0000000#0", "prod-0000000#1"]


def test_failed_generation_gives_error_verdicts():
    s = Conv("r1").user("a").assistant("b").user("c") \
        .assistant("", origin="generated", error="HTTP 500 from the model") \
        .replay("prod-9", 1).session()
    result = grade_sessions([s], DEFAULT)
    assert {v.flagged for v in result.verdicts} == {None}
    assert all("generation failed: HTTP 500" in (v.error or "") for v in result.verdicts)
    assert result.summary()["errors"] == len(DEFAULT.behaviors)


def test_duplicate_sessions_are_graded_once():
    s = coding_session(1)
    result = grade_sessions([s, s], DEFAULT)
    assert result.summary()["sessions"] == 1 and result.duplicates == 1


# -- verdict files -----------------------------------------------------------------------------


def test_grading_a_corpus_writes_verdicts_beside_it_and_never_rewrites_data(tmp_path):
    src = write_corpus(tmp_path, [coding_session(i) for i in range(20)])
    before = file_sha(src)
    result = grade(str(tmp_path), DEFAULT)
    path = tmp_path / verdicts_filename(DEFAULT)
    assert result.verdicts_path == str(path) and path.exists()
    assert file_sha(src) == before
    stored = read_verdicts(str(tmp_path), DEFAULT.hash)
    assert stored == result.verdicts
    assert read_verdicts(str(path)) == stored
    # the grader reads sessions only, so its own verdict file is not graded next time
    again = grade(str(tmp_path), DEFAULT)
    assert again.summary()["sessions"] == 20


def test_regrading_gives_identical_bytes_and_leaves_the_file_alone(tmp_path):
    write_corpus(tmp_path, [coding_session(i) for i in range(15)] +
                 [replay_trajectory(i) for i in range(15)])
    first = grade(str(tmp_path), DEFAULT)
    path = first.verdicts_path
    assert path is not None
    sha, mtime = file_sha(path), os.stat(path).st_mtime_ns
    second = grade(str(tmp_path), DEFAULT)
    assert file_sha(path) == sha and os.stat(path).st_mtime_ns == mtime
    out = tmp_path / "elsewhere"
    third = grade(str(tmp_path), DEFAULT, verdicts_out=str(out))
    assert third.verdicts_path == str(out / verdicts_filename(DEFAULT))
    assert payloads(third.verdicts_path) == payloads(path)
    assert second.summary() == {**first.summary()}
    assert not [f for f in os.listdir(tmp_path) if "partial" in f]


def test_a_new_rubric_writes_a_new_file_and_regenerates_nothing(tmp_path):
    src = write_corpus(tmp_path, [coding_session(i) for i in range(5)])
    before = file_sha(src)
    grade(str(tmp_path), DEFAULT)
    text = importlib.resources.files("grader").joinpath("default_rubric.toml").read_text()
    other = parse_rubric(text.replace('severity = "medium"', 'severity = "low"'))
    grade(str(tmp_path), other)
    names = sorted(f for f in os.listdir(tmp_path) if f.startswith("verdicts-"))
    assert names == sorted([verdicts_filename(DEFAULT), verdicts_filename(other)])
    assert file_sha(src) == before
    assert {v.rubric_hash for v in read_verdicts(str(tmp_path), other.hash)} == {other.hash}


def test_grading_a_run_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write_manifest(str(run), RunManifest(run_id="run-abc", created=1.0,
                                         deploysim_version="0.1.0"))
    write_corpus(run, [replay_trajectory(i) for i in range(10)], "trajectories.cassette")
    result = grade(str(run), DEFAULT)
    assert result.verdicts_path == str(run / verdicts_filename(DEFAULT))
    summary = result.summary()
    assert summary["turns"] == 10 and summary["sessions"] == 10
    assert summary["behaviors"]["destructive-shell"]["flagged_turns"] == 1
    header = CassetteReader(result.verdicts_path)
    list(header)
    assert header.header is not None and header.header.meta["run_id"] == "run-abc"
    assert len(read_verdicts(str(run), DEFAULT.hash)) == len(result.verdicts)


def test_keep_false_and_write_false(tmp_path):
    write_corpus(tmp_path, [coding_session(0)])
    lean = grade(str(tmp_path), DEFAULT, keep=False)
    with pytest.raises(GraderError, match="keep=False"):
        _ = lean.verdicts
    dry = grade(str(tmp_path / "corpus.cassette"), DEFAULT, write=False)
    assert dry.verdicts_path is None and dry.verdicts
    assert lean.summary()["behaviors"] == dry.summary()["behaviors"]


def test_bad_targets_and_damaged_records(tmp_path):
    with pytest.raises(Exception, match="does not exist"):
        grade(str(tmp_path / "missing"), DEFAULT)
    only = tmp_path / "only"
    only.mkdir()
    write_corpus(only, [], verdicts_filename(DEFAULT))
    with pytest.raises(GraderError, match="only verdict files"):
        grade(str(only), DEFAULT)
    # a torn tail is skipped and counted; every intact session is graded
    path = write_corpus(tmp_path, [coding_session(i) for i in range(3)])
    with open(path, "ab") as f:
        f.write(framing.frame(b"\x81\xa4kind\xa7session")[:-3])
    result = grade(path, DEFAULT, write=False)
    assert result.summary()["sessions"] == 3 and result.summary()["problems"] == 1


def test_evidence_is_capped_and_ordered():
    c = Conv().user("clean everything")
    for i in range(8):
        c.assistant("", [("bash", {"command": f"rm -rf dir{i}"}, "")])
    [v] = grade_sessions([c.session()], one_behavior(
        {"type": "tool_call", "tool": "bash", "args": {"command": "rm -rf"}})).verdicts
    assert len(v.evidence) == 5
    assert [e.message_index for e in v.evidence] == [1, 3, 5, 7, 9]
    assert v.first_step == 1
    assert isinstance(v.evidence[0], Evidence)


def test_records_missing_optional_fields_and_invalid_records(tmp_path):
    """The fast path reads full records; sparse ones (another writer, an older version) are
    validated and graded all the same; records that are not sessions are counted and skipped."""
    sparse = {"kind": "session", "id": "old", "messages": [
        {"role": "user", "content": [{"text": "clean up"}]},
        {"role": "assistant", "tool_calls": [{"id": "c1", "name": "bash",
                                              "arguments": {"command": "rm -rf /"}}]}]}
    broken = {"kind": "session", "id": "bad", "messages": [{"role": "robot"}]}
    path = str(tmp_path / "c.cassette")
    with CassetteWriter(path) as w:
        w.write_payload(codec.encode(sparse))
        w.write_payload(codec.encode(broken))
        w.write(coding_session(1))
    result = grade(path, DEFAULT, write=False)
    assert result.summary()["sessions"] == 2 and result.invalid_sessions == 1
    flagged = {(v.session_id, v.behavior) for v in result.verdicts if v.flagged}
    assert ("old", "destructive-shell") in flagged
