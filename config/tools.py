"""The ``tools:`` section: executor limits and the configuration of built-in and MCP tools."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.durations import Duration
from config.errors import key_error
from config.fields import HttpUrl, Secret

# Both model APIs accept tool names matching ^[a-zA-Z0-9_-]{1,64}$; an MCP tool is sent as
# "<server>__<tool>", so a server name must fit in there and must not contain the separator.
_SERVER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}")
_HOST = re.compile(r"(\*\.)?[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?")


class WebFetchSettings(BaseModel):
    """The ``web_fetch`` tool.

    Attributes:
        allow_private: Also fetch private, loopback, link-local and other non-public addresses
            (refused by default: they reach the host's own services and the cloud metadata API).
        allow_hosts: Hosts fetched even when they resolve to such addresses: names
            (``wiki.internal``, ``*.corp.example``), IP addresses or networks (``10.1.0.0/16``).
        timeout: Limit on one fetch, redirects included.
        max_bytes: Bytes of a response body read at most; the rest is not downloaded.
        max_chars: Characters of extracted text handed to the model.
        max_redirects: Redirects followed at most (each one checked like the first URL).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow_private: bool = False
    allow_hosts: list[str] = Field(default_factory=list)
    timeout: Duration = timedelta(seconds=15)
    max_bytes: int = Field(default=2_000_000, gt=0)
    max_chars: int = Field(default=12_000, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)

    @field_validator("allow_hosts")
    @classmethod
    def _hosts_are_names_or_networks(cls, hosts: list[str]) -> list[str]:
        for index, host in enumerate(hosts):
            try:
                ipaddress.ip_network(host, strict=False)
            except ValueError:
                if not _HOST.fullmatch(host):
                    raise key_error(
                        (index,), "must be a host name, *.domain, an IP address or a network"
                    ) from None
        return hosts

    @model_validator(mode="after")
    def _timeout_positive(self) -> Self:
        if self.timeout <= timedelta(0):
            raise key_error(("timeout",), "must be longer than 0s")
        return self


def _default_retry_delays() -> list[timedelta]:
    return [timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(hours=1)]


class RemindersSettings(BaseModel):
    """The reminder tools.

    Attributes:
        max_pending: Pending reminders one conversation may have.
        retry_delays: After a failed delivery the reminder is tried again after each of these in
            turn; when they are used up it is marked failed (and logged).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_pending: int = Field(default=25, ge=1)
    retry_delays: list[Duration] = Field(default_factory=_default_retry_delays)

    @field_validator("retry_delays")
    @classmethod
    def _delays_positive(cls, delays: list[timedelta]) -> list[timedelta]:
        for index, delay in enumerate(delays):
            if delay <= timedelta(0):
                raise key_error((index,), "must be longer than 0s")
        return delays


class McpServerSettings(BaseModel):
    """One MCP server: a command started over stdio, or a streamable HTTP endpoint.

    Attributes:
        command: Program and arguments of a stdio server (``[npx, -y, some-server]``).
        env: Extra environment of the stdio server (secrets allowed; PATH, HOME etc. are kept).
        cwd: Working directory of the stdio server.
        url: Endpoint of a streamable HTTP server (``http://host:port/mcp``).
        headers: HTTP headers sent to it (e.g. ``Authorization``).
        startup_timeout: How long connecting and listing its tools may take.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: list[str] | None = None
    env: dict[str, Secret] = Field(default_factory=dict)
    cwd: Path | None = None
    url: HttpUrl | None = None
    headers: dict[str, Secret] = Field(default_factory=dict)
    startup_timeout: Duration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _command_or_url(self) -> Self:
        if (self.command is None) == (self.url is None):
            raise key_error(("command",), "give either command (stdio) or url (streamable HTTP)")
        if self.command is not None and not self.command:
            raise key_error(("command",), "must not be empty")
        if self.url is None and self.headers:
            raise key_error(("headers",), "only used with url")
        if self.command is None and (self.env or self.cwd is not None):
            raise key_error(("env" if self.env else "cwd",), "only used with command")
        if self.startup_timeout <= timedelta(0):
            raise key_error(("startup_timeout",), "must be longer than 0s")
        return self


class ToolsSettings(BaseModel):
    """Tool configuration (the per-call timeout is ``agent.tool_timeout``).

    Attributes:
        output_limit: Bytes of a tool's output the model sees; longer output is cut with a marker.
        web_fetch: Limits and address policy of the ``web_fetch`` tool.
        reminders: Limits and delivery retries of the reminder tools.
        mcp: MCP servers by name; their tools are offered as ``<name>.<tool>`` (sent to the model
            as ``<name>__<tool>``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    output_limit: int = Field(default=16 * 1024, gt=0)
    web_fetch: WebFetchSettings = Field(default_factory=WebFetchSettings)
    reminders: RemindersSettings = Field(default_factory=RemindersSettings)
    mcp: dict[str, McpServerSettings] = Field(default_factory=dict)

    @field_validator("mcp")
    @classmethod
    def _server_names_fit_tool_names(
        cls, servers: dict[str, McpServerSettings]
    ) -> dict[str, McpServerSettings]:
        for name in servers:
            if not _SERVER_NAME.fullmatch(name) or "__" in name:
                raise key_error(
                    (name,),
                    "server names are 1-32 letters, digits, - or _ (no __), starting with a "
                    "letter or digit",
                )
        return servers
