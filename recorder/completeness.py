"""Is a recording complete? Each cassette's frames checked, and each recording run's ledger
compared with the exchanges actually found in its files.

    >>> report = check_corpus(["recordings/"])          # doctest: +SKIP
    >>> report.ok, [run.message for run in report.runs]

A recording run is every cassette whose header names a recording producer and the same
`meta.run_id` (a run rotates files and starts a new file when a writer is restarted). Only
recordings are held to a ledger: imports, replays and derivations are not proxies and forward
nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from recorder.corpus import resolve
from recorder.ledger import RECORDING_PRODUCERS, Ledger
from recorder.reader import CassetteReader, Problem


@dataclass
class FileCheck:
    """One cassette file: its intact records and the damage found."""

    path: str
    records: int = 0
    exchanges: int = 0
    run_id: str | None = None
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "records": self.records, "exchanges": self.exchanges,
                "run_id": self.run_id, "problems": [p.to_dict() for p in self.problems]}


@dataclass
class RunCheck:
    """One recording run: what its ledger says against what its files hold."""

    run_id: str
    files: list[str]
    found: int
    """Exchanges found in the run's files."""
    ledger: Ledger | None
    ok: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        led = self.ledger
        return {
            "run_id": self.run_id, "files": self.files, "ledger": led is not None,
            "clean": led.clean if led else None,
            "forwarded": led.forwarded if led else None,
            "recorded": led.recorded if led else None, "found": self.found,
            "dropped": dict(led.dropped) if led else {},
            "record_errors": dict(led.record_errors) if led else {},
            "ok": self.ok, "message": self.message,
        }


@dataclass
class CorpusCheck:
    files: list[FileCheck]
    runs: list[RunCheck]

    @property
    def ok(self) -> bool:
        return all(not f.problems for f in self.files) and all(r.ok for r in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "cassettes": [f.to_dict() for f in self.files],
                "runs": [r.to_dict() for r in self.runs]}


def check_file(path: str) -> tuple[FileCheck, list[Ledger], bool]:
    """Read one cassette: (its check, the ledgers in it, whether a recorder wrote it)."""
    reader = CassetteReader(path)
    check = FileCheck(path)
    kinds: Counter[str] = Counter()
    ledgers: list[Ledger] = []
    for _offset, obj in reader.iter_objs():
        kind = obj.get("kind")
        kinds[str(kind)] += 1
        if kind == "ledger":
            try:
                ledgers.append(Ledger.model_validate(obj))
            except ValidationError as exc:
                reader.problems.append(Problem(path, _offset, "invalid",
                                               f"a ledger record is not valid: {exc}"))
    header = reader.header
    check.records = sum(kinds.values())
    check.exchanges = kinds.get("exchange", 0)
    check.problems = list(reader.problems)
    recording = header is not None and header.producer in RECORDING_PRODUCERS
    if header is not None:
        run_id = header.meta.get("run_id")
        check.run_id = run_id if isinstance(run_id, str) else None
    return check, ledgers, recording


def check_corpus(spec: str | list[str]) -> CorpusCheck:
    """Check every cassette, then every recording run against its ledger."""
    checked = [check_file(path) for path in resolve(spec)]
    return CorpusCheck([c for c, _, _ in checked], check_runs(checked))


def check_runs(checked: list[tuple[FileCheck, list[Ledger], bool]]) -> list[RunCheck]:
    """Each recording run among checked files (as `check_file` returns them) against its
    ledger, in the order the runs first appear."""
    runs: dict[str, list[FileCheck]] = {}
    ledgers: dict[str, list[Ledger]] = {}
    for check, found, recording in checked:
        if recording and check.run_id is not None:
            runs.setdefault(check.run_id, []).append(check)
            ledgers.setdefault(check.run_id, []).extend(found)
    return [_run(rid, fs, ledgers[rid]) for rid, fs in runs.items()]


def _run(run_id: str, files: list[FileCheck], ledgers: list[Ledger]) -> RunCheck:
    found = sum(f.exchanges for f in files)
    names = [f.path for f in files]
    clean = [led for led in ledgers if led.clean]
    if not ledgers:
        return RunCheck(run_id, names, found, None, False,
                        f"no ledger: the recorder did not stop cleanly (killed or crashed), so "
                        f"what it forwarded is unknown; {found} exchange(s) found")
    led = (clean or ledgers)[-1]
    if not led.clean:
        return RunCheck(run_id, names, found, led, False,
                        f"the recorder was killed: its writer wrote {led.recorded} exchange(s) "
                        f"before closing on its own; what the proxy forwarded is unknown and "
                        f"queued exchanges were lost; {found} exchange(s) found")
    problems = []
    if led.forwarded is not None and led.forwarded != led.recorded:
        why = _reasons(led)
        problems.append(f"forwarded {led.forwarded}, recorded {led.recorded}"
                        + (f" ({why})" if why else ""))
    if found != led.recorded:
        missing = sorted(set(led.files) - {_name(p) for p in names})
        problems.append(f"the ledger says {led.recorded} exchange(s) were recorded but "
                        f"{found} were found" + (f"; missing files: {', '.join(missing)}"
                                                 if missing else ""))
    if problems:
        return RunCheck(run_id, names, found, led, False, "; ".join(problems))
    return RunCheck(run_id, names, found, led, True,
                    f"forwarded {led.forwarded}, recorded {led.recorded}")


def _reasons(led: Ledger) -> str:
    parts = [f"dropped {n} ({why})" for why, n in sorted(led.dropped.items()) if n]
    parts += [f"lost {n} ({kind})" for kind, n in sorted(led.record_errors.items()) if n]
    return ", ".join(parts)


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


__all__ = ["CorpusCheck", "FileCheck", "RunCheck", "check_corpus", "check_file", "check_runs"]
