"""The Discord channel: lifecycle, normalization of gateway messages, and replies.

discord.py runs inside our event loop: ``client.start`` is a task owned by this channel (never
``client.run``, which owns the loop), ``start`` returns once the gateway is READY, and ``stop``
closes the client and awaits that task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import discord

from channels.base import Author, ChannelError, InboundMessage, Intake, SessionKey
from channels.discord.chunking import split_message
from channels.discord.client import (
    NO_MENTIONS,
    TRANSPORT_ERRORS,
    DiscordTarget,
    GatewayClient,
    channel_error,
    configure_endpoints,
)
from channels.discord.conversations import (
    MessageFacts,
    Placement,
    place,
    strip_mentions,
    thread_key,
    thread_name,
)
from channels.discord.reply import FOOTER_PREFIX, StreamedReply, render_final
from config import DiscordSettings

log = logging.getLogger(__name__)

MEMORY = 10_000
"""How many recent messages (and opened threads) the adapter remembers where to answer."""
STOP_TIMEOUT_S = 10.0
THREAD_ALREADY_EXISTS = 160004  # Discord JSON error code: a thread was already started here.
USER_MESSAGE_TYPES = (discord.MessageType.default, discord.MessageType.reply)


@dataclass(frozen=True, slots=True)
class _Route:
    """Where the answer to one message goes."""

    key: SessionKey
    channel: discord.abc.Messageable
    reference: discord.MessageReference | None = None


class DiscordChannel:
    """DMs, @mentions with a thread per conversation, and streamed, throttled answers.

    Args:
        settings: The ``channels.discord`` section.
    """

    name = "discord"

    def __init__(self, settings: DiscordSettings) -> None:
        self._settings = settings
        self._client: GatewayClient | None = None
        self._runner: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._intake: Intake | None = None
        # Message id → route, so a replayed message finds the thread it opened the first time.
        self._routes: OrderedDict[str, _Route] = OrderedDict()
        self._threads: OrderedDict[int, None] = OrderedDict()  # threads this process opened
        self._replies: dict[StreamedReply, str] = {}  # open replies → the message they answer
        self.reconnects = 0  # READYs after the first: fresh sessions after a lost one (/metrics)

    async def start(self, intake: Intake) -> None:
        """Log in and connect to the gateway; return once READY.

        Raises:
            ChannelError: Login or connection failed, or READY took longer than
                ``connect_timeout``.
        """
        if self._runner is not None:
            raise RuntimeError("the discord channel is already started")
        configure_endpoints(self._settings)
        self._intake = intake
        self._client = GatewayClient(
            self._settings, on_ready=self._on_ready, on_message=self._on_message
        )
        runner = self._runner = asyncio.create_task(self._run(self._client), name="discord gateway")
        ready = asyncio.create_task(self._ready.wait(), name="discord ready")
        timeout = self._settings.connect_timeout.total_seconds()
        try:
            await asyncio.wait({ready, runner}, timeout=timeout, return_when="FIRST_COMPLETED")
        finally:
            ready.cancel()
            await asyncio.gather(ready, return_exceptions=True)
        if self._ready.is_set():
            return
        error = runner.exception() if runner.done() and not runner.cancelled() else None
        await self.stop()
        if isinstance(error, ChannelError):
            raise error
        if error is not None:
            raise ChannelError(f"discord gateway stopped before READY: {error!r}") from error
        raise ChannelError(f"discord gateway not ready within {timeout:g} s")

    async def stop(self) -> None:
        """Close open replies, then the client; await the gateway task."""
        for reply in list(self._replies):
            await reply.close()
        client, runner = self._client, self._runner
        self._intake = None
        if client is not None:
            try:
                await client.close()
            except TRANSPORT_ERRORS as exc:
                log.warning("discord client did not close cleanly: %s", channel_error(exc))
        if runner is not None:
            try:
                await asyncio.wait_for(runner, STOP_TIMEOUT_S)
            except (ChannelError, TimeoutError) as exc:
                log.warning("discord gateway task ended with: %s", exc)
            except Exception:  # a bug in the gateway task must not derail the shutdown
                log.exception("discord gateway task failed")
        self._client, self._runner, self._ready = None, None, asyncio.Event()

    def open_reply(self, message: InboundMessage) -> StreamedReply:
        """A streamed reply in the conversation of ``message`` (its thread, DM or channel)."""
        route = self._route_for(message)
        reply = StreamedReply(
            DiscordTarget(route.channel, route.reference),
            edit_interval=self._settings.edit_interval.total_seconds(),
            typing_interval=self._settings.typing_interval.total_seconds(),
            on_close=self._forget_reply,
        )
        self._replies[reply] = message.message_id
        return reply

    async def notice(self, message: InboundMessage, text: str) -> None:
        """Post ``text`` (a command answer or an apology) where ``message`` is answered.

        An unfinished reply to the same message is closed first: the notice replaces it.

        Raises:
            ChannelError: The post failed.
        """
        for reply, answered in list(self._replies.items()):
            if answered == message.message_id:
                await reply.close()
        route = self._route_for(message)
        target = DiscordTarget(route.channel, route.reference)
        for chunk in split_message(text):
            await target.post(chunk)

    async def finalize(
        self, message: InboundMessage, message_ids: Sequence[str], text: str, tail: str
    ) -> None:
        """Bring the messages of a reply cut by a crash to their final form (recovery).

        Rendered as the reply renders its final form (``tail`` as the small footer line), so a
        message that shows it already is rewritten with the same content; parts beyond
        ``message_ids`` are posted.

        Raises:
            ChannelError: An edit or post failed.
        """
        channel = self._client_or_fail().get_partial_messageable(int(message.key.chat))
        target = DiscordTarget(channel)
        chunks = split_message(render_final(text, f"{FOOTER_PREFIX}{tail}" if tail else ""))
        for index, chunk in enumerate(chunks):
            if index >= len(message_ids):
                await target.post(chunk)
                continue
            try:
                await channel.get_partial_message(int(message_ids[index])).edit(
                    content=chunk, allowed_mentions=NO_MENTIONS
                )
            except TRANSPORT_ERRORS as exc:
                raise channel_error(exc) from exc

    async def send(self, key: SessionKey, text: str) -> None:
        """Post ``text`` (a reminder, an alert) into the channel, thread or DM of ``key``.

        Raises:
            ChannelError: The post failed.
        """
        channel = self._client_or_fail().get_partial_messageable(int(key.chat))
        target = DiscordTarget(channel)
        for chunk in split_message(text):
            await target.post(chunk)

    @property
    def connected(self) -> bool:
        """READY was received and the gateway websocket is open now."""
        client = self._client
        if client is None or not self._ready.is_set() or client.is_closed():
            return False
        # ``ws`` is typed non-optional but is None until the first connect (discord/client.py).
        ws: discord.gateway.DiscordWebSocket | None = client.ws
        return ws is not None and ws.open

    # -- gateway events -------------------------------------------------------------------------

    async def _run(self, client: GatewayClient) -> None:
        try:
            await client.start(self._settings.token.get_secret_value())
        except TRANSPORT_ERRORS as exc:
            error = channel_error(exc)
            if self._ready.is_set():
                log.error("discord connection ended: %s", error)
            raise error from exc

    async def _on_ready(self) -> None:
        client = self._client
        user = client.user if client is not None else None
        log.info("discord connected as %s (%s)", user, user.id if user else "?")
        if self._ready.is_set():
            self.reconnects += 1
        self._ready.set()

    async def _on_message(self, message: discord.Message) -> None:
        received_ns = time.perf_counter_ns()  # the TTFT origin: before any work of ours
        intake, client = self._intake, self._client
        me = client.user if client is not None else None
        if intake is None or me is None or message.type not in USER_MESSAGE_TYPES:
            return
        facts = self._facts(message, me)
        if facts is None:
            return
        text = strip_mentions(message.content, me.id)
        if not text:
            # Attachments only, or a message whose content Discord withholds because the
            # message-content intent is off (PLATFORM_NOTES §1.3).
            log.debug("discord message %s has no text; ignored", message.id)
            return
        placement = place(facts)
        route = await self._settle(message, placement, text)
        author = message.author
        await intake(
            InboundMessage(
                key=route.key,
                message_id=str(message.id),
                author=Author(str(author.id), author.display_name, is_bot=facts.from_bot),
                text=text,
                received_ns=received_ns,
                event_time=message.created_at,
                is_direct=placement.direct,
                mentioned=placement.addressed,
                parent=_parent_chat(message.channel, route.key),
            )
        )

    def _facts(self, message: discord.Message, me: discord.ClientUser) -> MessageFacts | None:
        channel = message.channel
        author = message.author
        from_bot = author.bot or author.id == me.id or message.webhook_id is not None
        if isinstance(channel, discord.DMChannel):
            return MessageFacts(None, str(channel.id), from_bot=from_bot)
        guild_id = (
            message.guild.id if message.guild is not None else getattr(channel, "guild_id", None)
        )
        if guild_id is None:
            log.debug("discord message %s from an unknown guild; ignored", message.id)
            return None
        opened = channel.id in self._threads
        is_thread = isinstance(channel, discord.Thread)
        joined = isinstance(channel, discord.Thread) and (
            channel.owner_id == me.id or channel.me is not None
        )
        return MessageFacts(
            guild_id=str(guild_id),
            channel_id=str(channel.id),
            in_thread=is_thread or opened,
            threads_allowed=isinstance(channel, discord.TextChannel),
            mentions_bot=any(user.id == me.id for user in message.mentions),
            bot_in_thread=opened or joined,
            from_bot=from_bot,
        )

    # -- routes ---------------------------------------------------------------------------------

    async def _settle(self, message: discord.Message, placement: Placement, text: str) -> _Route:
        """The route of ``message``: remembered (a replay), a new thread, or its own channel."""
        known = self._routes.get(str(message.id))
        if known is not None:
            return known
        if not placement.addressed:
            return _Route(placement.key, message.channel)  # not answered: nothing to remember
        if placement.open_thread:
            route = await self._open_thread(message, placement, text)
        else:
            route = _Route(placement.key, message.channel)
        _remember(self._routes, str(message.id), route)
        return route

    async def _open_thread(
        self, message: discord.Message, placement: Placement, text: str
    ) -> _Route:
        guild_id = placement.key.scope
        fallback = _Route(
            placement.key, message.channel, message.to_reference(fail_if_not_exists=False)
        )
        try:
            created = await message.create_thread(
                name=thread_name(text), auto_archive_duration=self._settings.thread_auto_archive
            )
            thread: discord.abc.Messageable = created
            thread_id = created.id
        except discord.Forbidden:
            log.warning(
                "no permission to create threads in channel %s of guild %s; answering in the "
                "channel (grant Create Public Threads and Send Messages in Threads)",
                message.channel.id,
                guild_id,
            )
            return fallback
        except discord.HTTPException as exc:
            if exc.code != THREAD_ALREADY_EXISTS:
                log.warning("could not open a thread in channel %s: %s", message.channel.id, exc)
                return fallback
            # A replayed message whose thread was opened before a restart; a thread started from
            # a message shares the message's id.
            thread_id = message.id
            thread = self._client_or_fail().get_partial_messageable(thread_id)
        except TRANSPORT_ERRORS as exc:
            log.warning("could not open a thread: %s", channel_error(exc))
            return fallback
        _remember(self._threads, thread_id, None)
        return _Route(thread_key(guild_id, str(thread_id)), thread)

    def _route_for(self, message: InboundMessage) -> _Route:
        known = self._routes.get(message.message_id)
        if known is not None:
            return known
        # Forgotten (or never seen, e.g. a reminder): the session's chat is where it lives.
        channel = self._client_or_fail().get_partial_messageable(int(message.key.chat))
        return _Route(message.key, channel)

    def _client_or_fail(self) -> GatewayClient:
        if self._client is None:
            raise ChannelError("the discord channel is not started")
        return self._client

    def _forget_reply(self, reply: StreamedReply) -> None:
        self._replies.pop(reply, None)


def _parent_chat(channel: object, key: SessionKey) -> str:
    """The text channel hosting the conversation's thread; "" outside threads."""
    if isinstance(channel, discord.Thread):
        return str(channel.parent_id)
    if isinstance(channel, discord.abc.GuildChannel) and key.chat != str(channel.id):
        return str(channel.id)  # a thread was just opened from this channel's message
    return ""


K = TypeVar("K")
V = TypeVar("V")


def _remember(memory: OrderedDict[K, V], key: K, value: V) -> None:
    memory[key] = value
    memory.move_to_end(key)
    if len(memory) > MEMORY:
        memory.popitem(last=False)
