"""deploysim/project/cli_defaults.py: the config as the default_map of the real CLI."""

from __future__ import annotations

import typer.main

from deploysim.cli import app
from deploysim.project.cli_defaults import default_map
from deploysim.project.settings import DeploysimConfig


def _config(**replay: object) -> DeploysimConfig:
    return DeploysimConfig.model_validate({
        "corpus": ["prod/"], "baseline": {"model": "a", "base_url": "u"},
        "candidate": {"model": "b", "base_url": "u"}, "replay": replay or {"seeds": [7]},
        "rubric": "r.toml", "policy": "p.toml", "mix": "m.toml", "observed": "obs/",
        "audit": "a.sqlite"})


def test_each_command_gets_the_keys_it_has_options_for() -> None:
    dm = default_map(_config(seeds=[7], profiles=["hostile"], miss="continue"),
                     typer.main.get_command(app), "/x/deploysim.toml")
    assert dm["replay"] == {"seed": 7, "profile": "hostile", "mode": "prefix",
                            "miss": "continue", "concurrency": 16, "samples": 1}
    assert dm["gate"] == {"policy": "p.toml", "mix": "m.toml", "observed": "obs/",
                          "audit": "a.sqlite"}
    assert dm["grade"] == {"rubric": "r.toml"}
    assert dm["predict"] == {"rubric": "r.toml", "mix": "m.toml", "observed": "obs/"}
    assert dm["run"] == {"config": "/x/deploysim.toml"}
    assert dm["review"]["export"] == {"rubric": "r.toml"}
    assert set(dm["audit"]) >= {"verify", "list"}
    assert set(dm["audit"]["verify"].values()) == {"a.sqlite"}
    assert "demo" not in dm  # the demo's --seed is its world's, not a replay seed


def test_a_list_with_several_values_defaults_nothing() -> None:
    dm = default_map(_config(seeds=[1, 2], profiles=["none", "hostile"]),
                     typer.main.get_command(app), "c")
    assert "seed" not in dm["replay"] and "profile" not in dm["replay"]
    assert dm["replay"]["miss"] == "error"
