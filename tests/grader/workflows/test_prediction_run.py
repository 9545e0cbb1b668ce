"""`run_prediction`: predictions from the library are `deploysim predict --json`'s, and the
option checks refuse before anything is read."""

from __future__ import annotations

import json

import pytest

from deploysim.cli import run
from grader.workflows import run_prediction
from recorder.errors import UsageError


def test_the_outcome_is_the_commands_json(world: dict[str, str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_prediction(world["baseline"], world["candidate"], world["corpus"],
                             replicates=300, seed=3)
    assert run(["predict", "--baseline", world["baseline"], "--candidate", world["candidate"],
                "--observed", world["corpus"], "--replicates", "300", "--seed", "3",
                "--json"]) == 0
    doc = outcome.to_dict()
    assert doc == json.loads(capsys.readouterr().out)
    assert (doc["baseline"], doc["observed"]) == (world["baseline"], world["corpus"])
    shell = outcome.result.behaviors["destructive-shell"]
    assert shell.candidate.rate > shell.baseline.rate


@pytest.mark.parametrize(("kw", "says"), [({"confidence": 1.5}, "--confidence 1.5"),
                                           ({"replicates": 10}, "--replicates 10")])
def test_bad_settings_are_refused(kw: dict[str, float], says: str) -> None:
    with pytest.raises(UsageError, match=says):
        run_prediction("no/such/run", "no/such/run", "no/such/corpus", **kw)  # type: ignore[arg-type]
