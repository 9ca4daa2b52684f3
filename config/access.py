"""The ``access:`` section: who may talk to the bot, globally or per channel."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from config.fields import PlatformId


class AccessSettings(BaseModel):
    """Access policy; the top-level section is the default, ``channels.<p>.access`` overrides it.

    Attributes:
        dm: Direct messages: anyone, allowlisted users only, or users approved by pairing code.
        group: Group chats: answer when mentioned, answer everything, or stay silent.
        allow_users: Platform user ids, e.g. ``"123456"`` (Telegram) or ``"U0123"`` (Slack).
        allow_chats: Chat / channel ids.
        allow_workspaces: Slack team ids, Discord guild ids.
        admins: Platform-qualified user ids, e.g. ``"telegram:123456"``, ``"slack:U0123"``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dm: Literal["open", "allowlist", "pairing"] = "pairing"
    group: Literal["mention", "open", "off"] = "mention"
    allow_users: list[PlatformId] = Field(default_factory=list)
    allow_chats: list[PlatformId] = Field(default_factory=list)
    allow_workspaces: list[PlatformId] = Field(default_factory=list)
    admins: list[PlatformId] = Field(default_factory=list)
