"""A corpus: a set of cassettes (folder, glob, list, fsspec URL) read as one stream."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from recorder import storage
from recorder.annotation import Annotation
from recorder.corpus_marker import MARKER_NAME
from recorder.errors import CorpusNotFound
from recorder.exchange import Exchange
from recorder.reader import CassetteReader, Problem
from recorder.records import Record
from recorder.session import Session
from recorder.writer import SUFFIX

_GLOB_CHARS = set("*?[")


def resolve(spec: str | Iterable[str]) -> list[str]:
    """The cassette files a corpus spec names, sorted; raises CorpusNotFound if none."""
    specs = [spec] if isinstance(spec, str) else list(spec)
    paths: list[str] = []
    for s in specs:
        if _GLOB_CHARS & set(s):
            found = [p for p in storage.glob(s) if not storage.isdir(p)
                     and p.rsplit("/", 1)[-1] != MARKER_NAME]  # fsspec globs match dotfiles
            if not found:
                raise CorpusNotFound(f"The pattern {s} matches no file; check the pattern.")
            paths.extend(found)
        elif not storage.exists(s):
            raise CorpusNotFound(f"{s} does not exist; give a cassette file, a folder of "
                                 "cassettes, a glob, or an fsspec URL.")
        elif storage.isdir(s):
            found = [p for p in storage.listdir_files(s) if p.endswith(SUFFIX)]
            if not found:
                raise CorpusNotFound(f"The folder {s} holds no {SUFFIX} files; record or import "
                                     "some first (see `deploysim record --help`).")
            paths.extend(found)
        else:
            paths.append(s)
    return list(dict.fromkeys(paths))  # de-duplicated, order kept


class Corpus:
    """Cassettes read as one stream of records, damage collected in `problems`.

    >>> corpus = Corpus("recordings/")               # doctest: +SKIP
    >>> for session in corpus.sessions(): ...
    """

    def __init__(self, spec: str | Iterable[str]) -> None:
        self.paths = resolve(spec)
        self.problems: list[Problem] = []
        self.readers: dict[str, CassetteReader] = {}

    def _readers(self) -> Iterator[CassetteReader]:
        self.problems = []
        for path in self.paths:
            reader = CassetteReader(path)
            self.readers[path] = reader
            yield reader
            self.problems.extend(reader.problems)

    def records(self, kinds: Iterable[str] | None = None) -> Iterator[Record]:
        """Every intact record of every cassette (optionally only some kinds), in file order.

        Filtering happens on the plain form, so skipped kinds are never validated."""
        wanted = frozenset(kinds) if kinds is not None else None
        for reader in self._readers():
            yield from (
                r for offset, obj in reader.iter_objs()
                if (wanted is None or obj.get("kind") in wanted)
                and (r := reader.typed(offset, obj)) is not None)

    def objs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every intact record in plain form with its file path (fast scans)."""
        for reader in self._readers():
            yield from ((reader.path, obj) for _offset, obj in reader.iter_objs())

    def exchanges(self) -> Iterator[Exchange]:
        return self.records(("exchange",))  # type: ignore[return-value]

    def sessions(self) -> Iterator[Session]:
        return self.records(("session",))  # type: ignore[return-value]

    def annotations(self) -> Iterator[Annotation]:
        return self.records(("annotation",))  # type: ignore[return-value]

    def content_hash(self) -> str:
        """sha256 over the cassettes' bytes in order: identifies this exact corpus version."""
        h = hashlib.sha256()
        for path in self.paths:
            with storage.open_binary(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        return h.hexdigest()
