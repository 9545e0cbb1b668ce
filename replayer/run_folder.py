"""The run folder: trajectory cassettes appended as they finish, a manifest, resumption.

    RUN_DIR/manifest.json                       runtime.run_manifest.RunManifest (+ status, usage)
    RUN_DIR/trajectories-<shard>-<n>.cassette   one per writer; a rerun opens new ones
    RUN_DIR/cache/responses.sqlite              the response cache (unless --cache-dir)

A trajectory is written (and flushed) the moment it finishes, so a killed run keeps every
finished trajectory; a rerun of the same command reads which (session, turn, sample) keys are
present and does only the rest. Damaged files (a record cut by the kill) are repaired first.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from recorder import codec, storage
from recorder.corpus import Corpus
from recorder.errors import CorpusNotFound
from recorder.reader import CassetteReader
from recorder.records import record_from_obj
from recorder.repair import repair
from recorder.session import Session
from recorder.turns import counted_turns
from recorder.writer import SUFFIX, CassetteWriter
from replayer.errors import ReplayConfigError
from replayer.memo import NO_MEMO, Memos
from replayer.prefix import WorkKey
from runtime.run_manifest import MANIFEST, RunManifest, read_manifest, write_manifest

PRODUCER = "deploysim replay"
STEM = "trajectories"



def run_id_of(identity: Mapping[str, Any]) -> str:
    """A stable run id: the hash of the run's identity."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return "run-" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = ""
                ) -> list[tuple[str, Any, Any]]:
    """(dotted field, old value, new value) for every leaf that differs between two run
    identities: `model.base_url`, not `model`, when only the URL changed."""
    out: list[tuple[str, Any, Any]] = []
    for key in list(new) + [k for k in old if k not in new]:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += differences(a, b, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", a, b))
    return out


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def describe_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """'its model.base_url was http://a/v1, now http://b/v1' (at most three fields)."""
    found = differences(old, new)
    if not found:
        return "its configuration differs"
    parts = [f"{field} was {_shown(a)}, now {_shown(b)}" for field, a, b in found[:3]]
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return "its " + "; ".join(parts) + more


RUN_FILES = re.compile(rf"^(?:{re.escape(MANIFEST)}|{STEM}-[^/]+{re.escape(SUFFIX)}"
                       rf"|\.?verdicts-[0-9a-f]{{12}}(?:-\d+\.partial)?{re.escape(SUFFIX)}"
                       rf"|cache/responses\.sqlite(?:-wal|-shm|-journal)?"
                       rf"|batch/(?:ledger\.json(?:\.tmp)?|round-\d+\.jsonl"
                       rf"|answers\.sqlite(?:-wal|-shm|-journal)?))$")
"""What a replay writes into its folder (and `deploysim grade` beside it): the manifest, the
trajectory cassettes, the verdicts of those trajectories, the default response cache, and a
batch replay's ledger, spooled requests and collected answers (`replayer.batch.batch_ledger`)."""


def _relative(run_dir: str, path: str) -> str:
    """`path` below `run_dir`, with / separators (fsspec spells a URL's root its own way)."""
    if storage.is_url(run_dir):
        import fsspec

        root = fsspec.core.url_to_fs(run_dir)[1].rstrip("/")
        return str(fsspec.core.url_to_fs(path)[1])[len(root) + 1:]
    return os.path.relpath(path, run_dir).replace(os.sep, "/")


def reset(run_dir: str) -> int:
    """Empty a run folder for `--overwrite`: remove what a run wrote there and nothing else.

    Refuses (ReplayConfigError, nothing removed) a folder holding any other file, and one
    without a run manifest that is not empty. Returns how many files were removed."""
    if not storage.isdir(run_dir):
        return 0
    files = storage.listdir_files(run_dir)
    if not files:
        return 0
    if not storage.exists(storage.join(run_dir, MANIFEST)):
        raise ReplayConfigError(f"--overwrite: {run_dir} is not a replay run (no {MANIFEST}), "
                                "so nothing in it was removed; give a run folder or a new --out.")
    names = {p: _relative(run_dir, p) for p in files}
    foreign = sorted(n for n in names.values() if not RUN_FILES.match(n))
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                          else "")
        raise ReplayConfigError(f"--overwrite: {run_dir} also holds files a run did not write "
                                f"({shown}), so nothing was removed; move them away or give "
                                "a new --out.")
    # the manifest last: a reset cut short still reads as a (partial) run, never as a folder
    # of stray trajectories
    for path in sorted(files, key=lambda p: names[p] == MANIFEST):
        _remove(path)
    for sub in ("cache", "batch"):
        folder = storage.join(run_dir, sub)
        if not storage.is_url(run_dir) and os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)
    return len(files)


def _cassettes(run_dir: str) -> list[str]:
    if not storage.isdir(run_dir):
        return []
    return [p for p in storage.listdir_files(run_dir)
            if p.rsplit("/", 1)[-1].startswith(STEM) and p.endswith(SUFFIX)]


def prepare(run_dir: str, manifest: RunManifest) -> RunManifest | None:
    """Check RUN_DIR can take this run; repair damaged trajectory files; the earlier manifest.

    Raises ReplayConfigError when RUN_DIR holds a different run (or is not a run folder).
    """
    previous: RunManifest | None = None
    if storage.exists(storage.join(run_dir, MANIFEST)):
        previous = read_manifest(run_dir)
        if previous.run_id != manifest.run_id:
            old = previous.model_dump().get("identity") or {}
            new = manifest.model_dump().get("identity") or {}
            raise ReplayConfigError(
                f"{run_dir} holds another run ({previous.run_id}; "
                f"{describe_differences(old, new)}); give a new --out, the same options to "
                "resume it, or --overwrite to start it afresh.")
    elif storage.isdir(run_dir) and storage.listdir_files(run_dir):
        raise ReplayConfigError(f"{run_dir} is not empty and is not a replay run; give a new "
                                "or empty --out folder.")
    for path in _cassettes(run_dir):
        reader = CassetteReader(path)
        for _ in reader.iter_payloads():
            pass
        if reader.problems:  # a record cut by a crash: keep every intact one, drop the file
            fixed = path[: -len(SUFFIX)] + "-repaired" + SUFFIX
            repair(path, fixed)
            _remove(path)
    storage.makedirs(run_dir)
    return previous


def _remove(path: str) -> None:
    if storage.is_url(path):
        import fsspec

        fs, p = fsspec.core.url_to_fs(path)
        fs.rm(p)
    else:
        os.remove(path)


def _session_objs(run_dir: str) -> Iterator[dict[str, Any]]:
    for path in _cassettes(run_dir):
        for _offset, obj in CassetteReader(path).iter_objs():
            if obj.get("kind") == "session":
                yield obj


def trajectories(run_dir: str) -> Iterator[Session]:
    """Every trajectory of RUN_DIR, typed (unordered: sort by id when order matters)."""
    for obj in _session_objs(run_dir):
        record = record_from_obj(obj)
        assert isinstance(record, Session)
        yield record


@dataclass
class RunTally:
    """Counts over every trajectory in a run folder (generated turns only)."""

    trajectories: int = 0
    turns: int = 0
    tool_calls: int = 0
    errors: int = 0
    max_steps: int = 0
    errors_by_reason: Counter[str] = field(default_factory=Counter)
    provenance: Counter[str] = field(default_factory=Counter)

    def add(self, session: Session) -> None:
        self.trajectories += 1
        for turn in counted_turns(session):
            msgs = turn.messages(session)
            self.turns += 1
            self.tool_calls += len(turn.tool_calls(session))
            failed = [m.error for m in msgs if m.role == "assistant" and m.error]
            if failed:
                self.errors += 1
                self.errors_by_reason[failed[0].split(":", 1)[0]] += 1
            elif msgs and msgs[-1].role == "tool":
                self.max_steps += 1
            for m in msgs:
                if m.role == "tool" and m.origin == "generated" and m.result is not None:
                    self.provenance[m.result.provenance or "unknown"] += 1

    def add_counts(self, *, turns: int, tool_calls: int, errors: list[str], max_steps: int,
                   provenance: Mapping[str, int]) -> None:
        """Add a trajectory from the counts its producer kept (no need to re-split it)."""
        self.trajectories += 1
        self.turns += turns
        self.tool_calls += tool_calls
        self.errors += len(errors)
        self.errors_by_reason.update(errors)
        self.max_steps += max_steps
        self.provenance.update({k or "unknown": v for k, v in provenance.items()})

    def merge(self, other: RunTally) -> None:
        for name in ("trajectories", "turns", "tool_calls", "errors", "max_steps"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors_by_reason.update(other.errors_by_reason)
        self.provenance.update(other.provenance)

    def counts(self) -> dict[str, int]:
        return {"trajectories": self.trajectories, "turns": self.turns,
                "tool_calls": self.tool_calls, "errors": self.errors,
                "max_steps_reached": self.max_steps}


def scan(run_dir: str) -> tuple[set[WorkKey], RunTally]:
    """The (source session, turn, sample) keys already in RUN_DIR, and their counts."""
    keys: set[WorkKey] = set()
    t = RunTally()
    for session in trajectories(run_dir):
        src = session.source
        keys.add((src.source_session or "", src.source_turn, src.sample or 0))
        t.add(session)
    return keys, t


def done_keys(run_dir: str) -> set[WorkKey]:
    """The (source session, turn, sample) keys already in RUN_DIR."""
    return scan(run_dir)[0]


def tally(run_dir: str) -> RunTally:
    """Counts over every trajectory in RUN_DIR."""
    return scan(run_dir)[1]


def _packed(item: BaseModel) -> bytes:
    return codec.pack(item.model_dump())


_SHARED = ("messages", "tools")
"""Session fields whose items (messages, tool definitions) recur across trajectories."""


def record_payload(session: Session, memos: Memos = NO_MEMO) -> bytes:
    """`recorder.codec.encode(recorder.records.record_to_obj(session))`, with each message and
    tool definition packed once per object in `memos` (the recorded prefix and the tools
    repeat across a session's trajectories), the record assembled from codec pieces: the same
    bytes (a test holds them so).
    """
    packed = memos.of(_packed)
    obj = session.model_dump(mode="python", exclude=set(_SHARED))
    fields = Session.model_fields
    parts = [codec.map_header(len(fields))]
    for name in fields:
        parts.append(codec.pack(name))
        if name in _SHARED:
            items: list[BaseModel] = getattr(session, name)
            parts.append(codec.array_header(len(items)))
            parts.extend(packed.many(items))
        else:
            parts.append(codec.pack(obj[name]))
    return b"".join(parts)


class TrajectoryWriter:
    """Appends trajectories to a new cassette in RUN_DIR (never an existing one)."""

    def __init__(self, run_dir: str, shard: str, *, run_id: str) -> None:
        existing = set(_cassettes(run_dir))
        n = 0
        while (path := storage.join(run_dir, f"{STEM}-{shard}-{n:04d}{SUFFIX}")) in existing:
            n += 1
        self.path = path
        self._writer: CassetteWriter | None = None
        self._meta = {"run_id": run_id, "shard": shard}
        self.written = 0
        self.memos = Memos()
        """Each message's packed bytes, for the trajectories this writer writes."""

    def write(self, session: Session) -> None:
        if self._writer is None:  # created lazily: a shard with nothing to do leaves no file
            self._writer = CassetteWriter(self.path, producer=PRODUCER, meta=self._meta)
        self._writer.write_payload(record_payload(session, self.memos))
        self.written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def open_run(run_dir: str) -> tuple[RunManifest, Corpus]:
    """A finished or partial replay run: its manifest and its trajectories as a corpus."""
    if not storage.exists(storage.join(run_dir, MANIFEST)):
        raise CorpusNotFound(f"{run_dir} is not a replay run (no {MANIFEST}); give the --out "
                             "folder of `deploysim replay`.")
    return read_manifest(run_dir), Corpus(run_dir)


__all__ = ["RunTally", "TrajectoryWriter", "describe_differences", "differences", "done_keys",
           "open_run", "prepare", "record_payload", "reset", "run_id_of", "scan", "tally",
           "trajectories", "write_manifest"]
