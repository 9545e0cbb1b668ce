"""A shard's batched progress (`replayer.shard.BatchedProgress`)."""

from __future__ import annotations

from types import SimpleNamespace

from replayer.clients.accounting import Accounting
from replayer.shard import BatchedProgress


def test_batched_progress_sends_counts_since_the_last_batch() -> None:
    sent: list[tuple[int, int, int]] = []
    acc = Accounting()
    lazy = BatchedProgress(lambda n, errors, a: sent.append((n, errors, a.tokens)), 3600)
    for errors in ([], ["x"], ["y", "z"]):
        lazy(SimpleNamespace(errors=errors), acc)  # type: ignore[arg-type]
    assert sent == []  # not due yet
    acc.input_tokens = 7
    lazy.flush(acc)
    assert sent == [(3, 3, 7)]
    eager = BatchedProgress(lambda n, errors, a: sent.append((n, errors, a.tokens)), 0)
    eager(SimpleNamespace(errors=["e"]), acc)  # type: ignore[arg-type]
    eager(SimpleNamespace(errors=[]), acc)  # type: ignore[arg-type]
    assert sent[1:] == [(1, 1, 7), (1, 0, 7)]
