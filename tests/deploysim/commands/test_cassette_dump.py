"""`deploysim cassette dump | load`: a cassette as JSON lines that diff in a pull request, and
back to the same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploysim.cassette_jsonl import from_json, to_json
from deploysim.cli import run
from recorder import CassetteReader, CassetteWriter, Exchange, HttpRequest, HttpResponse
from recorder.testing import varied_corpus


@pytest.fixture
def cassette(tmp_path: Path) -> Path:
    """Exchanges of every kind the recorder sees: JSON, SSE streams, MCP, binary bodies."""
    path = tmp_path / "rec.cassette"
    binary = Exchange(id="bin", started_at=1.0, ended_at=2.0,
                      request=HttpRequest(method="POST", url="http://t/upload",
                                          body=bytes(range(256))),
                      response=HttpResponse(status=200, body=b'{"ok": true}'))
    with CassetteWriter(str(path)) as w:
        w.write_many([*varied_corpus(sessions=6, seed=5), binary])
    return path


def dump(path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert run(["cassette", "dump", str(path), "--jsonl"]) == 0
    return capsys.readouterr().out.splitlines()


def test_dump_is_one_json_object_per_record_header_first(cassette, capsys):
    lines = dump(cassette, capsys)
    records = [json.loads(line) for line in lines]
    reader = CassetteReader(str(cassette))
    assert len(records) == 1 + len(list(reader))
    assert records[0]["kind"] == "header"
    assert {r["kind"] for r in records[1:]} == {"exchange"}
    # keys in the record's field order, the same on every line of a kind
    orders = {tuple(r) for r in records[1:]}
    assert len(orders) == 1 and next(iter(orders))[:2] == ("kind", "id")


def test_bodies_are_readable_text_json_or_base64(cassette, capsys):
    by_id = {r.get("id"): r for r in map(json.loads, dump(cassette, capsys))}
    binary = by_id["bin"]
    assert set(binary["request"]["body"]) == {"$base64"}
    assert binary["response"]["body"] == {"$json-spaced": {"ok": True}}
    chat = next(r for r in by_id.values() if "chat/completions" in str(r.get("request")))
    body = chat["request"]["body"]
    (tag, value), = body.items()
    assert tag.startswith("$json") and "messages" in value  # a diff shows the field
    streamed = next(r for r in by_id.values() if (r.get("response") or {}).get("chunks"))
    chunk = streamed["response"]["chunks"][0]["data"]
    assert set(chunk) == {"$text"} and "data:" in chunk["$text"]


def test_load_gives_the_dumped_cassette_back_byte_for_byte(cassette, tmp_path, capsys):
    dumped = tmp_path / "rec.jsonl"
    assert run(["cassette", "dump", str(cassette), "-o", str(dumped)]) == 0
    back = tmp_path / "back.cassette"
    assert run(["cassette", "load", str(dumped), "--out", str(back)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert back.read_bytes() == cassette.read_bytes()
    assert run(["cassette", "load", str(dumped), "--out", str(back)]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err


def test_an_edited_dump_loads_into_a_valid_cassette(cassette, tmp_path, capsys):
    lines = dump(cassette, capsys)
    edited = [json.loads(line) for line in lines]
    edited[1]["response"]["status"] = 503
    src = tmp_path / "edited.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in edited) + "\n")
    out = tmp_path / "edited.cassette"
    assert run(["cassette", "load", str(src), "-o", str(out)]) == 0
    first = next(iter(CassetteReader(str(out))))
    assert isinstance(first, Exchange) and first.response is not None
    assert first.response.status == 503


@pytest.mark.parametrize(("text", "message"), [
    ("not json\n", "Line 1 of"),
    ('{header}\n{"kind": "exchange"}\n', "Line 2 of"),
    ('{"kind": "exchange", "id": "x"}\n', "Line 1 of"),
    ("\n", "holds no records"),
    ('{header}\n{"kind": "exchange", "id": {"$base64": "!!"}}\n', "Line 2 of"),
    ('{header}\n{header}\n[1, 2]\n', "Line 3 of"),
])
def test_a_bad_dump_is_refused_by_line_and_writes_nothing(cassette, tmp_path, capsys, text,
                                                          message):
    header = dump(cassette, capsys)[0]
    src = tmp_path / "bad.jsonl"
    src.write_text(text.replace("{header}", header))
    out = tmp_path / "out.cassette"
    assert run(["cassette", "load", str(src), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deploysim: error: ") and message in err and "Traceback" not in err
    assert not out.exists()


def test_a_damaged_cassette_dumps_its_intact_records_and_exits_1(cassette, capsys):
    whole = len(dump(cassette, capsys))
    cassette.write_bytes(cassette.read_bytes()[:-7])
    assert run(["cassette", "dump", str(cassette)]) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == whole - 1
    assert "torn_tail" in captured.err and "cassette repair" in captured.err


def test_dump_of_a_missing_file_is_one_sentence(tmp_path, capsys):
    assert run(["cassette", "dump", str(tmp_path / "none.cassette")]) == 2
    assert "does not exist" in capsys.readouterr().err


_leaf = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
         | st.floats(allow_nan=False) | st.text() | st.binary())
_key = st.text(max_size=6) | st.integers(-(2**63), 2**64 - 1)
_values = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(_key, inner, max_size=4), max_leaves=20)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_values)
def test_any_plain_value_survives_the_json_form(value):
    from recorder import codec

    back = from_json(json.loads(json.dumps(to_json(value), ensure_ascii=False)))
    assert codec.encode({"v": back}) == codec.encode({"v": value})


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10),
       st.sampled_from([{"separators": (",", ":")}, {}, {"indent": 2}, {"indent": 4}]))
def test_json_bodies_written_any_way_come_back_exactly(doc, style):
    body = json.dumps(doc, **style).encode()
    assert from_json(json.loads(json.dumps(to_json(body)))) == body


def test_dump_into_a_closed_pipe_is_not_a_failure(tmp_path):
    import subprocess
    import sys

    big = tmp_path / "big.cassette"
    with CassetteWriter(str(big)) as w:  # far more than a pipe buffers
        w.write_many([Exchange(id=f"e{i}", started_at=1.0, ended_at=2.0,
                               request=HttpRequest(method="GET", url="http://t/"),
                               response=HttpResponse(status=200, body=b"x" * 20_000))
                      for i in range(40)])
    exe = str(Path(sys.executable).with_name("deploysim"))
    proc = subprocess.Popen([exe, "cassette", "dump", str(big)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b'{"kind": "header"')
    proc.stdout.close()  # as `| head -1` does
    assert proc.wait(timeout=30) == 0
    assert proc.stderr.read() == b""
