"""Where a Discord message belongs: the one function that decides its session (DESIGN.md §4).

- A DM channel is one session: ``(discord, "dm", <dm channel id>, "")``.
- In a guild text channel, an @mention opens a public thread from the user's message and the
  conversation lives there: ``(discord, <guild id>, <thread id>, "")``. If the bot may not create
  threads, the channel itself is the session and the bot answers there.
- Inside an existing thread, the thread is the session. A thread the bot owns (or has joined) is
  addressed to it, so follow-ups need no mention; reading their text needs the privileged
  message-content intent (without it, Discord sends such messages with empty content).

The decision is pure (:func:`place`); the adapter performs the thread creation it asks for and then
asks :func:`thread_key` for the thread's session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from channels.base import SessionKey

PLATFORM = "discord"
DM_SCOPE = "dm"
THREAD_NAME_LIMIT = 100  # Discord: thread names are 1-100 characters (PLATFORM_NOTES §1.3).
DEFAULT_THREAD_NAME = "Conversation"


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What the session decision needs to know about one message.

    Attributes:
        guild_id: The guild, or None in a DM.
        channel_id: The channel or thread the message was posted in.
        in_thread: The channel is a thread.
        threads_allowed: The channel is a guild text channel whose messages can start threads.
        mentions_bot: The message @mentions the bot.
        bot_in_thread: The bot created, owns or joined the thread.
        from_bot: A bot (this one included) or a webhook wrote the message.
    """

    guild_id: str | None
    channel_id: str
    in_thread: bool = False
    threads_allowed: bool = False
    mentions_bot: bool = False
    bot_in_thread: bool = False
    from_bot: bool = False


@dataclass(frozen=True, slots=True)
class Placement:
    """The decision for one message.

    Attributes:
        key: The session; when ``open_thread`` is set, the channel session used if no thread can
            be created.
        direct: A DM.
        addressed: The bot was addressed (a DM, a mention, or a message in its own thread).
        open_thread: Create a thread from the message; the conversation continues there.
    """

    key: SessionKey
    direct: bool
    addressed: bool
    open_thread: bool = False


def place(facts: MessageFacts) -> Placement:
    """Decide the session of a message (see the module docstring for the rules)."""
    if facts.guild_id is None:
        return Placement(SessionKey(PLATFORM, DM_SCOPE, facts.channel_id), True, True)
    key = SessionKey(PLATFORM, facts.guild_id, facts.channel_id)
    if facts.in_thread:
        return Placement(key, False, facts.mentions_bot or facts.bot_in_thread)
    open_thread = facts.mentions_bot and facts.threads_allowed and not facts.from_bot
    return Placement(key, False, facts.mentions_bot, open_thread=open_thread)


def thread_key(guild_id: str, thread_id: str) -> SessionKey:
    """The session of a conversation thread."""
    return SessionKey(PLATFORM, guild_id, thread_id)


def strip_mentions(content: str, bot_id: int) -> str:
    """``content`` without mentions of the bot (``<@id>`` and the legacy nickname form ``<@!id>``)."""
    return re.sub(rf"[ \t]*<@!?{bot_id}>[ \t]*", " ", content).strip()


def thread_name(text: str) -> str:
    """A thread title from the first line of the user's message (1-100 characters)."""
    first = " ".join(text.strip().split("\n", 1)[0].split())
    if not first:
        return DEFAULT_THREAD_NAME
    if len(first) > THREAD_NAME_LIMIT:
        return first[: THREAD_NAME_LIMIT - 1].rstrip() + "…"
    return first
