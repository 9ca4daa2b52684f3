"""Finding and loading the configuration: a YAML file, or the environment alone."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from config.environment import settings_data_from_env
from config.interpolation import interpolate
from config.settings import Settings, parse_settings
from config.yaml_file import read_yaml_mapping

CONFIG_FILE_NAME = "hearth.yaml"
CONFIG_PATH_VARIABLE = "HEARTH_CONFIG"


def find_config_path(explicit: str | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    """Decide which config file to use.

    Order: the explicit path (e.g. ``--config``), else ``HEARTH_CONFIG``, else ``hearth.yaml`` in
    ``cwd`` if it exists, else None (run from the environment alone). Relative paths are taken
    relative to ``cwd``; an explicit or ``HEARTH_CONFIG`` path is returned even if it does not
    exist, so that loading reports it.
    """
    chosen = explicit or env.get(CONFIG_PATH_VARIABLE)
    if chosen:
        return cwd / Path(chosen).expanduser()
    candidate = cwd / CONFIG_FILE_NAME
    return candidate if candidate.is_file() else None


def load_settings(path: Path | None, env: Mapping[str, str]) -> Settings:
    """Load and validate the settings.

    With a path, the YAML file is read, ``${VAR}`` / ``${VAR:-default}`` references in string values
    are replaced from ``env``, and secret fields may be given as ``file:/path/to/secret``. Without a
    path, settings are derived from ``env`` alone (see `config.environment`).

    Args:
        path: The config file, usually from `find_config_path`, or None.
        env: Environment variables, usually ``os.environ``.

    Raises:
        ConfigError: With a one-line message naming the file or key and the reason.
    """
    if path is None:
        data = settings_data_from_env(env)
    else:
        raw = read_yaml_mapping(path)
        data = {str(key): interpolate(value, env, (str(key),)) for key, value in raw.items()}
    return parse_settings(data)
