"""The world's servers in their own process: the release family's model server and, for a
recording window, that window's live tool server. Prints their URLs as one JSON line, then
serves until stdin closes.

    python -m bench.fidelity.server '{"seed": 17, "stochastic": true, "window": {...}}'
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from deploysim.demo.server_process import ServerProcess
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


def servers(spec: dict[str, Any], log: Path) -> ServerProcess:
    """`with servers(spec, log) as world:` — the world's servers in a child process, their
    URLs in `world.urls`."""
    return ServerProcess([sys.executable, "-m", "bench.fidelity.server", json.dumps(spec)], log,
                         cwd=ROOT, name="The world's servers")


if __name__ == "__main__":
    aio_run(serve(json.loads(sys.argv[1])))
