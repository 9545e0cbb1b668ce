"""`deploysim view` as a user runs it: a subprocess that serves on loopback, says where, answers,
and stops cleanly on Ctrl-C; bad PATHS and a taken port are one-sentence usage errors."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from deploysim.cli import run

DEPLOYSIM = [sys.executable, "-c", "from deploysim.cli import main; main()"]


def test_serves_on_loopback_until_ctrl_c(world: dict[str, str], tmp_path: Path) -> None:
    proc = subprocess.Popen([*DEPLOYSIM, "view", world["root"], "--port", "0", "--no-open"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # printed once it listens
        m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert m, line
        with urllib.request.urlopen(m[1] + "api/library", timeout=10) as r:
            lib = json.load(r)
        assert len(lib["runs"]) == 3 and lib["roots"] == [world["root"]]
        with urllib.request.urlopen(m[1], timeout=10) as r:
            assert b"/static/viewer.js" in r.read()
        assert "7 item(s)" in line
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=20)
    assert code == 0
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")


def test_a_missing_path_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    assert run(["view", str(tmp_path / "nope"), "--no-open"]) == 2
    err = capsys.readouterr().err
    assert f"deploysim: error: {tmp_path / 'nope'} does not exist" in err
    assert "Traceback" not in err


def test_a_port_in_use_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        start = time.monotonic()
        assert run(["view", str(tmp_path), "--port", str(port), "--no-open"]) == 2
    err = capsys.readouterr().err
    assert f"deploysim: error: Cannot listen on 127.0.0.1:{port}" in err
    assert "another --port" in err and time.monotonic() - start < 10
