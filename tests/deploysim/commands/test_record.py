"""`deploysim record | record-stdio | ca` from the command line: in process for the answers to
bad input, and as real subprocesses for the end-to-end runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time

import httpx2
import pytest
from aiohttp import web
from proxy_helpers import DEPLOYSIM, banner_url, start_cli, wait_banner

from deploysim.cli import run
from proxy.testing import app_with, cassettes, records, serving

# Recording writes a redaction key and a CA: keep them out of the real ~/.config.
pytestmark = pytest.mark.usefixtures("deploysim_config")


def test_ca_prints_the_certificate_and_how_to_trust_it(capsys, deploysim_config):
    assert run(["ca", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["ca_cert"] == os.path.join(deploysim_config, "mitmproxy", "mitmproxy-ca-cert.pem")
    assert os.path.isfile(info["ca_cert"])
    assert set(info["env"]) == {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"}
    assert run(["ca"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == info["ca_cert"]
    assert f"export NODE_EXTRA_CA_CERTS={info['ca_cert']}" in text


@pytest.mark.parametrize(("args", "message"), [
    (["record", "--out", "o"], "Give at least one --upstream"),
    (["record", "--mitm", "--upstream", "http://x", "--out", "o"], "with --mitm use"),
    (["record", "--upstream", "ftp://x", "--out", "o"], "is not an http(s) URL"),
    (["record", "--upstream", "http://x", "--listen", "here:port", "--out", "o"],
     "is not HOST:PORT"),
    (["record", "--upstream", "http://x", "--queue-policy", "maybe", "--out", "o"],
     "is not one of drop, block"),
    (["record", "--upstream", "http://x", "--upstream-ca", "/nonexistent.pem", "--out", "o"],
     "does not exist"),
    (["record", "--mitm", "--mitm-mode", "sideways", "--out", "{tmp}/o"],
     "is not one of regular, upstream:URL or reverse:URL"),
    (["record", "--upstream", "http://x", "--out", "{tmp}/file/o"], "cannot be written"),
    (["record-stdio", "--out", "o", "--queue-policy", "x", "--", "true"],
     "is not one of drop, block"),
    (["record", "--upstream", "https://x", "--upstream-ca", "{tmp}/file", "--out", "o"],
     "holds no PEM CA certificate"),
    (["record", "--upstream", "http://x", "--read-timeout", "-1", "--out", "o"],
     "--read-timeout -1 is not a usable number of seconds"),
    (["record", "--upstream", "http://x", "--connect-timeout", "-1", "--out", "o"],
     "--connect-timeout -1 is not a usable number of seconds"),
    (["record", "--upstream", "http://x", "--read-timeout", "nan", "--out", "o"],
     "--read-timeout nan is not a usable number of seconds"),
    (["record", "--upstream", "http://x", "--rotate-mb", "-1", "--out", "o"],
     "--rotate-mb -1 is negative"),
    (["record", "--upstream", "http://x", "--queue-size", "0", "--out", "o"],
     "--queue-size 0 must be at least 1"),
    (["record", "--upstream", "http://x", "--writer-nice", "-1", "--out", "o"],
     "--writer-nice -1 must be between 0 and 19"),
    (["record-stdio", "--out", "o", "--queue-size", "-5", "--", "true"],
     "--queue-size -5 must be at least 1"),
    (["record-stdio", "--out", "o", "--", "/nonexistent/bin"],
     "The MCP server command /nonexistent/bin does not exist"),
    (["record-stdio", "--out", "o", "--", "{tmp}/file"],
     "is not executable"),
    (["record-stdio", "--out", "o", "--", "{tmp}"], "is a folder"),
    (["record-stdio", "--out", "o", "--", "no-such-mcp-server-xyz"], "is not found on PATH"),
])
def test_bad_input_is_one_clear_sentence(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative --out that slipped through would land here
    (tmp_path / "file").write_text("not a directory")
    code = run([a.replace("{tmp}", str(tmp_path)) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err
    assert "Traceback" not in err
    line = err.strip().splitlines()[0]
    assert line.startswith("deploysim: error: ") and line.endswith(".")
    assert not (tmp_path / "o").exists()  # refused before anything was started or created


def _processes_in_session(sid: int) -> list[str]:
    """Command lines of the live processes of session `sid`: a CLI started with
    `start_new_session` and everything it started, orphaned or not."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            state, _ppid, _pgrp, session = stat[stat.rindex(")") + 2:].split()[:4]
            if int(session) == sid and state != "Z":
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    found.append(f.read().replace(b"\0", b" ").decode())
        except (OSError, ValueError):
            continue  # gone while we looked
    return found


@pytest.mark.parametrize(("server", "code", "message"), [
    ("/nonexistent/bin", 2, "The MCP server command /nonexistent/bin does not exist"),
    # passes the up-front check (an executable file) but is no program: the shim's own answer
    ("{tmp}/not-a-program", 126, "cannot be started (Exec format error)"),
])
def test_record_stdio_with_a_server_that_cannot_start(server, code, message, tmp_path):
    fake = tmp_path / "not-a-program"
    fake.write_text("this is not a program\n")
    fake.chmod(0o755)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [DEPLOYSIM, "record-stdio", "--out", str(out), "--",
         server.replace("{tmp}", str(tmp_path))],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert message in stderr and "Traceback" not in stderr and "internal error" not in stderr
    assert stdout == ""  # the protocol channel stays clean
    assert not [p for p in _processes_in_session(proc.pid) if "writer_process" in p]
    if code == 2:
        assert not out.exists()  # refused before a writer or a cassette folder existed
    else:
        assert "deploysim: recorded 0 exchange(s)" in stderr  # closed the ordinary way


def test_a_busy_port_is_a_clear_error(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = run(["record", "--upstream", "http://127.0.0.1:9", "--listen",
                    f"127.0.0.1:{port}", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "Cannot listen on 127.0.0.1" in err


async def _upstream(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    return web.json_response({"got": body.decode()})


@pytest.mark.parametrize("mitm", [False, True])
async def test_record_end_to_end_then_a_clean_stop(tmp_path, mitm):
    out = str(tmp_path / "out")
    async with serving(app_with(_upstream)) as up:
        args = (["record", "--mitm", "--mitm-mode", f"reverse:{up}"] if mitm
                else ["record", "--upstream", up])
        proc = start_cli([*args, "--listen", "127.0.0.1:0", "--out", out, "--json"])
        banner = await asyncio.to_thread(wait_banner, proc)
        base = banner_url(banner)
        async with httpx2.AsyncClient() as c:
            for i in range(3):
                r = await c.post(base + "/v1/chat/completions", content=f"q{i}",
                                 headers={"X-Deploysim-Session": "cli-session"})
                assert r.json() == {"got": f"q{i}"}
            if not mitm:
                health = await c.get(base + "/_deploysim/health")
                assert health.json()["status"] == "ok"
        proc.send_signal(signal.SIGTERM if mitm else signal.SIGINT)
        stdout, stderr = await asyncio.to_thread(proc.communicate, timeout=60)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["exchanges"] == 3 and summary["dropped"] == 0
    assert summary["record_errors"] == {}
    assert summary["cassettes"] == cassettes(out)
    assert ("--mitm" in banner) == mitm and "recording to" in banner
    kinds = [r.kind for r in records(cassettes(out))]
    assert kinds.count("exchange") == 3


async def test_a_second_signal_stops_at_once_and_says_what_was_not_written(tmp_path):
    from proxy_helpers import children

    out = str(tmp_path / "out")
    async with serving(app_with(_upstream)) as up:
        proc = start_cli(["record", "--upstream", up, "--listen", "127.0.0.1:0", "--out", out])
        base = banner_url(await asyncio.to_thread(wait_banner, proc))
        writer, = children(proc.pid, b"proxy.writer_process")
        os.kill(writer, signal.SIGSTOP)  # a writer that makes no progress: the flush would wait
        try:
            async with httpx2.AsyncClient() as c:
                for i in range(5):
                    assert (await c.post(base + "/v1/x", content=f"q{i}")).status_code == 200
            proc.send_signal(signal.SIGINT)
            await asyncio.sleep(1.0)
            assert proc.poll() is None  # still waiting for the stalled writer
            t0 = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, stderr = await asyncio.to_thread(proc.communicate, timeout=10)
            assert time.monotonic() - t0 < 3
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(writer, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "stopped at once on a second signal; 5 exchange(s) still queued were not written" \
        in stderr, stderr
    assert "Traceback" not in stderr
