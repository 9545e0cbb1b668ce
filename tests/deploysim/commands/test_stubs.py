"""`deploysim stubs build|show|fidelity|query` and `deploysim profiles list|show|operators`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deploysim.cli import run
from stubs.testing import sample_calls, write_sample_corpus

DEPLOYSIM = str(Path(sys.executable).with_name("deploysim"))
CALLS = sample_calls(sessions=30, seed=2)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_sample_corpus(str(tmp_path_factory.mktemp("cli") / "sample.cassette"), CALLS)


def out_json(capsys: pytest.CaptureFixture[str]) -> object:
    return json.loads(capsys.readouterr().out)


def test_build_show_and_query_a_prebuilt_index(corpus: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    idx = str(tmp_path / "stubs.idx")
    assert run(["stubs", "build", corpus, "--out", idx, "--json"]) == 0
    header = out_json(capsys)
    assert header["calls"] > len(CALLS) and len(header["index_hash"]) == 64  # type: ignore[index]
    assert run(["stubs", "show", idx, "--json"]) == 0
    tools = {t["tool"]: t for t in out_json(capsys)["tools"]}  # type: ignore[index]
    assert {"get_weather", "mcp:docs/search_docs", "http:shop/GET /v1/orders"} <= set(tools)
    assert tools["get_weather"]["response"].startswith("{city: enum(")
    assert run(["stubs", "show", corpus, "mcp:docs/search_docs", "--json"]) == 0
    detail = out_json(capsys)
    assert detail["response_shape"]["properties"]["results"]["type"] == "array"  # type: ignore[index]
    assert run(["stubs", "show", corpus, "get_weather"]) == 0
    text = capsys.readouterr().out
    assert "get_weather" in text and "repeat policy sequence" in text
    c = next(x for x in CALLS if x.name == "get_weather")
    assert run(["stubs", "query", idx, "get_weather", json.dumps(c.arguments),
                "--session", str(c.session_id)]) == 0
    answer = out_json(capsys)
    assert answer["provenance"] == "session" and answer["content"] == c.result.content  # type: ignore[index]
    assert run(["stubs", "query", corpus, "GET /v1/orders", '{"query": {"id": "NOPE"}}',
                "--kind", "http", "--server", "shop", "--profile", "none"]) == 0
    assert out_json(capsys)["provenance"] in ("nearest", "synthetic")  # type: ignore[index]


def test_fidelity_json_interface(corpus: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["stubs", "fidelity", corpus, "--holdout", "0.2", "--json"]) == 0
    report = out_json(capsys)
    assert isinstance(report, dict)
    for part in [report["overall"], *report["tools"].values()]:
        assert {"calls", "exact_rate", "by_layer", "similarity"} <= set(part)
        assert 0 <= part["similarity"] <= 1 and 0 <= part["exact_rate"] <= 1
    assert report["overall"]["calls"] == sum(t["calls"] for t in report["tools"].values())
    assert run(["stubs", "fidelity", corpus]) == 0
    assert "OVERALL" in capsys.readouterr().out


def test_profiles_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(["profiles", "list", "--json"]) == 0
    names = [p["name"] for p in out_json(capsys)]  # type: ignore[union-attr]
    assert names == ["chaos", "degraded", "flaky", "hostile", "none"]
    assert run(["profiles", "show", "hostile", "--json"]) == 0
    spec = out_json(capsys)
    assert spec["rules"][0]["operator"] == "inject" and len(spec["hash"]) == 64  # type: ignore[index]
    assert run(["profiles", "show", "flaky"]) == 0
    assert "rate_limit" in capsys.readouterr().out
    assert run(["profiles", "operators", "--json"]) == 0
    assert len(out_json(capsys)) == 12  # type: ignore[arg-type]


@pytest.mark.parametrize(("argv", "message"), [
    (["stubs", "show", "{corpus}", "get_wether"], "No tool get_wether"),
    (["stubs", "query", "{corpus}", "get_weather", "{bad"], "are not valid JSON"),
    (["stubs", "query", "{corpus}", "get_weather", "{}", "--kind", "grpc"], "--kind"),
    (["stubs", "query", "{corpus}", "get_weather", "{}", "--profile", "{profile}"],
     "rules[0].probability"),
    (["stubs", "fidelity", "{corpus}", "--holdout", "1.5"], "--holdout"),
    (["stubs", "fidelity", "{corpus}", "--fallbacks", "nearest,guess"], "guess"),
    (["stubs", "build", "{missing}", "--out", "{idx}"], "does not exist"),
    (["stubs", "show", "{corpus}", "--stub-config", "{missing}"], "does not exist"),
    (["profiles", "show", "calm"], "no built-in profile named 'calm'"),
])
def test_bad_input_is_one_clear_sentence(corpus: str, tmp_path: Path, argv: list[str],
                                        message: str, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text('[[rules]]\noperator = "error"\nprobability = 2\n')
    subs = {"{corpus}": corpus, "{profile}": str(profile), "{missing}": str(tmp_path / "nope"),
            "{idx}": str(tmp_path / "x.idx")}
    code = run([subs.get(a, a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert err.startswith("deploysim: error: ")


def test_a_changed_corpus_refuses_an_old_index(corpus: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    idx = str(tmp_path / "old.idx")
    assert run(["stubs", "build", corpus, "--out", idx]) == 0
    from stubs.engine import StubEngine

    changed = write_sample_corpus(str(tmp_path / "changed.cassette"), CALLS[:10])
    from stubs.errors import IndexMismatch

    with pytest.raises(IndexMismatch, match=r"rebuild it with `deploysim stubs build"):
        StubEngine.from_corpus(changed, index=idx)


def test_end_to_end_subprocess(corpus: str) -> None:
    done = subprocess.run([DEPLOYSIM, "stubs", "fidelity", corpus, "--json", "--seed", "3"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["seed"] == 3 and report["overall"]["calls"] > 0
    bad = subprocess.run([DEPLOYSIM, "profiles", "show", "nope.toml"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "nope.toml does not exist" in bad.stderr
