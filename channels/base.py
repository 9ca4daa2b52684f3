"""What every channel adapter provides, and the normalized values it hands to the runtime.

An adapter turns platform events into :class:`InboundMessage` values (one function per platform
decides the :class:`SessionKey`) and renders replies back through a :class:`ReplyStream`. Nothing
platform-shaped crosses this boundary.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Conversation identity: (platform, workspace/guild/bot scope, chat, thread)."""

    platform: str
    scope: str
    chat: str
    thread: str = ""

    def __str__(self) -> str:
        return ":".join((self.platform, self.scope, self.chat, self.thread))

    @classmethod
    def parse(cls, text: str) -> SessionKey:
        """Inverse of ``str(key)``."""
        parts = text.split(":")
        if len(parts) != 4:
            raise ValueError(f"not a session key: {text!r}")
        return cls(*parts)


@dataclass(frozen=True, slots=True)
class Author:
    """Who wrote a message."""

    id: str
    name: str
    is_bot: bool = False


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message from a person, normalized by its adapter.

    Attributes:
        key: the session this message belongs to.
        message_id: the platform's id for the message (dedupe, replies).
        author: who wrote it.
        text: what they wrote, mentions of the bot removed.
        received_ns: ``time.perf_counter_ns()`` when the adapter got the event (TTFT origin).
        event_time: the platform's own timestamp, when it has one (ingress lag).
        is_direct: a DM rather than a group conversation.
        mentioned: the bot was addressed explicitly.
        parent: the chat that holds ``key.chat`` when the conversation is a thread with an id
            of its own (Discord threads are channels); empty when ``key.chat`` is the chat.
    """

    key: SessionKey
    message_id: str
    author: Author
    text: str
    received_ns: int
    event_time: datetime | None = None
    is_direct: bool = True
    mentioned: bool = True
    parent: str = ""


class ReplyStream(Protocol):
    """One reply on its way to the user, rendered by the adapter as the platform allows."""

    async def set_status(self, text: str) -> None:
        """Show a transient status (``is thinking…``, ``using tool time``) where supported."""
        ...

    async def append(self, text: str) -> bool:
        """Add answer text; returns True once the text (or a part of it) is visible."""
        ...

    async def finish(self, footer: str) -> None:
        """Finalize the message; ``footer`` (maybe empty) goes under the answer."""
        ...

    async def fail(self, notice: str) -> None:
        """End the reply with a short notice for the user (partial text stays)."""
        ...


Intake = Callable[[InboundMessage], Awaitable[None]]


class Channel(Protocol):
    """A platform connection."""

    name: str

    async def start(self, intake: Intake) -> None:
        """Connect and start passing inbound messages to ``intake``; returns once connected."""
        ...

    async def stop(self) -> None:
        """Stop intake and disconnect."""
        ...

    def open_reply(self, message: InboundMessage) -> ReplyStream:
        """A stream that answers ``message`` in its conversation."""
        ...

    async def notice(self, message: InboundMessage, text: str) -> None:
        """Send a short non-streamed message (command answers, errors) in reply to ``message``."""
        ...

    async def send(self, key: SessionKey, text: str) -> None:
        """Post ``text`` unprompted into the conversation of ``key`` (reminders, alerts).

        Raises:
            ChannelError: It could not be delivered.
        """
        ...

    @property
    def connected(self) -> bool:
        """Whether the platform connection is up now (heartbeat, ``/readyz``)."""
        ...


class DeliveryListener(Protocol):
    """Told by a reply about the platform messages it creates (the delivery ledger)."""

    def posted(self, message_id: str) -> None:
        """A message of the reply now exists on the platform (called in creation order)."""
        ...


@runtime_checkable
class ReportingReply(Protocol):
    """A :class:`ReplyStream` that reports the messages it creates (platform adapters do)."""

    def report_to(self, listener: DeliveryListener) -> None:
        """Call ``listener.posted`` for every message created from now on."""
        ...


@runtime_checkable
class Recoverable(Protocol):
    """A channel that can bring the messages of a reply cut by a crash to a final form."""

    async def finalize(
        self, message: InboundMessage, message_ids: Sequence[str], text: str, tail: str
    ) -> None:
        """Make the messages ``message_ids`` (created by a reply to ``message``) show ``text``
        as a finished answer with ``tail`` under it; what does not fit continues in new messages.

        Writing what a message already shows is harmless, so this may be repeated.

        Raises:
            ChannelError: The platform refused or could not be reached.
        """
        ...


@runtime_checkable
class Pausable(Protocol):
    """A channel that can stop taking new messages before it stops (graceful shutdown)."""

    async def pause(self) -> None:
        """Take no more messages; replies can still be sent."""
        ...


class ChannelError(Exception):
    """A platform call failed; ``retry_after`` is set when the platform asked us to wait."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
