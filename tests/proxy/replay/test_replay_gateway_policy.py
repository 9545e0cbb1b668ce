"""`deploysim serve` shares replay's miss policy (`--fallbacks`, `--miss`), answers a miss in
the tool's own error shape, takes `--candidate` with or without `/v1`, and counts and warns
about failing model calls."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from mcp import Client
from openai import AsyncOpenAI, NotFoundError

from deploysim.cli import run
from proxy.replay.diagnostics import format_summary
from proxy.replay.errors import ServeConfigError
from proxy.replay.llm_handler import candidate_path
from proxy.replay.replay_gateway import ReplayServer, ServeConfig
from proxy.replay.testing import Recorded, recorded_corpus
from replayer.testing.fake_model import FakeModelServer
from replayer.testing.script import ScriptedReply


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return recorded_corpus(str(tmp_path_factory.getbasetemp()))


def config(rec: Recorded, **kw: Any) -> ServeConfig:
    return ServeConfig(corpus=[rec.out], listen=("127.0.0.1", 0), isolation="thread", **kw)


async def test_a_miss_is_the_tools_own_error_counted_and_named(corpus: Recorded):
    async with await ReplayServer.load(config(corpus, fallbacks=())) as server:
        async with Client(server.url + "/weather") as client:
            missed = await client.call_tool("get_weather", {"city": "Lisbon"})
        async with httpx2.AsyncClient(base_url=server.url + "/crm") as http:
            gone = await http.get("/customers/C-404")
        result = server.result()
    assert missed.is_error
    text = missed.content[0].text  # type: ignore[union-attr]
    assert "deploysim" not in text.lower() and "record" not in text.lower()
    assert gone.status_code == 404 and gone.json() == {"error": "Not Found"}
    assert result["miss_policy"] == "error" and result["answers"]["missed"] == 2
    named = {(m["tool"], m["call_index"]) for m in result["missed_calls"]}
    assert named == {("mcp:weather/get_weather", 0), ("http:crm/GET /customers/C-404", 0)}
    lines = format_summary(result)
    assert "  answers: exact 0, fallback 0, missed 2" in lines
    assert any("http:crm/GET /customers/C-404 " in line for line in lines)
    assert "fallbacks none, miss error" in server.banner()


async def test_default_fallbacks_are_replays_and_the_summary_says_so(corpus: Recorded):
    async with await ReplayServer.load(config(corpus)) as server:
        assert "fallbacks nearest,synthesize, miss error" in server.banner()
        async with httpx2.AsyncClient(base_url=server.url + "/crm") as http:
            await http.get("/customers/C-1")
            fresh = await http.post("/refunds", json={"order": "O-1", "amount": 13})
        result = server.result()
    mix = result["answers"]
    assert mix["exact"] == 1 and mix["calls"] == 2
    if not mix["missed"]:  # a fallback answered: half the calls, over the threshold
        assert fresh.status_code == 200
        assert any("fallbacks answered 1 of 2" in w for w in result["warnings"])


def test_older_miss_spellings_still_work_and_conflicts_are_refused(corpus: Recorded):
    from proxy.replay.serve_config import miss_policy

    assert miss_policy("synthesize", None) == (("nearest", "synthesize"), "error")
    assert miss_policy("forward", None) == ((), "forward")  # the live tool, not a stand-in
    assert miss_policy("continue", ("nearest",)) == (("nearest",), "continue")
    with pytest.raises(ServeConfigError, match="older spelling of --fallbacks"):
        miss_policy("synthesize", ())
    with pytest.raises(ServeConfigError, match="--miss 'ignore'"):
        miss_policy("ignore", None)


def test_serve_options_are_one_sentence_exit_2(corpus: Recorded, capsys):
    assert run(["serve", corpus.out, "--fallbacks", "closest"]) == 2
    assert "'closest', which is not a fallback" in capsys.readouterr().err
    assert run(["serve", corpus.out, "--miss", "synthesize", "--fallbacks", "none"]) == 2
    assert "older spelling" in capsys.readouterr().err
    assert run(["serve", corpus.out, "--fallbacks", "simulate"]) == 2
    assert "--tool-simulator" in capsys.readouterr().err
    assert run(["serve", corpus.out, "--candidate", "http://h:1/v1/chat/completions"]) == 2
    err = capsys.readouterr().err
    assert "names an endpoint, not a base URL" in err and err.count("\n") == 1


def test_candidate_paths_join_without_repeating_the_base():
    assert candidate_path("/v1", "/v1/chat/completions") == "/chat/completions"
    assert candidate_path("", "/v1/chat/completions") == "/v1/chat/completions"
    assert candidate_path("/v1", "/chat/completions") == "/chat/completions"
    assert candidate_path("/openai/v1", "/v1/responses?x=1") == "/responses?x=1"
    assert candidate_path("/v2", "/v1/models") == "/v1/models"


@pytest.mark.parametrize("form", ["root", "v1"])
async def test_candidate_base_url_with_or_without_v1(corpus: Recorded, form: str):
    async with FakeModelServer(lambda request: ScriptedReply(text="hello")) as fake:
        url = fake.url if form == "root" else fake.openai_url
        async with await ReplayServer.load(config(corpus, candidates=[url])) as server:
            client = AsyncOpenAI(base_url=server.url + "/v1", api_key="sk-test", max_retries=0)
            reply = await client.chat.completions.create(
                model="sim", messages=[{"role": "user", "content": "hi"}])
            await client.close()
            result = server.result()
    assert reply.choices[0].message.content == "hello"
    assert result["llm_calls"] == {"candidate": 1} and not result["warnings"]


async def test_failing_candidate_calls_are_counted_and_warned(corpus: Recorded):
    async with FakeModelServer(lambda request: ScriptedReply(text="hello")) as fake:
        wrong = fake.url + "/v2"  # a base URL the model server does not serve
        async with await ReplayServer.load(config(corpus, candidates=[wrong])) as server:
            client = AsyncOpenAI(base_url=server.url + "/v1", api_key="sk-test", max_retries=0)
            for _ in range(2):
                with pytest.raises(NotFoundError):
                    await client.chat.completions.create(
                        model="sim", messages=[{"role": "user", "content": "hi"}])
            await client.close()
            result = server.result()
    assert result["llm_calls"] == {"candidate_failed": 2}
    assert result["llm_failures"] == {"404": 2}
    assert any("2 of 2 model call(s) to the candidate failed (HTTP 404 x2)" in w
               for w in result["warnings"])
    assert any("warning: 2 of 2 model call(s)" in line for line in format_summary(result))
