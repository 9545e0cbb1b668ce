"""`deploysim serve` / `serve-stdio` from the command line: bad input gets one clear sentence
and exit code 2; a real `deploysim serve` process serves an agent, stops on SIGTERM with its
summary, and leaves a run that `deploysim grade` accepts."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator

import httpx2
import pytest
from proxy_helpers import banner_url, start_cli, wait_banner

from deploysim.cli import run
from proxy.replay.testing import Recorded, recorded_corpus, weather_agent, weather_policy
from recorder.corpus import Corpus
from replayer.testing.fake_model import FakeModelServer
from runtime.run_manifest import read_manifest


@pytest.fixture(scope="module", autouse=True)
def _redaction_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the redaction key (and anything else of the config) out of ~/.config."""
    saved = {k: os.environ.get(k) for k in ("DEPLOYSIM_CONFIG_DIR", "DEPLOYSIM_REDACTION_KEY")}
    os.environ["DEPLOYSIM_CONFIG_DIR"] = str(tmp_path_factory.mktemp("serve-config"))
    os.environ["DEPLOYSIM_REDACTION_KEY"] = "serve-cli-tests-key-0123456789"
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, _redaction_key: None) -> Recorded:
    return recorded_corpus(str(tmp_path_factory.getbasetemp()))


@pytest.mark.parametrize(("args", "says"), [
    (["--miss", "sometimes"], "--miss 'sometimes' is not one of error, continue, forward"),
    (["--miss", "simulate"], "The simulate fallback needs a model"),
    (["--route", "crm=sideways"], "use replay, record or forward"),
    (["--route", "ghost=record"], "give --upstream ghost=URL"),
    (["--profile", "no-such-profile"], "no built-in profile named 'no-such-profile'"),
    (["--listen", "localhost:http"], "is not HOST:PORT"),
    (["--tool-simulator", "just-a-model", "--miss", "simulate"], "is not MODEL@URL"),
    (["--redact-rules", "/nonexistent/rules.toml"], "does not exist"),
])
def test_bad_options_get_one_clear_sentence(corpus: Recorded, capsys, args, says):
    assert run(["serve", corpus.out, "--listen", "127.0.0.1:0", *args]) == 2
    message = capsys.readouterr().err
    assert says in message
    assert "Traceback" not in message


def test_bad_corpus_and_busy_run_folder(corpus: Recorded, tmp_path, capsys):
    assert run(["serve", str(tmp_path / "nothing-here")]) == 2
    assert "does not exist" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "old.txt").write_text("an earlier run")
    assert run(["serve", corpus.out, "--listen", "127.0.0.1:0", "--run-out", str(busy)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert run(["serve-stdio", corpus.out, "--server", "weather", "--miss", "forward"]) == 2
    assert "use `deploysim serve` to forward" in capsys.readouterr().err


async def test_serve_process_end_to_end(corpus: Recorded, tmp_path, capsys):
    run_out = str(tmp_path / "run")
    async with FakeModelServer(weather_policy()) as fake:
        proc = start_cli(["serve", corpus.out, "--listen", "127.0.0.1:0", "--run-out", run_out,
                          "--candidate", fake.url, "--profile", "none", "--seed", "3",
                          "--json"])
        try:
            url = banner_url(wait_banner(proc))
            async with httpx2.AsyncClient() as http:
                health = (await http.get(url + "/_deploysim/health")).json()
                crm = await http.get(url + "/crm/customers/C-2")
            messages = await weather_agent(url, session="cli-agent")
        finally:
            proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert {r["name"] for r in health["routes"]} == {None, "weather", "crm"}
    assert crm.json() == json.loads(corpus.http_bodies["GET /customers/C-2"])
    assert messages[-1]["content"].startswith("Report: Sunny in Paris")

    summary = json.loads(stdout)
    assert summary["by_provenance"] == {"exact": 3} and summary["misses"] == 0
    assert summary["llm_calls"] == {"candidate": 3} and summary["trajectories"] == 1

    manifest = read_manifest(run_out)
    assert manifest.kind == "serve" and manifest.seed == 3
    (session,) = [s for s in Corpus(run_out).sessions() if s.source.type == "replay"]
    assert session.id == "cli-agent" and session.source.source_session == "cli-agent"
    # secrets never reach the run: the agent's API key was redacted before writing
    for path in Corpus(run_out).paths:
        with open(path, "rb") as f:
            assert b"sk-test-0123456789abcdefghij" not in f.read()

    # the run is gradeable as it stands
    capsys.readouterr()
    assert run(["grade", run_out, "--json", "--no-write"]) == 0
    graded = json.loads(capsys.readouterr().out)
    # the agent's trajectory is the one counted turn; the lone CRM call is a tool-only session
    assert graded["turns"] == 1 and graded["sessions"] == 2
