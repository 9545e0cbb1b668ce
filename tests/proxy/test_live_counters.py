"""Live counters: rendered from the metrics, shown only on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from proxy.live_counters import LiveCounters, _View
from proxy.metrics import Metrics


def test_view_renders_the_counters():
    m = Metrics()
    m.count_request("/")
    m.recorded = 7
    m.dropped = 2
    m.bytes_out = 5 * 1024 * 1024
    m.count_record_error("write_ENOSPC", "disk full")
    buf = io.StringIO()
    Console(file=buf, width=100).print(_View(m, "deploysim record"))
    text = buf.getvalue()
    for expected in ("requests", "recorded", "7", "dropped", "2", "5 MB", "record errors"):
        assert expected in text


def test_live_counters_stay_off_without_a_terminal():
    with LiveCounters(Metrics(), "x") as live:  # pytest's stdout is not a TTY
        assert not live.enabled and live._live is None
