"""`deploysim serve-stdio` launched by the official `mcp` client as its stdio server."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from proxy.replay.testing import Recorded, recorded_corpus
from recorder.corpus import Corpus
from runtime.run_manifest import read_manifest

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
        # a tool the server never had: no fallback can answer it
        miss = await client.call_tool("snowfall", {"city": "Pariss"})
    assert [t.name for t in tools.tools] == ["get_weather", "forecast", "alert"]
    for key, got in (('get_weather {"city": "Paris"}', paris),
                     ('forecast {"city": "Oslo", "days": 2}', oslo)):
        dumped = got.model_dump(by_alias=True, exclude_none=True, exclude={"meta"})
        assert visible(dumped) == visible(corpus.mcp_results[key])
    assert miss.is_error  # as the `mcp` SDK's server says it, nothing about the replay
    assert miss.content[0].text == "Unknown tool: snowfall"  # type: ignore[union-attr]

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


SERVER_SCRIPT = os.path.join(os.path.dirname(__file__), "mcp_stdio_server.py")


async def test_record_stdio_names_the_server_and_serve_stdio_finds_it(tmp_path, capsys):
    from deploysim.cli import run

    out = str(tmp_path / "rec")
    record = StdioServerParameters(command=DEPLOYSIM, env=dict(os.environ), args=[
        "record-stdio", "--out", out, "--", sys.executable, SERVER_SCRIPT])
    async with Client(record, mode="legacy") as client:
        await client.call_tool("add_note", {"text": "milk"})
    assert {ex.route for ex in Corpus(out).exchanges()} == {"stdio"}  # mcp_stdio_server.py

    # a wrong name is refused with the names the corpus has
    assert await asyncio.to_thread(run, ["serve-stdio", out, "--server", "notes"]) == 2
    message = capsys.readouterr().err
    assert "no MCP server recorded as 'notes'" in message and "in it: stdio)" in message
    # the name works, and so does leaving it out when there is one server
    for args in (["--server", "stdio"], []):
        serve = StdioServerParameters(command=DEPLOYSIM, env=dict(os.environ),
                                      args=["serve-stdio", out, *args])
        async with Client(serve, mode="legacy") as client:
            result = await client.call_tool("add_note", {"text": "milk"})
        assert result.content[0].text == "stored: milk"  # type: ignore[union-attr]


def test_a_server_recorded_without_a_name_answers_to_its_commands_name():
    from proxy.replay.catalog import Catalog, RouteInfo
    from proxy.replay.errors import ServeConfigError
    from proxy.serve_stdio import pick_server, server_names

    catalog = Catalog(routes={None: RouteInfo(None, "mcp", 3, "stdio://uvx mcp-server-time"),
                              "weather": RouteInfo("weather", "mcp", 5, "http://h/mcp"),
                              "llm": RouteInfo("llm", "llm", 5, "http://h")})
    assert server_names(catalog) == {"/": None, "time": None, "weather": "weather"}
    assert pick_server(catalog, "time") is None
    assert pick_server(catalog, "weather") == "weather"
    with pytest.raises(ServeConfigError, match=r"several MCP servers \(/, time, weather\)"):
        pick_server(catalog, None)
