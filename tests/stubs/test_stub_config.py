"""Stub configuration files: per-tool overrides, and one clear sentence per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from stubs.errors import StubConfigError
from stubs.stub_config import StubConfig


def _write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "stubs.toml"
    p.write_text(text)
    return str(p)


def test_load_and_resolve_per_tool(tmp_path: Path) -> None:
    cfg = StubConfig.load(_write(tmp_path, """
repeat = "cycle"
ignore_paths = ["$..request_id"]
nearest_min_similarity = 0.6
[tools."search*"]
repeat = "first"
ignore_keys = ["^page_token$"]
match_on = ["keys"]
"""))
    search = cfg.for_tool("mcp:docs/search_docs", "search_docs")
    assert search.repeat == "first"
    assert search.match_on == ("keys",)
    assert search.rules.ignore_paths == ("$..request_id",)
    assert search.rules.ignore_keys == ("^_meta$", "^page_token$")
    other = cfg.for_tool("get_weather", "get_weather")
    assert (other.repeat, other.match_on) == ("cycle", ("arguments",))
    assert cfg.nearest_min_similarity == 0.6
    assert StubConfig.from_dict(cfg.spec()) == cfg
    assert cfg.hash() != StubConfig().hash()


@pytest.mark.parametrize(("text", "field"), [
    ('repeat = "sometimes"', "`repeat`"),
    ('match_on = ["argumnts"]', "`match_on`"),
    ('ignore_paths = ["request_id"]', "request_id"),
    ('ignore_values = ["(unclosed"]', "`ignore_values`"),
    ("nearest_min_similarity = 2", "`nearest_min_similarity`"),
    ("colour = 1", "`colour`"),
    ('[tools."x"]\nrepat = "cycle"', "`tools.'x'.repat`"),
    ("float_digits = 40", "`float_digits`"),
    ("repeat = ", "not valid TOML"),
])
def test_bad_config_names_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(StubConfigError) as exc:
        StubConfig.load(path)
    message = str(exc.value)
    assert field in message
    assert "stub config" in message or path in message
    assert message.count(". ") == 0 or message.endswith(".")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StubConfigError, match="does not exist"):
        StubConfig.load(str(tmp_path / "nope.toml"))
