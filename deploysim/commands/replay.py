"""`deploysim replay`: drive a candidate model through recorded sessions."""

from __future__ import annotations

import json
import math
from typing import Any

import typer

from deploysim.console import err, out, print_json
from runtime.event_loop import run as aio_run

_HINTS = {
    "auth": "check the API key (the provider's variable, or --api-key-env)",
    "unreachable": "check --base-url and that the endpoint is up",
    "context_length": "those prompts exceed the model's context window",
    "malformed_response": "the endpoint does not speak the --api format",
    "invalid_tool_arguments": "the model produced tool arguments that are not JSON objects",
    "empty_reply": "the model answered with neither text nor a tool call",
    "rate_limited": "lower --concurrency or set --rpm/--tpm",
    "http_404": "check --base-url (OpenAI URLs end in /v1, Anthropic's do not)",
    "stub_miss": "a tool call had no recording and no fallback answered it (named above)",
    "batch_expired": "the provider's batches expired before running them (--batch; retried)",
    "batch_cancelled": "their batches were cancelled at the provider (--batch; retried)",
    "batch_canceled": "their batches were cancelled at the provider (--batch; retried)",
}


def _params(pairs: list[str]) -> dict[str, Any]:
    from replayer.errors import ReplayConfigError

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ReplayConfigError(f"--param {pair!r} is not KEY=VALUE; write e.g. "
                                    "--param temperature=0.7.")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


def _workers(raw: str) -> None:
    """`--workers` is kept, hidden, so that scripts written for the worker processes it used
    to start are told what to do instead rather than "No such option"."""
    from replayer.errors import ReplayConfigError

    if raw.strip() != "1":
        raise ReplayConfigError(f"--workers {raw} is no longer supported: one process keeps a "
                                "model endpoint busy (docs/scaling.md); to spread a replay over "
                                "more cores or machines use --executor ray --ray-workers N.")


def _check_rates(timeout: float, rpm: float | None, tpm: float | None) -> None:
    """Seconds and limits the config model would take as they are: a negative or NaN timeout
    fails every call as `unreachable`, and a negative limit never lets a request through."""
    from replayer.errors import ReplayConfigError

    if not math.isfinite(timeout) or timeout <= 0:
        raise ReplayConfigError(f"--timeout {timeout:g} is not a usable number of seconds; "
                                "give a positive number, e.g. --timeout 120.")
    for name, limit in (("--rpm", rpm), ("--tpm", tpm)):
        if limit is not None and (not math.isfinite(limit) or limit < 0):
            raise ReplayConfigError(f"{name} {limit:g} is not a usable limit per minute; give "
                                    "a positive number, or 0 for no limit.")


def replay(
    corpus: list[str] = typer.Argument(..., metavar="CORPUS",
                                       help="Recorded cassettes (files, folders, globs)."),
    model: str = typer.Option(..., "--model", metavar="MODEL", help="Candidate model name."),
    base_url: str = typer.Option(..., "--base-url", metavar="URL",
                                 help="API base URL (OpenAI: ending in /v1)."),
    out_dir: str = typer.Option(..., "--out", "-o", metavar="DIR",
                                help="Run folder (local path or fsspec URL)."),
    api: str = typer.Option("openai-chat", "--api", metavar="API",
                            help="openai-chat | openai-responses | anthropic | gemini."),
    api_key_env: str | None = typer.Option(None, "--api-key-env", metavar="VAR",
                                           help="Environment variable holding the API key."),
    mode: str = typer.Option("prefix", "--mode", metavar="MODE",
                             help="prefix (regenerate each turn) | rollout."),
    profile: str | None = typer.Option(None, "--profile", metavar="PROFILE",
                                       help="Perturbation profile for stubs."),
    seed: int = typer.Option(0, "--seed", help="Run seed every random choice derives from."),
    samples: int = typer.Option(1, "--samples", help="Samples per turn (K)."),
    sample: int | None = typer.Option(None, "--sample", help="Draw N sessions."),
    stratify_by: str | None = typer.Option(None, "--stratify-by", metavar="LABEL",
                                           help="Label to stratify --sample by."),
    filter_expr: str | None = typer.Option(None, "--filter", metavar="EXPR",
                                           help='Session filter, e.g. \'segment == "x"\'.'),
    concurrency: int = typer.Option(16, "--concurrency",
                                    help="Trajectories in flight at most; calls in flight to "
                                         "each endpoint adapt below it (docs/replayer.md)."),
    max_steps: int = typer.Option(8, "--max-steps", help="Model calls per turn at most."),
    executor: str = typer.Option("local", "--executor", metavar="EXECUTOR", help="local | ray."),
    workers: str = typer.Option("1", "--workers", metavar="N", hidden=True,
                                help="Retired: refused unless 1 (see --executor ray)."),
    ray_address: str | None = typer.Option(None, "--ray-address", metavar="ADDRESS",
                                           help="Ray cluster address (default: local Ray)."),
    ray_workers: int | None = typer.Option(None, "--ray-workers", help="Ray shards."),
    param: list[str] = typer.Option([], "--param", metavar="KEY=VALUE",
                                    help="Override a request parameter."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Bypass the response cache."),
    cache_dir: str | None = typer.Option(None, "--cache-dir", metavar="DIR",
                                         help="Shared response cache."),
    user_simulator: str | None = typer.Option(None, "--user-simulator", metavar="MODEL",
                                              help="Rollout: model simulating the user."),
    tool_simulator: str | None = typer.Option(None, "--tool-simulator", metavar="MODEL",
                                              help="Model the stubs may simulate tools with."),
    timeout: float = typer.Option(120.0, "--timeout", metavar="SECONDS",
                                  help="Seconds per model call."),
    max_attempts: int = typer.Option(6, "--max-attempts", help="Attempts per model call."),
    rpm: float | None = typer.Option(None, "--rpm", metavar="N", help="Requests per minute limit."),
    tpm: float | None = typer.Option(None, "--tpm", metavar="N", help="Tokens per minute limit."),
    prices: str | None = typer.Option(None, "--prices", metavar="PATH",
                                      help="Price table (JSON or TOML)."),
    fallbacks: str = typer.Option(
        "nearest,synthesize", "--fallbacks", metavar="LIST",
        help="Fallbacks tried, in order, for a call no recording matches: any of nearest, "
             "synthesize, simulate (needs --tool-simulator), or none."),
    miss: str = typer.Option(
        "error", "--miss", metavar="POLICY",
        help="When neither a recording nor a fallback answers a call: error (the candidate "
             "sees the tool's own error and the turn fails as stub_miss; exit status 3) or "
             "continue (the turn goes on; the miss is counted)."),
    batch: bool = typer.Option(False, "--batch",
                               help="Send the candidate's calls through the provider's batch "
                                    "API (half price; one batch round per step; resumable)."),
    batch_poll: float | None = typer.Option(None, "--batch-poll", metavar="SECONDS",
                                            help="First wait between batch polls, doubling "
                                                 "to 10 min (default 30 s)."),
    progress: str | None = typer.Option(None, "--progress", metavar="MODE",
                                        help="bar | log | off."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Start the --out run folder afresh: remove the run "
                                        "there first (only what a run wrote; refused if it "
                                        "holds other files)."),
) -> None:
    """Replay recorded sessions through a candidate model with tools answered by stubs."""

    from pydantic import ValidationError

    from replayer.errors import ReplayConfigError
    from replayer.replay_config import ReplayConfig
    from stubs.miss_policy import parse_fallbacks

    _check_rates(timeout, rpm, tpm)
    _workers(workers)
    try:
        config = ReplayConfig(
            corpus=corpus, out=out_dir, model=model, base_url=base_url, api=api,
            api_key_env=api_key_env, mode=mode, profile=profile, seed=seed, samples=samples,
            sample=sample, stratify_by=stratify_by, filter=filter_expr, concurrency=concurrency,
            max_steps=max_steps, executor=executor,
            ray_address=ray_address,
            ray_workers=ray_workers, params=_params(param), cache=not no_cache,
            cache_dir=cache_dir, user_simulator=user_simulator, tool_simulator=tool_simulator,
            timeout=timeout, max_attempts=max_attempts, requests_per_minute=rpm,
            tokens_per_minute=tpm, prices=prices, stub_fallbacks=parse_fallbacks(fallbacks),
            stub_miss=miss, batch=batch, batch_poll_s=batch_poll)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "--" + str(first["loc"][0]).replace("_", "-")
        raise ReplayConfigError(f"{name} has a value deploysim cannot use ({first['msg']}); "
                                "see `deploysim replay --help`.") from exc
    config.check()
    from deploysim.outputs import check_out_dir

    check_out_dir(config.out)
    if overwrite:
        from recorder.corpus import resolve
        from replayer.clients import resolve_api_key
        from replayer.run_folder import reset

        # what would stop the new run at once is checked before the old one is removed
        resolve(config.corpus)
        resolve_api_key(config.api, config.base_url, config.api_key_env)
        removed = reset(config.out)
        if removed:
            err.print(f"--overwrite: removed the earlier run in {config.out} ({removed} "
                      "files)", markup=False, highlight=False)
    from replayer.replay import replay as run_replay

    summary = aio_run(run_replay(config, console=err, progress_mode=progress))
    if as_json:
        print_json(summary)
    else:
        _print(summary)
    counts = summary["counts"]
    if summary.get("failed_by_miss"):  # before 1: it names what to fix, even if all failed
        raise typer.Exit(EXIT_STUB_MISS)
    if counts["turns"] and counts["errors"] == counts["turns"]:
        raise typer.Exit(1)


EXIT_STUB_MISS = 3
"""`--miss error` failed at least one turn: a tool call neither a recording nor a fallback
could answer (the summary names the calls; docs/replayer.md)."""


def _print(summary: dict[str, Any]) -> None:
    c = summary["counts"]
    out.print(f"replay {summary['run_id']} -> {summary['out']}: {c['trajectories']} "
              f"trajectories, {c['turns']} turns, {c['tool_calls']} tool calls, "
              f"{c['errors']} errors ({summary['written']} written now, {summary['skipped']} "
              f"already present) in {summary['elapsed_s']:.1f}s", markup=False)
    if summary["provenance"]:
        from stubs.miss_policy import format_mix

        mix = ", ".join(f"{k} {v}" for k, v in summary["provenance"].items())
        out.print(f"tool answers: {format_mix(summary['answers'])} ({mix})", markup=False)
    for miss in summary.get("missed_calls") or []:
        args = json.dumps(miss.get("arguments"), default=str, ensure_ascii=False)
        what = "failed the turn" if miss.get("failed_turn") else "answered with the tool's error"
        out.print(f"missed: {miss.get('tool')} {args[:160]} in {miss.get('trajectory')} "
                  f"(session {miss.get('session')}, call {miss.get('call_index')}): {what}",
                  markup=False)
    if summary.get("failed_by_miss"):
        err.print(f"deploysim replay: {summary['failed_by_miss']} turn(s) failed with "
                  "stub_miss: neither a recording nor a fallback answered a tool call (--miss "
                  f"error); exit status {EXIT_STUB_MISS}", markup=False, highlight=False)
    for warning in summary.get("warnings") or []:
        err.print(f"deploysim replay: warning: {warning}", markup=False, highlight=False)
    for reason, n in summary["errors_by_reason"].items():
        hint = _HINTS.get(reason, "see the trajectories' error field")
        out.print(f"errors: {n} turn(s) failed with {reason}: {hint}", markup=False)
    u = summary["usage"]
    cost = f"${u['cost_usd']:.4f}" + (f" ({u['unpriced_requests']} unpriced)"
                                      if u["unpriced_requests"] else "")
    out.print(f"model: {u['requests']} requests, {u['retries']} retries, {u['cache_hits']} "
              f"cache hits; tokens in {u['input_tokens']:,} out {u['output_tokens']:,}; "
              f"cost {cost}", markup=False)
    from replayer.clients.adaptive import describe

    for line in describe(summary.get("concurrency") or {}):
        out.print(f"concurrency: {line}", markup=False)
    if summary.get("batch"):
        b = summary["batch"]
        out.print(f"batch: {b['rounds']} rounds, {b['batches']} batches, {b['requests']} "
                  f"requests ({u.get('batch_requests', 0)} answered now at batch prices), "
                  f"{b['retried']} retried, {b['failed']} failed", markup=False)


def register(app: typer.Typer) -> None:
    from deploysim.cli_help import exit_codes

    app.command("replay", epilog=exit_codes(
        {0: "replayed (turns that failed are counted in the summary)",
         1: "every turn failed (the summary names why)",
         EXIT_STUB_MISS: "--miss error failed a turn: a tool call neither a recording nor a "
                         "fallback answered"}))(replay)
