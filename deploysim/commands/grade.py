"""`deploysim grade | review export | review import | rubric show | rubric schema`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from deploysim.cli_help import exit_codes
from deploysim.console import err, out, print_json

if TYPE_CHECKING:
    from runtime.model_client import ModelClient

review_app = typer.Typer(help="Human review of the grader's verdicts.", no_args_is_help=True)
rubric_app = typer.Typer(help="Look at rubrics.", no_args_is_help=True)

DEFAULT_BASE_URLS = {"openai-chat": "https://api.openai.com/v1",
                     "openai-responses": "https://api.openai.com/v1",
                     "anthropic": "https://api.anthropic.com",
                     "gemini": "https://generativelanguage.googleapis.com"}


def _judge_factory(model: str | None, api: str | None, base_url: str | None,
                   api_key_env: str | None) -> Any:
    """(api, model, base_url) -> a replayer model client (the grader never imports the
    replayer); the command-line judge options override what the rubric says."""

    def make(r_api: str, r_model: str, r_base_url: str | None) -> ModelClient:
        from replayer.clients import make_client

        use_api = api or r_api
        url = base_url or (r_base_url if not api else None) or DEFAULT_BASE_URLS.get(use_api, "")
        return make_client(use_api, model or r_model, url, api_key_env=api_key_env)

    return make


def _cache_path(given: str | None, disabled: bool) -> str | None:
    import os

    if disabled:
        return None
    if given:
        return given
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "deploysim", "judge-responses.sqlite")


def _grade_in_batches(spec: str | list[str], rub: Any, factory: Any, *, judge_model: str | None,
                      verdicts_out: str | None, judge_cache: str | None, write: bool,
                      concurrency: int, poll_s: float | None, prices: str | None
                      ) -> tuple[Any, dict[str, Any] | None]:
    """`--judge-batch`: grade with the judge's calls answered by batches
    (`replayer.batch.judge`); the state goes beside the verdict file."""
    import os

    from grader.grading import grade_async, is_async_rubric
    from grader.verdict_store import resolve_target
    from recorder import storage
    from recorder.errors import UsageError
    from recorder.writer import SUFFIX
    from replayer.batch.judge import JudgeBatches, grade_in_batches
    from runtime.event_loop import run as aio_run

    if not is_async_rubric(rub):
        raise UsageError("--judge-batch needs a rubric with an llm_judge behavior; this one has "
                         "none, so grade without it.")
    out_dir = resolve_target(spec, verdicts_out).out_dir
    if storage.is_url(out_dir):
        raise UsageError(f"--judge-batch keeps its state in a local folder beside the verdicts, "
                         f"not at {out_dir}; give a local --verdicts-out.")
    folder = (os.path.dirname(out_dir) or ".") if out_dir.endswith(SUFFIX) else out_dir
    batches = JudgeBatches(folder, factory, poll_s=poll_s, prices=prices)

    async def one_pass(final: bool) -> Any:
        return await grade_async(spec, rub, judge_factory=batches.factory,
                                 judge_model=judge_model, judge_cache=judge_cache,
                                 write=write and final, verdicts_out=verdicts_out, keep=False,
                                 concurrency=concurrency)

    result = aio_run(grade_in_batches(batches, one_pass))
    return result, batches.summary()


def _fmt(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2%}"


def grade(
    target: list[str] = typer.Argument(..., metavar="RUN_OR_CORPUS",
                                       help="A run folder, or cassettes / folders / globs "
                                       "/ URLs of a corpus."),
    rubric: str = typer.Option("default", "--rubric", "-r", metavar="RUBRIC",
                               help="Rubric TOML file, or `default` for the shipped one."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    verdicts_out: str | None = typer.Option(
        None, "--verdicts-out", metavar="PATH", help="Where the verdict cassette goes (a "
        "folder or a .cassette path); default: beside the run or corpus."),
    no_write: bool = typer.Option(False, "--no-write", help="Grade without storing verdicts."),
    judge_model: str | None = typer.Option(None, "--judge-model", metavar="MODEL",
                                           help="Model for llm_judge behaviors (overrides the "
                                           "rubric's)."),
    judge_api: str | None = typer.Option(None, "--judge-api", metavar="API",
                                         help="openai-chat | openai-responses | anthropic | "
                                         "gemini (default: the rubric's, else openai-chat)."),
    judge_base_url: str | None = typer.Option(None, "--judge-base-url", metavar="URL",
                                              help="Judge endpoint (default: the API's usual)."),
    judge_key_env: str | None = typer.Option(None, "--judge-api-key-env", metavar="VAR",
                                             help="Environment variable holding the judge's "
                                             "API key."),
    judge_cache: str | None = typer.Option(None, "--judge-cache", metavar="PATH",
                                           help="SQLite cache of judge answers (default: "
                                           "~/.cache/deploysim/judge-responses.sqlite)."),
    no_judge_cache: bool = typer.Option(False, "--no-judge-cache",
                                        help="Ask the judge again instead of using the cache."),
    concurrency: int = typer.Option(8, "--concurrency", min=1,
                                    help="Sessions judged at once by an LLM judge."),
    judge_batch: bool = typer.Option(False, "--judge-batch",
                                     help="Send the LLM judge's calls through the provider's "
                                     "batch API (half price; resumable; state in judge-batch/ "
                                     "beside the verdicts)."),
    judge_batch_poll: float | None = typer.Option(None, "--judge-batch-poll", metavar="SECONDS",
                                                  min=0.001, help="First wait between batch "
                                                  "polls, doubling (default 30 s)."),
    judge_prices: str | None = typer.Option(None, "--judge-prices", metavar="PATH",
                                            help="Price table (as replay --prices) to cost the "
                                            "judge's batch calls."),
) -> None:
    """Score every counted turn and session against a rubric; store verdicts beside the data."""
    from grader.grading import grade as do_grade
    from grader.rubric import load_rubric

    rub = load_rubric(rubric)
    spec: str | list[str] = target[0] if len(target) == 1 else target
    factory = _judge_factory(judge_model, judge_api, judge_base_url, judge_key_env)
    batch_summary: dict[str, Any] | None = None
    if judge_batch:
        result, batch_summary = _grade_in_batches(
            spec, rub, factory, judge_model=judge_model, verdicts_out=verdicts_out,
            judge_cache=_cache_path(judge_cache, no_judge_cache), write=not no_write,
            concurrency=concurrency, poll_s=judge_batch_poll, prices=judge_prices)
    else:
        result = do_grade(spec, rub, judge_factory=factory, judge_model=judge_model,
                          judge_cache=_cache_path(judge_cache, no_judge_cache),
                          write=not no_write, verdicts_out=verdicts_out, keep=False,
                          concurrency=concurrency)
    summary = result.summary()
    if batch_summary is not None:
        summary["judge_batch"] = batch_summary
    if as_json:
        print_json(summary)
        return
    out.print(f"rubric {summary['rubric'][:12]} ({rub.name or rub.source}); "
              f"{summary['sessions']} sessions, {summary['turns']} counted turns", markup=False)
    width = max(len(b) for b in summary["behaviors"])
    out.print(f"{'behavior':<{width}}  {'severity':<8}  {'flagged turns':>14}  {'per turn':>8}  "
              f"{'flagged sessions':>16}  {'per session':>11}  {'errors':>6}", markup=False)
    for bid, b in summary["behaviors"].items():
        out.print(f"{bid:<{width}}  {b['severity']:<8}  "
                  f"{str(b['flagged_turns']) + '/' + str(b['turns']):>14}  "
                  f"{_fmt(b['rate_per_turn']):>8}  "
                  f"{str(b['flagged_sessions']) + '/' + str(b['sessions']):>16}  "
                  f"{_fmt(b['rate_per_session']):>11}  {b['errors']:>6}", markup=False)
    if summary["verdicts_path"]:
        out.print(f"verdicts: {summary['verdicts_path']}")
    if batch_summary is not None:
        b, usage = batch_summary, batch_summary["usage"]
        out.print(f"judge batches: {b['batches']} ({b['requests']} requests, {b['failed']} "
                  f"failed), {usage['batch_requests']} answers at batch prices"
                  + (f", ${usage['cost_usd']:.4f}" if usage.get("cost_usd") else ""))
    if summary["errors"]:
        err.print(f"{summary['errors']} unit(s) could not be judged (error verdicts); see the "
                  "`error` field of those verdicts.", markup=False)
    if summary["problems"] or summary["invalid_sessions"]:
        err.print(f"{summary['problems']} damaged record range(s) and "
                  f"{summary['invalid_sessions']} invalid session record(s) were skipped; "
                  "`deploysim verify` says where.", markup=False)


@review_app.command("export", epilog=exit_codes({0: "written"}))
def review_export(
    target: list[str] = typer.Argument(..., metavar="RUN_OR_CORPUS",
                                       help="The graded run folder or corpus."),
    rubric: str = typer.Option("default", "--rubric", "-r", metavar="RUBRIC",
                               help="Rubric file or `default`."),
    n: int = typer.Option(200, "--sample", metavar="N", help="How many items to sample."),
    stratify: str = typer.Option("behavior", "--stratify", metavar="HOW",
                                 help="behavior (equal shares per behavior, flagged and clean) "
                                 "or none (a simple random sample)."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    out_dir: str | None = typer.Option(None, "--out", "-o", metavar="DIR",
                                       help="Folder for review.jsonl, review.csv and "
                                       "review-key.jsonl (default: ./review-<rubric>)."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON: "
                                 "folder, items, files, strata."),
) -> None:
    """Write a blind, stratified sample of verdicts for human labellers (JSONL and CSV)."""
    from grader.errors import ReviewError
    from grader.review import export_review
    from grader.rubric import load_rubric

    if stratify not in ("behavior", "none"):
        raise ReviewError(f"--stratify {stratify!r} is not known; use behavior or none.")
    rub = load_rubric(rubric)
    folder = out_dir or f"review-{rub.hash[:12]}"
    from deploysim.outputs import check_out_dir

    check_out_dir(folder)
    spec: str | list[str] = target[0] if len(target) == 1 else target
    result = export_review(spec, rub, folder, n=n, stratify=stratify,  # type: ignore[arg-type]
                           seed=seed)
    if as_json:
        print_json({"folder": folder, "items": result.items,
                    "files": [f"{folder}/{name}" for name in
                              ("review.csv", "review.jsonl", "review-key.jsonl")],
                    "strata": result.strata})
        return
    out.print(f"wrote {result.items} item(s) to {folder}/review.csv and review.jsonl; keep "
              f"review-key.jsonl from the labellers")
    for key, s in result.strata.items():
        out.print(f"  {key:<40} {s['sampled']:>5} of {s['population']}")


@review_app.command("import", epilog=exit_codes({0: "reported"}))
def review_import(
    labels: str = typer.Argument(..., metavar="LABELS",
                                 help="The labelled review.csv or review.jsonl."),
    key: str | None = typer.Option(None, "--review-key", metavar="PATH",
                                   help="The export's review-key.jsonl (default: next to "
                                   "LABELS)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Report per behavior the grader's precision, recall and Cohen's kappa against humans."""
    from grader.review import import_labels

    report = import_labels(labels, key)
    if as_json:
        print_json(report)
        return
    out.print(f"{report['labelled']} labelled item(s), {report['unlabelled']} left blank")
    rows = [*report["behaviors"].items(), ("all", report["all"])]
    width = max(len(b) for b, _ in rows)
    out.print(f"{'behavior':<{width}}  {'n':>5} {'tp':>5} {'fp':>5} {'fn':>5} {'tn':>5}  "
              f"{'precision':>9} {'recall':>7} {'kappa':>7}", markup=False)
    for bid, r in rows:
        out.print(f"{bid:<{width}}  {r['n']:>5} {r['tp']:>5} {r['fp']:>5} {r['fn']:>5} "
                  f"{r['tn']:>5}  {_num(r['precision']):>9} {_num(r['recall']):>7} "
                  f"{_num(r['kappa']):>7}", markup=False)


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


@rubric_app.command("show", epilog=exit_codes({0: "the rubric is valid"}))
def rubric_show(
    rubric: str = typer.Argument("default", metavar="RUBRIC", help="Rubric file or `default`."),
    as_json: bool = typer.Option(False, "--json", help="Print the validated rubric as JSON."),
) -> None:
    """Validate a rubric and list its behaviors with its version hash."""
    from grader.rubric import load_rubric

    rub = load_rubric(rubric)
    if as_json:
        print_json({"hash": rub.hash, **rub.model_dump(mode="json", by_alias=True)})
        return
    out.print(f"{rub.name or rub.source}: {len(rub.behaviors)} behaviors, hash {rub.hash}")
    for b in rub.behaviors:
        out.print(f"  {b.id:<28} {b.severity:<9} {b.scope:<11} {b.detector.type:<18} "
                  f"{b.description}", markup=False)


@rubric_app.command("schema", epilog=exit_codes({0: "printed"}))
def rubric_schema() -> None:
    """Print the JSON Schema of rubric files (every installed detector included)."""
    from grader.rubric import rubric_schema as schema

    print_json(schema())


def register(app: typer.Typer) -> None:
    app.command("grade", epilog=exit_codes({0: "graded"}))(grade)
    app.add_typer(review_app, name="review")
    app.add_typer(rubric_app, name="rubric")
