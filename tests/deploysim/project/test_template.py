"""deploysim/project/template.py: the file `deploysim init` writes loads as what it was told."""

from __future__ import annotations

import tomllib
from pathlib import Path

from deploysim.project.loading import parse_config
from deploysim.project.template import InitValues, render_template


def test_every_value_given_is_in_the_file_and_it_validates() -> None:
    v = InitValues(corpus=["a/", "b/*.cassette"], baseline_model="m1",
                   baseline_base_url="https://api.example/v1", baseline_api_key_env="KEY",
                   candidate_model="m2", candidate_base_url="https://other.example",
                   candidate_api="anthropic", profiles=["hostile", "none"], seeds=[1, 2],
                   miss="continue", concurrency=4, rubric="rubric.toml", policy="p.toml",
                   mix="mix.toml", observed="prod/", out="o", audit=None)
    c = parse_config(render_template(v), Path("deploysim.toml"))
    assert c.corpus == ["a/", "b/*.cassette"]
    assert (c.baseline.model, c.baseline.base_url, c.baseline.api_key_env) == (
        "m1", "https://api.example/v1", "KEY")
    # the candidate inherits what it was not given (the key's variable) from the baseline
    assert (c.candidate.model, c.candidate.base_url, c.candidate.api,
            c.candidate.api_key_env) == ("m2", "https://other.example", "anthropic", "KEY")
    assert c.replay.profiles == ["hostile", "none"] and c.replay.seeds == [1, 2]
    assert c.replay.miss == "continue" and c.replay.concurrency == 4
    assert (c.rubric, c.policy, c.mix, c.observed, c.out, c.audit) == (
        "rubric.toml", "p.toml", "mix.toml", "prod/", "o", None)


def test_optional_keys_not_given_are_written_commented_out() -> None:
    text = render_template(InitValues(audit=None))
    for key in ("rubric", "mix", "observed", "audit", "api_key_env"):
        assert f"\n# {key} = " in text
        assert key not in tomllib.loads(text) and key not in tomllib.loads(text)["baseline"]
    assert all(len(line) <= 100 for line in text.splitlines())
