"""How the `deploysim` help reads: commands grouped in the top-level help, readable metavars
(`CORPUS...`, `PATH`, `N`) instead of typer's `{corpus}...` and `<list[str]>`, and every
command's exit codes at the end of its help.

The classes are attached to every command by `polish(app)` after the command modules are
discovered, so a new command module gets the same help without asking for it. The help stays
plain text (the app sets `rich_markup_mode=None`): it is read in terminals, CI logs and
docs/cli.md alike.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Start", ("init", "run", "demo", "view")),
    ("Record", ("record", "record-stdio", "ca", "import")),
    ("Inspect", ("inspect", "verify", "sessions", "show", "derive", "cassette", "export",
                 "schema")),
    ("Replay", ("replay", "serve", "serve-stdio", "stubs", "profiles")),
    ("Grade", ("grade", "review", "rubric")),
    ("Decide", ("gate", "predict", "calibrate", "robustness", "audit")),
)
"""Sections of `deploysim --help`, in order, and the top-level commands in each."""

OTHER_PANEL = "Other commands"
"""Where a top-level command missing from PANELS is listed (tests/deploysim/
test_cli_consistency.py fails on it, so it is added to a section)."""

USAGE_ERROR = "bad usage or input; the message says what to fix"
"""Exit status 2, the same for every command (`recorder.errors.DeploysimError.exit_code`)."""

COMMON_EXITS = {2: USAGE_ERROR, 70: "an internal error (a bug; DEPLOYSIM_DEBUG=1 shows the "
                "traceback)", 130: "interrupted"}


def _code_rows(title: str, codes: Mapping[int, str]) -> str:
    # \b keeps click from re-wrapping the rows into one paragraph, so they are wrapped here
    lines = [textwrap.fill(what, width=74, initial_indent=f"{code:<4}", subsequent_indent="    ")
             for code, what in sorted(codes.items())]
    return f"{title}\n\n\b\n" + "\n".join(lines)


def exit_codes(codes: Mapping[int, str]) -> str:
    """A command's epilog listing its exit codes (2, bad input, is added): pass it as
    `app.command(..., epilog=exit_codes({0: "pass", 1: "block"}))`."""
    return _code_rows("Exit codes:", {**codes, 2: codes.get(2, USAGE_ERROR)})


ROOT_EPILOG = _code_rows("Every command's help ends with its exit codes; these are shared by "
                         "all:", COMMON_EXITS)
"""The end of `deploysim --help`."""


def panel_of(name: str) -> str:
    return next((panel for panel, names in PANELS if name in names), OTHER_PANEL)


def default_metavar(param: Any) -> str:
    """A readable stand-in for a value when the command gives none: `N` for whole numbers,
    `NUMBER` for others, else the option's or argument's name in capitals."""
    annotation = getattr(param.type_descriptor, "annotation", None)
    if annotation is int:
        return "N"
    if annotation is float:
        return "NUMBER"
    longest = max(param.opts, key=len) if param.opts else param.name or "value"
    return longest.lstrip("-").replace("-", "_").upper()


def _arg_name(param: TyperArgument) -> str:
    name = param.metavar or default_metavar(param)
    return name if name.endswith("...") or param.nargs == 1 else name + "..."


class Command(TyperCommand):
    """A typer command whose help names values by meaning (`CORPUS...`, `[TOOL]`, `--out
    PATH`) rather than by Python type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            # a flag takes no value to name; the metavar also names a missing argument in
            # click's error ("Missing argument 'CORPUS...'")
            if param.metavar is None and not getattr(param, "is_flag", False):
                param.metavar = _arg_name(param) if isinstance(param, TyperArgument) \
                    else default_metavar(param)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = _arg_name(param)
                pieces.append(name if param.required or name.startswith("[") else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        args, opts = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if isinstance(param, TyperArgument):
                args.append((_arg_name(param), record[1]))  # typer's name adds `<list[str]>`
            else:
                opts.append(record)
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class Group(TyperGroup):
    """The top-level `deploysim` group: commands listed in the PANELS sections."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        shown = [(name, cmd) for name in self.list_commands(ctx)
                 if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden]
        if not shown:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in shown)
        helps = {name: cmd.get_short_help_str(limit) for name, cmd in shown}
        sections = [*PANELS, (OTHER_PANEL, tuple(n for n in helps if panel_of(n) == OTHER_PANEL))]
        for panel, names in sections:
            rows = [(name, helps[name]) for name in names if name in helps]
            if rows:
                with formatter.section(panel):
                    formatter.write_dl(rows)


def _typers(app: typer.Typer) -> Iterable[typer.Typer]:
    yield app
    for group in app.registered_groups:
        if group.typer_instance is not None:
            yield from _typers(group.typer_instance)


def polish(app: typer.Typer) -> None:
    """Give every registered command (in groups too) the readable help of `Command`."""
    for each in _typers(app):
        for info in each.registered_commands:
            if info.cls in (None, TyperCommand):  # typer fills in its own class by default
                info.cls = Command
