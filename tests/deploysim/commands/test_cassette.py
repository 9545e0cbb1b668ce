"""`deploysim inspect | verify | cassette repair | schema` including every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from deploysim.cli import run
from recorder import (
    CassetteReader,
    CassetteWriter,
    ContentPart,
    Exchange,
    HttpRequest,
    HttpResponse,
    Message,
    Session,
    ToolCall,
)
from recorder.framing import MAGIC, frame

DEPLOYSIM = str(Path(sys.executable).with_name("deploysim"))


def session(i: int) -> Session:
    return Session(id=f"s{i}", messages=[
        Message(role="user", content=[ContentPart(text="go")]),
        Message(role="assistant", tool_calls=[ToolCall(id="a", name="shell", arguments={}),
                                              ToolCall(id="b", name="search", arguments={})]),
        Message(role="tool", tool_call_id="a"), Message(role="tool", tool_call_id="b"),
        Message(role="assistant", content=[ContentPart(text="done")]),
    ])


def exchange(i: int) -> Exchange:
    return Exchange(id=f"e{i}", started_at=100.0 + i, ended_at=101.0 + i,
                    request=HttpRequest(method="GET", url="http://t/"),
                    response=HttpResponse(status=200, body=b"x" * 50))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    with CassetteWriter(str(tmp_path / "c" / "a.cassette")) as w:
        w.write_many([exchange(0), session(0), exchange(1)])
    with CassetteWriter(str(tmp_path / "c" / "b.cassette")) as w:
        w.write_many([session(1), exchange(2)])
    return tmp_path / "c"


def test_inspect_json_has_the_documented_keys(corpus, capsys):
    assert run(["inspect", str(corpus), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["cassettes"] == 2
    assert doc["sessions"] == 2 and doc["turns"] == 2 and doc["tool_calls"] == 4
    assert doc["tools"] == {"search": 2, "shell": 2}
    assert doc["records"] == {"exchange": 3, "session": 2}
    assert doc["time_range"] == [100.0, 103.0]
    assert doc["problems"] == []


def test_inspect_reports_a_torn_tail_but_keeps_every_complete_record(corpus, capsys):
    f = corpus / "b.cassette"
    f.write_bytes(f.read_bytes()[:-5])
    assert run(["inspect", str(corpus), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sessions"] == 2 and doc["records"]["exchange"] == 2
    assert [p["kind"] for p in doc["problems"]] == ["torn_tail"]
    assert doc["problems"][0]["path"].endswith("b.cassette")


def test_verify_exit_codes(corpus, capsys):
    assert run(["verify", str(corpus)]) == 0
    f = corpus / "a.cassette"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x55
    f.write_bytes(bytes(data))
    assert run(["verify", str(corpus)]) == 1
    captured = capsys.readouterr()
    assert "DAMAGED" in captured.out and "a.cassette" in captured.out
    assert "cassette repair" in captured.err


def test_repair_copies_intact_records_and_says_what_it_dropped(corpus, tmp_path, capsys):
    f = corpus / "a.cassette"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x55
    f.write_bytes(bytes(data))
    out = tmp_path / "fixed.cassette"
    assert run(["cassette", "repair", str(f), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "copied 2 intact record(s)" in text and "dropped at byte" in text
    reader = CassetteReader(str(out))
    assert len(list(reader)) == 2 and reader.problems == []
    assert run(["cassette", "repair", str(f), "--out", str(out)]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("dst", ["{tmp}/file/fixed.cassette", "/proc/fixed.cassette",
                                 "{tmp}/file/deeper/fixed.cassette"])
def test_repair_into_an_unwritable_folder_is_one_sentence(corpus, tmp_path, capsys, dst):
    (tmp_path / "file").write_text("a file, not a folder")
    dst = dst.replace("{tmp}", str(tmp_path))
    assert run(["cassette", "repair", str(corpus / "a.cassette"), "--out", dst]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"deploysim: error: --out {dst} cannot be written")
    assert err.count("\n") == 1 and "internal error" not in err
    assert (tmp_path / "file").read_text() == "a file, not a folder"


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing", "does not exist"),
    (lambda d: (d / "t.cassette").write_text("plain text") and d / "t.cassette",
     "is not a deploysim cassette"),
    (lambda d: (d / "f.cassette").write_bytes(MAGIC + frame(msgpack.packb(
        {"kind": "header", "format_version": 7, "created": 0.0, "deploysim_version": "9"})))
     and d / "f.cassette", "upgrade deploysim"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "holds no .cassette files"),
    (lambda d: d / "*.nothing", "matches no file"),
])
def test_bad_inputs_get_one_sentence_and_exit_2(tmp_path, capsys, make, message):
    path = make(tmp_path)
    for cmd in (["inspect", str(path)], ["verify", str(path)]):
        assert run(cmd) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert err.count("\n") == 1


def test_schema_cassette_is_json_schema_of_all_record_kinds(capsys):
    assert run(["schema", "cassette"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert set(schema["discriminator"]["mapping"]) == {"header", "exchange", "session",
                                                       "annotation", "ledger"}
    assert run(["schema", "nope"]) == 2


def test_real_entry_point_version_and_error(tmp_path):
    done = subprocess.run([DEPLOYSIM, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("deploysim ")
    bad = subprocess.run([DEPLOYSIM, "inspect", str(tmp_path / "nope")], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("deploysim: error: ")


def test_usage_errors_exit_2_with_clicks_message_not_an_internal_error(capsys):
    assert run(["inspect"]) == 2
    assert run(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert "Missing argument" in err and "No such command" in err
    assert "internal error" not in err
