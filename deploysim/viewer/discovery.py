"""What the viewer's PATHS hold: corpora, replay runs, gate reports and audit logs.

Each PATH may be one of those itself or a folder holding some of them (searched a few levels
down). Everything is recognised through the project's own readers (`runtime.run_manifest.is_run`,
`recorder.corpus.resolve`, `grader.audit.AuditLog`), never by re-reading the formats here.
`Library.allowed` is the one check every route makes before it opens a path: the viewer
serves nothing outside PATHS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from recorder.errors import UsageError
from recorder.writer import SUFFIX

MAX_DEPTH = 4
"""How far below a PATH folder to look (a folder of runs of releases is 2-3 levels deep)."""
_SKIP_DIRS = {".venv", "venv", "node_modules", "__pycache__", ".git"}
_AUDIT_SUFFIXES = (".db", ".sqlite", ".sqlite3")
MAX_REPORT_BYTES = 64 << 20
"""JSON files larger than this are not read as gate reports (a report is well under it)."""


class ViewerPathError(UsageError):
    """A PATH given to `deploysim view` that does not exist."""


@dataclass(frozen=True)
class Found:
    """One thing found under PATHS."""

    kind: str
    """corpus | run | report | audit"""
    path: str
    """Absolute path (a folder, or a file for reports, audit logs and single cassettes)."""
    info: dict[str, Any] = field(default_factory=dict)
    """A short summary for the index page (model, counts, decision, rows)."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "name": os.path.basename(self.path),
                **self.info}


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@dataclass
class Library:
    """The roots the viewer serves and what was found under them."""

    roots: list[str]
    found: list[Found] = field(default_factory=list)

    def allowed(self, path: str | None) -> str | None:
        """The real absolute path when it lies under a root (and exists), else None."""
        if not path or "\x00" in path or "://" in path:
            return None
        real = os.path.realpath(path)
        if not os.path.exists(real):
            return None
        return real if any(_within(real, r) for r in self.roots) else None

    def of_kind(self, kind: str) -> list[Found]:
        return [f for f in self.found if f.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        groups: dict[str, list[dict[str, Any]]] = {"corpus": [], "run": [], "report": [],
                                                   "audit": []}
        for f in self.found:
            groups[f.kind].append(f.to_dict())
        return {"roots": self.roots, **{k + "s" if k != "corpus" else "corpora": v
                                        for k, v in groups.items()}}


def discover(paths: Iterable[str]) -> Library:
    """Walk PATHS and recognise what they hold; a missing PATH is a usage error."""
    roots: list[str] = []
    for p in paths:
        if not os.path.exists(p):
            raise ViewerPathError(f"{p} does not exist; give folders or files holding corpora, "
                                  "replay runs, gate reports or an audit log.")
        real = os.path.realpath(p)
        if real not in roots:
            roots.append(real)
    lib = Library(roots)
    seen: set[str] = set()
    for root in roots:
        for item in _walk(root):
            if item.path not in seen:
                seen.add(item.path)
                lib.found.append(item)
    lib.found.sort(key=lambda f: (f.kind, f.path))
    return lib


def _walk(root: str) -> Iterator[Found]:
    if os.path.isfile(root):
        item = _file(root)
        if item is None and root.endswith(SUFFIX):
            item = _corpus(root)
        if item is not None:
            yield item
        return
    # (folder, depth, inside a corpus: a corpus reads its sub-folders too, so they are not
    # listed as corpora of their own)
    stack = [(root, 0, False)]
    while stack:
        folder, depth, in_corpus = stack.pop()
        item = _folder(folder, in_corpus)
        if item is not None:
            yield item
            if item.kind == "run":
                continue  # a run's folder holds its trajectories and verdicts, nothing else
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        for e in entries:
            if e.name.startswith(".") or e.name in _SKIP_DIRS:
                continue
            if e.is_dir(follow_symlinks=False) and depth < MAX_DEPTH:
                stack.append((e.path, depth + 1, in_corpus or item is not None))
            elif e.is_file():
                found = _file(e.path)
                if found is not None:
                    yield found


def _folder(path: str, in_corpus: bool) -> Found | None:
    from grader.verdict_store import is_verdicts_file
    from runtime.run_manifest import is_run, read_manifest

    if is_run(path):
        try:
            m = read_manifest(path)
        except Exception:  # a damaged manifest: listed, so the user sees why it won't open
            return Found("run", path, {"error": "unreadable manifest.json"})
        return Found("run", path, {"run_id": m.run_id, "model": m.model.get("name"),
                                   "mode": m.mode, "profile": m.profile.get("name"),
                                   "seed": m.seed, "counts": m.counts,
                                   "corpus_paths": m.corpus_paths})
    if in_corpus:
        return None
    try:  # a corpus folder holds cassettes itself (not only in folders below it)
        direct = any(e.is_file() and e.name.endswith(SUFFIX) and not is_verdicts_file(e.path)
                     for e in os.scandir(path))
    except OSError:
        return None
    return _corpus(path) if direct else None


def _corpus(path: str) -> Found | None:
    from grader.verdict_store import is_verdicts_file
    from recorder.corpus import resolve
    from recorder.errors import CassetteError

    try:
        files = [p for p in resolve(path) if not is_verdicts_file(p)]
    except CassetteError:
        return None
    return Found("corpus", path, {"cassettes": len(files)}) if files else None


def _file(path: str) -> Found | None:
    if path.endswith(_AUDIT_SUFFIXES):
        return _audit(path)
    if path.endswith(".json"):
        return _report(path)
    return None


def _audit(path: str) -> Found | None:
    from grader.audit import AuditLog
    from grader.errors import AuditError

    try:
        with AuditLog(path, create=False) as log:
            rows = log.rows()
    except AuditError:
        return None
    return Found("audit", path, {"rows": len(rows),
                                 "last": rows[-1].decision if rows else None})


def read_report(path: str) -> dict[str, Any] | None:
    """A gate report's JSON (what `deploysim gate --report` writes beside the HTML), or None
    when the file is something else."""
    try:
        if os.path.getsize(path) > MAX_REPORT_BYTES:
            return None
        with open(path, encoding="utf-8") as f:
            if f.read(1) != "{":
                return None
            f.seek(0)
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    if isinstance(doc, dict) and {"decision", "behaviors", "baseline", "candidate"} <= set(doc):
        return doc
    return None


def _report(path: str) -> Found | None:
    doc = read_report(path)
    if doc is None:
        return None
    return Found("report", path, {"decision": doc.get("decision"),
                                  "baseline": (doc.get("baseline") or {}).get("path"),
                                  "candidate": (doc.get("candidate") or {}).get("path")})
