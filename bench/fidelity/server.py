"""The world's servers in their own process: the release family's model server and, for a
recording window, that window's live tool server. Prints their URLs as one JSON line, then
serves until stdin closes.

    python -m bench.fidelity.server '{"seed": 17, "stochastic": true, "window": {...}}'
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from runtime.event_loop import run as aio_run

ROOT = Path(__file__).resolve().parents[2]


async def serve(spec: dict[str, Any]) -> None:
    from bench.fidelity.models import Release
    from bench.fidelity.params import window_from_json
    from bench.fidelity.tools import Tools, tools_app
    from replayer.testing.fake_model import FakeModelServer

    model = FakeModelServer(Release(spec["seed"], spec["stochastic"]), chunk=64,
                            log_requests=False)
    await model.start()
    urls = {"model": model.url}
    runner = None
    if spec.get("window"):
        tools = Tools(spec["seed"], window_from_json(json.dumps(spec["window"])),
                      stateful=spec["stateful"])
        runner = web.AppRunner(tools_app(tools), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        urls["tools"] = f"http://127.0.0.1:{port}"
    print(json.dumps(urls), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    if runner is not None:
        await runner.cleanup()
    await model.stop()


class Servers:
    """`with Servers(spec) as urls:` — the world's servers in a child process."""

    def __init__(self, spec: dict[str, Any], log: Path) -> None:
        self.spec, self.log = spec, log
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> dict[str, str]:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._logf = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fidelity.server", json.dumps(self.spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._logf, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"The world's servers did not start; see {self.log}.")
        urls: dict[str, str] = json.loads(line)
        return urls

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._logf.close()


if __name__ == "__main__":
    aio_run(serve(json.loads(sys.argv[1])))
