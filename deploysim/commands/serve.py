"""`deploysim serve`, `deploysim serve-stdio`: stand in for recorded tool servers.

    deploysim serve recordings/ --listen 127.0.0.1:8788 --profile hostile --seed 7 \\
        --candidate http://127.0.0.1:8000 --run-out runs/hostile-7
    deploysim serve-stdio recordings/ --server weather --profile flaky

See docs/replay-proxy.md.
"""

from __future__ import annotations

from typing import Any

import typer

from deploysim.cli_help import exit_codes
from deploysim.console import err, print_json
from runtime.event_loop import run as aio_run

_CORPUS_HELP = "Recorded cassettes (files, folders, globs or fsspec URLs)."
_MISS_HELP = ("When neither a recording nor a fallback answers a call: error (the agent gets the "
              "tool's own error; the miss is counted as a failure, named in the summary, and "
              "serve exits 3), continue (the same error, not a failure) or forward (the real "
              "tool). synthesize and simulate are older spellings of --fallbacks.")
_FALLBACKS_HELP = ("Fallbacks tried, in order, for a call no recording matches: any of nearest, "
                   "synthesize, simulate (needs --tool-simulator), or none. Default "
                   "nearest,synthesize.")
EXIT_STUB_MISS = 3
"""Calls went unanswered under `--miss error` (the same status `deploysim replay` uses)."""


def _simulator(spec: str | None, api: str) -> Any:
    """`MODEL@URL` → a model client for the `simulate` fallback."""
    if spec is None:
        return None
    from proxy.replay.errors import ServeConfigError
    from replayer.clients import make_client

    model, sep, url = spec.partition("@")
    if not sep or not model or not url:
        raise ServeConfigError(f"--tool-simulator {spec!r} is not MODEL@URL; write e.g. "
                               "--tool-simulator gpt-5-mini@https://api.openai.com/v1.")
    return make_client(api, model, url)


def serve(
    corpus: list[str] = typer.Argument(..., metavar="CORPUS", help=_CORPUS_HELP),
    listen: str = typer.Option("127.0.0.1:8788", "--listen", metavar="HOST:PORT",
                               help="HOST:PORT to listen on."),
    profile: str = typer.Option("none", "--profile", metavar="PROFILE",
                                help="Perturbation profile: a built-in name or a TOML file."),
    seed: int = typer.Option(0, "--seed", help="Run seed every perturbation derives from."),
    miss: str = typer.Option("error", "--miss", metavar="POLICY", help=_MISS_HELP),
    fallbacks: str | None = typer.Option(None, "--fallbacks", metavar="LIST",
                                         help=_FALLBACKS_HELP),
    candidate: list[str] = typer.Option(
        [], "--candidate", metavar="[NAME=]URL",
help="Forward the LLM route NAME (default /) to this "
        "candidate model endpoint. Repeatable."),
    route: list[str] = typer.Option(
        [], "--route", metavar="NAME=MODE",
help="A route's mode: replay, record or forward (NAME / for the "
        "unnamed route). Repeatable."),
    upstream: list[str] = typer.Option(
        [], "--upstream", "-u", metavar="[NAME=]URL",
help="The real upstream of a record/forward route or of "
        "forwarded misses (default: the one recorded). Repeatable."),
    run_out: str | None = typer.Option(None, "--run-out", metavar="DIR",
                                       help="Write what the agent did here as a run."),
    session_header: str = typer.Option("X-Deploysim-Session", "--session-header",
                                       metavar="HEADER",
                                       help="Header naming the recorded session to prefer."),
    redact_rules: str | None = typer.Option(None, "--redact-rules", metavar="PATH",
                                            help="TOML file of extra redaction rules."),
    stub_index: str | None = typer.Option(None, "--stub-index", metavar="PATH",
                                          help="A prebuilt stub index of this corpus."),
    simulator: str | None = typer.Option(None, "--tool-simulator", metavar="MODEL@URL",
                                         help="The model the simulate fallback answers with."),
    simulator_api: str = typer.Option("openai-chat", "--tool-simulator-api", metavar="API",
                                      help="The --tool-simulator's API: openai-chat | "
                                      "openai-responses | anthropic | gemini."),
    as_json: bool = typer.Option(False, "--json", help="Print the closing summary as JSON."),
) -> None:
    """Answer an agent's tool calls from recordings; stop with Ctrl-C or SIGTERM."""
    from proxy.recording import parse_listen
    from proxy.replay.replay_gateway import serve as run_serve
    from proxy.replay.serve_config import ServeConfig
    from stubs.miss_policy import parse_fallbacks

    cfg = ServeConfig(corpus=list(corpus), listen=parse_listen(listen), profile=profile,
                      seed=seed, miss=miss,
                      fallbacks=parse_fallbacks(fallbacks) if fallbacks is not None else None,
                      candidates=list(candidate), routes=list(route),
                      upstreams=list(upstream), run_out=run_out, session_header=session_header,
                      redact_rules=_existing(redact_rules, "--redact-rules"),
                      stub_index=stub_index)
    result = aio_run(run_serve(cfg, _announce,
                                   simulator=_simulator(simulator, simulator_api)))
    _report(result, as_json)
    if result.get("miss_policy") == "error" and (result.get("answers") or {}).get("missed"):
        raise typer.Exit(EXIT_STUB_MISS)


def serve_stdio(
    corpus: list[str] = typer.Argument(..., metavar="CORPUS", help=_CORPUS_HELP),
    server: str | None = typer.Option(
        None, "--server", metavar="NAME",
help="The recorded MCP server to stand in for: its route or "
        "record-stdio name (may be left out when the corpus has only one)."),
    profile: str = typer.Option("none", "--profile", metavar="PROFILE",
                                help="Perturbation profile: a built-in name or a TOML file."),
    seed: int = typer.Option(0, "--seed", help="Run seed every perturbation derives from."),
    miss: str = typer.Option("error", "--miss", metavar="POLICY",
                             help="error, continue or synthesize (see serve)."),
    session: str | None = typer.Option(None, "--session", metavar="SESSION",
                                       help="The recorded session whose answers to prefer."),
    run_out: str | None = typer.Option(None, "--run-out", metavar="DIR",
                                       help="Write the calls answered here as a run."),
    stub_index: str | None = typer.Option(None, "--stub-index", metavar="PATH",
                                          help="A prebuilt stub index of this corpus."),
) -> None:
    """An MCP stdio server answering from recordings (launch it as the agent's tool server)."""
    from proxy.replay.errors import ServeConfigError
    from proxy.serve_stdio import StdioConfig
    from proxy.serve_stdio import serve_stdio as run_stdio

    if miss not in ("error", "continue", "synthesize"):
        raise ServeConfigError(f"serve-stdio takes --miss error, continue or synthesize, not "
                               f"{miss!r}; use `deploysim serve` to forward or simulate misses.")
    cfg = StdioConfig(corpus=list(corpus), server=server, profile=profile, seed=seed,
                      miss=miss, session=session, run_out=run_out, stub_index=stub_index)
    result = aio_run(run_stdio(cfg), standard=True)
    _report(result, False)


def _existing(path: str | None, option: str) -> str | None:
    import os

    from proxy.replay.errors import ServeConfigError

    if path is not None and not os.path.isfile(path):
        raise ServeConfigError(f"The {option} file {path} does not exist; give the path of an "
                               "existing file.")
    return path


def _announce(line: str) -> None:
    err.print(line, markup=False, highlight=False)


def _report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    from proxy.replay.diagnostics import format_summary

    for line in format_summary(result):
        err.print(line, markup=False, highlight=False)
    if result.get("run_out"):
        err.print(f"deploysim serve: run {result.get('run_id', '')} written to "
                  f"{result['run_out']}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("serve", epilog=exit_codes(
        {0: "stopped (Ctrl-C or SIGTERM)",
         EXIT_STUB_MISS: "under --miss error, calls went unanswered (the summary names "
                         "them)"}))(serve)
    app.command("serve-stdio", epilog=exit_codes(
        {0: "the agent closed stdin or the server was stopped"}))(serve_stdio)
