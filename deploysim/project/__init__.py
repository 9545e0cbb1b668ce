"""A project's `deploysim.toml`: one config for the whole pipeline (docs/config.md).

    settings.py       the pydantic model of the file (`deploysim schema config`)
    loading.py        finding and reading it; errors name the file, line and key
    template.py       the commented file `deploysim init` writes
    cli_defaults.py   the config as click's default_map: every command's defaults
    step_records.py   what makes `deploysim run` resumable
    workflow.py       `deploysim run`'s workflow
"""

from deploysim.project.loading import ConfigError, LoadedConfig, find_config, load_config
from deploysim.project.settings import DeploysimConfig, Endpoint, ReplaySettings

__all__ = ["ConfigError", "DeploysimConfig", "Endpoint", "LoadedConfig", "ReplaySettings",
           "config_schema", "find_config", "load_config"]


def config_schema() -> dict[str, object]:
    """The JSON Schema of `deploysim.toml`."""
    return DeploysimConfig.model_json_schema()
