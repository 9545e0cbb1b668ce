"""`deploysim init`: writes a commented deploysim.toml, never over one without --force; and the
root `--config` every other command takes its defaults from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploysim.cli import run
from deploysim.project.loading import load_config
from runtime.run_manifest import read_manifest


def test_init_writes_a_config_that_loads_as_told(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["init", "--corpus", "prod/", "--baseline-model", "m-today",
                "--candidate-model", "m-next", "--base-url", "https://models.example/v1",
                "--api-key-env", "MODELS_KEY", "--profile", "hostile", "--profile", "none",
                "--seed", "1", "--seed", "2", "--policy", "gate.toml"]) == 0
    assert "deploysim run" in capsys.readouterr().err
    c = load_config(tmp_path / "deploysim.toml").config
    assert c.corpus == [f"{tmp_path}/prod/"] and c.policy == f"{tmp_path}/gate.toml"
    assert (c.baseline.model, c.candidate.model) == ("m-today", "m-next")
    assert c.candidate.base_url == "https://models.example/v1"
    assert c.candidate.api_key_env == "MODELS_KEY"
    assert c.replay.profiles == ["hostile", "none"] and c.replay.seeds == [1, 2]
    assert c.audit == f"{tmp_path}/audit.sqlite"


def test_init_never_overwrites_without_force(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deploysim.toml"
    path.write_text("# mine\n")
    assert run(["init", str(path)]) == 2
    assert "already exists; edit it, or pass --force" in capsys.readouterr().err
    assert path.read_text() == "# mine\n"
    assert run(["init", str(path), "--force"]) == 0
    assert load_config(path).config.baseline.model == "my-deployed-model"


@pytest.mark.parametrize(("args", "message"), [
    (["--api", "grpc"], "baseline.api input should be 'openai-chat'"),
    (["--api-key-env", "sk-live-123"], "NAME of an environment variable"),
    (["--miss", "skip"], "replay.miss input should be 'error' or 'continue'"),
])
def test_init_refuses_options_the_config_cannot_hold(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert run(["init", str(tmp_path / "deploysim.toml"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "deploysim.toml").exists()


def test_init_rewrites_a_broken_config_that_stops_every_other_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEPLOYSIM_CONFIG", raising=False)
    Path("deploysim.toml").write_text("corpus = [\n")
    assert run(["rubric", "show"]) == 2
    assert "deploysim.toml is not valid TOML" in capsys.readouterr().err
    assert run(["init", "--force"]) == 0


# -- every command's defaults from the config -------------------------------------------------

@pytest.fixture
def gate_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    from grader.testing import write_world

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEPLOYSIM_CONFIG", raising=False)
    return write_world(tmp_path)


def test_gate_takes_policy_and_audit_from_the_config_and_flags_win(
        gate_world: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "lenient.toml").write_text('rubric = "default"\n[defaults]\n'
                                           'max_relative_increase = 1000.0\nmin_samples = 1\n'
                                           'inconclusive = "pass"\n')
    assert run(["init", "--policy", "lenient.toml", "--audit", "log.sqlite"]) == 0
    capsys.readouterr()
    args = ["gate", "--baseline", gate_world["baseline"], "--candidate",
            gate_world["candidate"], "--json"]
    assert run(args) == 0  # no --policy: the config's
    doc = json.loads(capsys.readouterr().out)
    assert doc["decision"] == "pass" and doc["audit"]["path"] == f"{tmp_path}/log.sqlite"
    code = run([*args, "--policy", "example", "--audit", str(tmp_path / "other.sqlite")])
    doc = json.loads(capsys.readouterr().out)
    # the flags win: the stricter example policy blocks, into the other log
    assert code == 1 and doc["decision"] == "block"
    assert doc["audit"]["path"] == f"{tmp_path}/other.sqlite"
    # --config none: no defaults, so the gate asks for its policy
    assert run(["--config", "none", "gate", "--baseline", gate_world["baseline"],
                "--candidate", gate_world["candidate"]]) == 2
    assert "--policy" in capsys.readouterr().err


def test_replay_takes_seed_and_profile_from_a_named_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from config_helpers import models, write_test_corpus

    corpus = write_test_corpus(tmp_path)
    config = tmp_path / "elsewhere" / "deploysim.toml"
    assert run(["init", str(config), "--seed", "11", "--profile", "flaky"]) == 0
    with models() as url:
        base = ["replay", corpus, "--model", "sim-deployed", "--base-url", url,
                "--progress", "off", "--json"]
        assert run(["--config", str(config), *base, "--out", str(tmp_path / "a")]) == 0
        assert run(["-c", str(config), *base, "--out", str(tmp_path / "b"), "--seed", "5"]) == 0
    a, b = read_manifest(str(tmp_path / "a")), read_manifest(str(tmp_path / "b"))
    assert (a.seed, a.profile["name"]) == (11, "flaky")
    assert (b.seed, b.profile["name"]) == (5, "flaky")


def test_schema_config_prints_the_files_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["schema", "config"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert set(schema["properties"]) == {"corpus", "baseline", "candidate", "replay", "rubric",
                                         "policy", "mix", "observed", "out", "audit"}
    assert schema["additionalProperties"] is False and set(schema["required"]) == {
        "corpus", "baseline", "candidate"}
    assert "never goes in the file" in json.dumps(schema["$defs"]["Endpoint"])
