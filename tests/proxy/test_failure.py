"""Never break production: recording failures leave the traffic unchanged; a killed proxy
leaves cassettes whose complete records all read."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time

import httpx2
from aiohttp import web
from proxy_helpers import banner_url, start_cli, wait_banner

from proxy.testing import app_with, cassettes, exchanges, gateway, serving, sse
from recorder.reader import CassetteReader


async def _handler(request: web.Request) -> web.StreamResponse:
    if request.path.startswith("/sse"):
        return await sse(request, n=20, gap=0.01)
    body = await request.read()
    return web.json_response({"echo": body.decode(), "path": request.raw_path})


async def _fetch(c: httpx2.AsyncClient, base: str, i: int) -> tuple[int, bytes]:
    if i % 2:
        r = await c.get(base + f"/sse?i={i}")
    else:
        r = await c.post(base + f"/v1/x?i={i}", content=f'{{"i": {i}}}'.encode())
    return r.status_code, r.content


async def test_unwritable_out_dir_mid_run_leaves_responses_unchanged(tmp_path, monkeypatch):
    monkeypatch.setattr("proxy.record_writer.REOPEN_DELAY", 0.0)
    out = tmp_path / "out"
    async with serving(app_with(_handler)) as up, \
            gateway([up], str(out), sink_kw={"rotate_bytes": 1, "redact": False}) as gw, \
            httpx2.AsyncClient() as c:
        want = [await _fetch(c, up, i) for i in range(6)]
        got = [await _fetch(c, gw.url, 0), await _fetch(c, gw.url, 1)]
        await asyncio.sleep(0.2)
        assert gw.metrics.recorded == 2
        # the directory goes away mid-run and a file takes its place: nothing can be opened
        os.rename(out, tmp_path / "moved")
        out.write_text("in the way")
        got += [await _fetch(c, gw.url, i) for i in range(2, 5)]
        await asyncio.sleep(0.2)
        errors = dict(gw.metrics.record_errors)
        # ... and comes back: recording resumes by itself
        out.unlink()
        os.rename(tmp_path / "moved", out)
        got.append(await _fetch(c, gw.url, 5))
        metrics = (await c.get(gw.url + "/_deploysim/metrics")).text
        await gw.close()
    assert got == want  # the client saw exactly what the upstream sent, failure or not
    assert sum(errors.values()) == 3, errors
    assert 'deploysim_proxy_record_errors_total{kind="' in metrics
    assert gw.metrics.recorded == 3
    urls = sorted(ex.request.url.rsplit("=", 1)[1] for ex in exchanges(cassettes(str(out))))
    assert urls == ["0", "1", "5"]


async def _traffic(base: str, stop: asyncio.Event) -> int:
    done = 0
    async with httpx2.AsyncClient(timeout=5) as c:
        async def worker(k: int) -> None:
            nonlocal done
            i = k
            while not stop.is_set():
                with contextlib.suppress(httpx2.HTTPError):
                    await _fetch(c, base, i)
                    done += 1
                i += 8
        await asyncio.gather(*(worker(k) for k in range(8)))
    return done


async def _record_then_kill(tmp_path: object, kill_group: bool) -> tuple[str, int, list[int]]:
    out = os.path.join(str(tmp_path), "out")
    async with serving(app_with(_handler)) as up:
        proc = start_cli(["record", "--upstream", up, "--listen", "127.0.0.1:0", "--out", out,
                          "--durability", "close"])
        try:
            base = banner_url(await asyncio.to_thread(wait_banner, proc))
            stop = asyncio.Event()
            traffic = asyncio.ensure_future(_traffic(base, stop))
            await asyncio.sleep(1.0)
            writers = _children(proc.pid)
            if kill_group:  # the proxy and its writer process die mid-write
                os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
            else:
                proc.send_signal(signal.SIGKILL)
            await asyncio.sleep(0.3)
            stop.set()
            served = await traffic
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.to_thread(proc.wait)
    return out, served, writers


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_new_session(monkeypatch: object) -> None:
    real = subprocess.Popen

    def popen(*a: object, **kw: object) -> subprocess.Popen[str]:
        kw["start_new_session"] = True
        return real(*a, **kw)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(subprocess, "Popen", popen)  # type: ignore[attr-defined]


async def test_sigkill_mid_traffic_leaves_every_complete_record_readable(tmp_path, monkeypatch):
    _start_new_session(monkeypatch)
    out, served, _ = await _record_then_kill(tmp_path, kill_group=True)
    monkeypatch.undo()
    assert served > 10
    paths = cassettes(out)
    assert paths
    intact = 0
    for path in paths:
        reader = CassetteReader(path)
        intact += sum(1 for r in reader if r.kind == "exchange")
        # at most the record being written is lost, and the reader says so
        assert all(p.kind == "torn_tail" for p in reader.problems), reader.problems
    assert intact > 0


async def test_a_killed_proxy_leaves_its_writer_to_finish_cleanly(tmp_path):
    out, served, writers = await _record_then_kill(tmp_path, kill_group=False)
    assert served > 10
    assert len(writers) == 1  # the proxy ran one writer process
    # it sees its input end, writes what it had been sent, closes the cassette and exits
    deadline = time.monotonic() + 10
    while _alive(writers[0]) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not _alive(writers[0])
    n = 0
    for path in cassettes(out):
        reader = CassetteReader(path)
        n += sum(1 for _ in reader)
        assert reader.problems == []
    assert n > 0
