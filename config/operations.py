"""Operational sections: ``shutdown:``, ``heartbeat:``, ``maintenance:`` and ``logging:``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.durations import Duration
from config.errors import key_error

# "telegram:123456" (platform and chat) or a whole session key "platform:scope:chat:thread".
_ALERT_TARGET = re.compile(r"[a-z]+:[^:\s]+|[a-z]+:[^:\s]*:[^:\s]+:[^:\s]*")
ALERT_TARGET_HINT = (
    'must be "platform:chat" (e.g. "telegram:123456") or a session key "platform:scope:chat:thread"'
)


def _require_positive(model: BaseModel, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(model, name) <= timedelta(0):
            raise key_error((name,), "must be longer than 0s")


class ShutdownSettings(BaseModel):
    """The ``shutdown:`` section.

    Attributes:
        grace: How long in-flight turns may run on after SIGTERM before they are cut.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    grace: Duration = timedelta(seconds=25)


class HeartbeatSettings(BaseModel):
    """The ``heartbeat:`` section: the periodic checks behind ``/readyz``.

    Attributes:
        interval: How often the checks run.
        timeout: How long one check (a store write, a provider call) may take.
        probe_providers: Whether model providers are checked for reachability (by listing their
            models, which costs nothing).
        provider_interval: At most one reachability call per provider per interval.
        min_free_disk_mb: Less free space than this under ``data_dir`` makes the service not
            ready.
        max_inbound_age: When set, a channel with no inbound event for this long counts as a
            problem (useful for busy bots; a quiet bot is not broken).
        alert_to: Where state changes (not ready / ready again) are posted: ``"telegram:<chat>"``
            or a session key ``"platform:scope:chat:thread"``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval: Duration = timedelta(seconds=30)
    timeout: Duration = timedelta(seconds=5)
    probe_providers: bool = True
    provider_interval: Duration = timedelta(minutes=5)
    min_free_disk_mb: int = Field(default=100, ge=0)
    max_inbound_age: Duration | None = None
    alert_to: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> Self:
        _require_positive(self, ("interval", "timeout"))
        if self.alert_to is not None and not _ALERT_TARGET.fullmatch(self.alert_to):
            raise key_error(("alert_to",), ALERT_TARGET_HINT)
        return self


class MaintenanceSettings(BaseModel):
    """The ``maintenance:`` section: background jobs that keep memory and the store in shape.

    Attributes:
        prune_interval: How often idle warm sessions are evicted and history past
            ``sessions.retention`` is deleted.
        store_interval: How often the store is checkpointed and optimised.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    prune_interval: Duration = timedelta(minutes=5)
    store_interval: Duration = timedelta(hours=1)

    @model_validator(mode="after")
    def _valid(self) -> Self:
        _require_positive(self, ("prune_interval", "store_interval"))
        return self


class LoggingSettings(BaseModel):
    """The ``logging:`` section of ``hearth run``.

    Attributes:
        format: ``text`` (``key=value`` pairs) or ``json``, one line per event either way.
        level: The lowest level written (``-v`` makes it ``debug``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"
