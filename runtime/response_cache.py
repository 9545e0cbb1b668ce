"""A persistent cache of model responses keyed by canonical request hash (SQLite, stdlib).

Used by the replayer (`--no-cache` bypasses it), the stubs' tool simulator and the grader's
LLM judge, so re-running anything that called a model is identical and free.
"""

from __future__ import annotations

import os
import sqlite3
import threading

from recorder.session import Message


class ResponseCache:
    """key -> assistant Message. Thread-safe; safe to share between concurrent tasks.

    >>> cache = ResponseCache(":memory:")
    >>> cache.get("k") is None
    True
    """

    def __init__(self, path: str, *, durable: bool = True) -> None:
        """`durable=False` lets SQLite skip the fsync on every write (WAL with
        `synchronous=NORMAL`): a crash may lose the last answers, never corrupt the cache, and
        a lost answer is only asked again. Replays use it so the event loop never waits on
        the disk."""
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        if not durable:
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value BLOB)")
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Message | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return Message.model_validate_json(row[0])

    def put(self, key: str, message: Message) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?)",
                             (key, message.model_dump_json()))

    def put_many(self, items: list[tuple[str, Message]]) -> None:
        """Write several answers in one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?)",
                                 [(k, m.model_dump_json()) for k, m in items])
            self._db.execute("COMMIT")

    def keys(self) -> set[str]:
        """Every cached key."""
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT key FROM responses")}

    def close(self) -> None:
        with self._lock:
            self._db.close()
