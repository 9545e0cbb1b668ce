"""One CLI spelling: walk the live command tree and fail when two commands spell one concept
differently, when a value is named like a Python type, when a command's help does not end with
its exit codes, or when a command that reports has no `--json`.

The tables below are the rules; docs/cli.md states them for users ("Conventions")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer

from deploysim.cli import app, run
from deploysim.cli_help import OTHER_PANEL, panel_of

ONE_SPELLING = {
    "--db": "--audit",
    "--audit-log": "--audit",
    "--rules": "--redact-rules",
    "--redaction-rules": "--redact-rules",
    "--output": "--out",
    "--output-dir": "--out",
    "--key": "--review-key",
    "--n": "--sample",
    "--simulator": "--tool-simulator",
    "--simulator-api": "--tool-simulator-api",
    "--as-json": "--json",
}
"""Spellings no command may use -> the one every command uses for the same thing."""

SHORT = {"-o": "--out", "-r": "--rubric", "-c": "--config", "-u": "--upstream"}
"""Each short flag means one thing everywhere, and that long option always carries it."""

CONCEPT_BY_DEST = {
    "audit": "--audit", "db": "--audit",
    "redact_rules": "--redact-rules", "rules": "--redact-rules",
    "as_json": "--json",
    "config": "--config",
}
"""A parameter named for a concept (its Python name) is spelled the concept's way."""

NO_JSON = {
    ("schema",): "its output is a JSON Schema",
    ("rubric", "schema"): "its output is a JSON Schema",
    ("audit", "show"): "its output is the record as JSON",
    ("stubs", "query"): "its output is the answer as JSON",
    ("cassette", "dump"): "its output is the cassette as JSON lines",
    ("cassette", "load"): "writes a cassette named on stdout; the input is the JSON",
    ("record-stdio",): "stdout is the MCP channel the agent reads",
    ("serve-stdio",): "stdout is the MCP channel the agent reads",
    ("demo",): "a guided tour: its summary points at the files it wrote (report.json, ...)",
    ("view",): "serves a web app until stopped; nothing to report",
    ("init",): "writes one commented file and says where",
}
"""Commands without `--json`, and why (every other command reports, so it has one)."""

PY_TYPE = re.compile(r"[<>{}]|list\[|^(str|int|float|bool|Path|list|dict|TEXT|INTEGER|FLOAT)$")
"""A value named by its Python (or click) type rather than by what it is."""


def commands() -> Iterator[tuple[tuple[str, ...], Any]]:
    root = typer.main.get_command(app)

    def walk(cmd: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
        sub = getattr(cmd, "commands", None)
        if sub is None:
            yield path, cmd
            return
        for name, child in sub.items():
            yield from walk(child, (*path, name))

    yield from walk(root, ())


def options(cmd: Any) -> list[Any]:
    return [p for p in cmd.params if p.param_type_name == "option"]


ALL = list(commands())
IDS = [" ".join(path) for path, _ in ALL]


def test_the_walk_sees_every_command() -> None:
    assert len(ALL) > 40
    assert ("audit", "verify") in dict(ALL) and ("gate",) in dict(ALL)


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=IDS)
def test_one_spelling_per_concept(path: tuple[str, ...], cmd: Any) -> None:
    where = "deploysim " + " ".join(path)
    for opt in options(cmd):
        spellings = [*opt.opts, *opt.secondary_opts]
        for s in spellings:
            assert s not in ONE_SPELLING, \
                f"{where} spells {s}; every command spells it {ONE_SPELLING[s]}"
            if s in SHORT:
                assert SHORT[s] in spellings, \
                    f"{where}: {s} means {SHORT[s]} everywhere, not {'/'.join(spellings)}"
        for short, long in SHORT.items():
            if long in spellings:
                assert short in spellings, f"{where}: {long} has no {short}, as everywhere else"
        wanted = CONCEPT_BY_DEST.get(opt.name or "")
        if wanted is not None:
            assert wanted in spellings, \
                f"{where}: the {opt.name} option is spelled {'/'.join(spellings)}, not {wanted}"
        if "--json" in spellings:
            assert opt.is_flag, f"{where}: --json takes no value anywhere"


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=IDS)
def test_values_are_named_by_meaning_not_python_type(path: tuple[str, ...], cmd: Any,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    for param in cmd.params:
        if getattr(param, "is_flag", False) or param.name == "help":
            continue
        assert param.metavar and not PY_TYPE.search(param.metavar.strip("[].=: ")), \
            f"deploysim {' '.join(path)}: {param.name} is shown as {param.metavar!r}"
        assert param.metavar == param.metavar.upper(), \
            f"deploysim {' '.join(path)}: metavar {param.metavar!r} is not in capitals"
    assert run([*path, "--help"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # the usage line and the names column of the Arguments and Options rows
    shown = [lines[0]] + [line[2:].split("  ")[0] for line in lines
                          if line.startswith("  ") and not line.startswith("   ")]
    for bad in ("<", "{", "list[", "str>"):
        assert not any(bad in s for s in shown), \
            f"deploysim {' '.join(path)} --help shows {bad!r}: {shown}"


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=IDS)
def test_help_ends_with_the_exit_codes(path: tuple[str, ...], cmd: Any,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*path, "--help"]) == 0
    text = capsys.readouterr().out.rstrip()
    tail = text.rsplit("Exit codes:", 1)
    assert len(tail) == 2, f"deploysim {' '.join(path)} --help lists no exit codes"
    codes = [line.split()[0] for line in tail[1].strip().splitlines()
             if line.strip() and line.strip()[0].isdigit()]
    assert "0" in codes and "2" in codes, \
        f"deploysim {' '.join(path)} --help: exit codes {codes} miss 0 (success) or 2 (usage)"
    assert "Options:" not in tail[1], "the exit codes come last"


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=IDS)
def test_every_command_that_reports_has_json(path: tuple[str, ...], cmd: Any) -> None:
    has = any("--json" in p.opts for p in options(cmd))
    if path in NO_JSON:
        assert not has, f"deploysim {' '.join(path)} has --json now: drop it from NO_JSON"
    else:
        assert has, (f"deploysim {' '.join(path)} reports but has no --json; add one with a "
                     "stable shape (or list it in NO_JSON with the reason)")


def test_every_top_level_command_is_in_a_help_section(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    names = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    loose = [n for n in names if panel_of(n) == OTHER_PANEL]
    assert not loose, f"add {loose} to a section of PANELS in deploysim/cli_help.py"
    assert run(["--help"]) == 0
    text = capsys.readouterr().out
    for section in ("Start:", "Record:", "Inspect:", "Replay:", "Grade:", "Decide:"):
        assert f"\n{section}\n" in text
    assert "Commands:" not in text and "130" in text


def test_old_spellings_are_refused_with_a_usage_error(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    assert run(["audit", "list", "--db", "x.db"]) == 2
    assert "No such option" in capsys.readouterr().err
