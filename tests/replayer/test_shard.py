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


def test_shard_sessions_is_sessions_of_restricted_to_the_ids(tmp_path):
    from recorder.corpus import Corpus
    from recorder.session import Session
    from replayer.shard import sessions_of, shard_sessions
    from replayer.testing.synthetic_sessions import support_corpus, write_corpus

    sessions = support_corpus([3, 1, 4, 1, 5])
    tool_only = sessions[1].model_copy(update={"id": "tools", "source": sessions[1].source
                                               .model_copy(update={"type": "tool_only"})})
    dup = sessions[2]  # the same id twice: both kept, in order, as sessions_of does
    path = write_corpus(str(tmp_path / "c" / "rec.cassette"), [*sessions, tool_only, dup])
    corpus = Corpus(path)
    every: list[Session] = list(sessions_of(corpus))
    ids = [s.id for s in sessions] + ["tools", "absent"]
    for pick in ([], ids, ids[::2], ids[1::2], ids[-3:]):
        want = [s for s in every if s.id in set(pick)]
        got = list(shard_sessions(corpus, set(pick)))
        assert [s.model_dump() for s in got] == [s.model_dump() for s in want]
    assert "tools" not in {s.id for s in shard_sessions(corpus, set(ids))}
