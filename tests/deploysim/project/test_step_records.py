"""project/step_records.py: a step's key changes with its inputs; records survive a rerun."""

from __future__ import annotations

from pathlib import Path

from deploysim.project.step_records import StepRecord, StepStore, file_fingerprint, step_key


def test_the_key_follows_the_command_and_the_inputs_bytes(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("a = 1\n")
    key = step_key(["gate", "--policy", str(policy)], [file_fingerprint(str(policy))])
    assert key == step_key(["gate", "--policy", str(policy)], [file_fingerprint(str(policy))])
    assert key != step_key(["gate", "--policy", str(policy), "--mix", "m"],
                           [file_fingerprint(str(policy))])
    policy.write_text("a = 2\n")
    assert key != step_key(["gate", "--policy", str(policy)], [file_fingerprint(str(policy))])
    assert file_fingerprint("example") == "name example" and file_fingerprint(None) == "none"


def test_a_record_is_done_only_under_its_own_key(tmp_path: Path) -> None:
    store = StepStore(str(tmp_path / "out"))
    assert store.done("gate-x", "k1") is None
    store.save("gate-x", StepRecord(key="k1", exit=1, result={"decision": "block"}, seconds=2))
    again = StepStore(str(tmp_path / "out")).done("gate-x", "k1")
    assert again is not None and again.exit == 1 and again.result == {"decision": "block"}
    assert store.done("gate-x", "k2") is None
    (tmp_path / "out" / ".steps" / "gate-x.json").write_text("{torn")
    assert store.done("gate-x", "k1") is None  # a damaged record: the step runs again
