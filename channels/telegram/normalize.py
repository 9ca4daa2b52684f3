"""Telegram updates → :class:`~channels.base.InboundMessage`: the adapter's one normalize step.

:func:`session_key` is the one function that decides which session a Telegram message belongs to
(DESIGN.md §4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType, MessageEntityType

from channels.base import Author, InboundMessage, SessionKey

PLATFORM = "telegram"

_VOCATIVE_PUNCTUATION = frozenset(c.encode("utf-16-le") for c in ",:")
_RUNS_OF_SPACES = re.compile(r"[ \t]{2,}")


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is (from ``getMe``): what a mention of it looks like."""

    id: int
    username: str


def session_key(bot: BotIdentity, chat_id: int, topic_id: int | None) -> SessionKey:
    """The session of a message: one per chat, or per forum topic where the chat has topics.

    The same rule serves private chats (which may have topics since Bot API 9.3), groups and
    supergroups.
    """
    return SessionKey(
        PLATFORM, str(bot.id), str(chat_id), "" if topic_id is None else str(topic_id)
    )


def topic_id(message: Message) -> int | None:
    """The forum topic of ``message``, if any.

    Outside forums, supergroup replies carry a ``message_thread_id`` too (the reply thread), which is
    not a topic: PTB reuses it only when ``is_topic_message`` (``Message._parse_message_thread_id``),
    and so do we.
    """
    if message.is_topic_message and message.message_thread_id is not None:
        return message.message_thread_id
    return None


def normalize(update: Update, bot: BotIdentity, received_ns: int) -> InboundMessage | None:
    """Our message for a new text (or captioned) message; None for anything else.

    Edits, channel posts, service messages and media without a caption are not conversation turns.
    """
    message = update.message
    if message is None or message.from_user is None:
        return None
    text = message.text if message.text is not None else message.caption
    if text is None:
        return None
    entities = (
        message.parse_entities() if message.text is not None else message.parse_caption_entities()
    )
    addressed, cleaned = _addressing(text, entities, bot)
    private = message.chat.type == ChatType.PRIVATE
    user = message.from_user
    return InboundMessage(
        key=session_key(bot, message.chat.id, topic_id(message)),
        message_id=str(message.message_id),
        author=Author(str(user.id), user.full_name, is_bot=user.is_bot),
        text=cleaned or text,
        received_ns=received_ns,
        event_time=message.date,
        is_direct=private,
        mentioned=private or addressed or _replies_to_bot(message, bot),
    )


def _addressing(
    text: str, entities: dict[MessageEntity, str], bot: BotIdentity
) -> tuple[bool, str]:
    """Whether the entities address the bot, and the text with the bot's mention taken out.

    Addressed: ``@botname``, a text mention of the bot's user, or a command at the start of the
    message (``/new``, or ``/new@botname``, but not ``/new@otherbot``). ``/cmd@botname`` becomes
    ``/cmd``. Entity offsets count UTF-16 code units, so the edits work on UTF-16 text.
    """
    addressed = False
    edits: list[tuple[int, int, str]] = []
    for entity, value in entities.items():
        if _names_bot(entity, value, bot):
            addressed = True
            edits.append((entity.offset, entity.length, ""))
        elif entity.type == MessageEntityType.BOT_COMMAND and entity.offset == 0:
            command, _, target = value.partition("@")
            if not target or _is_bot_name(target, bot):
                addressed = True
                edits.append((entity.offset, entity.length, command))
    units = text.encode("utf-16-le")
    for offset, length, replacement in reversed(_without_overlaps(edits)):
        start, end = offset * 2, (offset + length) * 2
        if not replacement and units[end : end + 2] in _VOCATIVE_PUNCTUATION:
            end += 2  # "@bot, hi" → "hi"
        units = units[:start] + replacement.encode("utf-16-le") + units[end:]
    cleaned = units.decode("utf-16-le")
    if edits:
        cleaned = _RUNS_OF_SPACES.sub(" ", cleaned).strip()
    return addressed, cleaned


def _without_overlaps(edits: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Edits in text order, dropping any inside an earlier one (a mention within a command)."""
    kept: list[tuple[int, int, str]] = []
    for edit in sorted(edits):
        if not kept or edit[0] >= kept[-1][0] + kept[-1][1]:
            kept.append(edit)
    return kept


def _names_bot(entity: MessageEntity, value: str, bot: BotIdentity) -> bool:
    if entity.type == MessageEntityType.MENTION:
        return _is_bot_name(value.removeprefix("@"), bot)
    if entity.type == MessageEntityType.TEXT_MENTION:
        return entity.user is not None and entity.user.id == bot.id
    return False


def _is_bot_name(name: str, bot: BotIdentity) -> bool:
    return name.lower() == bot.username.lower()


def _replies_to_bot(message: Message, bot: BotIdentity) -> bool:
    """A reply to one of the bot's messages.

    In a forum topic every message "replies" to the topic's creation message; that one is not the
    bot speaking even when the bot created the topic, so it does not count.
    """
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return False
    return replied.from_user is not None and replied.from_user.id == bot.id
