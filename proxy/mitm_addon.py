"""mitmproxy addon that records every HTTP flow into the sink without buffering the traffic.

In `responseheaders` the addon sets `flow.response.stream` to a per-chunk callback for streams
(SSE, NDJSON, bodies of unknown length) and large bodies: mitmproxy then forwards each chunk as
it arrives (SSE timing preserved) and the callback keeps a copy with its arrival offset. Small
sized bodies arrive at once anyway and are relayed whole, exactly as mitmproxy does alone.
The capture is handed to the sink in `response` (or `error` when the upstream failed).
Nothing here ever changes a byte of the traffic.

    mitmdump -s ...  is not needed: `proxy.mitm_runner.MitmRecorder` embeds mitmproxy with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import Any

from mitmproxy import http

from proxy.capture import Capture, CaptureOptions
from proxy.metrics import Metrics
from proxy.sink import Sink

log = logging.getLogger("deploysim.proxy")

_T0 = "deploysim.t0"
_CAP = "deploysim.capture"
_OPEN = "deploysim.open"
ROUTE_LABEL = "mitm"
"""How forward-proxy requests are counted in metrics."""


class RecordAddon:
    """Tees each flow into a `Capture` and hands it to `sink` when the flow ends."""

    def __init__(
        self,
        sink: Sink | None,
        metrics: Metrics,
        options: CaptureOptions = CaptureOptions(),
    ) -> None:
        self.sink = sink
        self.metrics = metrics
        self.options = options

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        flow.metadata[_T0] = time.perf_counter()
        flow.metadata[_OPEN] = True
        self.metrics.count_request(ROUTE_LABEL)
        self.metrics.in_flight += 1

    def _done(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.pop(_OPEN, False):
            self.metrics.in_flight -= 1

    def request(self, flow: http.HTTPFlow) -> None:
        self.metrics.bytes_in += len(flow.request.raw_content or b"")
        if self.sink is None:
            return
        req = flow.request
        flow.metadata[_CAP] = Capture(
            method=req.method,
            url=req.url,
            started_at=req.timestamp_start,
            request_headers=req.headers.fields,
            request_body=req.raw_content or b"",
            session_hint=self.options.session_hint(req.headers),
            labels=self.options.labels(req.headers, {"capture": "mitm"}),
        )

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        assert flow.response is not None
        if not _should_stream(flow.response):
            # a small sized body arrives at once anyway: let mitmproxy relay it whole, as it
            # would without us (one write to the client instead of two)
            return
        cap: Capture | None = flow.metadata.get(_CAP)
        t0: float = flow.metadata.get(_T0, time.perf_counter())
        metrics = self.metrics
        chunks: list[tuple[float, bytes]] = []
        limit = self.options.max_capture
        kept = 0
        if cap is not None:
            cap.status = flow.response.status_code
            cap.reason = flow.response.reason
            cap.response_headers = flow.response.headers.fields
            cap.chunks = chunks

        def tee(data: bytes) -> bytes:
            # mitmproxy calls this for every chunk as it arrives, then once with b"" at the end
            nonlocal kept
            if data:
                metrics.bytes_out += len(data)
                if cap is not None and kept < limit:
                    chunks.append(((time.perf_counter() - t0) * 1000.0, data))
                    kept += len(data)
                    if kept >= limit:
                        cap.truncated("response", limit)
            return data

        flow.response.stream = tee

    def response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        self._done(flow)
        cap: Capture | None = flow.metadata.pop(_CAP, None)
        if cap is None or self.sink is None or flow.response is None:
            return None
        if cap.chunks is None:  # relayed whole by mitmproxy
            resp = flow.response
            cap.status, cap.reason = resp.status_code, resp.reason
            cap.response_headers = resp.headers.fields
            cap.response_body = resp.raw_content or b""
            self.metrics.bytes_out += len(cap.response_body)
        elif not _is_stream(flow.response):
            cap.response_body = b"".join(d for _, d in cap.chunks)
            cap.chunks = None
        cap.ended_at = cap.started_at + _elapsed(flow)
        return self._submit(cap)

    def _submit(self, cap: Capture) -> Awaitable[None] | None:
        """Hand over without a coroutine when the sink never waits (policy `drop`); a sync
        hook is cheaper for mitmproxy, which awaits what a hook returns only if needed."""
        assert self.sink is not None
        if self.sink.put_nowait(cap):
            return None
        return self.sink.put(cap)

    def error(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        message = flow.error.msg if flow.error else "unknown error"
        kind = classify_message(message)
        self.metrics.count_upstream_error(kind)
        self._done(flow)
        cap: Capture | None = flow.metadata.pop(_CAP, None)
        if cap is None or self.sink is None:
            return None
        started = flow.response is not None
        cap.error = f"{kind}: {message}" + (" (after the response started)" if started else "")
        cap.ended_at = cap.started_at + _elapsed(flow)
        return self._submit(cap)


def _elapsed(flow: http.HTTPFlow) -> float:
    t0: Any = flow.metadata.get(_T0)
    return time.perf_counter() - t0 if isinstance(t0, float) else 0.0


STREAM_ABOVE = 256 * 1024
"""Sized bodies above this many bytes are streamed too, so mitmproxy never holds them whole."""


def _should_stream(response: http.Response) -> bool:
    if _is_stream(response):
        return True
    try:
        return int(response.headers.get("content-length", "0")) > STREAM_ABOVE
    except ValueError:
        return True


def _is_stream(response: http.Response) -> bool:
    ctype = response.headers.get("content-type", "")
    return (ctype.startswith("text/event-stream") or "ndjson" in ctype
            or "content-length" not in response.headers)


def classify_message(message: str) -> str:
    """The kind of an upstream failure from mitmproxy's error text."""
    text = message.lower()
    if "refused" in text or "connect call failed" in text or "errno 111" in text:
        return "refused"
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "certificate" in text or "tls" in text or "ssl" in text:
        return "tls"
    if "name or service" in text or "resolve" in text or "dns" in text:
        return "dns"
    if "closed" in text or "reset" in text or "disconnect" in text:
        return "reset"
    return "error"
