"""The discord.py side of the adapter: endpoints, intents, the gateway client, error translation,
and the reply target that turns our writes into discord.py calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from channels.base import ChannelError
from config import DiscordSettings

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
"""Model output must never ping anyone: ``allowed_mentions`` with nothing allowed, on every write."""


def configure_endpoints(settings: DiscordSettings) -> None:
    """Point discord.py at the configured REST base and gateway.

    discord.py has no constructor option for either: the REST base is the class attribute
    ``Route.BASE`` and the gateway the class attribute ``DiscordWebSocket.DEFAULT_GATEWAY``
    (PLATFORM_NOTES §3.2). They are process-wide, so this adapter is the only place that sets them.
    """
    Route.BASE = settings.api_base_url.rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


def intents_for(settings: DiscordSettings) -> discord.Intents:
    """Guilds (channel and thread cache), guild messages and DMs; message content when configured.

    ``message_content`` is privileged: it must also be enabled in the Developer Portal, or the
    gateway closes with 4014 (PLATFORM_NOTES §1.3). Without it, Discord still sends the content of
    DMs and of messages that mention the bot.
    """
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = settings.message_content
    return intents


def channel_error(exc: BaseException) -> ChannelError:
    """Translate a discord.py or transport exception into ours (the only place that does)."""
    if isinstance(exc, discord.RateLimited):
        return ChannelError(
            f"discord rate limit: retry after {exc.retry_after:g} s", retry_after=exc.retry_after
        )
    if isinstance(exc, discord.HTTPException):
        return ChannelError(f"discord HTTP {exc.status} (code {exc.code}): {exc.text}")
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return ChannelError(
            "discord refused the message-content intent: enable it in the Developer Portal "
            "(Bot → Privileged Gateway Intents) or set channels.discord.message_content: false"
        )
    if isinstance(exc, discord.LoginFailure):
        return ChannelError("discord rejected the bot token (channels.discord.token)")
    if isinstance(exc, discord.DiscordException):
        return ChannelError(f"discord: {exc}")
    return ChannelError(f"discord unreachable: {type(exc).__name__}: {exc}")


TRANSPORT_ERRORS = (discord.DiscordException, aiohttp.ClientError, OSError, asyncio.TimeoutError)
"""What a discord.py call raises when Discord refuses or cannot be reached."""


T = TypeVar("T")


async def _call(call: Awaitable[T]) -> T:
    try:
        return await call
    except TRANSPORT_ERRORS as exc:
        raise channel_error(exc) from exc


class GatewayClient(discord.Client):
    """A ``discord.Client`` that hands ``on_ready`` and ``on_message`` to the adapter."""

    def __init__(
        self,
        settings: DiscordSettings,
        *,
        on_ready: Callable[[], Awaitable[None]],
        on_message: Callable[[discord.Message], Awaitable[None]],
    ) -> None:
        super().__init__(
            intents=intents_for(settings),
            allowed_mentions=NO_MENTIONS,
            guild_ready_timeout=settings.guild_ready_timeout.total_seconds(),
            max_messages=None,  # no message cache: the adapter keeps what it needs
            chunk_guilds_at_startup=False,
        )
        self._ready_hook = on_ready
        self._message_hook = on_message
        self._identify_delay = settings.identify_delay.total_seconds()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Wait ``identify_delay`` before a fresh IDENTIFY (discord.py's default is a fixed 5 s)."""
        if not initial:
            await asyncio.sleep(self._identify_delay)

    async def on_ready(self) -> None:
        """Gateway READY and the guilds received (again after a fresh IDENTIFY)."""
        await self._ready_hook()

    async def on_message(self, message: discord.Message) -> None:
        """Every MESSAGE_CREATE, ours included."""
        await self._message_hook(message)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """discord.py runs each event in its own task and reports failures here: log them."""
        log.exception("discord event %s failed", event_method)


class DiscordMessage:
    """A message this bot posted (``reply.PostedMessage``)."""

    def __init__(self, message: discord.Message) -> None:
        self._message = message

    @property
    def id(self) -> str:
        """The message's snowflake (reported to the delivery ledger)."""
        return str(self._message.id)

    async def edit(self, content: str) -> None:
        """Replace the content (discord.py honours 429 ``retry_after`` and the bucket headers)."""
        self._message = await _call(
            self._message.edit(content=content, allowed_mentions=NO_MENTIONS)
        )


class DiscordTarget:
    """A channel, thread or DM to answer in (``reply.ReplyTarget``).

    Args:
        channel: Where to post.
        reference: The user's message, when the answer should visibly reply to it (the channel
            fallback when no thread could be created); only the first post carries it.
    """

    def __init__(
        self, channel: discord.abc.Messageable, reference: discord.MessageReference | None = None
    ) -> None:
        self._channel = channel
        self._reference = reference

    async def post(self, content: str) -> DiscordMessage:
        """Post ``content``; mentions never ping, replying never pings the author."""
        reference, self._reference = self._reference, None
        if reference is None:
            sent = self._channel.send(content, allowed_mentions=NO_MENTIONS)
        else:
            sent = self._channel.send(
                content, allowed_mentions=NO_MENTIONS, reference=reference, mention_author=False
            )
        return DiscordMessage(await _call(sent))

    async def typing(self) -> None:
        """One ``POST /channels/{id}/typing``; Discord shows it for about 10 s."""
        await _call(self._send_typing())

    async def _send_typing(self) -> None:
        await self._channel.typing()
