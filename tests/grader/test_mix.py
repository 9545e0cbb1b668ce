"""grader.mix: a deployment mix from a TOML file or a production corpus."""

from __future__ import annotations

import pytest

from grader.errors import GateError
from grader.mix import load_mix, mix_from_corpus


def test_mix_from_toml_and_from_corpus(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "mix.toml"
    path.write_text("support = 3\ncoding = 1\n")
    assert load_mix(str(path)) == {"coding": 0.25, "support": 0.75}
    (tmp_path / "m2.toml").write_text("[mix]\na = 0.5\nb = 0.5\n")
    assert load_mix(str(tmp_path / "m2.toml")) == {"a": 0.5, "b": 0.5}
    (tmp_path / "bad.toml").write_text("a = -1\n")
    with pytest.raises(GateError, match="non-negative"):
        load_mix(str(tmp_path / "bad.toml"))
    from recorder.session import ContentPart, Message, Session
    from recorder.writer import CassetteWriter

    def session(i: int, seg: str, turns: int) -> Session:
        msgs = []
        for t in range(turns):
            msgs += [Message(role="user", content=[ContentPart(text=f"q{t}")]),
                     Message(role="assistant", content=[ContentPart(text=f"a{t}")])]
        return Session(id=f"p{i}", messages=msgs, labels={"segment": seg})

    with CassetteWriter(str(tmp_path / "prod" / "a.cassette")) as w:
        w.write(session(1, "support", 3))
        w.write(session(2, "coding", 1))
    mix = mix_from_corpus(str(tmp_path / "prod"))
    assert mix == {"coding": 0.25, "support": 0.75}
    assert load_mix(str(tmp_path / "prod")) == mix
