"""deploysim/project/settings.py: the deploysim.toml model and its path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from deploysim.project.settings import DeploysimConfig


def _config(**kw: object) -> DeploysimConfig:
    doc: dict[str, object] = {"corpus": "prod/",
                              "baseline": {"model": "a", "base_url": "http://x/v1"},
                              "candidate": {"model": "b", "base_url": "http://x/v1"}}
    doc.update(kw)
    return DeploysimConfig.model_validate(doc)


def test_defaults_and_a_single_corpus_string() -> None:
    c = _config()
    assert c.corpus == ["prod/"]
    assert c.replay.profiles == ["none"] and c.replay.seeds == [0]
    assert c.replay.miss == "error" and c.policy == "example" and c.rubric is None
    assert c.out == "deploysim-out" and c.audit is None and c.observed is None


def test_paths_resolve_against_the_files_folder_names_and_urls_do_not(tmp_path: Path) -> None:
    (tmp_path / "rubrics").mkdir()
    c = _config(corpus=["prod/", "s3://bucket/corpus/", "/abs/x.cassette", "more/*.cassette"],
                rubric="default", policy="gate/policy.toml", mix="mix.toml",
                observed="prod", out="out", audit="audit.sqlite").resolved(str(tmp_path))
    assert c.corpus == [f"{tmp_path}/prod/", "s3://bucket/corpus/", "/abs/x.cassette",
                        f"{tmp_path}/more/*.cassette"]
    assert c.rubric == "default" and c.policy == f"{tmp_path}/gate/policy.toml"
    assert c.mix == f"{tmp_path}/mix.toml" and c.observed == f"{tmp_path}/prod"
    assert c.out == f"{tmp_path}/out" and c.audit == f"{tmp_path}/audit.sqlite"
    # a bare word that names something beside the file is that file, not a shipped name
    assert _config(rubric="rubrics").resolved(str(tmp_path)).rubric == f"{tmp_path}/rubrics"


def test_an_api_key_is_refused_where_its_variables_name_belongs() -> None:
    with pytest.raises(ValidationError, match="NAME of an environment variable"):
        _config(baseline={"model": "a", "base_url": "http://x/v1",
                          "api_key_env": "sk-proj-abc123"})
    assert _config(baseline={"model": "a", "base_url": "http://x/v1",
                             "api_key_env": "MY_KEY"}).baseline.api_key_env == "MY_KEY"


@pytest.mark.parametrize("replay", [{"seeds": [1, 1]}, {"profiles": []}, {"miss": "ignore"},
                                    {"concurrency": 0}, {"mode": "replay"}])
def test_bad_replay_settings_are_refused(replay: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _config(replay=replay)


def test_unknown_keys_are_refused_at_every_level() -> None:
    for bad in ({"outs": "x"}, {"replay": {"seed": 1}},
                {"candidate": {"model": "b", "base_url": "u", "key": "k"}}):
        with pytest.raises(ValidationError, match="Extra inputs"):
            _config(**bad)
