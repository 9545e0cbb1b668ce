"""Stopping a long-running proxy command on SIGINT or SIGTERM: cleanly on the first, at once on
the second.

>>> stop = asyncio.Event()                                         # doctest: +SKIP
>>> with on_signals(stop.set):
...     await stop.wait()          # Ctrl-C or `kill` ends the wait; the caller then flushes
>>> with on_signals(abandon):       # while flushing, a second Ctrl-C gives up at once
...     await sink.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_signals(callback: Callable[[], None]) -> Iterator[None]:
    """Call `callback` on the event loop on SIGINT or SIGTERM while inside (main thread only;
    elsewhere a no-op). On leaving, the previous handling is restored."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in SIGNALS:
        try:
            loop.add_signal_handler(sig, callback)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def stop_on_signals(stop: asyncio.Event) -> contextlib.AbstractContextManager[None]:
    """Set `stop` on SIGINT or SIGTERM while inside."""
    return on_signals(stop.set)
