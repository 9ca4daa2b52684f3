"""Hearth's typed configuration: the settings models, the YAML/env loader, and their errors.

The bottom layer: imports nothing else of the project, does no I/O at import, holds no global state.
"""

from config.access import AccessSettings
from config.channels import ChannelsSettings, DiscordSettings, SlackSettings, TelegramSettings
from config.durations import Duration, format_duration, parse_duration
from config.errors import ConfigError
from config.loader import find_config_path, load_settings
from config.models import (
    CircuitSettings,
    ModelRef,
    ModelSettings,
    ModelsSettings,
    Price,
    ProviderSettings,
    RetrySettings,
)
from config.profiles import AgentSettings, CompactionSettings, Profile, Route, RouteMatch
from config.rendering import render_masked
from config.settings import (
    LimitsSettings,
    ReplySettings,
    ServerSettings,
    SessionsSettings,
    Settings,
    missing_model_help,
)
from config.starter import starter_config

__all__ = [
    "AccessSettings",
    "AgentSettings",
    "ChannelsSettings",
    "CircuitSettings",
    "CompactionSettings",
    "ConfigError",
    "DiscordSettings",
    "Duration",
    "LimitsSettings",
    "ModelRef",
    "ModelSettings",
    "ModelsSettings",
    "Price",
    "Profile",
    "ProviderSettings",
    "ReplySettings",
    "RetrySettings",
    "Route",
    "RouteMatch",
    "ServerSettings",
    "SessionsSettings",
    "Settings",
    "SlackSettings",
    "TelegramSettings",
    "find_config_path",
    "format_duration",
    "load_settings",
    "missing_model_help",
    "parse_duration",
    "render_masked",
    "starter_config",
]
