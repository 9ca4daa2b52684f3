"""The ``tools:`` section: executor limits and the configuration of built-in and MCP tools."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ToolsSettings(BaseModel):
    """Tool configuration (the per-call timeout is ``agent.tool_timeout``).

    Attributes:
        output_limit: Bytes of a tool's output the model sees; longer output is cut with a marker.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    output_limit: int = Field(default=16 * 1024, gt=0)
