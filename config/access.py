"""The ``access:`` section: who may talk to the bot, globally, per channel, workspace or chat.

Resolution (most specific last): the top-level ``access`` → ``channels.<p>.access`` → that
section's ``workspaces.<id>`` → its ``chats.<id>``. Each layer replaces only the keys it sets; a
list replaces the list above it (it is not appended to).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.durations import Duration
from config.errors import key_error
from config.fields import PlatformId

DmPolicy = Literal["open", "allowlist", "pairing"]
GroupPolicy = Literal["mention", "open", "off"]
ADMIN_HINT = 'must be "platform:user_id", e.g. "telegram:123456"'


def _check_admins(admins: list[str] | None) -> list[str] | None:
    for index, admin in enumerate(admins or ()):
        platform, _, user = admin.partition(":")
        if not platform or not user:
            raise key_error((index,), ADMIN_HINT)
    return admins


class PairingSettings(BaseModel):
    """How pairing codes work (``access.pairing``).

    Attributes:
        code_ttl: A code not approved within this time is void; the user gets a new one when they
            write again.
        max_pending: Unapproved codes at most per channel at a time; further strangers are told to
            try later (no code floods).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    code_ttl: Duration = timedelta(hours=1)
    max_pending: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _ttl_is_positive(self) -> Self:
        if self.code_ttl <= timedelta(0):
            raise key_error(("code_ttl",), "must be longer than 0s")
        return self


class AccessOverride(BaseModel):
    """A per-workspace or per-chat override; keys left out inherit from the channel's policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dm: DmPolicy | None = None
    group: GroupPolicy | None = None
    allow_users: list[PlatformId] | None = None
    admins: list[PlatformId] | None = None

    _admins_qualified = field_validator("admins")(_check_admins)


class AccessSettings(BaseModel):
    """Access policy; the top-level section is the default, ``channels.<p>.access`` overrides it.

    Attributes:
        dm: Direct messages: anyone, allowlisted users only, or users approved by pairing code.
        group: Group chats: answer when mentioned, answer everything, or stay silent.
        allow_users: Platform user ids, e.g. ``"123456"`` (Telegram) or ``"U0123"`` (Slack). In
            groups a non-empty list admits only these users (and admins and paired users); in DMs
            it is the allowlist (``dm: allowlist``) or the pre-approved users (``dm: pairing``).
        allow_chats: Chat / channel ids; a non-empty list keeps the bot out of other group chats.
        allow_workspaces: Slack team ids, Discord guild ids; a non-empty list keeps the bot out of
            group chats in other workspaces.
        admins: Platform-qualified user ids, e.g. ``"telegram:123456"``, ``"slack:U0123"``; they
            pass every check and may use ``/pair``, ``/reset @user`` and ``/stats all``.
        workspaces: Overrides per workspace / guild id (where it applies: ``channels.<p>.access``).
        chats: Overrides per chat / channel id.
        pairing: Pairing code lifetime and how many may wait at once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dm: DmPolicy = "pairing"
    group: GroupPolicy = "mention"
    allow_users: list[PlatformId] = Field(default_factory=list)
    allow_chats: list[PlatformId] = Field(default_factory=list)
    allow_workspaces: list[PlatformId] = Field(default_factory=list)
    admins: list[PlatformId] = Field(default_factory=list)
    workspaces: dict[PlatformId, AccessOverride] = Field(default_factory=dict)
    chats: dict[PlatformId, AccessOverride] = Field(default_factory=dict)
    pairing: PairingSettings = Field(default_factory=PairingSettings)

    _admins_qualified = field_validator("admins")(_check_admins)

    def overridden_by(self, layer: AccessSettings | AccessOverride) -> AccessSettings:
        """These settings with the keys that ``layer`` sets explicitly replaced."""
        changes = {
            name: getattr(layer, name)
            for name in layer.model_fields_set
            if getattr(layer, name) is not None
        }
        if not changes:
            return self
        return self.model_copy(update=changes)
