"""`deploysim serve-stdio` launched by the official `mcp` client as its stdio server."""

from __future__ import annotations

import json
import os
import sys

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from proxy.replay.testing import Recorded, recorded_corpus
from recorder.corpus import Corpus
from recorder.run import read_manifest

DEPLOYSIM = os.path.join(os.path.dirname(sys.executable), "deploysim")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return recorded_corpus(str(tmp_path_factory.getbasetemp()))


def visible(result: dict) -> dict:
    return {k: result[k] for k in ("content", "structuredContent", "isError") if k in result}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_mcp_stdio_client_gets_recorded_results(corpus: Recorded, tmp_path, mode):
    run_out = str(tmp_path / "run")
    params = StdioServerParameters(
        command=DEPLOYSIM, env=dict(os.environ),
        args=["serve-stdio", corpus.out, "--server", "weather", "--run-out", run_out])
    async with Client(params, mode=mode) as client:  # type: ignore[arg-type]
        tools = await client.list_tools()
        paris = await client.call_tool("get_weather", {"city": "Paris"})
        oslo = await client.call_tool("forecast", {"city": "Oslo", "days": 2})
        miss = await client.call_tool("get_weather", {"city": "Pariss"})
    assert [t.name for t in tools.tools] == ["get_weather", "forecast", "alert"]
    for key, got in (('get_weather {"city": "Paris"}', paris),
                     ('forecast {"city": "Oslo", "days": 2}', oslo)):
        dumped = got.model_dump(by_alias=True, exclude_none=True, exclude={"meta"})
        assert visible(dumped) == visible(corpus.mcp_results[key])
    assert miss.is_error
    assert "differs at $.city" in miss.content[0].text  # type: ignore[union-attr]

    # the session is written as a run when the client closes stdin
    manifest = read_manifest(run_out)
    assert manifest.provenance == {"exact": 2, "miss": 1}
    assert manifest.misses[0]["arguments"] == {"city": "Pariss"}
    results = [m.result for s in Corpus(run_out).sessions() for m in s.messages if m.result]
    assert sorted(r.provenance or "" for r in results) == ["exact", "exact", "miss"]
    exchanges = list(Corpus(run_out).exchanges())
    assert {e.transport for e in exchanges} == {"stdio"}
    assert any(json.loads(e.request.body).get("method") == "tools/call" for e in exchanges)


def test_unknown_server_is_refused(corpus: Recorded, capsys):
    from deploysim.cli import run

    assert run(["serve-stdio", corpus.out, "--server", "nope"]) == 2
    message = capsys.readouterr().err
    assert "no MCP server recorded as 'nope'" in message and "weather" in message
