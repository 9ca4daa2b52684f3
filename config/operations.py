"""Operational sections: ``shutdown:``, ``heartbeat:`` and ``logging:``."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from config.durations import Duration


class ShutdownSettings(BaseModel):
    """The ``shutdown:`` section.

    Attributes:
        grace: How long in-flight turns may run on after SIGTERM before they are cut.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    grace: Duration = timedelta(seconds=25)
