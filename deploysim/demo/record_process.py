"""`deploysim record` as a subprocess for the length of a block, run the way a user runs it:
how the demo and the calibration world (bench/fidelity) record their simulated production.

    cmd = record_command(port, out, {"llm": model_url, "tools": tools_url})
    async with recording(cmd, port, log) as gateway:      # "http://127.0.0.1:PORT"
        ...  # agents talk to f"{gateway}/llm/v1", f"{gateway}/tools"
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx2

from deploysim.demo.errors import DemoError

HEALTH_PATH = "/_deploysim/health"


def deploysim_command() -> list[str]:
    """How to run `deploysim` with this interpreter: its console script, else `-m deploysim`."""
    exe = Path(sys.executable).with_name("deploysim")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "deploysim"]


def free_port() -> int:
    """A loopback port nothing listens on (for a server about to start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def record_command(port: int, out: Path, upstreams: Mapping[str, str]) -> list[str]:
    """`deploysim record` listening on 127.0.0.1:`port` in front of `upstreams` (route name →
    URL), recording into `out`."""
    cmd = [*deploysim_command(), "record", "--listen", f"127.0.0.1:{port}", "--out", str(out)]
    for name, url in upstreams.items():
        cmd += ["--upstream", f"{name}={url}"]
    return cmd


@contextlib.asynccontextmanager
async def recording(cmd: list[str], port: int, log: Path, *, env: Mapping[str, str] | None = None,
                    stop_timeout: float = 120.0) -> AsyncIterator[str]:
    """Run `cmd` (a `record_command` for `port`) with its output in `log`; yields the
    gateway's base URL once it answers its health check. After the block it is stopped with
    SIGINT, as a user stops it: it flushes, derives the sessions and closes the cassette.
    Raises DemoError, naming the log, when it exits early, never gets healthy, does not stop
    within `stop_timeout` seconds or exits with an error."""
    gateway = f"http://127.0.0.1:{port}"
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env)
        try:
            await _wait_healthy(gateway + HEALTH_PATH, proc, log)
            yield gateway
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise DemoError(f"`deploysim record` did not stop; see {log}.") from None
    if proc.returncode not in (0, -signal.SIGINT, 130):
        raise DemoError(f"`deploysim record` failed (exit {proc.returncode}); see {log}.")


async def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx2.AsyncClient(timeout=2) as http:
        for _ in range(400):
            if proc.poll() is not None:
                raise DemoError(f"`deploysim record` exited early; see {log}.")
            with contextlib.suppress(httpx2.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise DemoError(f"`deploysim record` did not become healthy at {url}; see {log}.")
