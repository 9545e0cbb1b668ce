"""`deploysim stubs build|show|fidelity|query` and `deploysim profiles list|show|operators`."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer

from deploysim.cli_help import exit_codes
from deploysim.console import out, print_json

stubs_app = typer.Typer(help="Build, inspect and check the tool stubs a replay answers from.",
                        no_args_is_help=True)
profiles_app = typer.Typer(help="Perturbation profiles: the environment states a replay runs "
                           "under.", no_args_is_help=True)

# --config/-c is the pipeline's deploysim.toml everywhere; this one configures the stubs only
_CONFIG = typer.Option(None, "--stub-config", metavar="PATH", help="Stub configuration TOML "
                       "(volatile fields, matchers, repeat policy); see docs/stubs.md.")
_CORPUS_OR_INDEX = "A corpus (file, folder, glob, URL) or a prebuilt index."
_DONE = exit_codes({0: "done"})


def _config(path: str | None) -> Any:
    from stubs.stub_config import StubConfig

    return StubConfig.load(path) if path else None


def _index_and_corpus(spec: str, config_path: str | None) -> Any:
    """A prebuilt index file, or a corpus (file, folder, glob, URL) to build one from."""
    from stubs import source
    from stubs.index import StubIndex
    from stubs.store import is_index_file, load_index

    if is_index_file(spec):
        return load_index(spec, expect_config=_config(config_path))
    corpus = source.open_corpus(spec)
    return StubIndex.build(source.corpus_calls(corpus), _config(config_path))


@stubs_app.command("build", epilog=_DONE)
def build(
    corpus: list[str] = typer.Argument(..., metavar="CORPUS",
                                       help="Cassette files, folders, globs or URLs."),
    out_path: str = typer.Option(..., "--out", "-o", metavar="PATH",
                                 help="Where to write the prebuilt index."),
    stub_config: str | None = _CONFIG,
    as_json: bool = typer.Option(False, "--json", help="Print the index header as JSON."),
) -> None:
    """Build a prebuilt stub index (loads in a fraction of the time a corpus takes)."""
    from stubs import source
    from stubs.index import StubIndex
    from stubs.store import save_index

    c = source.open_corpus(corpus)
    index = StubIndex.build(source.corpus_calls(c), _config(stub_config))
    header = save_index(index, out_path, corpus_hash=c.content_hash(), corpus_paths=c.paths)
    header = {k: v for k, v in header.items() if k != "config"} | {"path": out_path}
    if as_json:
        print_json(header)
        return
    out.print(f"wrote {out_path}: {header['calls']} call(s) of {len(header['tools'])} tool(s)")
    out.print(f"index {header['index_hash'][:16]}  corpus {str(header['corpus_hash'])[:16]}")


@stubs_app.command("show", epilog=_DONE)
def show(
    corpus: str = typer.Argument(..., metavar="CORPUS", help=_CORPUS_OR_INDEX),
    tool: str | None = typer.Argument(None, metavar="TOOL",
                                      help="One tool (label or name) to show in detail."),
    stub_config: str | None = _CONFIG,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Tools with call counts and argument and response shapes; one tool in detail."""
    from stubs.describe import describe_tool, describe_tools

    index = _index_and_corpus(corpus, stub_config)
    if tool is None:
        rows = describe_tools(index)
        if as_json:
            print_json({"calls": len(index), "tools": rows})
            return
        width = max([len(r["tool"]) for r in rows] + [4])
        out.print(f"{'tool':<{width}}  {'calls':>7}  {'distinct':>8}  {'sessions':>8}  "
                  f"{'errors':>6}", markup=False)
        for r in rows:
            out.print(f"{r['tool']:<{width}}  {r['calls']:>7}  {r['distinct_calls']:>8}  "
                      f"{r['sessions']:>8}  {r['errors']:>6}", markup=False)
            for part in ("arguments", "response"):
                out.print(f"    {part:<9}  {r[part]}", markup=False, no_wrap=True,
                          overflow="ellipsis")
        return
    detail = describe_tool(index, index.find_label(tool))
    if as_json:
        print_json(detail)
        return
    out.print(f"[bold]{detail['tool']}[/] ({detail['kind']}) — {detail['calls']} call(s), "
              f"{detail['distinct_calls']} distinct, repeat policy {detail['repeat']}, "
              f"matchers {', '.join(detail['match_on'])}")
    out.print(f"arguments: {detail['arguments']}", markup=False)
    out.print(f"response:  {detail['response']}", markup=False)
    if detail["errors"]:
        out.print(f"errors: {detail['errors']} recorded error response(s)")
    out.print("examples:")
    for ex in detail["examples"]:
        out.print(f"  {json.dumps(ex['arguments'], default=str)} -> {ex['response'][:120]}",
                  markup=False)


@stubs_app.command("fidelity", epilog=_DONE)
def fidelity(
    corpus: list[str] = typer.Argument(..., metavar="CORPUS",
                                       help="Cassette files, folders, globs or URLs."),
    holdout: float = typer.Option(0.2, "--holdout", metavar="SHARE",
                                  help="Share of recorded calls held out."),
    seed: int = typer.Option(0, "--seed", help="Seed of the hold-out choice and of synthesis."),
    fallbacks: str = typer.Option("nearest,synthesize", "--fallbacks", metavar="LIST",
                                  help="Fallback layers in order (nearest, synthesize)."),
    stub_config: str | None = _CONFIG,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Hold out recorded calls, answer them from stubs built on the rest, and report how close
    the answers are to the truth, per tool and overall."""
    from stubs import source
    from stubs.fidelity import measure

    c = source.open_corpus(corpus)
    layers = [f.strip() for f in fallbacks.split(",") if f.strip()]
    report = asyncio.run(measure(lambda: source.corpus_calls(c), holdout=holdout, seed=seed,
                                 config=_config(stub_config), fallbacks=layers))
    if as_json:
        print_json(report)
        return
    from stubs.describe import fidelity_table

    out.print(fidelity_table(report))


@stubs_app.command("query", epilog=_DONE)
def query(
    corpus: str = typer.Argument(..., metavar="CORPUS", help=_CORPUS_OR_INDEX),
    tool: str = typer.Argument(..., metavar="TOOL", help="Tool name (http: 'METHOD /path')."),
    arguments: str = typer.Argument("{}", metavar="ARGUMENTS",
                                    help="The call's arguments as JSON."),
    kind: str = typer.Option("function", "--kind", metavar="KIND",
                             help="function | mcp | http."),
    server: str | None = typer.Option(None, "--server", metavar="NAME",
                                      help="MCP server / HTTP route name."),
    session: str | None = typer.Option(None, "--session", metavar="SESSION",
                                       help="Recorded session to prefer."),
    call_index: int = typer.Option(0, "--call-index", help="Position of the call."),
    profile: str = typer.Option("none", "--profile", metavar="PROFILE",
                                help="Perturbation profile (name or TOML file)."),
    seed: int = typer.Option(0, "--seed", help="Run seed."),
    stub_config: str | None = _CONFIG,
) -> None:
    """Answer one tool call from stubs and print the answer as JSON (to try things out)."""
    from recorder.errors import UsageError
    from stubs.api import ToolQuery
    from stubs.engine import StubEngine
    from stubs.errors import BadArguments

    if kind not in ("function", "mcp", "http"):
        raise UsageError(f"--kind is {kind!r}; use function, mcp or http.")
    try:
        args = json.loads(arguments)
    except ValueError as exc:
        raise BadArguments(f"The arguments {arguments!r} are not valid JSON ({exc}); give a "
                           "JSON object such as '{\"city\": \"Paris\"}'.") from None
    engine = StubEngine(_index_and_corpus(corpus, stub_config), seed=seed, profile=profile)
    answer = asyncio.run(engine.answer(ToolQuery(
        kind=kind, name=tool, arguments=args, server=server,  # type: ignore[arg-type]
        session_id=session, call_index=call_index)))
    print_json({
        "provenance": answer.provenance, "content": answer.result.content,
        "is_error": answer.result.is_error, "delay_s": answer.delay_s,
        "timeout": answer.timeout,
        "http": answer.http.model_dump(mode="json") if answer.http else None,
        "mcp_result": answer.mcp_result, "mcp_error": answer.mcp_error,
        "diagnostics": answer.diagnostics})


@profiles_app.command("list", epilog=_DONE)
def list_profiles(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The built-in profiles."""
    from stubs.perturb import builtin_names, load_profile

    profiles = [load_profile(n) for n in builtin_names()]
    rows = [{"name": p.name, "description": p.description,
             "operators": [r.operator for r in p.rules], "hash": p.hash()} for p in profiles]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        ops = ", ".join(r["operators"]) or "-"
        out.print(f"[bold]{r['name']:<9}[/] {r['description']}\n          operators: {ops}")


@profiles_app.command("show", epilog=_DONE)
def show_profile(
    name: str = typer.Argument(..., metavar="PROFILE",
                               help="A built-in profile name or a profile TOML file."),
    as_json: bool = typer.Option(False, "--json", help="Print the full spec as JSON."),
) -> None:
    """A profile's rules with every parameter (defaults filled in)."""
    from stubs.perturb import load_profile

    p = load_profile(name)
    if as_json:
        print_json({**p.spec(), "hash": p.hash(), "source": p.source})
        return
    out.print(f"[bold]{p.name}[/] ({p.source}) {p.description}")
    for r in p.rules:
        params = ", ".join(f"{k}={v!r}" for k, v in r.params.items() if k != "payloads")
        where = ", ".join(r.tools) + (f" except {', '.join(r.exclude)}" if r.exclude else "")
        out.print(f"  p={r.probability:<5g} {r.operator:<18} on {where}  {params}", markup=False)


@profiles_app.command("operators", epilog=_DONE)
def operators(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Every registered perturbation operator (built-in and plugins) with its parameters."""
    from stubs.perturb import OPERATORS, load_plugins

    load_plugins()
    rows: list[dict[str, Any]] = [
        {"name": o.name, "stage": o.stage, "description": o.description,
         "params": {k: v for k, v in o.params.items() if k != "payloads"}}
        for o in sorted(OPERATORS.values(), key=lambda o: o.name)]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        out.print(f"[bold]{r['name']}[/] ({r['stage']}): {r['description']}")
        if r["params"]:
            out.print("    " + ", ".join(f"{k}={v!r}" for k, v in r["params"].items()),
                      markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(stubs_app, name="stubs")
    app.add_typer(profiles_app, name="profiles")
