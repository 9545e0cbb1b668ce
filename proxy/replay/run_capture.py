"""What the agent did, written as a run: every exchange (LLM and tool) through the recording
sink, each stub answer kept beside the exchange that carried it, and at the end the run's
trajectories (derived sessions whose tool results carry their provenance).

    RUN_OUT/exchanges-<stamp>-<id>.cassette    raw exchanges, redacted (the recording sink)
    RUN_OUT/trajectories-serve.cassette        sessions, source.type "replay" (or tool_only)
    RUN_OUT/manifest.json                      runtime.run_manifest.RunManifest, kind "serve"

Exchange ids are pinned when an exchange is queued — run id, bound session, position — so a
rerun of the same agent script writes the same ids and byte-identical trajectories.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from proxy.capture import Capture
from proxy.metrics import Metrics
from proxy.replay.diagnostics import ServedCall
from proxy.replay.errors import ServeConfigError
from proxy.replay.pinned import pin
from proxy.routes import Route
from proxy.sink import Isolation, RecordingSink, Sink
from recorder import storage
from recorder.protocols.http_tool import UPSTREAM_PATH_LABEL
from recorder.session import Session

PRODUCER = "deploysim serve"
TRAJECTORIES = "trajectories-serve.cassette"
SEGMENT_HEADER = "X-Deploysim-Segment"
SERVED_LABEL = "served_by"


@dataclass(frozen=True)
class RunFiles:
    """Where a finished serve run put things."""

    exchanges: list[str]
    trajectories: str | None
    sessions: list[Session]


class RunCapture(Sink):
    """A `proxy.sink.Sink` for one serve run (see the module docstring).

    >>> capture = RunCapture("runs/a", run_id="serve-1f2e")            # doctest: +SKIP
    >>> capture.start()
    >>> await capture.put(cap, served_calls)
    >>> files = await capture.finish()
    """

    def __init__(self, out_dir: str, *, run_id: str, metrics: Metrics | None = None,
                 isolation: Isolation = "process", redact: bool = True,
                 redact_rules: str | None = None,
                 session_header: str = "X-Deploysim-Session") -> None:
        self.out_dir = out_dir
        self.run_id = run_id
        self.redact = redact
        self.redact_rules = redact_rules
        self.session_header = session_header
        # `block`: a serve run is the product, so a full queue waits rather than drops
        self.sink = RecordingSink(out_dir, metrics=metrics, policy="block", isolation=isolation,
                                  redact=redact, redact_rules=redact_rules, producer=PRODUCER,
                                  meta={"serve_run_id": run_id}, derive_sessions=False,
                                  prefix="exchanges")
        self.served: dict[str, list[ServedCall]] = {}
        """Pinned exchange id → the tool calls answered in it."""
        self.recorded_llm: set[str] = set()
        """Exchange ids of LLM calls answered from recorded responses (not generated)."""
        self._seq: Counter[str] = Counter()

    def start(self) -> None:
        """Refuse a folder holding something else, then start the recording sink."""
        if storage.exists(self.out_dir) and (not storage.isdir(self.out_dir)
                                             or storage.listdir_files(self.out_dir)):
            raise ServeConfigError(f"The run folder {self.out_dir} is not empty; give a new or "
                                   "empty --run-out folder so no earlier run is mixed in.")
        self.sink.start()

    async def put(self, capture: Capture, served: Sequence[ServedCall] = (), *,
                  recorded_llm: bool = False) -> None:
        """Queue one exchange (never raises), with the tool answers it carried."""
        hint = capture.session_hint
        group = hashlib.sha256(hint.encode()).hexdigest()[:8] if hint else "0"
        n = self._seq[group]
        self._seq[group] = n + 1
        exchange_id = f"{self.run_id}-{group}-{n:05d}"
        if served:
            self.served[exchange_id] = list(served)
        if recorded_llm:
            self.recorded_llm.add(exchange_id)
        await self.sink.put(pin(capture, exchange_id))

    async def finish(self) -> RunFiles:
        """Drain the sink, derive the trajectories and write them (off the event loop)."""
        await self.sink.aclose()
        return await asyncio.to_thread(self._write_trajectories)

    def _write_trajectories(self) -> RunFiles:
        from proxy.replay.serve_trajectories import build_trajectories, read_exchanges
        from recorder.writer import CassetteWriter

        exchanges = read_exchanges(self.sink.paths)
        sessions = build_trajectories(exchanges, self.served, run_id=self.run_id,
                                      recorded_llm=self.recorded_llm,
                                      session_header=self.session_header)
        if self.redact:
            from proxy.record_writer import load_redactor
            from recorder.redact_key import resolve_key

            # the run folder's own key, as its exchanges got: one pseudonym per value
            redactor = load_redactor(self.redact_rules, resolve_key(corpus=self.out_dir))
            sessions = [redactor.redact_session(s) for s in sessions]
        path = None
        if sessions:
            path = storage.join(self.out_dir, TRAJECTORIES)
            with CassetteWriter(path, producer=PRODUCER, meta={"run_id": self.run_id},
                                durability="close") as writer:
                for s in sessions:
                    writer.write(s)
        return RunFiles(list(self.sink.paths), path, sessions)


def local_capture(request: web.Request, route: Route, base: str | None, rest: str,
                  body: bytes, started: float, *,
                  session_header: str = "X-Deploysim-Session") -> Capture:
    """A capture of a request the proxy answers itself. Its URL is the recorded upstream's
    (`base` + the path after the route prefix), so the exchange parses like the recording."""
    if base is None:
        base = f"{request.scheme}://{request.host}" + (route.prefix.rstrip("/") or "")
    labels = {SERVED_LABEL: PRODUCER}
    base_path = urlsplit(base).path.rstrip("/")
    if base_path:
        labels[UPSTREAM_PATH_LABEL] = base_path
    segment = request.headers.get(SEGMENT_HEADER)
    if segment is not None:
        labels["segment"] = segment
    return Capture(method=request.method, url=base.rstrip("/") + rest if rest else base,
                   started_at=started, request_headers=request.raw_headers, request_body=body,
                   route=route.name, session_hint=request.headers.get(session_header),
                   labels=labels)
