"""`deploysim run`: the whole pipeline from one deploysim.toml, resumable, exit code = gate's.

Driven as a user would: `deploysim init` writes the config, `deploysim run` runs it, against
the demo's scripted models served on loopback and a small recorded corpus."""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from config_helpers import models, write_config, write_test_corpus

from deploysim.cli import run

LENIENT = """rubric = "default"
[defaults]
max_relative_increase = 100.0
min_samples = 1
inconclusive = "pass"
"""


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    capsys.readouterr()  # what came before (`deploysim init`)
    code = run(["run", "--progress", "off", "--json", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def _audit_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("select count(*) from decisions").fetchone()[0])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    corpus = write_test_corpus(tmp_path)
    with models() as url:
        yield tmp_path, corpus, url


def test_run_gates_and_a_second_run_redoes_nothing(
        world: tuple[Path, str, str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder, corpus, url = world
    (folder / "policy.toml").write_text(LENIENT)
    config = write_config(folder, corpus, url, "--policy", "policy.toml")
    monkeypatch.chdir(folder)  # ./deploysim.toml is found without --config

    code, first, err = _run(capsys)
    assert code == 0 and first["decision"] == "pass" and first["exit_code"] == 0
    assert [s["step"] for s in first["steps"]] == [
        "replay-hostile-seed3-baseline", "replay-hostile-seed3-candidate",
        "grade-hostile-seed3-baseline", "grade-hostile-seed3-candidate", "gate-hostile-seed3"]
    assert {s["status"] for s in first["steps"]} == {"done"}
    gate = first["gates"]["hostile-seed3"]
    assert gate["decision"] == "pass" and gate["behaviors"]
    out = config.parent / "out"
    report = out / "gates" / "hostile-seed3" / "report.html"
    assert str(report) in gate["report"] and report.exists()
    assert Path(first["markdown"]).read_text().startswith("## deploysim gate: hostile-seed3")
    assert json.loads((out / "grades" / "hostile-seed3-candidate.json").read_text())["turns"]
    assert "[5/5] gate-hostile-seed3: done in" in err
    assert _audit_rows(out / "audit.sqlite") == 1

    code, second, err = _run(capsys)
    assert code == 0 and second["gates"] == first["gates"]
    assert {s["status"] for s in second["steps"]} == {"done earlier"}
    assert err.count("done earlier") == 5
    assert _audit_rows(out / "audit.sqlite") == 1  # the decision is not logged twice


def test_exit_code_is_the_gates_and_a_new_seed_runs_only_its_own_steps(
        world: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    folder, corpus, url = world
    config = write_config(folder, corpus, url)  # the example policy: too few turns, blocks
    code, first, _ = _run(capsys, "--config", str(config))
    assert code == 1 and first["decision"] == "block"

    text = config.read_text().replace("seeds = [3]", "seeds = [3, 4]")
    config.write_text(text)
    code, second, _ = _run(capsys, "--config", str(config))
    assert code == 1
    status = {s["step"]: s["status"] for s in second["steps"]}
    assert {k for k, v in status.items() if v == "done earlier"} == {
        s["step"] for s in first["steps"]}
    assert {k for k, v in status.items() if v == "done"} == {
        "replay-hostile-seed4-baseline", "replay-hostile-seed4-candidate",
        "grade-hostile-seed4-baseline", "grade-hostile-seed4-candidate", "gate-hostile-seed4"}
    assert set(second["gates"]) == {"hostile-seed3", "hostile-seed4"}


def test_an_interrupted_replay_resumes_with_the_replayers_own_resume(
        world: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    folder, corpus, url = world
    config = write_config(folder, corpus, url)
    _run(capsys, "--config", str(config))
    # as if `run` had been killed after the replay wrote its trajectories, before its record
    (folder / "out" / ".steps" / "replay-hostile-seed3-candidate.json").unlink()
    code, again, _ = _run(capsys, "--config", str(config))
    assert code == 1
    replay = next(s for s in again["steps"] if s["step"] == "replay-hostile-seed3-candidate")
    assert replay["status"] == "done"
    saved = json.loads((folder / "out" / ".steps" /
                        "replay-hostile-seed3-candidate.json").read_text())
    assert saved["result"]["written"] == 0 and saved["result"]["skipped"] == 22


def test_a_changed_policy_regates_without_replaying(
        world: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    folder, corpus, url = world
    config = write_config(folder, corpus, url)
    assert _run(capsys, "--config", str(config))[0] == 1
    (folder / "policy.toml").write_text(LENIENT)
    config.write_text(config.read_text().replace('policy = "example"', 'policy = "policy.toml"'))
    code, doc, _ = _run(capsys, "--config", str(config))
    assert code == 0 and doc["decision"] == "pass"
    assert [s["step"] for s in doc["steps"] if s["status"] == "done"] == ["gate-hostile-seed3"]


def test_without_a_config_run_says_how_to_write_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEPLOYSIM_CONFIG", raising=False)
    assert run(["run"]) == 2
    assert "deploysim init" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["root option", "run option", "environment"])
def test_config_none_runs_nothing_even_with_a_config_in_the_folder(
        how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEPLOYSIM_CONFIG", raising=False)
    assert run(["init"]) == 0 and (tmp_path / "deploysim.toml").is_file()
    capsys.readouterr()
    args = {"root option": ["--config", "none", "run"], "run option": ["run", "--config", "none"],
            "environment": ["run"]}[how]
    if how == "environment":
        monkeypatch.setenv("DEPLOYSIM_CONFIG", "none")
    assert run(args) == 2
    said = capsys.readouterr().err
    assert "asks for no config" in said and "recordings" not in said
    assert len(said.strip().splitlines()) == 1


def test_a_config_error_names_file_line_and_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "deploysim.toml"
    run(["init", str(config)])
    text = config.read_text().replace("concurrency = 16", "concurency = 16")
    config.write_text(text)
    capsys.readouterr()
    assert run(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    line = next(n for n, s in enumerate(text.splitlines(), 1) if s.startswith("concurency"))
    assert f"{config} line {line}: unknown key 'replay.concurency'" in err
    assert "Traceback" not in err


def test_a_rubric_that_contradicts_the_policy_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "deploysim.toml"
    # the shipped rubric less one behavior: a rubric of its own, not the policy's
    shipped = (Path(__file__).parents[3] / "grader" / "default_rubric.toml").read_text()
    (tmp_path / "rubric.toml").write_text(shipped.rsplit("[[behavior]]", 1)[0])
    run(["init", str(config), "--rubric", "rubric.toml"])
    capsys.readouterr()
    assert run(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "is not the rubric the policy example gates with" in err


@pytest.mark.slow
def test_init_and_run_on_the_demo_give_the_demos_decision(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from deploysim.demo.pipeline import run_demo

    demo = run_demo(tmp_path / "demo", sessions=24, seed=7, say=lambda _: None)
    port = _free_port()
    # the commands the demo prints for after it ended, as a user would paste them
    serve, init, again = demo.rerun_commands(port)
    assert serve.endswith(" &") and again == "deploysim run"
    exe = str(Path(sys.executable).with_name("deploysim"))
    server = subprocess.Popen([exe, *shlex.split(serve[:-2])[1:]], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None
        assert re.search(rf"127\.0\.0\.1:{port}/v1", server.stdout.readline())
        monkeypatch.chdir(tmp_path)
        assert run(shlex.split(init)[1:]) == 0
        code, doc, _ = _run(capsys)
        assert code == demo.gate_exit == 1
        assert doc["decision"] == demo.gate["decision"] == "block"
        # the demo's models sample (another draw than the demo's replays), so the rates
        # differ a little; the decision is what must agree
        assert doc["gates"][f"hostile-seed{demo.seed}"]["behaviors"].keys() == \
            demo.gate["behaviors"].keys()
        code, second, _ = _run(capsys)
        assert code == 1 and {s["status"] for s in second["steps"]} == {"done earlier"}
    finally:
        server.terminate()
        server.wait(10)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])



def test_an_observed_corpus_adds_predictions_and_gates_on_them(
        world: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    folder, corpus, url = world
    config = write_config(folder, corpus, url, "--observed", corpus)
    code, doc, _ = _run(capsys, "--config", str(config))
    assert code == 1
    steps = [s["step"] for s in doc["steps"]]
    assert steps.index("predict-hostile-seed3") == steps.index("gate-hostile-seed3") - 1
    predictions = json.loads((folder / "out" / "predictions" / "hostile-seed3.json").read_text())
    assert set(predictions["behaviors"]) == set(doc["gates"]["hostile-seed3"]["behaviors"])


def test_the_ci_actions_step_posts_the_report_and_fails_on_block(
        world: tuple[Path, str, str], tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    action = yaml.safe_load((Path(__file__).parents[3] / "action.yml").read_text())
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "run")
    folder, corpus, url = world
    config = write_config(folder, corpus, url)  # the example policy blocks these runs
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "CONFIG": str(config), "RUNNER_TEMP": str(tmp_path),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
           "GITHUB_OUTPUT": str(tmp_path / "output.txt")}

    def step_run(fail_on_block: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-e", "-c", step["run"]], capture_output=True, text=True,
                              env={**env, "FAIL_ON_BLOCK": fail_on_block}, timeout=120)

    blocked = step_run("true")
    assert blocked.returncode == 1, blocked.stderr
    assert "::error title=deploysim gate::The gate blocked" in blocked.stdout
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## deploysim gate: hostile-seed3: BLOCK")
    outputs = dict(line.split("=", 1) for line in
                   (tmp_path / "output.txt").read_text().splitlines())
    assert outputs["decision"] == "block" and outputs["exit-code"] == "1"
    assert outputs["report"] == str(folder / "out" / "report.md")
    assert step_run("false").returncode == 0  # reported, not failed

    config.write_text("bogus = 1\n" + config.read_text())
    (tmp_path / "summary.md").unlink()
    broken = step_run("true")
    assert broken.returncode == 2 and "line 1: unknown key 'bogus'" in broken.stderr
    assert "failed (exit 2) before a gate decided" in (tmp_path / "summary.md").read_text()
