"""Built-in tools that need nothing but the process itself."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from agent.clock import Clock
from agent.errors import ToolError
from agent.tools.registry import Tool


class TimeInput(BaseModel):
    """Input of the ``time`` tool."""

    timezone: str = Field(default="UTC", description="IANA timezone, e.g. Europe/Berlin")


def time_tool(clock: Clock) -> Tool[TimeInput]:
    """The ``time`` tool: the current date and time in a timezone."""

    async def run(args: TimeInput) -> str:
        try:
            zone = ZoneInfo(args.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ToolError(f"unknown timezone {args.timezone!r}") from exc
        now = clock.now().astimezone(zone)
        return f"{now.isoformat(timespec='seconds')} ({now:%A}, {args.timezone})"

    return Tool(
        name="time",
        description="Current date and time, in the given IANA timezone (default UTC).",
        input_model=TimeInput,
        run=run,
    )


TOOL_GROUPS: dict[str, tuple[str, ...]] = {
    "memory": ("remember", "recall", "forget"),
    "reminders": ("set_reminder", "list_reminders", "cancel_reminder"),
    "web": ("web_fetch",),
}
"""Names an allowlist may use for several built-ins at once (``tools: [time, memory, reminders]``)."""
