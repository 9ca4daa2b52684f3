"""The root `Settings` model, the small top-level sections, and validation into `ConfigError`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from config.access import AccessSettings
from config.channels import ChannelsSettings
from config.durations import Duration
from config.errors import error_from_validation, key_error
from config.memory import MemorySettings
from config.models import ModelsSettings
from config.operations import (
    HeartbeatSettings,
    LoggingSettings,
    MaintenanceSettings,
    ShutdownSettings,
)
from config.profiles import AgentSettings, Profile
from config.tools import ToolsSettings

MISSING_MODEL_HELP = (
    "no model configured: set ANTHROPIC_API_KEY or OPENAI_API_KEY "
    "(optionally ANTHROPIC_BASE_URL / OPENAI_BASE_URL), "
    "or models.providers and models.tiers in hearth.yaml"
)


class SessionsSettings(BaseModel):
    """The ``sessions:`` section.

    Attributes:
        idle_ttl: A warm session idle this long is evicted from memory (it stays in the store).
        max_warm: Capacity of the warm-session LRU.
        retention: History older than this is deleted.
        lane_mode: What a message arriving mid-turn does: run after, merge into the next turn, or
            cancel the running turn.
        max_concurrent_turns: Cap on turns running at once, per channel (a platform that answers
            slowly holds its own slots only).
        lane_queue: Messages that may wait in one thread's lane; beyond it the thread is told it
            is flooded and the extra messages are dropped.
        recovery_max_age: At start, unanswered messages younger than this are answered (or their
            cut replies finished); older ones get a short apology instead of a stale answer.
        ledger_interval: How often a streaming reply's text is written to the delivery ledger.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    idle_ttl: Duration = timedelta(hours=1)
    max_warm: int = Field(default=10000, gt=0)
    retention: Duration = timedelta(days=90)
    lane_mode: Literal["queue", "collect", "interrupt"] = "collect"
    max_concurrent_turns: int = Field(default=32, gt=0)
    lane_queue: int = Field(default=50, gt=0)
    recovery_max_age: Duration = timedelta(minutes=10)
    ledger_interval: Duration = timedelta(seconds=1)


class ReplySettings(BaseModel):
    """The ``reply:`` section; ``footer`` is the TTFT footer on final messages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    footer: Literal["off", "ttft", "full"] = "ttft"


class ServerSettings(BaseModel):
    """The ``server:`` section: health, metrics, Slack HTTP events and Telegram webhook endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8780, ge=0, le=65535)


class LimitsSettings(BaseModel):
    """The ``limits:`` section: per-user message rate and daily token budgets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_messages_per_minute: int = Field(default=20, ge=0)
    user_daily_tokens: int = Field(default=200000, ge=0)
    workspace_daily_tokens: int = Field(default=2000000, ge=0)


class Settings(BaseModel):
    """The whole configuration; every section has defaults, so ``Settings()`` is valid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Path("./data")
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    sessions: SessionsSettings = Field(default_factory=SessionsSettings)
    reply: ReplySettings = Field(default_factory=ReplySettings)
    channels: ChannelsSettings = Field(default_factory=ChannelsSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    tools: ToolsSettings = Field(default_factory=ToolsSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    shutdown: ShutdownSettings = Field(default_factory=ShutdownSettings)
    heartbeat: HeartbeatSettings = Field(default_factory=HeartbeatSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @model_validator(mode="after")
    def _profiles_name_known_tiers(self) -> Self:
        # With no tiers at all, the runtime reports "no model configured" (missing_model_help).
        tiers = self.models.tiers
        if not tiers:
            return self
        for name, profile in self.agent.profiles.items():
            if profile.tier not in tiers:
                configured = ", ".join(tiers)
                raise key_error(
                    ("agent", "profiles", name, "tier"),
                    f'unknown tier "{profile.tier}" (configured: {configured})',
                )
        return self

    def profile_for(
        self, platform: str | None, workspace: str | None, chat: str | None, user: str | None
    ) -> tuple[str, Profile]:
        """Pick the agent profile for a conversation.

        The first route whose match fits wins (a None field in a match matches anything); without a
        match the ``default`` profile applies.

        Returns:
            The profile's name and the profile.
        """
        return self.agent.profile_for(platform, workspace, chat, user)


def parse_settings(data: Mapping[str, object]) -> Settings:
    """Validate plain data (parsed YAML or built from the environment) into `Settings`.

    Raises:
        ConfigError: Naming the first invalid key.
    """
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise error_from_validation(err) from None


def missing_model_help(settings: Settings) -> str | None:
    """A one-line hint when no tier has a model chain, else None."""
    if any(settings.models.tiers.values()):
        return None
    return MISSING_MODEL_HELP
