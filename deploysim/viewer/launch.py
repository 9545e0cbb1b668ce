"""Run the viewer until interrupted: bind, say where, open a browser when asked."""

from __future__ import annotations

import asyncio
import contextlib
import webbrowser
from collections.abc import Callable, Sequence

from aiohttp import web

from recorder.errors import UsageError


class PortInUse(UsageError):
    """The viewer's address cannot be bound."""


async def _run(paths: Sequence[str], host: str, port: int, open_browser: bool,
               say: Callable[[str], None]) -> None:
    from deploysim.viewer.app import make_app
    from deploysim.viewer.json_api import LIBRARY

    app = make_app(paths)
    # Ctrl-C stops it at once: a read-only viewer has nothing worth draining (aiohttp would
    # wait up to a minute for requests in flight)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise PortInUse(f"Cannot listen on {host}:{port} ({exc.strerror or exc}); give "
                            "another --port (or stop what holds it).") from exc
        # --port 0 binds any free port: say the one it got
        bound = runner.addresses[0][1] if runner.addresses else port
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{bound}/"
        lib = app[LIBRARY]
        say(f"deploysim view: serving {len(lib.found)} item(s) under {', '.join(lib.roots)} "
            f"at {url} (Ctrl-C stops)")
        if open_browser:
            webbrowser.open(url)
        await asyncio.Event().wait()  # until Ctrl-C
    finally:
        await runner.cleanup()


def serve(paths: Sequence[str], *, host: str, port: int, open_browser: bool,
          say: Callable[[str], None]) -> None:
    """Serve until Ctrl-C, which stops it cleanly (exit 0)."""
    from runtime.event_loop import run

    with contextlib.suppress(KeyboardInterrupt):
        run(_run(paths, host, port, open_browser, say))
