"""The ``channels:`` section: one optional block per platform; a present block enables it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, model_validator

from config.access import AccessSettings
from config.durations import Duration
from config.errors import key_error
from config.fields import HttpUrl, Secret, WebSocketUrl

_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class TelegramSettings(BaseModel):
    """Telegram Bot API connection.

    Attributes:
        token: Bot token from @BotFather.
        mode: Long polling, or a webhook served by Hearth's HTTP server.
        api_base_url: Bot API base; the token is appended (self-hosted Bot API servers change it).
        file_base_url: File download base; the token is appended.
        access: Overrides the top-level ``access`` for this channel.
        poll_timeout: How long one ``getUpdates`` long poll waits for updates.
        webhook_url: The public HTTPS URL Telegram posts updates to (webhook mode).
        webhook_secret: Telegram's ``secret_token``: requests without it are refused (webhook mode).
        webhook_path: Path of the webhook route on Hearth's HTTP server.
        draft_interval: At most one draft update per this interval (private chats).
        edit_interval: At most one message edit per this interval per chat (groups).
        typing_interval: The typing action is renewed this often while the bot is working.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: Secret
    mode: Literal["polling", "webhook"] = "polling"
    api_base_url: HttpUrl = "https://api.telegram.org/bot"
    file_base_url: HttpUrl = "https://api.telegram.org/file/bot"
    access: AccessSettings | None = None
    poll_timeout: Duration = timedelta(seconds=10)
    webhook_url: HttpUrl | None = None
    webhook_secret: Secret | None = None
    webhook_path: str = "/telegram/webhook"
    draft_interval: Duration = timedelta(milliseconds=500)
    edit_interval: Duration = timedelta(seconds=1)
    typing_interval: Duration = timedelta(seconds=4)

    @model_validator(mode="after")
    def _webhook_is_complete(self) -> Self:
        if self.mode == "webhook":
            if self.webhook_url is None:
                raise key_error(("webhook_url",), 'is required when mode is "webhook"')
            if self.webhook_secret is None:
                raise key_error(("webhook_secret",), 'is required when mode is "webhook"')
        # Bot API setWebhook: secret_token is 1-256 characters of A-Z, a-z, 0-9, _ and -.
        if self.webhook_secret is not None and not _WEBHOOK_SECRET.fullmatch(
            self.webhook_secret.get_secret_value()
        ):
            raise key_error(("webhook_secret",), "must be 1-256 characters of A-Z a-z 0-9 _ -")
        if not self.webhook_path.startswith("/"):
            raise key_error(("webhook_path",), 'must start with "/"')
        if self.typing_interval <= timedelta(0):
            raise key_error(("typing_interval",), "must be longer than 0s")
        return self


class SlackSettings(BaseModel):
    """Slack connection.

    Attributes:
        bot_token: ``xoxb-`` token.
        app_token: ``xapp-`` token; required in Socket Mode.
        signing_secret: Verifies HTTP events; required in HTTP mode.
        mode: Socket Mode, or HTTP events served by Hearth's HTTP server.
        api_base_url: Web API base.
        access: Overrides the top-level ``access`` for this channel.
        events_path: Path of the Events API endpoint on Hearth's HTTP server (HTTP mode).
        thread_followups: Messages in a thread the bot takes part in need no mention.
        streaming: ``native`` (``chat.startStream``/``appendStream``/``stopStream``) or ``edit``
            (a posted message brought up to date with ``chat.update``).
        stream_interval: At most one ``chat.appendStream`` per streamed message per interval.
        stream_rotation: A stream older than this continues in a new message (Slack ends streams
            after about five minutes).
        edit_interval: At most one ``chat.update`` per message per interval.
        workspace_edits_per_minute: ``chat.update`` calls per workspace per minute (Tier 3).
        workspace_appends_per_minute: ``chat.appendStream`` calls per workspace per minute (Tier 4).
        rate_limit_retries: How often one call is retried after HTTP 429 (``Retry-After`` honoured).
        connect_timeout: How long start-up may take to authenticate and open the socket.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bot_token: Secret
    app_token: Secret | None = None
    signing_secret: Secret | None = None
    mode: Literal["socket", "http"] = "socket"
    api_base_url: HttpUrl = "https://slack.com/api/"
    access: AccessSettings | None = None
    events_path: str = "/slack/events"
    thread_followups: bool = True
    streaming: Literal["native", "edit"] = "native"
    stream_interval: Duration = timedelta(milliseconds=500)
    stream_rotation: Duration = timedelta(minutes=4)
    edit_interval: Duration = timedelta(seconds=1)
    workspace_edits_per_minute: int = 50
    workspace_appends_per_minute: int = 100
    rate_limit_retries: int = 2
    connect_timeout: Duration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _mode_has_its_secret(self) -> Self:
        if self.mode == "socket" and self.app_token is None:
            raise key_error(("app_token",), 'is required when mode is "socket"')
        if self.mode == "http" and self.signing_secret is None:
            raise key_error(("signing_secret",), 'is required when mode is "http"')
        if not self.events_path.startswith("/"):
            raise key_error(("events_path",), 'must start with "/"')
        for name in ("stream_rotation", "connect_timeout"):
            if getattr(self, name) <= timedelta(0):
                raise key_error((name,), "must be longer than 0s")
        for name in ("workspace_edits_per_minute", "workspace_appends_per_minute"):
            if getattr(self, name) < 1:
                raise key_error((name,), "must be at least 1")
        if not 0 <= self.rate_limit_retries <= 10:
            raise key_error(("rate_limit_retries",), "must be between 0 and 10")
        return self


class DiscordSettings(BaseModel):
    """Discord connection.

    Attributes:
        token: Bot token.
        api_base_url: REST API base.
        gateway_url: Gateway websocket URL.
        message_content: Request the privileged message-content intent (needed to follow a thread
            without being mentioned; it must also be enabled in the Developer Portal).
        edit_interval: At most one edit per streamed message per this interval.
        typing_interval: How often the typing indicator is renewed while the model or a tool works
            (Discord shows it for about 10 s).
        guild_ready_timeout: How long to wait for the guilds after the gateway's READY.
        connect_timeout: How long start-up may take to log in and reach READY.
        identify_delay: Pause before a fresh IDENTIFY after a lost session (Discord allows one
            IDENTIFY per 5 s per rate-limit bucket).
        thread_auto_archive: Minutes of inactivity after which a conversation thread is archived.
        access: Overrides the top-level ``access`` for this channel.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: Secret
    api_base_url: HttpUrl = "https://discord.com/api/v10"
    gateway_url: WebSocketUrl = "wss://gateway.discord.gg/"
    message_content: bool = False
    edit_interval: Duration = timedelta(seconds=1)
    typing_interval: Duration = timedelta(seconds=5)
    guild_ready_timeout: Duration = timedelta(seconds=2)
    connect_timeout: Duration = timedelta(seconds=30)
    identify_delay: Duration = timedelta(seconds=5)
    thread_auto_archive: Literal[60, 1440, 4320, 10080] = 1440
    access: AccessSettings | None = None

    @model_validator(mode="after")
    def _intervals_are_positive(self) -> Self:
        for name in ("typing_interval", "connect_timeout"):
            if getattr(self, name) <= timedelta(0):
                raise key_error((name,), "must be longer than 0s")
        return self


class ChannelsSettings(BaseModel):
    """The ``channels:`` section; None means the platform is not enabled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    telegram: TelegramSettings | None = None
    slack: SlackSettings | None = None
    discord: DiscordSettings | None = None
