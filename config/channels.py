"""The ``channels:`` section: one optional block per platform; a present block enables it."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, model_validator

from config.access import AccessSettings
from config.errors import key_error
from config.fields import HttpUrl, Secret, WebSocketUrl


class TelegramSettings(BaseModel):
    """Telegram Bot API connection.

    Attributes:
        token: Bot token from @BotFather.
        mode: Long polling, or a webhook served by Hearth's HTTP server.
        api_base_url: Bot API base; the token is appended (self-hosted Bot API servers change it).
        file_base_url: File download base; the token is appended.
        access: Overrides the top-level ``access`` for this channel.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: Secret
    mode: Literal["polling", "webhook"] = "polling"
    api_base_url: HttpUrl = "https://api.telegram.org/bot"
    file_base_url: HttpUrl = "https://api.telegram.org/file/bot"
    access: AccessSettings | None = None


class SlackSettings(BaseModel):
    """Slack connection.

    Attributes:
        bot_token: ``xoxb-`` token.
        app_token: ``xapp-`` token; required in Socket Mode.
        signing_secret: Verifies HTTP events; required in HTTP mode.
        mode: Socket Mode, or HTTP events served by Hearth's HTTP server.
        api_base_url: Web API base.
        access: Overrides the top-level ``access`` for this channel.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bot_token: Secret
    app_token: Secret | None = None
    signing_secret: Secret | None = None
    mode: Literal["socket", "http"] = "socket"
    api_base_url: HttpUrl = "https://slack.com/api/"
    access: AccessSettings | None = None

    @model_validator(mode="after")
    def _mode_has_its_secret(self) -> Self:
        if self.mode == "socket" and self.app_token is None:
            raise key_error(("app_token",), 'is required when mode is "socket"')
        if self.mode == "http" and self.signing_secret is None:
            raise key_error(("signing_secret",), 'is required when mode is "http"')
        return self


class DiscordSettings(BaseModel):
    """Discord connection.

    Attributes:
        token: Bot token.
        api_base_url: REST API base.
        gateway_url: Gateway websocket URL.
        message_content: Request the privileged message-content intent (needed to follow a thread
            without being mentioned).
        access: Overrides the top-level ``access`` for this channel.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: Secret
    api_base_url: HttpUrl = "https://discord.com/api/v10"
    gateway_url: WebSocketUrl = "wss://gateway.discord.gg/"
    message_content: bool = False
    access: AccessSettings | None = None


class ChannelsSettings(BaseModel):
    """The ``channels:`` section; None means the platform is not enabled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    telegram: TelegramSettings | None = None
    slack: SlackSettings | None = None
    discord: DiscordSettings | None = None
