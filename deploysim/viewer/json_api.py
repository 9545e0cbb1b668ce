"""The viewer's JSON API: what the pages fetch. Every path parameter is checked against the
viewer's PATHS first (anything else is a 404); reads run in worker threads.

    GET /api/library                                   what PATHS hold
    GET /api/source?path=P                             a corpus or run: sessions and verdicts
    GET /api/trajectory?run=R&baseline=B&session=S     one session side by side (+ &corpus=C)
    GET /api/compare?baseline=B&run=R                  two runs: rates and differing sessions
    GET /api/audit?path=A                              the audit log's decisions and trends
    GET /api/report?path=J                             a gate report's decision
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from aiohttp import web

from deploysim.viewer.discovery import Library, read_report
from deploysim.viewer.run_cache import Source, Store

LIBRARY = web.AppKey("library", Library)
STORE = web.AppKey("store", Store)


def not_found(message: str) -> web.HTTPNotFound:
    """A 404 whose JSON body says why (the page shows the sentence)."""
    return web.HTTPNotFound(text=json.dumps({"error": message}),
                            content_type="application/json")


def checked_path(request: web.Request, name: str, *, required: bool = True) -> str | None:
    """The query parameter `name` as a real path under PATHS; 404 when it is anything else."""
    raw = request.query.get(name)
    if not raw:
        if required:
            raise not_found(f"The {name} parameter is missing.")
        return None
    path = request.app[LIBRARY].allowed(raw)
    if path is None:
        raise not_found(f"{raw} is not under the folders this viewer serves.")
    return path


async def _source(request: web.Request, path: str) -> Source:
    from recorder.errors import DeploysimError

    try:
        return await asyncio.to_thread(request.app[STORE].get, path)
    except DeploysimError as exc:
        raise not_found(str(exc)) from exc


async def library(request: web.Request) -> web.Response:
    return web.json_response(request.app[LIBRARY].to_dict())


async def source(request: web.Request) -> web.Response:
    path = checked_path(request, "path")
    assert path is not None
    src = await _source(request, path)
    data = src.summary()
    if src.kind == "run":  # runs of the same corpus: the baselines this one can be opened with
        lib = request.app[LIBRARY]
        corpus = (src.manifest or {}).get("corpus_hash")
        data["peers"] = [f.to_dict() for f in lib.of_kind("run") if f.path != src.path
                         and _corpus_hash(f.path) == corpus]
    return web.json_response(data)


def _corpus_hash(run: str) -> str | None:
    from runtime.run_manifest import read_manifest

    try:
        return read_manifest(run).corpus_hash
    except Exception:
        return None


def _corpus_of(lib: Library, run: Source) -> tuple[str | None, str]:
    """The recorded corpus a run replayed, when it lies under PATHS; else why not."""
    paths = list((run.manifest or {}).get("corpus_paths") or [])
    for p in paths:
        for candidate in (p, os.path.join(os.path.dirname(run.path), p)):
            allowed = lib.allowed(candidate)
            if allowed is not None:
                return allowed, ""
    if not paths:
        return None, f"The run {run.path} names no recorded corpus."
    return None, (f"The recorded corpus {paths[0]} is not under the folders this viewer "
                  "serves; start `deploysim view` with it too to see production's turn.")


async def trajectory(request: web.Request) -> web.Response:
    from deploysim.viewer.session_page import side_by_side

    session = request.query.get("session", "")
    if not session:
        raise not_found("The session parameter is missing.")
    run = checked_path(request, "run", required=False)
    base = checked_path(request, "baseline", required=False)
    corpus = checked_path(request, "corpus", required=False)
    cand_src = await _source(request, run) if run else None
    base_src = await _source(request, base) if base else None
    note = ""
    if corpus is None:
        for src in (cand_src, base_src):
            if src is not None:
                corpus, note = _corpus_of(request.app[LIBRARY], src)
                if corpus:
                    break
    corpus_src = await _source(request, corpus) if corpus else None
    view = side_by_side(session, candidate=cand_src, baseline=base_src, corpus=corpus_src,
                        corpus_note=note)
    if view is None:
        raise not_found(f"No session {session} in the given runs or corpus.")
    return web.json_response(view)


async def compare(request: web.Request) -> web.Response:
    from deploysim.viewer.run_comparison import compare_runs

    base, run = checked_path(request, "baseline"), checked_path(request, "run")
    assert base is not None and run is not None
    b, c = await _source(request, base), await _source(request, run)
    return web.json_response(await asyncio.to_thread(compare_runs, b, c))


async def audit(request: web.Request) -> web.Response:
    from deploysim.viewer.trend import audit_history
    from grader.errors import AuditError

    path = checked_path(request, "path")
    assert path is not None
    try:
        return web.json_response(await asyncio.to_thread(audit_history, path))
    except AuditError as exc:
        raise not_found(str(exc)) from exc


async def report(request: web.Request) -> web.Response:
    path = checked_path(request, "path")
    assert path is not None
    doc = await asyncio.to_thread(read_report, path)
    if doc is None:
        raise not_found(f"{path} is not a gate report's JSON.")
    behaviors: dict[str, Any] = {}
    for bid, b in (doc.get("behaviors") or {}).items():
        if isinstance(b, dict):
            behaviors[bid] = {k: b.get(k) for k in ("baseline_rate", "candidate_rate",
                                                    "verdict", "change", "severity")}
    sessions = ((doc.get("diagnosis") or {}).get("sessions")) or []
    return web.json_response({
        "path": path, "decision": doc.get("decision"), "reasons": doc.get("reasons") or [],
        "generated_at": doc.get("generated_at"), "behaviors": behaviors,
        "baseline": (doc.get("baseline") or {}).get("path"),
        "candidate": (doc.get("candidate") or {}).get("path"),
        "sessions": [{"session": s.get("session"), "segment": s.get("segment"),
                      "behaviors": s.get("behaviors") or []} for s in sessions
                     if isinstance(s, dict)]})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/library", library)
    app.router.add_get("/api/source", source)
    app.router.add_get("/api/trajectory", trajectory)
    app.router.add_get("/api/compare", compare)
    app.router.add_get("/api/audit", audit)
    app.router.add_get("/api/report", report)
