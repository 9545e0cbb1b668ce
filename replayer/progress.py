"""Replay progress: a rich progress bar on a terminal, a plain log line every N items otherwise.

Shows done/total, rate, ETA, errors, tokens and cost. Fed by the local loop directly and, on
Ray, by the driver polling the workers' tallies.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ReplayProgress:
    """Progress of a replay over `total` trajectories.

    `mode`: "bar" (rich, for terminals), "log" (a line every `every` items), or "off".
    """

    def __init__(self, total: int, console: Console, *, mode: str | None = None,
                 every: int = 100) -> None:
        self.total = total
        self.console = console
        self.mode = mode or ("bar" if console.is_terminal else "log")
        self.every = max(1, every)
        self.done = self.errors = self.tokens = 0
        self.cost = 0.0
        self._start = time.monotonic()
        self._logged = 0
        self._bar: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> ReplayProgress:
        if self.mode == "bar":
            self._bar = Progress(
                TextColumn("replay"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}/s"), TimeRemainingColumn(), TimeElapsedColumn(),
                TextColumn("errors {task.fields[errors]}  tokens {task.fields[tokens]}  "
                           "cost {task.fields[cost]}"),
                console=self.console, transient=False)
            self._bar.start()
            self._task = self._bar.add_task("replay", total=self.total, **self._fields())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self.mode == "log" and self.done != self._logged:
            self._log()

    def _rate(self) -> float:
        return self.done / max(1e-9, time.monotonic() - self._start)

    def _fields(self) -> dict[str, Any]:
        return {"rate": f"{self._rate():.1f}", "errors": str(self.errors),
                "tokens": f"{self.tokens:,}", "cost": f"${self.cost:.4f}"}

    def update(self, *, done: int, errors: int, tokens: int, cost: float) -> None:
        """Set absolute totals (the Ray driver) and redraw or log."""
        self.done, self.errors, self.tokens, self.cost = done, errors, tokens, cost
        self._refresh()

    def advance(self, n: int = 1, *, errors: int = 0, tokens: int = 0,
                cost: float = 0.0) -> None:
        """Add finished trajectories (the local loop)."""
        self.update(done=self.done + n, errors=self.errors + errors, tokens=tokens, cost=cost)

    def _refresh(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, **self._fields())
        elif self.mode == "log" and self.done - self._logged >= self.every:
            self._log()

    def _log(self) -> None:
        self._logged = self.done
        rate = self._rate()
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        pct = 100.0 * self.done / self.total if self.total else 100.0
        self.console.print(
            f"replay: {self.done}/{self.total} ({pct:.0f}%), {rate:.1f}/s, ETA {eta:.0f}s, "
            f"errors {self.errors}, tokens {self.tokens:,}, cost ${self.cost:.4f}",
            markup=False, highlight=False)
