"""The fault suite: `deploysim record` run as the CLI runs it (a subprocess, the default process
writer, default settings), the official clients in front, real upstreams behind, and faults
in between. Each test counts what the clients sent (a tap on every upstream, plus the requests
an upstream refused) and holds the recording to it: by the run's closing ledger, by reading
the corpus, and by `deploysim verify`.

Marked `fault`; it runs with the rest of the suite (`pytest -m fault` runs it alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
import os
import re
import signal
import ssl
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli
import httpx2
import pytest
import zstandard
from aiohttp import web
from proxy_helpers import (
    SUMMARY,
    Recorded,
    Stopped,
    alive,
    deploysim,
    env_http,
    mcp_server,
    mixed_round,
    plain_http,
    raw_serving,
    read_out,
    recording,
    tapped_model_server,
    the_ledger,
)

from proxy.testing import RawRequest, app_with, free_port, self_signed_cert, serving
from recorder.reader import CassetteReader
from replayer.testing.fake_model import call_first_tool

pytestmark = pytest.mark.fault

ROUNDS = 5
STOP_WITHIN = 5.0
"""Seconds a clean stop (SIGINT or SIGTERM) may take, flush and session derivation included."""


def _stopped_cleanly(stopped: Stopped) -> int:
    """Exit 0 within STOP_WITHIN seconds, no traceback, the summary line; its count."""
    assert "Traceback" not in stopped.stderr, stopped.stderr
    assert stopped.code == 0, stopped.stderr
    assert stopped.seconds < STOP_WITHIN, f"stopping took {stopped.seconds:.1f} s"
    line = SUMMARY.search(stopped.stderr)
    assert line is not None, stopped.stderr
    return int(line.group(1))


def _complete(out: str, sent: int, summary: int) -> Recorded:
    """Every exchange sent is in the corpus, in the ledger and in `deploysim verify`."""
    rec = read_out(out)
    assert not rec.problems, rec.problems
    assert len(rec.exchanges) == sent, f"sent {sent}, corpus holds {len(rec.exchanges)}"
    assert summary == sent, f"sent {sent}, the closing line says {summary}"
    ledger = the_ledger(rec)
    assert ledger.clean
    assert (ledger.forwarded, ledger.recorded) == (sent, sent), ledger
    assert ledger.files == [os.path.basename(p) for p in rec.paths], ledger.files
    assert not any(ledger.dropped.values()) and not any(ledger.record_errors.values()), ledger
    check = deploysim("verify", "--json", out)
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)
    assert report["ok"]
    run, = report["runs"]
    assert (run["ledger"], run["forwarded"], run["recorded"], run["found"]) == \
        (True, sent, sent, sent), run
    shown = json.loads(deploysim("inspect", "--json", out).stdout)["recording_runs"]
    assert [(r["run_id"], r["ok"], r["found"]) for r in shown] == [(ledger.run_id, True, sent)]
    for path in rec.paths:  # every file names its run in the header
        reader = CassetteReader(path)
        next(iter(reader), None)
        assert reader.header is not None and reader.header.meta["run_id"] == ledger.run_id
    return rec


# -- 5 rounds of mixed sessions ------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_mixed_sessions_through_the_gateway_are_all_recorded(
        tmp_path: Path, sig: int) -> None:
    model_log: list[RawRequest] = []
    mcp_log: list[RawRequest] = []
    out = str(tmp_path / "out")
    async with tapped_model_server(model_log, call_first_tool) as model, \
            mcp_server(mcp_log) as mcp_url, \
            recording(out, "--upstream", model.url, "--upstream", f"tools={mcp_url}") as rec:
        for r in range(ROUNDS):
            await mixed_round(rec.url, rec.url + "/tools", plain_http, f"r{r}")
        stopped = await rec.stop(sig)
    methods = {q.method for q in mcp_log}
    assert {"POST", "GET", "DELETE"} <= methods, methods  # the session protocol's whole life
    sent = len(model_log) + len(mcp_log)
    _complete(out, sent, _stopped_cleanly(stopped))


async def test_mixed_sessions_through_the_forward_proxy_are_all_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--mitm`: clients that honour HTTPS_PROXY / HTTP_PROXY, the model over HTTPS (the
    clients trust deploysim's CA, deploysim trusts the upstream's own)."""
    from proxy.mitm_runner import ca_cert_path

    cert, key = self_signed_cert(str(tmp_path))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    model_log: list[RawRequest] = []
    mcp_log: list[RawRequest] = []
    out = str(tmp_path / "out")
    model = tapped_model_server(model_log, call_first_tool)
    async with serving(model.app(), ssl_context=server_ctx) as model_url, \
            mcp_server(mcp_log) as mcp_url, \
            recording(out, "--mitm", "--upstream-ca", cert) as rec:
        assert model_url.startswith("https://")
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", rec.url)
        monkeypatch.setenv("HTTP_PROXY", rec.url)
        monkeypatch.setenv("SSL_CERT_FILE", ca_cert_path())
        for r in range(ROUNDS):
            await mixed_round(model_url, mcp_url, env_http, f"m{r}")
        monkeypatch.undo()
        stopped = await rec.stop(signal.SIGTERM)
    assert {"POST", "GET", "DELETE"} <= {q.method for q in mcp_log}
    sent = len(model_log) + len(mcp_log)
    recorded = _complete(out, sent, _stopped_cleanly(stopped))
    assert all(ex.labels.get("capture") == "mitm" for ex in recorded.exchanges)


# -- edge cases: empty bodies, 204, refused, timed out, a client that leaves mid-stream ------


async def _edge(request: web.Request) -> web.StreamResponse:
    """Upstream for the edge cases (the path says what to do)."""
    path = request.path
    if path.startswith("/empty"):
        return web.Response(status=200, body=b"")
    if path.startswith("/nocontent"):
        return web.Response(status=204)
    if path.startswith("/slow"):
        await asyncio.sleep(2.5)  # past --read-timeout 1
        return web.Response(text="too late")
    if path.startswith("/sse"):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        with contextlib.suppress(ConnectionError):
            for i in range(60):
                await resp.write(f"data: {{\"i\": {i}}}\n\n".encode())
                await asyncio.sleep(0.05)
            await resp.write_eof()
        return resp
    body = await request.read()
    return web.json_response({"path": request.raw_path, "len": len(body)})


async def _ok_traffic(c: httpx2.AsyncClient, base: str, tag: str, n: int) -> None:
    async def one(i: int) -> None:
        r = await c.post(f"{base}/edge/ok/{tag}/{i}", json={"i": i, "tag": tag})
        assert r.status_code == 200, r.text

    await asyncio.gather(*(one(i) for i in range(n)))


async def test_edge_cases_are_recorded_and_other_traffic_is_kept(tmp_path: Path) -> None:
    log: list[RawRequest] = []
    out = str(tmp_path / "out")
    refused = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with raw_serving(app_with(_edge, log)) as up, \
            recording(out, "--upstream", f"edge={up}", "--upstream", f"refused={refused}",
                      "--read-timeout", "1") as rec, \
            httpx2.AsyncClient(trust_env=False, timeout=30) as c:
        base = rec.url
        # each of these first on its own, so it opens a batch for the writer by itself
        for _ in range(3):
            assert (await c.get(base + "/edge/empty")).content == b""
            await asyncio.sleep(0.05)
        await _ok_traffic(c, base, "a", 20)
        r = await c.post(base + "/edge/nocontent", content=b"")
        assert r.status_code == 204
        await asyncio.sleep(0.05)
        r = await c.get(base + "/refused/v1/x")
        assert r.status_code == 502
        await asyncio.sleep(0.05)
        slow, _ = await asyncio.gather(c.get(base + "/edge/slow"), _ok_traffic(c, base, "b", 20))
        assert slow.status_code == 504
        async with c.stream("GET", base + "/edge/sse") as resp:
            seen = 0
            async for _ in resp.aiter_raw():
                seen += 1
                if seen == 3:
                    break  # the client leaves mid-stream
        await asyncio.sleep(0.3)  # let the gateway notice the client is gone
        await _ok_traffic(c, base, "c", 20)
        stopped = await rec.stop(signal.SIGINT)
    summary = _stopped_cleanly(stopped)
    sent = len(log) + 1  # + the refused one, which reached no upstream
    got = read_out(out)
    assert not got.problems, got.problems

    for tag in "abc":
        ok = got.by_path(f"/ok/{tag}/")
        assert sorted(ex.request.url.rsplit("/", 1)[1] for ex in ok) == \
            sorted(str(i) for i in range(20)), f"ok traffic {tag} lost"
    empty = got.by_path("/empty")
    assert len(empty) == 3 and all(ex.response is not None and ex.response.status == 200
                                   and ex.response.body == b"" for ex in empty)
    nocontent, = got.by_path("/nocontent")
    assert nocontent.response is not None and nocontent.response.status == 204
    refused_ex, = got.by_path(refused)
    assert refused_ex.response is None and (refused_ex.error or "").startswith("refused")
    slow_ex, = got.by_path("/slow")
    assert (slow_ex.error or "").startswith("timeout"), slow_ex.error

    ledger = the_ledger(got)
    assert ledger.forwarded == sent, (ledger, sent)
    lost = sum(ledger.dropped.values()) + sum(ledger.record_errors.values())
    assert ledger.recorded == len(got.exchanges) == summary
    sse = got.by_path("/sse")
    # the exchange the client walked out of: recorded with its error, or counted by kind
    assert (len(sse) == 1 and sse[0].error) or lost == 1, (sse, ledger)
    assert ledger.recorded + lost == ledger.forwarded, ledger


# -- request bodies and headers pass through untouched -------------------------------------

_JSON = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 2000}]}).encode()
ENCODINGS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,  # HTTP's "deflate" is the zlib format
    "br": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}


async def _echo_digest(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    return web.json_response({"sha": hashlib.sha256(body).hexdigest(), "len": len(body)})


async def test_compressed_request_bodies_arrive_upstream_byte_identical(tmp_path: Path) -> None:
    """The upstream reads raw bytes (`raw_serving`: no server-side decompression), so what it
    logs is what travelled; the same request sent directly first proves the tap is raw."""
    log: list[RawRequest] = []
    out = str(tmp_path / "out")
    bodies = {enc: fn(_JSON) for enc, fn in ENCODINGS.items()}
    bodies["bad-gzip"] = b"\x1f\x8b\x08\x00 this is not gzip at all"
    async with raw_serving(app_with(_echo_digest, log)) as up, \
            recording(out, "--upstream", up) as rec, \
            httpx2.AsyncClient(trust_env=False, timeout=30) as c:
        for enc, body in bodies.items():
            headers = {"Content-Type": "application/json",
                       "Content-Encoding": enc.removeprefix("bad-")}
            direct = await c.post(f"{up}/direct/{enc}", content=body, headers=headers)
            assert direct.status_code == 200 and log[-1].body == body  # the tap reads raw
            proxied = await c.post(f"{rec.url}/v1/{enc}", content=body, headers=headers)
            assert proxied.status_code == 200, (enc, proxied.status_code, proxied.text)
            assert proxied.json() == direct.json(), enc
            got = log[-1]
            assert got.raw_path == f"/v1/{enc}"
            assert got.body == body, f"{enc}: the upstream got {len(got.body)} other bytes"
            sent_encoding = [v for k, v in got.headers if k.lower() == b"content-encoding"]
            assert sent_encoding == [enc.removeprefix("bad-").encode()]
        stopped = await rec.stop(signal.SIGINT)
    _stopped_cleanly(stopped)
    recorded = read_out(out)
    assert sorted(ex.request.url.rsplit("/", 1)[1] for ex in recorded.exchanges) == \
        sorted(bodies)


async def test_two_hundred_request_headers_are_all_forwarded(tmp_path: Path) -> None:
    log: list[RawRequest] = []
    out = str(tmp_path / "out")
    many = [(f"X-Fault-{i:03d}", f"value-{i}") for i in range(200)]
    async with raw_serving(app_with(_echo_digest, log)) as up, \
            recording(out, "--upstream", up) as rec, \
            httpx2.AsyncClient(trust_env=False, timeout=30) as c:
        direct = await c.get(up + "/direct", headers=many)
        assert direct.status_code == 200  # the upstream itself takes 200 headers
        r = await c.get(rec.url + "/many", headers=many)
        assert r.status_code == 200, (r.status_code, r.text)
        stopped = await rec.stop(signal.SIGINT)
    _stopped_cleanly(stopped)
    got = log[-1]
    assert got.raw_path == "/many"
    arrived = [(k.decode(), v.decode()) for k, v in got.headers
               if k.lower().startswith(b"x-fault-")]
    assert arrived == many
    ex, = read_out(out).exchanges
    assert sum(1 for k, _ in ex.request.headers if k.lower().startswith("x-fault-")) == 200


# -- a part of the recording path dies mid-run ---------------------------------------------

WRITER_DIED = re.compile(r'deploysim_proxy_record_errors_total\{kind="writer[^"]*"\}')
RESTARTS = "deploysim_proxy_writer_restarts_total"


def _writer_death(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics that say a writer died: a restart, or exchanges lost with it."""
    return {k: v for k, v in metrics.items()
            if (k == RESTARTS and v > 0) or WRITER_DIED.fullmatch(k)}


async def test_a_killed_writer_process_is_counted_at_once_and_recording_resumes(
        tmp_path: Path) -> None:
    log: list[RawRequest] = []
    out = str(tmp_path / "out")
    async with raw_serving(app_with(_edge, log)) as up, \
            recording(out, "--upstream", f"edge={up}") as rec, \
            httpx2.AsyncClient(trust_env=False, timeout=30) as c:
        stop_traffic = asyncio.Event()

        async def background() -> None:  # traffic all along: the kill lands mid-traffic
            i = 0
            while not stop_traffic.is_set():
                await _ok_traffic(c, rec.url, f"bg{i}", 4)
                i += 1

        traffic = asyncio.create_task(background())
        await _ok_traffic(c, rec.url, "before", 20)
        writers = rec.writer_pids()
        assert len(writers) == 1, writers
        os.kill(writers[0], signal.SIGKILL)
        killed = time.monotonic()
        counted: dict[str, float] = {}
        while time.monotonic() - killed < 2.0 and not counted:
            counted = _writer_death(await rec.metrics())
            await asyncio.sleep(0.05)
        assert counted, f"the writer's death was not counted within 2 s: {await rec.metrics()}"
        await _ok_traffic(c, rec.url, "after", 30)
        stop_traffic.set()
        await traffic
        assert len(rec.writer_pids()) == 1  # a new writer took over
        stopped = await rec.stop(signal.SIGINT)
    summary = _stopped_cleanly(stopped)
    got = read_out(out)  # the killed writer's last file may be torn: not asserted here
    after = got.by_path("/ok/after/")
    assert len(after) == 30, f"recorded {len(after)} of the 30 exchanges sent after the kill"
    assert len(got.exchanges) == summary
    ledger = the_ledger(got)
    assert ledger.forwarded == len(log)
    lost = sum(ledger.dropped.values()) + sum(ledger.record_errors.values())
    assert ledger.recorded + lost == ledger.forwarded, ledger  # whatever is missing is counted


async def test_a_dead_feed_thread_is_counted_at_once_and_recording_resumes(tmp_path: Path) -> None:
    """In process (no thread of a subprocess can be killed from outside): the process
    writer's feed thread gets a capture it cannot send (it does not pickle)."""
    from proxy.capture import Capture
    from proxy.metrics import Metrics
    from proxy.sink import RecordingSink

    metrics = Metrics()
    sink = RecordingSink(str(tmp_path / "out"), metrics=metrics)  # the default: a process
    sink.start()
    try:
        def capture(i: int, **kw: Any) -> Capture:
            return Capture("POST", f"http://up/ok/{i}", time.time(), status=200,
                           response_body=b"{}", **kw)

        for i in range(5):
            assert sink.put_nowait(capture(i))
        poison = capture(99, labels={"bad": lambda: None})
        sink.put_nowait(poison)
        t0 = time.monotonic()
        while not metrics.record_errors and time.monotonic() - t0 < 2.0:
            await asyncio.sleep(0.02)
        assert metrics.record_errors, "the feed thread's failure was not counted within 2 s"
        for i in range(100, 120):
            assert sink.put_nowait(capture(i))
    finally:
        await sink.aclose(stall_timeout=10)
    got = read_out(str(tmp_path / "out"))
    urls = {ex.request.url for ex in got.exchanges}
    assert {f"http://up/ok/{i}" for i in range(100, 120)} <= urls, "recording did not resume"


# -- SIGKILL of the gateway at moderate load -----------------------------------------------

QUEUE_SIZE = 200
"""The run's `--queue-size`: a SIGKILL loses at most what waits in the gateway's queue."""


def _loss_bound() -> int:
    """The documented bound (docs/recording-proxy.md, SIGKILL of the proxy): the queue, plus
    the batch the feed thread took from it but had not yet written to the writer's pipe."""
    from proxy import sink_backends

    return QUEUE_SIZE + int(getattr(sink_backends, "SHIP_BATCH", 256))


@pytest.mark.parametrize("victims", ["gateway", "gateway+writer"])
async def test_sigkill_keeps_every_acknowledged_exchange_and_repair_salvages(
        tmp_path: Path, victims: str) -> None:
    log: list[RawRequest] = []
    out = str(tmp_path / "out")
    acked: set[str] = set()
    async with raw_serving(app_with(_edge, log)) as up, \
            recording(out, "--upstream", f"edge={up}", "--queue-size", str(QUEUE_SIZE)) as rec, \
            httpx2.AsyncClient(trust_env=False, timeout=30) as c:

        async def worker(w: int) -> None:
            i = 0
            while True:
                key = f"{w}-{i}"
                r = await c.post(f"{rec.url}/edge/ok/{key}", json={"w": w, "i": i})
                if r.status_code == 200 and r.json()["len"] > 0:
                    acked.add(key)  # the client got its whole response
                i += 1

        workers = [asyncio.create_task(worker(w)) for w in range(12)]
        await asyncio.sleep(2.0)
        writers = rec.writer_pids()
        if victims == "gateway+writer":
            os.kill(rec.pid, signal.SIGSTOP)  # frozen: it cannot start a new writer meanwhile
            for pid in writers:
                os.kill(pid, signal.SIGKILL)
        rec.kill()
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        t0 = time.monotonic()  # a surviving writer writes what it was sent, then exits
        while any(alive(p) for p in writers) and time.monotonic() - t0 < 20:
            await asyncio.sleep(0.05)
        assert not any(alive(p) for p in writers), "the writer outlived the gateway by 20 s"
    assert len(acked) > 100, f"only {len(acked)} exchanges before the kill: not a load"

    got = read_out(out)
    found = {ex.request.url.rsplit("/", 1)[1] for ex in got.by_path("/ok/")}
    if victims == "gateway":
        missing = acked - found
        assert len(missing) <= _loss_bound(), \
            f"{len(missing)} of {len(acked)} acknowledged exchanges lost (bound {_loss_bound()})"
        # the surviving writer closed the run itself: it knows what it wrote, not what the
        # gateway forwarded
        ledger = the_ledger(got)
        assert not ledger.clean and ledger.recorded == len(got.exchanges), ledger

    check = deploysim("verify", out)
    assert check.returncode == 1, "verify after a SIGKILL: " + check.stdout + check.stderr
    assert "Traceback" not in check.stdout + check.stderr
    report = json.loads(deploysim("verify", "--json", out).stdout)
    torn = [c["path"] for c in report["cassettes"] if c["problems"]]
    unclosed = [r["run_id"] for r in report["runs"] if not r["ok"]]
    assert not report["ok"] and (torn or unclosed), report
    if victims == "gateway":  # the writer survived: nothing torn, but the run is not complete
        assert not torn and unclosed, report

    salvaged = 0
    for i, path in enumerate(got.paths):
        dst = str(tmp_path / f"repaired-{i}.cassette")
        fixed = deploysim("cassette", "repair", path, "--out", dst)
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        repaired = read_out(dst)
        assert not repaired.problems, repaired.problems
        salvaged += len(repaired.exchanges)
    assert salvaged == len(got.exchanges)  # every intact record, no more, no fewer
    # the gateway's stderr is shared with its writer, which must not die noisily either
    assert "Traceback" not in rec.stderr, rec.stderr
