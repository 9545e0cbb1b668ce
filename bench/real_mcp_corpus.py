"""A corpus of real third-party MCP servers' traffic, for `deploysim stubs fidelity`.

    .venv/bin/python bench/real_mcp_corpus.py CORPUS [--seed 0] [--sessions 20]
    .venv/bin/deploysim stubs fidelity CORPUS --holdout 0.2

Each session starts the real server through `deploysim record-stdio --session S` and drives it
with the official `mcp` client through a seeded script of what an agent does with that server:

- time (`mcp-server-time`, PyPI): current time in many zones, conversions between zones at
  common meeting times, the odd invalid zone or time;
- filesystem (`@modelcontextprotocol/server-filesystem`, npm): listing, reading (whole, head,
  several at once), searching, file info, writing and editing files in a small project tree,
  moving them, a missing file, a path outside the allowed root;
- everything (`@modelcontextprotocol/server-everything`, npm): echo, sums, annotated messages,
  structured content, resource references and links, an image;
- git (`mcp-server-git`, PyPI; skipped when not installed): status, log, show, branches, diffs
  of a repository whose working tree the session finds in one of a few states, staging,
  committing and branching.

Every session starts from the same files (the tree and the repository are rebuilt, with fixed
commit dates so commit hashes repeat), so calls repeat across sessions as they do in a
deployment, and what one session writes it reads back. The npm servers come from `.ci/run`
(`.ci/mcp-servers`); a server that is not installed is skipped with a note. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parents[1]
DEPLOYSIM = str(ROOT / ".venv" / "bin" / "deploysim")
PYTHON = sys.executable
NODE_BIN = ROOT / ".ci" / "mcp-servers" / "node_modules" / ".bin"

Call = tuple[str, dict[str, Any]]

ZONES = ["UTC", "Europe/Paris", "Europe/London", "Europe/Berlin", "Europe/Warsaw",
         "America/New_York", "America/Chicago", "America/Los_Angeles", "America/Sao_Paulo",
         "Asia/Tokyo", "Asia/Kolkata", "Asia/Singapore", "Australia/Sydney",
         "Africa/Nairobi", "Pacific/Auckland"]
BAD_ZONES = ["Mars/Olympus", "Europe/Pariss", "PST8"]
TIMES = ["09:00", "10:30", "12:00", "14:00", "16:30", "18:00", "23:15"]
BAD_TIMES = ["25:00", "9am"]

FILES = {
    "README.md": "# shop-api\n\nA small order service.\n\nRun `make dev` to start it.\n",
    "notes/todo.md": "# todo\n- ship refunds endpoint\n- rotate API keys\n- fix flaky test\n",
    "notes/meeting-2026-03-02.md": "# standup\n- refunds: in review\n- on-call: Ana\n",
    "src/app.py": ("from flask import Flask\n\napp = Flask(__name__)\n\n\n"
                   "@app.get('/orders/<oid>')\ndef order(oid):\n    return {'id': oid}\n"),
    "src/util.py": "def cents(x):\n    return round(x * 100)\n",
    "src/config.json": '{\n  "port": 8080,\n  "debug": false,\n  "region": "eu-west-1"\n}\n',
    "data/orders.csv": "id,total,currency\nA1001,219.90,EUR\nA1002,35.00,EUR\nA1003,1204.10,USD\n",
    "logs/app.log": "".join(f"2026-03-0{1 + i % 5}T10:{i:02d}:00Z INFO request {i} ok\n"
                            for i in range(40)),
}
"""The project tree every filesystem and git session starts from."""


# -- the sessions' scripts -----------------------------------------------------------------------

def time_script(r: random.Random, root: Path) -> list[Call]:
    calls: list[Call] = []
    home = r.choice(ZONES[:8])
    for _ in range(r.randint(1, 3)):
        calls.append(("get_current_time", {"timezone": r.choice([home, *r.sample(ZONES, 2)])}))
    for _ in range(r.randint(2, 5)):
        src, dst = home, r.choice([z for z in ZONES if z != home])
        if r.random() < 0.3:
            src, dst = dst, src
        calls.append(("convert_time", {"source_timezone": src, "time": r.choice(TIMES),
                                       "target_timezone": dst}))
    if r.random() < 0.25:
        calls.append(("get_current_time", {"timezone": r.choice(BAD_ZONES)}))
    if r.random() < 0.15:
        calls.append(("convert_time", {"source_timezone": home, "time": r.choice(BAD_TIMES),
                                       "target_timezone": "UTC"}))
    return calls


def fs_script(r: random.Random, root: Path) -> list[Call]:
    p = str(root)
    files = sorted(FILES)
    calls: list[Call] = []
    if r.random() < 0.5:
        calls.append(("list_allowed_directories", {}))
    calls.append(r.choice([("list_directory", {"path": p}),
                           ("directory_tree", {"path": p}),
                           ("list_directory_with_sizes", {"path": p})]))
    for _ in range(r.randint(2, 5)):
        f = r.choice(files)
        roll = r.random()
        if roll < 0.45:
            calls.append(("read_text_file", {"path": f"{p}/{f}"}))
        elif roll < 0.6:
            calls.append(("read_text_file", {"path": f"{p}/{f}", "head": r.choice([2, 5])}))
        elif roll < 0.75:
            calls.append(("get_file_info", {"path": f"{p}/{f}"}))
        elif roll < 0.85:
            calls.append(("list_directory", {"path": f"{p}/{f.rsplit('/', 1)[0]}"
                                             if "/" in f else p}))
        else:
            calls.append(("read_multiple_files",
                          {"paths": [f"{p}/{x}" for x in r.sample(files, 2)]}))
    if r.random() < 0.5:
        calls.append(("search_files", {"path": p, "pattern": r.choice(
            ["*.py", "*.md", "todo", "config", "*.csv"])}))
    if r.random() < 0.5:  # take a note, then read it back
        name = f"{p}/notes/{r.choice(['draft', 'plan', 'review'])}.md"
        title, item = r.choice(["plan", "review", "draft"]), r.choice(["refunds", "keys", "tests"])
        text = f"# {title}\n- {item}\n"
        calls += [("write_file", {"path": name, "content": text}),
                  ("read_text_file", {"path": name})]
    if r.random() < 0.35:  # an edit of the config
        new = r.choice(["true", "\"maybe\""])
        calls += [("edit_file", {"path": f"{p}/src/config.json", "edits": [
            {"oldText": '"debug": false', "newText": f'"debug": {new}'}]}),
            ("read_text_file", {"path": f"{p}/src/config.json"})]
    if r.random() < 0.2:
        calls += [("create_directory", {"path": f"{p}/archive"}),
                  ("move_file", {"source": f"{p}/notes/meeting-2026-03-02.md",
                                 "destination": f"{p}/archive/meeting-2026-03-02.md"}),
                  ("list_directory", {"path": f"{p}/archive"})]
    if r.random() < 0.25:
        calls.append(("read_text_file", {"path": f"{p}/notes/missing.md"}))
    if r.random() < 0.15:
        calls.append(("read_text_file", {"path": "/etc/hostname"}))  # outside the root
    return calls


def everything_script(r: random.Random, root: Path) -> list[Call]:
    menu: list[Callable[[], Call]] = [
        lambda: ("echo", {"message": r.choice(["hello", "ping", "status?", "testing 1 2 3"])}),
        lambda: ("get-sum", {"a": r.randint(0, 12), "b": r.randint(0, 12)}),
        lambda: ("get-annotated-message", {"messageType": r.choice(["error", "success",
                                                                    "debug"])}),
        lambda: ("get-structured-content", {"location": r.choice(["New York", "Chicago",
                                                                  "Los Angeles"])}),
        lambda: ("get-resource-reference", {"resourceType": "Text",
                                            "resourceId": r.randint(1, 6)}),
        lambda: ("get-resource-links", {"count": r.randint(1, 4)}),
        lambda: ("get-tiny-image", {}),
    ]
    return [r.choice(menu)() for _ in range(r.randint(3, 8))]


def git_script(r: random.Random, root: Path) -> list[Call]:
    repo = {"repo_path": str(root)}
    calls: list[Call] = [("git_status", repo)]
    for _ in range(r.randint(2, 5)):
        options: list[Call] = [
            ("git_log", {**repo, "max_count": r.choice([3, 5, 10])}),
            ("git_show", {**repo, "revision": r.choice(["HEAD", "HEAD~1", "HEAD~2"])}),
            ("git_branch", {**repo, "branch_type": r.choice(["local", "all"])}),
            ("git_diff_unstaged", repo),
            ("git_diff", {**repo, "target": r.choice(["HEAD~1", "HEAD~2"])}),
        ]
        calls.append(r.choice(options))
    if r.random() < 0.4:
        calls += [("git_add", {**repo, "files": ["src/config.json"]}),
                  ("git_diff_staged", repo), ("git_status", repo)]
        if r.random() < 0.5:
            calls.append(("git_commit", {**repo, "message": r.choice(
                ["config: enable debug", "tweak config"])}))
            calls.append(("git_log", {**repo, "max_count": 2}))
    if r.random() < 0.25:
        branch = r.choice(["feature/refunds", "fix/flaky-test"])
        calls += [("git_create_branch", {**repo, "branch_name": branch}),
                  ("git_checkout", {**repo, "branch_name": branch}),
                  ("git_branch", {**repo, "branch_type": "local"})]
    if r.random() < 0.15:
        calls.append(("git_show", {**repo, "revision": "no-such-rev"}))
    return calls


# -- the worlds the sessions start from -------------------------------------------------------

def reset_tree(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
    for name, text in FILES.items():
        f = root / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
        os.utime(f, (1772445600, 1772445600))  # 2026-03-02T10:00Z: file info repeats


GIT_ENV = {"GIT_AUTHOR_NAME": "Ana Dev", "GIT_AUTHOR_EMAIL": "ana@example.com",
           "GIT_COMMITTER_NAME": "Ana Dev", "GIT_COMMITTER_EMAIL": "ana@example.com",
           "GIT_AUTHOR_DATE": "1772445600 +0000",
           "GIT_COMMITTER_DATE": "1772445600 +0000"}
"""Fixed identity and dates (2026-03-02T10:00Z, in the form both git and GitPython read): the
same commits get the same hashes in every session."""


def reset_repo(root: Path, r: random.Random) -> None:
    reset_tree(root)
    env = {**os.environ, **GIT_ENV}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "README.md", "src")
    git("commit", "-q", "-m", "initial service")
    git("add", "notes")
    git("commit", "-q", "-m", "notes from standup")
    git("add", "data")
    git("commit", "-q", "-m", "sample orders")
    # the state the agent finds: clean, a changed config, or also a stray file
    state = r.choice(["clean", "config", "config+untracked"])
    if state != "clean":
        (root / "src" / "config.json").write_text(FILES["src/config.json"].replace(
            '"debug": false', '"debug": true'))
    if state == "config+untracked":
        (root / "scratch.txt").write_text("tmp\n")


Server = tuple[Callable[[Path], list[str]], Callable[[random.Random, Path], list[Call]],
               Callable[[Path, random.Random], None], tuple[str, ...]]


def _npm(name: str) -> Callable[[Path], list[str]] | None:
    path = NODE_BIN / name
    return None if not path.exists() else lambda root: [str(path), *(
        ["stdio"] if name.endswith("everything") else [str(root)])]


def servers() -> dict[str, Server | None]:
    """name → (command for a root, the script, how to reset the root, protocol modes), or None
    when the server is not installed."""
    out: dict[str, Server | None] = {}
    out["time"] = ((lambda _: [PYTHON, "-m", "mcp_server_time", "--local-timezone", "UTC"]),
                   time_script, lambda root, r: None, ("legacy", "auto")) \
        if importlib.util.find_spec("mcp_server_time") else None
    fs, ev = _npm("mcp-server-filesystem"), _npm("mcp-server-everything")
    out["filesystem"] = (fs, fs_script, lambda root, r: reset_tree(root), ("legacy",)) \
        if fs else None
    out["everything"] = (ev, everything_script, lambda root, r: None, ("legacy",)) \
        if ev else None
    out["git"] = ((lambda root: [PYTHON, "-m", "mcp_server_git", "--repository", str(root)]),
                  git_script, reset_repo, ("legacy", "auto")) \
        if importlib.util.find_spec("mcp_server_git") else None
    return out


# -- recording -----------------------------------------------------------------------------------

async def record_session(out: str, name: str, session: str, command: list[str],
                         calls: list[Call], mode: str) -> tuple[int, int]:
    """One session through `deploysim record-stdio`: (calls made, calls that failed)."""
    params = StdioServerParameters(
        command=DEPLOYSIM, args=["record-stdio", "--out", out, "--name", name, "--session",
                                 session, "--", *command],
        env={**os.environ, **GIT_ENV})
    failed = 0
    async with Client(params, mode=mode) as client:
        await client.list_tools()
        for tool, args in calls:
            try:
                result = await client.call_tool(tool, args)
                failed += bool(result.is_error)
            except Exception:  # a JSON-RPC error (an invalid zone, say): recorded as such
                failed += 1
    return len(calls), failed


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="folder the corpus is written to (created)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sessions", type=int, default=20, help="sessions per server")
    ap.add_argument("--servers", default="time,filesystem,everything,git")
    opts = ap.parse_args()
    os.makedirs(opts.out, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="deploysim-real-mcp-"))
    summary: dict[str, Any] = {}
    started = time.monotonic()
    try:
        available = servers()
        for name in opts.servers.split(","):
            spec = available.get(name)
            if spec is None:
                print(f"{name}: not installed, skipped (.ci/run installs the npm servers; "
                      "pip install mcp-server-git)", file=sys.stderr)
                continue
            make_command, script, reset, modes = spec
            root = work / name
            made = failed = 0
            for i in range(opts.sessions):
                r = random.Random(f"{opts.seed}:{name}:{i}")
                reset(root, r)
                calls = script(r, root)
                n, bad = await record_session(opts.out, name, f"{name}-{i:03d}",
                                              make_command(root), calls, modes[i % len(modes)])
                made, failed = made + n, failed + bad
            summary[name] = {"sessions": opts.sessions, "tool_calls": made, "errors": failed}
            print(f"{name}: {opts.sessions} session(s), {made} tool call(s), {failed} error(s)",
                  file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
