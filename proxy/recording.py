"""Running a recording proxy until told to stop: the shared lifecycle of `deploysim record`
(gateway or mitmproxy) and `deploysim record-stdio`.

Start the sink (checks the output directory), start the proxy, say where it listens in one
line, wait for SIGINT/SIGTERM, then stop accepting, let in-flight exchanges finish (up to
`shutdown_grace`), drain the queue, append derived sessions and the run's ledger, and close
the cassettes. The writer is waited for as long as it makes progress (deriving sessions
counts). A second SIGINT/SIGTERM gives up at once and says what was not written. The CLI only
parses options into a `RecordConfig`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proxy.errors import BadListen
from proxy.forward import Timeouts
from proxy.live_counters import LiveCounters
from proxy.metrics import Metrics
from proxy.signals import on_signals, stop_on_signals
from proxy.sink import (
    DEFAULT_QUEUE_SIZE,
    DEFAULT_ROTATE_BYTES,
    Isolation,
    QueuePolicy,
    RecordingSink,
)
from recorder.writer import Durability
from runtime.tasks import spawn

GIL_SWITCH_INTERVAL = 0.001
"""The writer thread shares the GIL with the event loop; CPython lets a busy thread keep it for
5 ms before handing over, which would show up as tail latency on the traffic. A proxy process
asks for 1 ms instead."""


@dataclass
class RecordConfig:
    """Everything a recording run needs (what the CLI options become)."""

    out: str
    listen: tuple[str, int] = ("127.0.0.1", 8787)
    upstreams: list[str] = field(default_factory=list)
    mitm: bool = False
    mitm_mode: str = "regular"
    upstream_ca: str | None = None
    ssl_insecure: bool = False
    queue_size: int = DEFAULT_QUEUE_SIZE
    queue_policy: QueuePolicy = "drop"
    session_header: str = "X-Deploysim-Session"
    segment_header: str = "X-Deploysim-Segment"
    redact_rules: str | None = None
    durability: Durability = "interval"
    rotate_bytes: int | None = DEFAULT_ROTATE_BYTES
    derive_sessions: bool = True
    timeouts: Timeouts = field(default_factory=Timeouts)
    isolation: Isolation = "process"
    """Where the cassette writer runs (see `proxy.sink`)."""
    writer_niceness: int = 0
    """How much lower the writer process's CPU priority is (0: the same as the proxy)."""
    shutdown_grace: float = 3.0
    """Seconds in-flight exchanges get to finish after SIGINT/SIGTERM (streams still open
    then are cut and recorded as cut)."""
    live: bool | None = None
    """Show live counters: None means only when stdout is a terminal."""


def parse_listen(spec: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` or `PORT` (IPv6 as `[::1]:PORT`)."""
    host, sep, port = spec.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", spec
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
        if not 0 <= number <= 65535:
            raise ValueError(port)
    except ValueError:
        raise BadListen(f"The listen address {spec!r} is not HOST:PORT; write e.g. "
                        "127.0.0.1:8787 (port 0 picks a free port).") from None
    return host, number


def make_sink(cfg: RecordConfig, metrics: Metrics, producer: str,
              meta: dict[str, Any] | None = None) -> RecordingSink:
    """The sink for a run: redaction always on (default rules plus `redact_rules`), the writer
    in its own process so redaction never competes with the traffic."""
    sink = RecordingSink(
        cfg.out, metrics=metrics, queue_size=cfg.queue_size, policy=cfg.queue_policy,
        isolation=cfg.isolation, redact_rules=cfg.redact_rules, durability=cfg.durability,
        rotate_bytes=cfg.rotate_bytes, producer=producer, meta=meta,
        derive_sessions=cfg.derive_sessions, writer_niceness=cfg.writer_niceness,
    )
    sink.start()
    return sink


async def record(cfg: RecordConfig, announce: Callable[[str], None]) -> dict[str, Any]:
    """Run a gateway (or mitmproxy when `cfg.mitm`) until SIGINT/SIGTERM; returns a summary."""
    from proxy.gateway import Gateway
    from proxy.mitm_runner import MitmRecorder
    from proxy.routes import parse_upstream

    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    metrics = Metrics()
    producer = "deploysim record --mitm" if cfg.mitm else "deploysim record"
    sink = make_sink(cfg, metrics, producer,
                     meta={"upstreams": cfg.upstreams} if cfg.upstreams else None)
    stop = asyncio.Event()
    server: Gateway | MitmRecorder
    try:
        if cfg.mitm:
            server = MitmRecorder(sink, metrics, listen=cfg.listen, mode=cfg.mitm_mode,
                                  upstream_ca=cfg.upstream_ca, ssl_insecure=cfg.ssl_insecure,
                                  session_header=cfg.session_header,
                                  segment_header=cfg.segment_header)
            await server.start()
        else:
            server = Gateway([parse_upstream(u) for u in cfg.upstreams], sink, metrics=metrics,
                             session_header=cfg.session_header,
                             segment_header=cfg.segment_header, timeouts=cfg.timeouts,
                             upstream_ca=cfg.upstream_ca, verify_upstream=not cfg.ssl_insecure,
                             shutdown_grace=cfg.shutdown_grace)
            await server.start(*cfg.listen)
    except BaseException:
        await sink.aclose()
        raise
    announce(server.banner(f"recording to {cfg.out}"))
    with stop_on_signals(stop), LiveCounters(metrics, "deploysim record", enabled=cfg.live):
        await stop.wait()
    with on_signals(lambda: _give_up(sink, announce)):
        await server.stop()
        _announce_backlog(metrics, announce)
        await sink.aclose()
    return summary(sink, metrics)


def _give_up(sink: RecordingSink, announce: Callable[[str], None]) -> None:
    """A second SIGINT/SIGTERM while flushing: stop the writer and exit now, saying what is
    lost. The cassettes keep every record written so far (the run has no ledger, which
    `deploysim verify` reports)."""
    pending = sink.abandon()
    announce(f"deploysim: stopped at once on a second signal; {pending} exchange(s) still queued "
             "were not written and sessions were not derived; everything written before is "
             "readable (check with `deploysim verify`, derive sessions with `deploysim derive`)")
    with contextlib.suppress(Exception):
        sys.stderr.flush()
        sys.stdout.flush()
    os._exit(130)  # "at once": the flush runs in a worker thread that cannot be interrupted


def _announce_backlog(metrics: Metrics, announce: Callable[[str], None]) -> None:
    backlog = metrics.queue_depth()
    if backlog:
        announce(f"deploysim: writing {backlog} queued exchange(s) before exiting")


async def record_stdio(cfg: RecordConfig, command: list[str], *, route: str | None = None,
                       session: str | None = None, segment: str | None = None,
                       announce: Callable[[str], None]) -> tuple[int, dict[str, Any]]:
    """Run the stdio shim around `command`; returns (the server's exit code, summary)."""
    from proxy.stdio_shim import run_shim

    metrics = Metrics()
    sink = make_sink(cfg, metrics, "deploysim record-stdio", meta={"command": command})
    announce(f"deploysim record-stdio: relaying stdio to {' '.join(command)}; recording to "
             f"{cfg.out}")
    labels = {"segment": segment} if segment else {}
    shim = spawn(run_shim(command, sink, metrics, route=route, session_hint=session,
                          labels=labels), name="stdio-shim")
    stop = asyncio.Event()
    with stop_on_signals(stop):
        stopper = spawn(stop.wait(), name="stdio-stop")
        await asyncio.wait({shim, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not shim.done():  # asked to stop: the server goes down with us
            shim.cancel()
        code = 143
        with contextlib.suppress(asyncio.CancelledError):
            code = await shim
    with on_signals(lambda: _give_up(sink, announce)):
        _announce_backlog(metrics, announce)
        await sink.aclose()
    return code, summary(sink, metrics)


def summary(sink: RecordingSink, metrics: Metrics) -> dict[str, Any]:
    """What a run recorded, for the closing line and `--json`."""
    snap = metrics.snapshot()
    return {
        "cassettes": list(sink.paths),
        "exchanges": snap["recorded"],
        "sessions": sink.sessions_written,
        "requests": snap["requests"],
        "forwarded": snap["forwarded"],
        "dropped": snap["dropped"],
        "drops": snap["drops"],
        "record_errors": snap["record_errors"],
        "record_warnings": snap["record_warnings"],
        "writer_restarts": snap["writer_restarts"],
        "upstream_errors": snap["upstream_errors"],
    }
