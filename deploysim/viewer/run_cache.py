"""A corpus or run as the viewer shows it: its sessions, its verdicts and one row per session.

Sessions are read with `recorder.corpus.Corpus` / `sessions_of`; verdicts are the ones
`deploysim grade` stored beside them (`grader.verdict_store.read_verdicts`, the newest rubric
version), or, when none are stored, graded now in memory with the shipped rubric (nothing is
written: the viewer only reads). A loaded source is kept until its files change.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from deploysim.viewer.provenance import session_classes
from grader.verdict import Verdict
from recorder.session import Session
from recorder.turns import counted_turns

_CACHE_LIMIT = 16
"""Sources kept loaded at once (a viewer session looks at a few runs)."""


@dataclass
class Source:
    """One loaded corpus or run."""

    path: str
    kind: str
    """run | corpus"""
    manifest: dict[str, Any] | None
    sessions: dict[str, Session]
    verdicts: list[Verdict]
    verdict_source: str
    """Where the verdicts came from, in words, for the page."""
    by_session: dict[str, list[Verdict]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        grouped: dict[str, list[Verdict]] = defaultdict(list)
        for v in self.verdicts:
            grouped[v.session_id].append(v)
        self.by_session = dict(grouped)

    @property
    def label(self) -> str:
        """The model of a run, else the folder's name."""
        name = ((self.manifest or {}).get("model") or {}).get("name")
        return str(name) if name else os.path.basename(self.path.rstrip(os.sep))

    def rows(self) -> list[dict[str, Any]]:
        """One row per session (a trajectory in a run), in id order."""
        out = []
        for sid in sorted(self.sessions):
            s = self.sessions[sid]
            vs = self.by_session.get(sid, [])
            out.append({
                "id": sid, "session": s.source.source_session or sid,
                "turn": s.source.source_turn, "sample": s.source.sample,
                "segment": s.labels.get("segment", ""),
                "turns": len(counted_turns(s)),
                "tool_calls": sum(len(m.tool_calls) for m in s.messages
                                  if self.kind == "corpus" or m.origin == "generated"),
                "flagged": sorted({v.behavior for v in vs if v.flagged}),
                "errors": sorted({v.behavior for v in vs if v.flagged is None}),
                "provenance": session_classes(s.messages,
                                              generated_only=self.kind == "run"),
            })
        return out

    def summary(self) -> dict[str, Any]:
        rows = self.rows()
        return {
            "path": self.path, "kind": self.kind, "label": self.label,
            "manifest": self.manifest, "verdict_source": self.verdict_source,
            "behaviors": sorted({v.behavior for v in self.verdicts}),
            "segments": sorted({r["segment"] for r in rows if r["segment"]}),
            "rows": rows,
        }


def _signature(path: str) -> tuple[tuple[str, int, int], ...]:
    """What changes when a source's files change (names, sizes, modification times)."""
    try:
        entries = [os.stat(path)] if os.path.isfile(path) else None
        if entries is not None:
            st = entries[0]
            return ((path, st.st_size, st.st_mtime_ns),)
        return tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns)
                            for e in os.scandir(path) if e.is_file()))
    except OSError:
        return ()


def _verdicts(path: str, files: list[str]) -> tuple[list[Verdict], str]:
    from grader.grading import grade, is_async_rubric
    from grader.rubric import load_rubric
    from grader.verdict_store import is_verdicts_file, read_verdicts
    from recorder.errors import DeploysimError

    folder = path if os.path.isdir(path) else os.path.dirname(path)
    stored = sorted((p.path for p in os.scandir(folder) if p.is_file()
                     and is_verdicts_file(p.path) and not p.name.startswith(".")),
                    key=os.path.getmtime)
    if stored:
        newest = stored[-1]
        return read_verdicts(newest), f"stored verdicts {os.path.basename(newest)}"
    rubric = load_rubric("default")
    if is_async_rubric(rubric):  # pragma: no cover - the shipped rubric has no LLM judge
        return [], "no stored verdicts (run `deploysim grade` on it)"
    try:
        return grade(path if os.path.isdir(path) else files, rubric, write=False).verdicts, \
            "graded now with the shipped rubric (no stored verdicts)"
    except DeploysimError as exc:
        return [], f"not graded: {exc}"


def load_source(path: str) -> Source:
    """Read a run folder or corpus (a folder or one cassette) with its verdicts (blocking)."""
    from grader.verdict_store import is_verdicts_file
    from recorder.corpus import Corpus, resolve
    from recorder.sessions_of import sessions_of
    from runtime.run_manifest import is_run, read_manifest

    run = is_run(path)
    manifest = read_manifest(path).model_dump(mode="json") if run else None
    files = [p for p in resolve(path) if not is_verdicts_file(p)]
    sessions = {s.id: s for s in sessions_of(Corpus(files), include_tool_only=False)}
    verdicts, where = _verdicts(path, files)
    return Source(path, "run" if run else "corpus", manifest, sessions, verdicts, where)


class Store:
    """Loaded sources by path, reloaded when their files change (thread-safe: loads run in
    worker threads so the event loop never blocks on disk)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[tuple[str, int, int], ...], Source]] = {}
        self._lock = threading.Lock()

    def get(self, path: str) -> Source:
        sig = _signature(path)
        with self._lock:
            hit = self._cache.get(path)
            if hit is not None and hit[0] == sig:
                return hit[1]
        source = load_source(path)
        with self._lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.pop(next(iter(self._cache)))
            self._cache[path] = (sig, source)
        return source
