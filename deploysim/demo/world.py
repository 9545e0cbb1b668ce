"""The simulated world in its own process: the scripted model server, the MCP workspace server
and the CRM, on loopback. Prints their URLs as one JSON line, then serves until stdin closes.

    python -m deploysim.demo.world [--seed N]

With `--seed` the models sample from one random state seeded by N for the whole run (the
demo's production recording and its replays are independent samples of the same models);
without it every answer is a function of the conversation.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from runtime.event_loop import run as aio_run


async def serve(seed: int | None = None) -> None:
    from deploysim.demo.policies import world_policy
    from deploysim.demo.tool_servers import CrmServer, McpHttpServer
    from replayer.testing.fake_model import FakeModelServer

    for name in ("httpx2", "mcp", "uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # 32 characters per stream delta: token-sized deltas would make the *client* SDKs, not
    # deploysim, the bottleneck of a demo that has to finish in a minute on two cores
    model = FakeModelServer(world_policy(seed), chunk=32)
    mcp, crm = McpHttpServer(), CrmServer()
    await model.start()
    await mcp.start()
    await crm.start()
    print(json.dumps({"model": model.url, "mcp": mcp.url, "crm": crm.url}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    await mcp.stop()
    await crm.stop()
    await model.stop()


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="The demo's simulated world.")
    ap.add_argument("--seed", type=int, default=None, help="seed of the models' sampling")
    aio_run(serve(ap.parse_args().seed))


if __name__ == "__main__":
    main()
