"""`deploysim view [PATHS...]`: browse corpora, runs, verdicts and gate decisions in a local
web app (loopback only unless told otherwise).

    deploysim view runs/ recordings/ deploysim-audit.db
    deploysim view --port 9000 --no-open

Exit codes: 0 stopped (Ctrl-C), 2 a usage error (a PATH that does not exist, a port in use).
See docs/viewer.md.
"""

from __future__ import annotations

import typer

from deploysim.console import err
from deploysim.viewer.links import DEFAULT_HOST, DEFAULT_PORT


def view(
    paths: list[str] = typer.Argument(None, metavar="[PATHS]...", help="Folders or files "
                                      "holding corpora, replay runs, gate reports (.json) or "
                                      "an audit log (default: the current folder)."),
    host: str = typer.Option(DEFAULT_HOST, "--host", metavar="HOST",
                             help="Address to listen on (loopback by default: the viewer "
                             "shows recorded, possibly private, text)."),
    port: int = typer.Option(DEFAULT_PORT, "--port", metavar="PORT",
                             help="Port to listen on (0: any free)."),
    no_open: bool = typer.Option(False, "--no-open", help="Do not open a browser."),
) -> None:
    """Serve a local web viewer of corpora, runs, verdicts and gate decisions."""
    from deploysim.viewer.launch import serve

    serve(paths or ["."], host=host, port=port, open_browser=not no_open, say=_say)


def _say(line: str) -> None:
    err.print(line, markup=False)


def register(app: typer.Typer) -> None:
    from deploysim.cli_help import exit_codes

    app.command("view", epilog=exit_codes({
        0: "stopped with Ctrl-C",
        2: "a PATH that does not exist, or an address that cannot be listened on"}))(view)
