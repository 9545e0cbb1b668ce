"""Running the fake model server: on its own thread (for synchronous callers) or from a shell.

    python -m replayer.testing.fake_model --policy rule-agent --latency 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from replayer.testing.script import SIMULATION, Policy
from replayer.testing.scripted_policies import POLICIES, echo

if TYPE_CHECKING:  # fake_model imports this module (it re-exports serve_in_thread)
    from replayer.testing.fake_model import FakeModelServer


@contextlib.contextmanager
def serve_in_thread(policy: Policy = echo, *, server_class: type[FakeModelServer] | None = None,
                    **kwargs: Any) -> Iterator[FakeModelServer]:
    """Run a FakeModelServer (or `server_class`, a subclass) on its own event loop in a daemon
    thread (for sync callers)."""
    from replayer.testing.fake_model import FakeModelServer

    server = (server_class or FakeModelServer)(policy, **kwargs)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="deploysim-fake-model", daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def main(argv: list[str] | None = None) -> None:
    """`python -m replayer.testing.fake_model`: serve a named policy until interrupted."""
    parser = argparse.ArgumentParser(description=f"Fake model server ({SIMULATION}).")
    parser.add_argument("--policy", choices=sorted(POLICIES), default="rule-agent")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None, help="require this key (else any)")
    args = parser.parse_args(argv)

    from replayer.testing.fake_model import FakeModelServer

    async def serve() -> None:
        server = FakeModelServer(POLICIES[args.policy](), latency=args.latency,
                                 api_key=args.api_key, port=args.port, log_requests=False)
        await server.start()
        print(json.dumps({"url": server.url, "openai_url": server.openai_url,
                          "policy": args.policy, "simulation": SIMULATION}), flush=True)
        await asyncio.Event().wait()

    from runtime.event_loop import run

    with contextlib.suppress(KeyboardInterrupt):  # on uvloop, like the replayer it serves
        run(serve())

