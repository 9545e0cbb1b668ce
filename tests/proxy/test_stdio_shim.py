"""`deploysim record-stdio` between the official `mcp` stdio client and an `mcp` SDK server."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from mcp import Client, StdioServerParameters
from proxy_helpers import DEPLOYSIM, PYTHON

from proxy.capture import Capture
from proxy.metrics import Metrics
from proxy.sink import Sink
from proxy.stdio_shim import (
    CLIENT,
    SERVER,
    LineAssembler,
    StdioRecorder,
    default_server_name,
    run_shim,
)
from proxy.testing import cassettes, records

SERVER_SCRIPT = os.path.join(os.path.dirname(__file__), "mcp_stdio_server.py")


async def test_record_stdio_relays_and_records(tmp_path):
    # legacy: the session-based handshake, so a notification is in the traffic too
    mode = "legacy"
    out = str(tmp_path / "out")
    params = StdioServerParameters(
        command=DEPLOYSIM,
        args=["record-stdio", "--out", out, "--name", "notes", "--session", "s-7", "--",
              PYTHON, SERVER_SCRIPT],
        env={**os.environ})
    async with Client(params, mode=mode) as client:  # type: ignore[arg-type]
        tools = await client.list_tools()
        ok = await client.call_tool("add_note", {"text": "milk"})
        bad = await client.call_tool("fail_note", {"text": "eggs"})
    assert sorted(t.name for t in tools.tools) == ["add_note", "fail_note"]
    assert ok.content[0].text == "stored: milk"  # type: ignore[union-attr]
    assert bad.is_error

    paths = cassettes(out)
    assert paths, "the shim wrote no cassette"
    exchanges = [r for r in records(paths) if r.kind == "exchange"]
    assert all(ex.transport == "stdio" and ex.route == "notes" and ex.session_hint == "s-7"
               for ex in exchanges)
    assert all(ex.request.url.startswith("stdio:") for ex in exchanges)
    by_method = {}
    for ex in exchanges:
        msg = json.loads(ex.request.body)
        by_method.setdefault(msg["method"], []).append(ex)
        if "id" in msg:  # requests are paired with the reply carrying their id
            assert ex.response is not None, msg
            assert json.loads(ex.response.body)["id"] == msg["id"]
        else:  # notifications have no response
            assert ex.response is None and ex.error is None
    calls = by_method["tools/call"]
    assert len(calls) == 2
    assert b"stored: milk" in calls[0].response.body  # type: ignore[union-attr]
    assert json.loads(calls[1].response.body)["result"]["isError"] is True  # type: ignore[union-attr]
    assert "initialize" in by_method and "notifications/initialized" in by_method
    # the stdio recorder closes its run with a ledger too, and it matches what was written
    from recorder.completeness import check_corpus

    run, = check_corpus(out).runs
    assert run.ok and run.ledger is not None and run.ledger.clean
    assert run.ledger.forwarded == run.ledger.recorded == run.found == len(exchanges)


def test_line_assembler_keeps_lines_whole_across_reads():
    a = LineAssembler(limit=20)
    assert a.feed(b'{"a":') == []
    assert a.feed(b'1}\n{"b"') == [b'{"a":1}']
    assert a.feed(b':2}\r\n\n') == [b'{"b":2}']
    assert a.feed(b"x" * 30 + b"\nok\n") == [b"ok"]  # an oversized line is skipped, counted
    assert a.oversized == 1


class _ListSink(Sink):
    def __init__(self) -> None:
        self.captures: list[Capture] = []

    async def put(self, capture: Capture) -> None:
        self.captures.append(capture)


async def test_requests_pair_with_replies_in_both_directions():
    sink = _ListSink()
    rec = StdioRecorder(sink, Metrics(), url="stdio:server")
    line = json.dumps
    await rec.message(line({"jsonrpc": "2.0", "id": 1, "method": "tools/call"}).encode(), CLIENT)
    # the server asks the client something with the same id: a different exchange
    await rec.message(line({"jsonrpc": "2.0", "id": 1, "method": "sampling/createMessage"})
                      .encode(), SERVER)
    await rec.message(line({"jsonrpc": "2.0", "method": "notifications/progress"}).encode(),
                      SERVER)
    await rec.message(line({"jsonrpc": "2.0", "id": 1, "result": {"from": "client"}}).encode(),
                      CLIENT)
    await rec.message(line({"jsonrpc": "2.0", "id": 1, "result": {"from": "server"}}).encode(),
                      SERVER)
    await rec.message(b"not json", SERVER)
    await rec.message(line({"jsonrpc": "2.0", "id": 9, "method": "ping"}).encode(), CLIENT)
    await rec.finish("the server exited")
    got = [(json.loads(c.request_body).get("method") if c.request_body != b"not json"
            else "?", c.labels["direction"],
            json.loads(c.response_body)["result"]["from"] if c.status else c.error)
           for c in sink.captures]
    assert got == [
        ("notifications/progress", SERVER, None),
        ("sampling/createMessage", SERVER, "client"),
        ("tools/call", CLIENT, "server"),
        ("?", SERVER, None),
        ("ping", CLIENT, "no reply: the server exited"),
    ]
    assert sink.captures[3].problems == ["not a JSON-RPC object: recorded as is"]
    assert all(c.transport == "stdio" for c in sink.captures)


def _record_cat(tmp_path: object, stdin: object) -> tuple[subprocess.CompletedProcess[bytes], str]:
    out = os.path.join(str(tmp_path), "out")
    done = subprocess.run([DEPLOYSIM, "record-stdio", "--out", out, "--", "cat"], stdin=stdin,
                          capture_output=True, timeout=60)
    return done, out


def test_record_stdio_ends_cleanly_when_a_piped_agent_closes_its_stdin(tmp_path):
    # the agent writes one request and closes the pipe: the relay passes it on, the server
    # (cat) answers and exits, and deploysim exits with the server's code, cassette closed
    done = subprocess.run(
        [DEPLOYSIM, "record-stdio", "--out", str(tmp_path / "out"), "--", "cat"],
        input=b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n', capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n'
    exchanges = [r for r in records(cassettes(str(tmp_path / "out"))) if r.kind == "exchange"]
    assert len(exchanges) == 2  # cat echoes the request: deploysim sees one each way


def test_record_stdio_with_stdin_from_dev_null_or_a_file(tmp_path):
    # epoll cannot watch /dev/null or a regular file: those are read on a thread instead of
    # leaving the relay waiting forever
    with open(os.devnull, "rb") as null:
        done, out = _record_cat(tmp_path / "null", null)
    assert done.returncode == 0, done.stderr.decode()
    assert cassettes(out) == [] or not [r for r in records(cassettes(out)) if r.kind == "exchange"]
    script = tmp_path / "in.jsonl"
    script.write_bytes(b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
    with open(script, "rb") as f:
        done, out = _record_cat(tmp_path / "file", f)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == script.read_bytes()


async def test_a_server_that_cannot_be_spawned_is_an_exit_code_not_an_exception(tmp_path, capsys):
    metrics = Metrics()
    assert await run_shim([str(tmp_path / "missing"), "--flag"], None, metrics) == 127
    err = capsys.readouterr().err
    assert err.startswith("deploysim: error: the MCP server command ") and "Traceback" not in err
    assert "No such file or directory" in err and err.count("\n") == 1
    assert await run_shim([str(tmp_path)], None, metrics) == 126  # a folder: permission denied
    assert "cannot be started" in capsys.readouterr().err


@pytest.mark.parametrize(("command", "name"), [
    (["uvx", "mcp-server-time"], "time"),
    (["npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"], "filesystem"),
    (["npx", "-y", "@modelcontextprotocol/server-everything@2026.8.31", "stdio"], "everything"),
    (["uvx", "mcp-server-git==2026.10.19", "--repository", "."], "git"),
    (["/usr/bin/python3.12", "-m", "weather_mcp"], "weather"),
    (["node", "/srv/server-everything/dist/index.js"], "everything"),
    (["docker", "run", "-i", "--rm", "mcp/fetch"], "fetch"),
    (["DEBUG=1", "npx"], "mcp"),
])
def test_default_server_name_comes_from_the_command(command, name):
    assert default_server_name(command) == name
