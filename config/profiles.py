"""The ``agent:`` section: profiles (instructions, tier, tools) and the routes that pick them."""

from __future__ import annotations

from datetime import timedelta
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from config.durations import Duration
from config.errors import key_error
from config.fields import PlatformId

DEFAULT_PROFILE = "default"


class Profile(BaseModel):
    """How the agent behaves for the conversations routed to it.

    Attributes:
        instructions: The persona / system instructions.
        tier: Name of a tier in ``models.tiers``.
        tools: The tools the model may call: tool names (``time``, ``web_fetch``), groups
            (``memory`` = remember/recall/forget, ``reminders`` = set/list/cancel_reminder,
            ``web`` = web_fetch, an MCP server's name = all its tools), MCP tools as
            ``server.tool`` or ``server.*``. An empty list turns tools off.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    instructions: str = "You are Hearth, a helpful assistant."
    tier: str = "default"
    tools: list[str] = Field(default_factory=lambda: ["time", "memory", "reminders", "web"])


class RouteMatch(BaseModel):
    """Conditions of a route; a None field matches anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: str | None = None
    workspace: PlatformId | None = None
    chat: PlatformId | None = None
    user: PlatformId | None = None

    def matches(
        self, platform: str | None, workspace: str | None, chat: str | None, user: str | None
    ) -> bool:
        """Whether every condition set here equals the given value."""
        wanted = (self.platform, self.workspace, self.chat, self.user)
        given = (platform, workspace, chat, user)
        return all(
            condition is None or condition == value
            for condition, value in zip(wanted, given, strict=True)
        )


class Route(BaseModel):
    """Send conversations that satisfy ``match`` to ``profile``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: RouteMatch
    profile: str


class CompactionSettings(BaseModel):
    """When and how older turns are folded into a summary in the stable prompt block.

    Attributes:
        threshold: Compact once the last prompt passed this share of the model's context window.
        keep_last: Turns kept verbatim after a compaction.
        tier: Tier that writes the summary (the profile's own tier when this one is missing).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(default=0.8, gt=0, le=1)
    keep_last: int = Field(default=6, ge=1)
    tier: str = "fast"


class AgentSettings(BaseModel):
    """The ``agent:`` section.

    Attributes:
        profiles: Profiles by name; ``default`` is required and used when no route matches.
        routes: Checked in order; the first match wins.
        max_tool_rounds: Cap on model ↔ tool round trips in one turn.
        tool_timeout: Per tool call.
        compaction: Summarising older turns when the prompt grows.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    profiles: dict[str, Profile] = Field(default_factory=lambda: {DEFAULT_PROFILE: Profile()})
    routes: list[Route] = Field(default_factory=list)
    max_tool_rounds: int = Field(default=8, ge=0)
    tool_timeout: Duration = timedelta(seconds=30)
    compaction: CompactionSettings = Field(default_factory=CompactionSettings)

    @field_validator("profiles")
    @classmethod
    def _has_default_profile(cls, profiles: dict[str, Profile]) -> dict[str, Profile]:
        if DEFAULT_PROFILE not in profiles:
            raise PydanticCustomError("default_profile", 'a "default" profile is required')
        return profiles

    @model_validator(mode="after")
    def _routes_name_known_profiles(self) -> Self:
        for index, route in enumerate(self.routes):
            if route.profile not in self.profiles:
                configured = ", ".join(self.profiles)
                raise key_error(
                    ("routes", index, "profile"),
                    f'unknown profile "{route.profile}" (configured: {configured})',
                )
        return self

    def profile_for(
        self, platform: str | None, workspace: str | None, chat: str | None, user: str | None
    ) -> tuple[str, Profile]:
        """The profile of the first matching route, else the ``default`` profile, with its name."""
        for route in self.routes:
            if route.match.matches(platform, workspace, chat, user):
                return route.profile, self.profiles[route.profile]
        return DEFAULT_PROFILE, self.profiles[DEFAULT_PROFILE]
