"""`deploysim record`, `deploysim record-stdio`, `deploysim ca`: capture live agent traffic.

    deploysim record --upstream https://api.openai.com --upstream github=https://tools/mcp \\
        --listen 127.0.0.1:8787 --out cassettes/
    deploysim record --mitm --listen 127.0.0.1:8080 --out cassettes/
    deploysim record-stdio --out cassettes/ -- npx -y @modelcontextprotocol/server-everything
    deploysim ca

See docs/recording-proxy.md.
"""

from __future__ import annotations

import math
import os
import shutil
from typing import TYPE_CHECKING

import typer

from deploysim.cli_help import exit_codes
from deploysim.console import err, print_json
from runtime.event_loop import run as aio_run

if TYPE_CHECKING:
    from proxy.recording import RecordConfig

_QUEUE_POLICIES = ("drop", "block")
_DURABILITY = ("record", "interval", "close")


def _config(out: str, listen: str, upstream: list[str], mitm: bool, mitm_mode: str,
            upstream_ca: str | None, insecure_upstream: bool, queue_size: int,
            queue_policy: str, session_header: str, segment_header: str,
            redact_rules: str | None, durability: str, rotate_mb: int, derive: bool,
            connect_timeout: float, read_timeout: float,
            writer_nice: int = 0) -> RecordConfig:
    from proxy.forward import Timeouts
    from proxy.recording import RecordConfig, parse_listen
    from recorder.errors import UsageError

    if queue_policy not in _QUEUE_POLICIES:
        raise UsageError(f"--queue-policy {queue_policy!r} is not one of drop, block; use drop "
                         "(count and keep going) or block (make requests wait for the writer).")
    if durability not in _DURABILITY:
        raise UsageError(f"--durability {durability!r} is not one of record, interval, close; "
                         "use interval unless you need an fsync per record.")
    if not 0 <= writer_nice <= 19:
        raise UsageError(f"--writer-nice {writer_nice} must be between 0 and 19.")
    if queue_size < 1:
        raise UsageError(f"--queue-size {queue_size} must be at least 1 (how many exchanges "
                         "may wait for the writer).")
    if rotate_mb < 0:
        raise UsageError(f"--rotate-mb {rotate_mb} is negative; give the size in MB after "
                         "which a new cassette starts, or 0 for never.")
    for label, seconds in (("--connect-timeout", connect_timeout),
                           ("--read-timeout", read_timeout)):
        if not math.isfinite(seconds) or seconds < 0:
            raise UsageError(f"{label} {seconds:g} is not a usable number of seconds; give a "
                             "positive number, or 0 for no timeout.")
    for label, path in (("--upstream-ca", upstream_ca), ("--redact-rules", redact_rules)):
        if path is not None and not os.path.isfile(path):
            raise UsageError(f"The {label} file {path} does not exist; give the path of an "
                             "existing file.")
    if upstream_ca is not None:
        _check_ca(upstream_ca)
    return RecordConfig(
        out=out, listen=parse_listen(listen), upstreams=list(upstream), mitm=mitm,
        mitm_mode=mitm_mode, upstream_ca=upstream_ca, ssl_insecure=insecure_upstream,
        queue_size=queue_size, queue_policy=queue_policy,  # type: ignore[arg-type]
        session_header=session_header, segment_header=segment_header,
        redact_rules=redact_rules, durability=durability,  # type: ignore[arg-type]
        rotate_bytes=rotate_mb * 1024 * 1024 if rotate_mb > 0 else None,
        derive_sessions=derive,
        timeouts=Timeouts(connect=connect_timeout or None, read=read_timeout or None),
        writer_niceness=writer_nice,
    )


def _check_ca(path: str) -> None:
    """Load the bundle now, as the gateway will: a bad one would otherwise fail only on the
    first HTTPS request, after the proxy announced it was recording."""
    import ssl

    from recorder.errors import UsageError

    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise UsageError(f"The --upstream-ca file {path} holds no PEM CA certificate that "
                         f"can be loaded ({getattr(exc, 'reason', None) or exc}); give a PEM "
                         "bundle (-----BEGIN CERTIFICATE-----).") from exc


def _check_command(command: list[str]) -> None:
    """Refuse a server command that cannot be started, before the recorder starts anything
    (a writer process, a cassette) that would then have to be torn down."""
    from recorder.errors import UsageError

    if not command:
        raise UsageError("Give the MCP server command after --, e.g. "
                         "`deploysim record-stdio --out DIR -- python server.py`.")
    exe = command[0]
    if shutil.which(exe) is None:
        if os.sep not in exe:
            where = "is not found on PATH"
        elif not os.path.exists(exe):
            where = "does not exist"
        else:
            where = "is a folder" if os.path.isdir(exe) else "is not executable"
        raise UsageError(f"The MCP server command {exe} {where}; give a command that runs "
                         "after --, e.g. `-- python server.py`.")


def record(
    out: str = typer.Option(..., "--out", "-o", metavar="DIR",
                            help="Folder (or fsspec URL) for cassettes."),
    upstream: list[str] = typer.Option(
        [], "--upstream", "-u", metavar="[NAME=]URL",
        help="[NAME=]URL to forward to; unnamed is served at /, named under /NAME/. Repeatable."),
    listen: str = typer.Option("127.0.0.1:8787", "--listen", metavar="HOST:PORT",
                               help="HOST:PORT to listen on."),
    mitm: bool = typer.Option(False, "--mitm",
                              help="Run a forward proxy (mitmproxy) instead of the gateway."),
    mitm_mode: str = typer.Option(
        "regular", "--mitm-mode", metavar="MODE",
help="regular, upstream:URL or reverse:URL (with --mitm)."),
    upstream_ca: str | None = typer.Option(
        None, "--upstream-ca", metavar="PATH",
help="Extra PEM CA bundle to trust for HTTPS upstreams."),
    insecure_upstream: bool = typer.Option(
        False, "--insecure-upstream", help="Do not verify upstream certificates (labs only)."),
    queue_size: int = typer.Option(10_000, "--queue-size",
                                   help="Exchanges that may wait for the writer."),
    queue_policy: str = typer.Option(
        "drop", "--queue-policy", metavar="POLICY",
help="When the queue is full: drop (count) or block."),
    session_header: str = typer.Option("X-Deploysim-Session", "--session-header",
                                       metavar="HEADER",
                                       help="Request header carrying an explicit session id."),
    segment_header: str = typer.Option("X-Deploysim-Segment", "--segment-header",
                                       metavar="HEADER",
                                       help="Request header carrying the traffic segment."),
    redact_rules: str | None = typer.Option(
        None, "--redact-rules", metavar="PATH",
help="TOML file of extra redaction rules (defaults always on)."),
    durability: str = typer.Option("interval", "--durability", metavar="POLICY",
                                   help="fsync policy: record, interval or close."),
    rotate_mb: int = typer.Option(256, "--rotate-mb",
                                  help="Start a new cassette file after this many MB (0: never)."),
    derive: bool = typer.Option(True, "--derive-sessions/--no-derive-sessions",
                                help="Append derived sessions on a clean stop."),
    connect_timeout: float = typer.Option(10.0, "--connect-timeout", metavar="SECONDS",
                                          help="Seconds to connect upstream (0: none)."),
    read_timeout: float = typer.Option(600.0, "--read-timeout", metavar="SECONDS",
                                       help="Longest upstream silence in seconds (0: none)."),
    writer_nice: int = typer.Option(
        0, "--writer-nice",
        help="How much lower the cassette writer's CPU priority is (0-19; 0: equal footing)."),
    as_json: bool = typer.Option(False, "--json", help="Print the closing summary as JSON."),
) -> None:
    """Record live agent traffic while forwarding it untouched; stop with Ctrl-C or SIGTERM."""
    from proxy.recording import record as run_record
    from recorder.errors import UsageError

    if not mitm and not upstream:
        raise UsageError("Give at least one --upstream [NAME=]URL for the gateway, or --mitm "
                         "to run a forward proxy.")
    if mitm and upstream:
        raise UsageError("--upstream is for the gateway; with --mitm use "
                         "--mitm-mode reverse:URL or upstream:URL instead.")
    # parsed again when the servers start; parsed here so a typo is refused before the
    # cassette folder and the writer process exist
    from proxy.mitm_runner import parse_mode
    from proxy.routes import parse_upstream

    if mitm:
        parse_mode(mitm_mode)
    for spec in upstream:
        parse_upstream(spec)
    cfg = _config(out, listen, upstream, mitm, mitm_mode, upstream_ca, insecure_upstream,
                  queue_size, queue_policy, session_header, segment_header, redact_rules,
                  durability, rotate_mb, derive, connect_timeout, read_timeout, writer_nice)
    result = aio_run(run_record(cfg, announce=_announce))
    _report(result, as_json)


def record_stdio(
    command: list[str] = typer.Argument(..., metavar="-- COMMAND",
                                        help="The MCP server command and its arguments "
                                        "(after --)."),
    out: str = typer.Option(..., "--out", "-o", metavar="DIR",
                            help="Folder (or fsspec URL) for cassettes."),
    name: str | None = typer.Option(
        None, "--name", metavar="NAME",
help="The server's name in the recording, what `serve-stdio --server` "
        "takes (default: from the command, e.g. `uvx mcp-server-time` → time)."),
    session: str | None = typer.Option(None, "--session", metavar="SESSION",
                                          help="Session id to record."),
    segment: str | None = typer.Option(None, "--segment", metavar="SEGMENT",
                                          help="Traffic segment label."),
    queue_size: int = typer.Option(10_000, "--queue-size",
                                   help="Exchanges that may wait for the writer."),
    queue_policy: str = typer.Option("drop", "--queue-policy", metavar="POLICY",
                                     help="drop or block."),
    redact_rules: str | None = typer.Option(None, "--redact-rules", metavar="PATH",
                                            help="TOML file of extra redaction rules."),
    durability: str = typer.Option("interval", "--durability", metavar="POLICY",
                                   help="fsync policy: record, interval or close."),
    derive: bool = typer.Option(True, "--derive-sessions/--no-derive-sessions",
                                help="Append derived sessions on a clean stop."),
) -> None:
    """Spawn an MCP stdio server and relay the agent's stdio to it, recording every message."""
    from proxy.recording import record_stdio as run_stdio
    from proxy.stdio_shim import default_server_name

    _check_command(command)
    cfg = _config(out, "127.0.0.1:0", [], False, "regular", None, False, queue_size,
                  queue_policy, "X-Deploysim-Session", "X-Deploysim-Segment", redact_rules,
                  durability, 256, derive, 10.0, 600.0)
    if name is None:  # named from the command, so `serve-stdio --server` has a name to take
        name = default_server_name(list(command))
        _announce(f"deploysim record-stdio: recording the server as {name!r} (serve it with "
                  f"`deploysim serve-stdio {out} --server {name}`; --name sets another)")
    code, result = aio_run(run_stdio(cfg, list(command), route=name, session=session,
                                         segment=segment, announce=_announce),
                           standard=True)
    _report(result, False)
    raise typer.Exit(code)


def ca(
    as_json: bool = typer.Option(False, "--json", help="Print paths and variables as JSON."),
) -> None:
    """Print where the forward proxy's CA certificate is and how to make clients trust it."""
    from proxy.mitm_runner import ca_dir, ensure_ca

    path = ensure_ca()
    env = {"SSL_CERT_FILE": path, "REQUESTS_CA_BUNDLE": path, "NODE_EXTRA_CA_CERTS": path}
    if as_json:
        print_json({"ca_cert": path, "ca_dir": ca_dir(), "env": env})
        return
    import sys

    lines = [
        path,
        "",
        "Trust it in the agent's environment (then set HTTPS_PROXY to the proxy):",
        f"  export SSL_CERT_FILE={path}        # Python ssl, httpx/httpx2, openai, anthropic",
        f"  export REQUESTS_CA_BUNDLE={path}   # requests",
        f"  export NODE_EXTRA_CA_CERTS={path}  # Node.js",
        "SSL_CERT_FILE replaces the default bundle: through the proxy every HTTPS site is "
        "signed by this CA, so that is all the agent needs.",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


def _announce(line: str) -> None:
    err.print(line, markup=False, highlight=False)


def _report(result: dict[str, object], as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    errors = result.get("record_errors") or {}
    n_err = sum(errors.values()) if isinstance(errors, dict) else 0
    err.print(f"deploysim: recorded {result['exchanges']} exchange(s) of "
              f"{result.get('forwarded')} forwarded and {result['sessions']} session(s) into "
              f"{len(result['cassettes'])} cassette(s)"  # type: ignore[arg-type]
              f"; dropped {result['dropped']}; record errors {n_err}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("record", epilog=exit_codes(
        {0: "stopped (Ctrl-C or SIGTERM) with the cassettes closed"}))(record)
    app.command("record-stdio", epilog=exit_codes(
        {0: "the server exited with 0 (otherwise its own exit status; 143 when stopped by "
            "SIGTERM)"}))(record_stdio)
    app.command("ca", epilog=exit_codes({0: "printed"}))(ca)
