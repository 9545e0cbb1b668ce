"""Live counters on the terminal while recording (only when stdout is a TTY).

Rendering happens on rich's refresh thread from a snapshot of `Metrics`; the event loop never
waits for the terminal.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from proxy.metrics import Metrics


class _View:
    def __init__(self, metrics: Metrics, title: str) -> None:
        self.metrics = metrics
        self.title = title

    def __rich__(self) -> Any:
        from rich.table import Table

        s = self.metrics.snapshot()
        table = Table(title=self.title, show_header=False, box=None, pad_edge=False)
        table.add_row("requests", str(s["requests"]), "in flight", str(s["in_flight"]))
        table.add_row("bytes in", _size(s["bytes_in"]), "bytes out", _size(s["bytes_out"]))
        table.add_row("recorded", str(s["recorded"]), "queue", str(s["queue_depth"]))
        table.add_row("dropped", str(s["dropped"]), "record errors",
                      str(sum(s["record_errors"].values())))
        table.add_row("upstream errors", str(sum(s["upstream_errors"].values())), "", "")
        return table


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n //= 1024
    return f"{n} TB"


class LiveCounters:
    """Context manager showing `metrics` live on stdout when it is a terminal; else nothing."""

    def __init__(self, metrics: Metrics, title: str, *, enabled: bool | None = None) -> None:
        self.enabled = sys.stdout.isatty() if enabled is None else enabled
        self._view = _View(metrics, title)
        self._live: Any = None

    def __enter__(self) -> LiveCounters:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._view, console=Console(), refresh_per_second=2)
            self._live.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
