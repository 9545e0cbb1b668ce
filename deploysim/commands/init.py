"""`deploysim init`: write a commented `deploysim.toml` for `deploysim run` (docs/config.md).

Exit codes: 0 written, 2 a usage error (the file exists without --force, an option the config
cannot hold).
"""

from __future__ import annotations

from pathlib import Path

import typer

from deploysim.console import err, out


def init(
    path: Path = typer.Argument(Path("deploysim.toml"), metavar="[FILE]",
                                help="Where to write the config."),
    corpus: list[str] = typer.Option(["recordings/"], "--corpus", metavar="PATH",
                                     help="Recorded cassettes (file, folder, glob or URL; "
                                     "repeat for several)."),
    baseline_model: str = typer.Option("my-deployed-model", "--baseline-model",
                                       metavar="NAME", help="The model deployed today."),
    candidate_model: str = typer.Option("my-candidate-model", "--candidate-model",
                                        metavar="NAME", help="The model to gate."),
    base_url: str = typer.Option("http://127.0.0.1:8777/v1", "--base-url", metavar="URL",
                                 help="API base URL of both models (OpenAI: ending in /v1)."),
    candidate_base_url: str | None = typer.Option(None, "--candidate-base-url", metavar="URL",
                                                  help="The candidate's, when it differs."),
    api: str = typer.Option("openai-chat", "--api",
                            help="openai-chat | openai-responses | anthropic | gemini."),
    candidate_api: str | None = typer.Option(None, "--candidate-api",
                                             help="The candidate's, when it differs."),
    api_key_env: str | None = typer.Option(None, "--api-key-env", metavar="VAR",
                                           help="Environment variable holding the API key "
                                           "(its name; the key never goes in the file)."),
    candidate_api_key_env: str | None = typer.Option(None, "--candidate-api-key-env",
                                                     metavar="VAR",
                                                     help="The candidate's, when it differs."),
    mode: str = typer.Option("prefix", "--mode", help="prefix | rollout."),
    profile: list[str] = typer.Option(["none"], "--profile", metavar="NAME",
                                      help="Perturbation profile (repeat for several)."),
    seed: list[int] = typer.Option([0], "--seed", metavar="N",
                                   help="Run seed (repeat for several)."),
    miss: str = typer.Option("error", "--miss", help="error | continue (see replay --help)."),
    concurrency: int = typer.Option(16, "--concurrency", metavar="N",
                                    help="Trajectories in flight per replay."),
    rubric: str | None = typer.Option(None, "--rubric", "-r", metavar="FILE",
                                      help="Rubric file or `default` (default: the policy's)."),
    policy: str = typer.Option("example", "--policy", metavar="FILE",
                               help="Gate policy file or `example`."),
    mix: str | None = typer.Option(None, "--mix", metavar="FILE",
                                   help="Deployment mix (TOML or production corpus)."),
    observed: str | None = typer.Option(None, "--observed", metavar="PATH",
                                        help="Production corpus of the deployed model "
                                        "(enables predictions)."),
    out_dir: str = typer.Option("deploysim-out", "--out", "-o", metavar="DIR",
                                help="Folder for everything `deploysim run` writes."),
    audit: str | None = typer.Option("audit.sqlite", "--audit", metavar="FILE",
                                     help="Audit log of gate decisions (`none` for none)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented deploysim.toml: corpus, models, replay settings, rubric, policy,
    outputs (paths in it are relative to its folder). Then run `deploysim run`."""
    from deploysim.project.loading import ConfigError, parse_config
    from deploysim.project.template import InitValues, render_template

    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give a file path, e.g. {path / 'deploysim.toml'}.")
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; edit it, or pass --force to overwrite it.")
    values = InitValues(
        corpus=corpus, baseline_model=baseline_model, baseline_base_url=base_url,
        baseline_api=api, baseline_api_key_env=api_key_env, candidate_model=candidate_model,
        candidate_base_url=candidate_base_url, candidate_api=candidate_api,
        candidate_api_key_env=candidate_api_key_env, mode=mode, profiles=profile, seeds=seed,
        miss=miss, concurrency=concurrency, rubric=rubric, policy=policy, mix=mix,
        observed=observed, out=out_dir, audit=None if audit == "none" else audit)
    text = render_template(values)
    parse_config(text, path, lines=False)  # a bad option is refused before anything is written
    from deploysim.outputs import check_out_file

    check_out_file(str(path), option="FILE")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    out.print(f"wrote {path}", markup=False)
    err.print(f"next: review it, then `deploysim run{_config_arg(path)}`", markup=False)


def _config_arg(path: Path) -> str:
    return "" if path == Path("deploysim.toml") else f" --config {path}"


def register(app: typer.Typer) -> None:
    from deploysim.cli_help import exit_codes

    app.command("init", epilog=exit_codes(
        {0: "written", 2: "the file exists without --force, or an option the config cannot "
         "hold"}))(init)
