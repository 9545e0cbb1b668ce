"""Proxy counters, rendered as Prometheus text for `GET /_deploysim/metrics`.

Each counter has one writer: request and byte counters are bumped on the event loop, `recorded`
by the writer thread, so no lock is needed on the hot path. Record errors are rare and can come
from either side, so they take a lock; each *kind* of record error is logged once (the counter
keeps counting), so a full disk does not flood the log while traffic keeps flowing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("deploysim.proxy")

PREFIX = "deploysim_proxy"


class Metrics:
    """Counters of one proxy process (gateway, forward proxy or stdio shim)."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        """Requests received, by route (`/` for the unnamed upstream)."""
        self.bytes_in = 0
        """Request body bytes received from clients."""
        self.bytes_out = 0
        """Response body bytes sent back to clients."""
        self.upstream_errors: dict[str, int] = {}
        """Upstream failures (refused, timeout, reset, ...) by kind."""
        self.in_flight = 0
        """Requests being served right now."""
        self.forwarded = 0
        """Exchanges handed to recording (each ends recorded, dropped or a record error)."""
        self.recorded = 0
        """Exchanges written to a cassette."""
        self.dropped = 0
        """Exchanges never queued for the writer (all reasons; see `drops`)."""
        self.drops: dict[str, int] = {}
        """Exchanges never queued, by reason: `queue_full` (policy `drop`), `closed`."""
        self.record_errors: dict[str, int] = {}
        """Exchanges queued but not recorded, by kind of failure."""
        self.record_warnings: dict[str, int] = {}
        """Recording trouble that lost no exchange (a body cut to fit, sessions not derived)."""
        self.writer_restarts = 0
        """Times the cassette writer (process or thread) was restarted after it failed."""
        self.writer_progress = 0
        """Work the writer reported that is not a record (deriving sessions): it is alive."""
        self.queue_depth: Callable[[], int] = lambda: 0
        """How many exchanges wait for the writer (set by the sink)."""
        self._lock = threading.Lock()

    def count_request(self, route: str) -> None:
        self.requests[route] = self.requests.get(route, 0) + 1

    def count_upstream_error(self, kind: str) -> None:
        self.upstream_errors[kind] = self.upstream_errors.get(kind, 0) + 1

    def count_forwarded(self) -> None:
        """Count an exchange handed to recording (from the event loop or a proxy thread)."""
        with self._lock:
            self.forwarded += 1

    def count_drop(self, reason: str) -> None:
        """Count an exchange that was never queued for the writer."""
        with self._lock:
            self.dropped += 1
            self.drops[reason] = self.drops.get(reason, 0) + 1

    def count_record_error(self, kind: str, detail: str, n: int = 1) -> None:
        """Count `n` exchanges lost to a recording failure; log only the first of each kind."""
        with self._lock:
            first = kind not in self.record_errors
            self.record_errors[kind] = self.record_errors.get(kind, 0) + n
        if first:
            log.warning("recording failed (%s): %s; traffic is unaffected, further failures of "
                        "this kind are only counted (see /_deploysim/metrics)", kind, detail)

    def count_record_warning(self, kind: str, detail: str) -> None:
        """Count recording trouble that lost no exchange; log only the first of each kind."""
        with self._lock:
            first = kind not in self.record_warnings
            self.record_warnings[kind] = self.record_warnings.get(kind, 0) + 1
        if first:
            log.warning("recording trouble (%s): %s; nothing was lost, further cases of this "
                        "kind are only counted (see /_deploysim/metrics)", kind, detail)

    def snapshot(self) -> dict[str, Any]:
        """The counters as a plain dict (for the live display and JSON)."""
        return {
            "requests": sum(self.requests.values()),
            "requests_by_route": dict(self.requests),
            "in_flight": self.in_flight,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "upstream_errors": dict(self.upstream_errors),
            "forwarded": self.forwarded,
            "recorded": self.recorded,
            "record_errors": dict(self.record_errors),
            "record_warnings": dict(self.record_warnings),
            "queue_depth": self.queue_depth(),
            "dropped": self.dropped,
            "drops": dict(self.drops),
            "writer_restarts": self.writer_restarts,
        }

    def render(self) -> str:
        """Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []

        def family(name: str, kind: str, help_: str, samples: list[tuple[str, int]]) -> None:
            full = f"{PREFIX}_{name}"
            lines.append(f"# HELP {full} {help_}")
            lines.append(f"# TYPE {full} {kind}")
            for labels, value in samples:
                lines.append(f"{full}{labels} {value}")

        family("requests_total", "counter", "Requests received, by route.",
               [(_label("route", r), n) for r, n in sorted(self.requests.items())] or [("", 0)])
        family("in_flight", "gauge", "Requests being served.", [("", self.in_flight)])
        family("bytes_total", "counter", "Body bytes proxied, by direction.",
               [(_label("direction", "in"), self.bytes_in),
                (_label("direction", "out"), self.bytes_out)])
        family("upstream_errors_total", "counter", "Upstream failures, by kind.",
               [(_label("kind", k), n) for k, n in sorted(self.upstream_errors.items())])
        family("forwarded_total", "counter", "Exchanges handed to recording.",
               [("", self.forwarded)])
        family("recorded_total", "counter", "Exchanges written to cassettes.",
               [("", self.recorded)])
        family("record_errors_total", "counter", "Exchanges queued but not recorded, by kind.",
               [(_label("kind", k), n) for k, n in sorted(self.record_errors.items())])
        family("record_warnings_total", "counter",
               "Recording trouble that lost no exchange, by kind.",
               [(_label("kind", k), n) for k, n in sorted(self.record_warnings.items())])
        family("writer_restarts_total", "counter", "Cassette writer restarts after a failure.",
               [("", self.writer_restarts)])
        family("queue_depth", "gauge", "Exchanges waiting for the cassette writer.",
               [("", self.queue_depth())])
        family("dropped_total", "counter", "Exchanges never queued for the writer, by reason.",
               [(_label("reason", k), n) for k, n in sorted(self.drops.items())]
               or [("", 0)])
        return "\n".join(lines) + "\n"


def _label(name: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{{{name}="{escaped}"}}'
