"""The `deploysim` command. Each command group lives in its own module under
`deploysim/commands/` and exposes `register(app)`; they are discovered, so adding a command
never edits this file. Errors a user can fix print as one sentence, never a traceback."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import traceback

import click
import typer

from deploysim import commands
from deploysim.cli_help import ROOT_EPILOG, Group, polish
from deploysim.console import err
from recorder.errors import DeploysimError
from recorder.version import __version__

app = typer.Typer(
    name="deploysim",
    help="Record agent traffic, replay it through a candidate model, grade it, and gate the "
    "release on how often the candidate would misbehave once deployed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=Group,
    epilog=ROOT_EPILOG,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deploysim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    config: str | None = typer.Option(
        None, "--config", "-c", metavar="FILE",
        help="deploysim.toml every command takes its defaults from (default: $DEPLOYSIM_CONFIG, "
        "else ./deploysim.toml if present; `none` for no file); see docs/config.md."),
) -> None:
    """deploysim: how often will this candidate model misbehave once deployed?"""
    from deploysim.project.cli_defaults import apply_defaults

    apply_defaults(ctx, config)  # flags given on the command line still win


for _mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
    importlib.import_module(f"deploysim.commands.{_mod.name}").register(app)
polish(app)  # readable metavars and usage lines for every command, discovered ones included


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this in-process)."""
    try:
        result = app(args=argv, prog_name="deploysim", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except DeploysimError as exc:
        err.print(f"deploysim: error: {exc}", markup=False)
        return exc.exit_code
    except (typer.Exit, click.exceptions.Exit) as exc:
        return int(exc.exit_code)
    except (typer.Abort, click.exceptions.Abort):
        err.print("deploysim: aborted", markup=False)
        return 130
    except (typer.TyperException, click.ClickException) as exc:
        # usage errors (typer vendors its own click, so both families are caught)
        exc.show()  # type: ignore[union-attr]
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        err.print("deploysim: interrupted", markup=False)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so plainly; the traceback only on request
        if os.environ.get("DEPLOYSIM_DEBUG"):
            traceback.print_exc()
        err.print(f"deploysim: internal error: {type(exc).__name__}: {exc} (this is a bug; "
                  "rerun with DEPLOYSIM_DEBUG=1 for the traceback and report it)", markup=False)
        return 70


def main() -> None:
    sys.exit(run())
