"""docs/cli.md, generated from the live CLI so the reference cannot drift from the commands:

    .venv/bin/python -m deploysim.cli_reference > docs/cli.md      # regenerate
    .venv/bin/python -m deploysim.cli_reference --check docs/cli.md  # exit 1 if it is stale

Every command's `--help` as the command prints it (at 88 columns, whatever the terminal), in
the order and sections of `deploysim --help`, after the conventions every command follows.
tests/deploysim/test_cli_reference.py fails when the checked-in file differs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import typer

from deploysim.cli_help import OTHER_PANEL, PANELS, panel_of

REGENERATE = ".venv/bin/python -m deploysim.cli_reference > docs/cli.md"
WIDTH = 88

CONVENTIONS = """\
## Conventions

Every command spells the same thing the same way (tests/deploysim/test_cli_consistency.py
checks the live commands against these rules):

- **What a command works on is positional**: `deploysim inspect CORPUS...`, `deploysim grade
  RUN_OR_CORPUS...`, `deploysim cassette dump CASSETTE`. When two inputs play different roles
  they are named options instead: `gate --baseline RUN --candidate RUN`.
- **What a command writes is `-o/--out`** (a folder or a file, as its help says). Side outputs
  are named for what they hold: `--report`, `--verdicts-out`, `--run-out`.
- **One name per concept**: `--audit PATH` for the audit log, `--redact-rules PATH` for extra
  redaction rules, `-r/--rubric`, `--review-key`, `--tool-simulator`, `-u/--upstream`,
  `--profile`, `--seed`, `--sample N`. `-c/--config` is the pipeline's `deploysim.toml`
  wherever it is taken (the stubs' own file is `--stub-config`).
- **`--json` on every command that reports**: the same facts as the text, as one JSON document
  on stdout (`import` prints one object per file in an array). Commands whose output already
  is JSON or data (`schema`, `rubric schema`, `audit show`, `stubs query`, `cassette dump`),
  whose stdout is a protocol channel (`record-stdio`, `serve-stdio`), or that only serve or
  write one file (`view`, `init`, `demo`) have none.
- **Values are named by meaning**: `PATH`, `DIR`, `RUN`, `CORPUS`, `[NAME=]URL`, `N`,
  `SECONDS`.
- **Exit codes** end every command's help. Shared by all: 2 bad usage or input (one sentence
  on stderr saying what to fix; `deploysim: error: ...`), 70 an internal error (a bug;
  `DEPLOYSIM_DEBUG=1` shows the traceback), 130 interrupted.
"""


def _context(cmd: Any, name: str, parent: Any | None) -> Any:
    if parent is None:
        return cmd.context_class(cmd, info_name=name, terminal_width=WIDTH,
                                 max_content_width=WIDTH)
    return cmd.context_class(cmd, info_name=name, parent=parent)


def _walk(cmd: Any, ctx: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    yield path, cmd.get_help(ctx)
    for name, child in (getattr(cmd, "commands", None) or {}).items():
        if not child.hidden:
            yield from _walk(child, _context(child, name, ctx), (*path, name))


def _order(path: tuple[str, ...]) -> tuple[int, ...]:
    """Top-level commands in the order of `deploysim --help`; subcommands as registered."""
    panels = [p for p, _ in PANELS] + [OTHER_PANEL]
    if not path:
        return (-1,)
    panel = panels.index(panel_of(path[0]))
    names = dict(PANELS).get(panel_of(path[0]), ())
    rank = names.index(path[0]) if path[0] in names else len(names)
    return (panel, rank)


def render() -> str:
    """The whole of docs/cli.md."""
    from deploysim.cli import app

    root = typer.main.get_command(app)
    helps = list(_walk(root, _context(root, "deploysim", None), ()))
    # stable sort: subcommands keep their registered order under their group
    helps.sort(key=lambda item: _order(item[0]))
    parts = [
        "# deploysim command reference\n",
        f"<!-- Generated from the live CLI by `{REGENERATE}`; do not edit by hand. -->\n",
        CONVENTIONS,
    ]
    section = None
    for path, text in helps:
        if path:
            panel = panel_of(path[0])
            if panel != section:
                section = panel
                parts.append(f"## {panel}\n")
        title = " ".join(("deploysim", *path))
        level = "###" if len(path) <= 1 else "####"
        parts.append(f"{level} `{title}`\n\n```text\n{text.rstrip()}\n```\n" if path else
                     f"## `{title}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args[:1] == ["--check"] and len(args) == 2:
        try:
            with open(args[1], encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = None
        if current != text:
            print(f"{args[1]} does not match the live CLI; run `{REGENERATE}` to regenerate it.",
                  file=sys.stderr)
            return 1
        return 0
    if args:
        print("usage: python -m deploysim.cli_reference [--check docs/cli.md]", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
