"""Real third-party MCP servers, recorded and replayed whole with the official `mcp` client.

mcp-server-time (PyPI, stdio) and @modelcontextprotocol/server-everything and
server-filesystem (npm, stdio; everything also over streamable HTTP) are recorded through the
recording gateway and `deploysim record-stdio`, then replayed through `deploysim serve` and
`serve-stdio` in both protocol generations: every method the client used (tool, resource,
template and prompt lists, reads, prompts, completions, tool calls, errors) must answer as the
real server did. `.ci/run` installs the servers; a test is skipped only when its server is not
installed (the registry was unreachable).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import PromptReference
from proxy_helpers import DEPLOYSIM, PYTHON, ROOT

from proxy.replay.replay_gateway import ReplayServer, ServeConfig
from recorder.corpus import Corpus

pytestmark = pytest.mark.slow

NODE_BIN = os.path.join(ROOT, ".ci", "mcp-servers", "node_modules", ".bin")
MODES = ("legacy", "auto")

Outcome = dict[str, Any]
"""`what was asked` → the result as the client dumps it, or `{"error": ...}`."""


def npm_server(name: str) -> str:
    path = os.path.join(NODE_BIN, name)
    if not os.path.exists(path):
        pytest.skip(f"{name} is not installed (.ci/run installs it from npm into "
                    ".ci/mcp-servers); the npm registry was not reachable")
    return path


def time_server() -> list[str]:
    if importlib.util.find_spec("mcp_server_time") is None:
        pytest.skip("mcp-server-time is not installed (a dev dependency from PyPI)")
    return [PYTHON, "-m", "mcp_server_time", "--local-timezone", "UTC"]


def dump(result: Any) -> Any:
    return result.model_dump(by_alias=True, exclude_none=True, exclude={"meta"})


async def exercise(client: Client, calls: list[tuple[str, dict[str, Any]]]) -> Outcome:
    """Every surface the server offers, as a curious agent would walk it."""
    out: Outcome = {}

    async def ask(key: str, step: Callable[[], Awaitable[Any]]) -> Any:
        try:
            out[key] = dump(await step())
        except Exception as exc:  # a JSON-RPC error: the client raises it
            out[key] = {"error": str(exc)}
        return out[key]

    await ask("tools/list", client.list_tools)
    cursor, page = None, 0
    while True:
        listed = await ask(f"resources/list {page}",
                           lambda c=cursor: client.list_resources(cursor=c))
        cursor, page = listed.get("nextCursor"), page + 1
        if not cursor or page > 5:
            break
    await ask("resources/templates/list", client.list_resource_templates)
    prompts = await ask("prompts/list", client.list_prompts)
    for resource in (out["resources/list 0"].get("resources") or [])[:3]:
        uri = resource["uri"]
        await ask(f"resources/read {uri}", lambda u=uri: client.read_resource(u))
    for prompt in prompts.get("prompts") or []:
        args = {a["name"]: "Paris" for a in prompt.get("arguments") or [] if a.get("required")}
        await ask(f"prompts/get {prompt['name']}",
                  lambda p=prompt["name"], a=args: client.get_prompt(p, a))
        if prompt["name"] == "completable-prompt":
            await ask("completion/complete", lambda p=prompt["name"]: client.complete(
                PromptReference(type="ref/prompt", name=p),
                {"name": "department", "value": "E"}))
    for name, args in calls:
        await ask(f"tools/call {name} {json.dumps(args, sort_keys=True)}",
                  lambda n=name, a=args: client.call_tool(n, a))
    return out


def assert_replayed(recorded: list[Outcome], replayed: Outcome, where: str) -> None:
    """Every request answers as recorded (any of the recorded answers, where the same request
    was recorded more than once: a clock tool answers differently each time)."""
    assert set(replayed) == set(recorded[0]), where
    for key, got in replayed.items():
        seen = [r[key] for r in recorded if key in r]
        assert got in seen, f"{where}: {key} answered {got!r}, recorded {seen[0]!r}"


def assert_no_replay_word(outcome: Outcome) -> None:
    assert "deploysim" not in json.dumps(outcome).lower()


def stdio(args: list[str]) -> StdioServerParameters:
    return StdioServerParameters(command=DEPLOYSIM, args=args, env=dict(os.environ))


async def record_stdio(out: str, command: list[str], calls: list[tuple[str, dict[str, Any]]],
                       modes: tuple[str, ...]) -> list[Outcome]:
    """The server recorded by `record-stdio` (no --name: it names the server itself)."""
    seen = []
    for mode in modes:
        async with Client(stdio(["record-stdio", "--out", out, "--", *command]),
                          mode=mode) as client:  # type: ignore[arg-type]
            seen.append(await exercise(client, calls))
    return seen


FS_ROOT_FILES = {"notes.txt": "buy milk\n", "todo.md": "# todo\n- ship\n"}

SERVERS = {
    "time": (time_server, [
        ("get_current_time", {"timezone": "Europe/Paris"}),
        ("convert_time", {"source_timezone": "Europe/Paris", "time": "10:00",
                          "target_timezone": "Asia/Tokyo"}),
        ("get_current_time", {"timezone": "Mars/Olympus"}),
        ("nope", {})], ("legacy", "auto")),
    "everything": (lambda: [npm_server("mcp-server-everything"), "stdio"], [
        ("echo", {"message": "hi"}), ("get-sum", {"a": 1, "b": 2}), ("nope", {})],
        ("legacy",)),
    "filesystem": (lambda: [npm_server("mcp-server-filesystem"), "{root}"], [
        ("read_text_file", {"path": "{root}/notes.txt"}),
        ("list_directory", {"path": "{root}"}),
        ("read_text_file", {"path": "{root}/missing.txt"}),
        ("read_text_file", {"path": "/etc/hostname"}), ("nope", {})], ("legacy",)),
}
"""Server name (as record-stdio names it) → (its command, the tool calls to make, the
protocol modes it is recorded in: the TypeScript servers speak only 2025-11-25)."""


def _fill(value: Any, root: str) -> Any:
    return json.loads(json.dumps(value).replace("{root}", root))


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory
               ) -> Callable[[str], tuple[str, list[tuple[str, dict[str, Any]]], list[Outcome]]]:
    """`name` → (its record-stdio corpus, the calls made, what the client saw), recorded once
    per module: starting real servers costs seconds."""
    made: dict[str, tuple[str, list[tuple[str, dict[str, Any]]], list[Outcome]]] = {}

    def get(name: str) -> tuple[str, list[tuple[str, dict[str, Any]]], list[Outcome]]:
        if name not in made:
            make_command, calls, modes = SERVERS[name]
            base = tmp_path_factory.mktemp(name)
            root = str(base / "files")
            os.makedirs(root)
            for file, text in FS_ROOT_FILES.items():
                with open(os.path.join(root, file), "w") as f:
                    f.write(text)
            command, calls = _fill(make_command(), root), _fill(calls, root)
            out = str(base / "rec")
            seen = asyncio.run(record_stdio(out, command, calls, modes))
            made[name] = (out, calls, seen)
        return made[name]

    return get


@pytest.mark.parametrize("name", list(SERVERS))
async def test_stdio_server_recorded_and_replayed_whole(name: str, recordings, tmp_path):
    out, calls, recorded = await asyncio.to_thread(recordings, name)
    assert {ex.route for ex in Corpus(out).exchanges()} == {name}

    for mode in MODES:  # both generations, whatever the server was recorded in
        run_out = str(tmp_path / f"run-{mode}")
        async with Client(stdio(["serve-stdio", out, "--server", name, "--run-out", run_out]),
                          mode=mode) as client:  # type: ignore[arg-type]
            replayed = await exercise(client, calls)
            unknown = await exercise_unknown(client)
        assert_replayed(recorded, replayed, f"serve-stdio {name} {mode}")
        assert unknown == UNKNOWN_TOOL[name]
        assert_no_replay_word(replayed)
        texts = [m.result.content for s in Corpus(run_out).sessions() for m in s.messages
                 if m.result is not None]
        assert texts and not any("deploysim" in t.lower() for t in texts)


async def exercise_unknown(client: Client) -> str:
    """What a call of a tool the server never had gets (its text or error message)."""
    try:
        result = await client.call_tool("drop_database", {"confirm": True})
    except Exception as exc:
        return f"error: {exc}"
    assert result.is_error
    return result.content[0].text  # type: ignore[union-attr]


UNKNOWN_TOOL = {
    "time": "error: Unknown tool: drop_database",  # mcp-server-time: JSON-RPC -32602
    "everything": "MCP error -32602: Tool drop_database not found",  # the TypeScript SDK
    "filesystem": "MCP error -32602: Tool drop_database not found",
}


async def test_stdio_recording_served_over_http(recordings):
    """A record-stdio recording stands in for its server over streamable HTTP too."""
    out, calls, recorded = await asyncio.to_thread(recordings, "time")
    cfg = ServeConfig(corpus=[out], listen=("127.0.0.1", 0), isolation="thread")
    for mode in MODES:
        async with await ReplayServer.load(cfg) as server, \
                Client(server.url + "/time", mode=mode) as client:  # type: ignore[arg-type]
            replayed = await exercise(client, calls)
        assert_replayed(recorded, replayed, f"serve time {mode}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_everything_over_streamable_http(tmp_path):
    """server-everything over streamable HTTP, recorded through the gateway (`deploysim
    record`) and replayed through `deploysim serve`, as subprocesses like a user runs them."""
    binary = npm_server("mcp-server-everything")
    _, calls, _ = SERVERS["everything"]
    port = _free_port()
    upstream = subprocess.Popen([binary, "streamableHttp"], env={**os.environ, "PORT": str(port)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = str(tmp_path / "rec")
    try:
        await _wait_port(port)
        recording = DeploysimProcess("record", "--out", out, "--listen", "127.0.0.1:{port}",
                                     "--upstream", f"everything=http://127.0.0.1:{port}/mcp")
        async with recording as url, Client(url + "/everything", mode="legacy") as client:
            recorded = [await exercise(client, calls)]
    finally:
        upstream.terminate()
        upstream.wait(10)
    assert recorded[0]["resources/list 0"]["resources"], "nothing recorded to replay"
    for mode in MODES:
        async with DeploysimProcess("serve", out, "--listen", "127.0.0.1:{port}") as url, \
                Client(url + "/everything", mode=mode) as client:  # type: ignore[arg-type]
            replayed = await exercise(client, calls)
            unknown = await exercise_unknown(client)
        assert_replayed(recorded, replayed, f"serve everything {mode}")
        assert unknown == UNKNOWN_TOOL["everything"]


async def _wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


class DeploysimProcess:
    """`deploysim ARGS...` as a subprocess on a free port (`{port}` in ARGS); yields its URL
    once it listens and stops it with SIGINT (as Ctrl-C would) on exit."""

    def __init__(self, *args: str) -> None:
        self.port = _free_port()
        self.args = [a.replace("{port}", str(self.port)) for a in args]
        self.proc: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> str:
        self.proc = subprocess.Popen([DEPLOYSIM, *self.args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        await _wait_port(self.port)
        return f"http://127.0.0.1:{self.port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(__import__("signal").SIGINT)
        _, err = await asyncio.to_thread(self.proc.communicate, timeout=20)
        assert self.proc.returncode in (0, 3), err.decode()[-2000:]  # 3: misses under error


if sys.platform == "win32":  # pragma: no cover
    pytest.skip("the servers are started as POSIX programs", allow_module_level=True)
