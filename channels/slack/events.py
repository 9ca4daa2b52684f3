"""Slack events → :class:`~channels.base.InboundMessage`: the adapter's one normalize step.

:func:`session_key` is the one function that decides which session a Slack message belongs to
(DESIGN.md §4): the thread, keyed by its root ``ts``. A top-level message (an @mention in a
channel, or a DM under the agent messaging experience, where every user message is a thread root)
opens a thread on itself.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from channels.base import Author, InboundMessage, SessionKey

PLATFORM = "slack"

# Message subtypes that are a person writing (docs.slack.dev "message" event subtypes); everything
# else (edits, deletes, joins, topic changes, bot posts) is not a conversation turn.
USER_SUBTYPES = frozenset({"", "thread_broadcast", "file_share", "me_message"})
_EVENT_TYPES = frozenset({"message", "app_mention"})
_SPECIAL = re.compile(r"<([@#!])([^<>|]+)(?:\|([^<>]*))?>")
_LINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^<>|]+)(?:\|([^<>]*))?>")
_RUNS_OF_SPACES = re.compile(r"[ \t]{2,}")


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is (from ``auth.test``)."""

    user_id: str
    bot_id: str
    team_id: str


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalized message and what the adapter still has to decide about it.

    Attributes:
        message: The message; ``mentioned`` says whether it addressed the bot explicitly.
        thread_reply: It was written inside an existing thread (a follow-up candidate).
        thread_ts: The root ``ts`` of its thread (its own ``ts`` for a top-level message).
    """

    message: InboundMessage
    thread_reply: bool
    thread_ts: str


def session_key(team_id: str, channel: str, thread_ts: str) -> SessionKey:
    """The session of a message: the thread rooted at ``thread_ts`` in ``channel``."""
    return SessionKey(PLATFORM, team_id, channel, thread_ts)


def is_direct(event: Mapping[str, Any]) -> bool:
    """A 1:1 DM with the bot (``channel_type`` ``im``; ``app_mention`` has no channel_type, and
    DM channel ids start with ``D``)."""
    channel_type = event.get("channel_type")
    if isinstance(channel_type, str):
        return channel_type == "im"
    channel = event.get("channel")
    return isinstance(channel, str) and channel.startswith("D")


def normalize(
    body: Mapping[str, Any], event: Mapping[str, Any], bot: BotIdentity, received_ns: int
) -> Normalized | None:
    """Our message for a person's new message; None for anything else.

    ``app_mention`` and ``message`` for the same message normalize to the same value (same chat and
    ``message_id`` = ``ts``), so the runtime's dedupe collapses the pair, and a retried event too.
    """
    if event.get("type") not in _EVENT_TYPES or _text_of(event, "subtype") not in USER_SUBTYPES:
        return None
    channel, ts, user = _text_of(event, "channel"), _text_of(event, "ts"), _text_of(event, "user")
    text = _text_of(event, "text")
    if not channel or not ts or not user or not text.strip():
        return None
    from_bot = bool(event.get("bot_id")) or user == bot.user_id
    thread_ts = _text_of(event, "thread_ts") or ts
    direct = is_direct(event)
    addressed = event.get("type") == "app_mention" or mentions(text, bot.user_id)
    scope = _text_of(body, "team_id") or _text_of(event, "team") or bot.team_id
    cleaned = plain_text(text, bot.user_id)
    message = InboundMessage(
        key=session_key(scope, channel, thread_ts),
        message_id=ts,
        author=Author(user, _display_name(event), is_bot=from_bot),
        text=cleaned or text,
        received_ns=received_ns,
        event_time=_event_time(ts),
        is_direct=direct,
        mentioned=direct or addressed,
    )
    return Normalized(message, thread_reply=thread_ts != ts, thread_ts=thread_ts)


def mentions(text: str, user_id: str) -> bool:
    """Whether Slack text mentions ``user_id`` (``<@U123>`` or ``<@U123|name>``)."""
    return f"<@{user_id}>" in text or f"<@{user_id}|" in text


def plain_text(text: str, bot_user_id: str) -> str:
    """Slack's wire text as a person reads it, without the bot's own mention.

    ``<@U1|ann>`` → ``@ann``, ``<#C1|general>`` → ``#general``, ``<!here>`` → ``@here``,
    ``<https://x|label>`` → ``label (https://x)``, and ``&lt;``/``&gt;``/``&amp;`` unescaped.
    """
    removed = False

    def special(match: re.Match[str]) -> str:
        nonlocal removed
        sigil, target, label = match.group(1), match.group(2), match.group(3)
        if sigil == "@" and target == bot_user_id:
            removed = True
            return ""
        if sigil == "!":
            name = label or target.split("^")[0]
            return name if name.startswith("@") else f"@{name}"
        return f"{sigil}{label or target}"

    def link(match: re.Match[str]) -> str:
        url, label = match.group(1), match.group(2)
        url = url.removeprefix("mailto:") if label == url.removeprefix("mailto:") else url
        return f"{label} ({url})" if label and label != url else url

    out = _LINK.sub(link, _SPECIAL.sub(special, text))
    if removed:
        # "<@bot>, hi" and "<@bot>: hi" read as "hi".
        out = re.sub(r"^\s*[,:]\s*", "", out)
        out = _RUNS_OF_SPACES.sub(" ", out).strip()
    return html.unescape(out) if "&" in out else out


def _text_of(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _display_name(event: Mapping[str, Any]) -> str:
    profile = event.get("user_profile")
    if isinstance(profile, Mapping):
        for field in ("display_name", "real_name", "name"):
            value = profile.get(field)
            if isinstance(value, str) and value:
                return value
    return ""


def _event_time(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (ValueError, OverflowError):
        return None
