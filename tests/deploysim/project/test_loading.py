"""deploysim/project/loading.py: which file is read, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploysim.project.loading import ConfigError, find_config, key_line, load_config
from deploysim.project.template import InitValues, render_template


def _write(folder: Path, text: str | None = None) -> Path:
    path = folder / "deploysim.toml"
    path.write_text(text if text is not None else render_template(InitValues()))
    return path


def test_the_option_wins_over_the_environment_which_wins_over_the_working_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here, env, given = (tmp_path / d for d in ("here", "env", "given"))
    for d in (here, env, given):
        d.mkdir()
        _write(d)
    monkeypatch.delenv("DEPLOYSIM_CONFIG", raising=False)
    assert find_config(cwd=here) == here / "deploysim.toml"
    assert find_config(cwd=tmp_path) is None  # no file: most commands need none
    monkeypatch.setenv("DEPLOYSIM_CONFIG", str(env / "deploysim.toml"))
    assert find_config(cwd=here) == env / "deploysim.toml"
    assert find_config(str(given / "deploysim.toml"), cwd=here) == given / "deploysim.toml"
    monkeypatch.setenv("DEPLOYSIM_CONFIG", "none")
    assert find_config(cwd=here) is None
    assert find_config("none", cwd=here) is None


def test_a_named_file_that_does_not_exist_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"--config .*nope.toml is not a file"):
        find_config(str(tmp_path / "nope.toml"))
    monkeypatch.setenv("DEPLOYSIM_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match=r"DEPLOYSIM_CONFIG .*gone\.toml is not a file"):
        find_config(cwd=tmp_path)


def test_loading_resolves_paths_against_the_files_folder(tmp_path: Path) -> None:
    loaded = load_config(_write(tmp_path))
    assert loaded.config.corpus == [f"{tmp_path}/recordings/"]
    assert loaded.config.out == f"{tmp_path}/deploysim-out"
    assert loaded.config.policy == "example"


def test_an_unknown_key_in_a_table_names_its_line(tmp_path: Path) -> None:
    text = render_template(InitValues()).replace("\nmodel = ", "\nmodle = ", 1)
    path = _write(tmp_path, text)
    line = text.splitlines().index(next(s for s in text.splitlines() if s.startswith("modle")))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path} line {line + 1}: unknown key 'baseline.modle'")


def test_a_missing_key_and_a_bad_value_say_what_to_do(tmp_path: Path) -> None:
    path = _write(tmp_path, 'corpus = ["x/"]\n[baseline]\nmodel = "a"\nbase_url = "u"\n')
    with pytest.raises(ConfigError, match="'candidate' is missing; add it"):
        load_config(path)
    text = render_template(InitValues()).replace("concurrency = 16", "concurrency = 0")
    with pytest.raises(ConfigError, match=r"line \d+: replay.concurrency input should be "
                                          "greater than or equal to 1"):
        load_config(_write(tmp_path, text))


def test_invalid_toml_is_one_sentence_with_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is not valid TOML \(.*line 2"):
        load_config(_write(tmp_path, 'corpus = ["x"]\nout = \n'))


def test_key_line_finds_keys_tables_and_gives_up_on_inline_tables() -> None:
    text = 'a = 1\n[replay]\nseeds = [1]\n\n[baseline]\nmodel = "x"\n'
    assert key_line(text, ["a"]) == 1
    assert key_line(text, ["replay", "seeds"]) == 3
    assert key_line(text, ["replay", "missing"]) == 2  # the table it belongs in
    assert key_line(text, ["baseline"]) == 5
    assert key_line('baseline = { model = "x" }\n', ["baseline", "model"]) is None
