"""Running deploysim's event loops: uvloop when it is installed, asyncio's own otherwise.

The gateway, the replay proxy and the replayer spend most of their CPU in the event loop and
its transports; uvloop (libuv underneath) does the same work in roughly half the CPU, which is
what lets one process keep up with agents at high concurrency. It is a dependency on Linux and
macOS, optional elsewhere; ``DEPLOYSIM_EVENT_LOOP=asyncio`` forces the standard loop (for
debugging with asyncio's own tools, or to rule the loop out when chasing a bug).

    from runtime.event_loop import run
    result = run(main())
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any

ENV = "DEPLOYSIM_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the loop deploysim runs on, or None for asyncio's default loop."""
    if os.environ.get(ENV, "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:  # not installed (e.g. Windows): the standard loop works the same
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    """``"uvloop"`` or ``"asyncio"``: which loop :func:`run` will use (for reports and logs)."""
    return "asyncio" if loop_factory() is None else "uvloop"


def run[T](main: Coroutine[Any, Any, T], *, debug: bool | None = None,
           standard: bool = False) -> T:
    """Run ``main`` to completion on a new event loop, like :func:`asyncio.run`.

    ``standard=True`` always uses asyncio's own loop: the stdio relays (`record-stdio`,
    `serve --stdio`) need it, because uvloop's pipe transports on the process's own stdin and
    stdout abort the process at exit; a stdio relay carries one agent's messages, so the
    faster loop would buy nothing there anyway."""
    factory = None if standard else loop_factory()
    with asyncio.Runner(debug=debug, loop_factory=factory) as runner:
        return runner.run(main)
