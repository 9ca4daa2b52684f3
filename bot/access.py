"""Access control in the inbound pipeline: allowlists, the DM policy with pairing, mention gating.

:class:`AccessRules` resolves the effective policy of a conversation (top-level ``access`` →
``channels.<p>.access`` → its ``workspaces.<id>`` → its ``chats.<id>``); :func:`evaluate` is the
pure decision; :class:`AccessGate` is the middleware that acts on it. Messages that are not
addressed to the bot are dropped silently; a denied person hears one polite message, then nothing.

Channels without a ``channels.<p>`` section, i.e. the local console of ``hearth chat``, are the
operator's own terminal: no policy applies there and its user counts as an admin.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from agent.clock import Clock
from bot.pairing import Pairing
from bot.store.access import AccessStore
from channels.base import Channel, ChannelError, InboundMessage, SessionKey
from config import AccessSettings, Settings

if TYPE_CHECKING:
    from bot.pipeline import Next

log = logging.getLogger(__name__)

NOT_ALLOWED = (
    "Sorry, I only talk with people an admin of this bot has allowed. "
    "Ask one of them if you need access."
)
CHAT_NOT_ALLOWED = "Sorry, I'm not enabled in this chat. An admin of this bot can enable it."
WORKSPACE_NOT_ALLOWED = "Sorry, I'm not enabled here. An admin of this bot can enable it."


class Verdict(enum.Enum):
    """What to do with a message."""

    PASS = "pass"
    """Let it through."""
    IGNORE = "ignore"
    """Not for the bot (a group message without a mention, a group with ``group: off``)."""
    ASK = "ask"
    """The answer depends on whether the user was admitted by pairing: look it up, ask again."""
    PAIR = "pair"
    """A stranger's DM under ``dm: pairing``: hand out a code."""
    DENY_USER = "deny_user"
    DENY_CHAT = "deny_chat"
    DENY_WORKSPACE = "deny_workspace"


def evaluate(
    access: AccessSettings, message: InboundMessage, *, admin: bool, approved: bool | None = None
) -> Verdict:
    """Decide about ``message`` under ``access``.

    Args:
        access: The effective policy of the message's conversation.
        message: The message.
        admin: Its author is an admin (admins pass the user checks, not the chat and workspace
            lists: those say where the bot works, not who may use it).
        approved: Whether the author was admitted by pairing; None when not looked up yet, in
            which case the verdict may be :attr:`Verdict.ASK`.
    """
    user = message.author.id
    if message.is_direct:
        if admin or access.dm == "open" or user in access.allow_users:
            return Verdict.PASS
        if approved is None:
            return Verdict.ASK
        if approved:
            return Verdict.PASS
        return Verdict.PAIR if access.dm == "pairing" else Verdict.DENY_USER
    if access.group == "off" or (access.group == "mention" and not message.mentioned):
        return Verdict.IGNORE
    key = message.key
    if access.allow_workspaces and key.scope not in access.allow_workspaces:
        return Verdict.DENY_WORKSPACE
    if access.allow_chats and not {key.chat, message.parent} & set(access.allow_chats):
        return Verdict.DENY_CHAT
    if admin or not access.allow_users or user in access.allow_users:
        return Verdict.PASS
    if approved is None:
        return Verdict.ASK
    return Verdict.PASS if approved else Verdict.DENY_USER


class AccessRules:
    """The effective access settings of each conversation, and who is an admin there."""

    def __init__(self, settings: Settings) -> None:
        base = settings.access
        self._channels: dict[str, AccessSettings] = {}
        for name in type(settings.channels).model_fields:
            channel = getattr(settings.channels, name)
            if channel is not None:
                layer = channel.access
                self._channels[name] = base if layer is None else base.overridden_by(layer)

    def policed(self, platform: str) -> bool:
        """Whether access control applies to ``platform`` (every configured channel)."""
        return platform in self._channels

    def for_key(self, key: SessionKey, parent: str = "") -> AccessSettings | None:
        """The policy of ``key``'s conversation; None for channels without a section (console).

        Layers: channel, workspace, the ``parent`` chat of a thread, the chat itself.
        """
        access = self._channels.get(key.platform)
        if access is None:
            return None
        workspace = access.workspaces.get(key.scope)
        if workspace is not None:
            access = access.overridden_by(workspace)
        for chat_id in (parent, key.chat):
            chat = access.chats.get(chat_id) if chat_id else None
            if chat is not None:
                access = access.overridden_by(chat)
        return access

    def is_admin(self, message: InboundMessage) -> bool:
        """Whether the author is an admin in this conversation (the console's user always is)."""
        access = self.for_key(message.key, message.parent)
        if access is None:
            return True
        return f"{message.key.platform}:{message.author.id}" in access.admins


class AccessGate:
    """The policy middleware: passes, ignores, denies once, or starts pairing.

    It runs before dedupe (as the mention gate did), so the chatter of a group the bot only
    listens to is never written to the store. Denials and codes are idempotent, so a replayed
    event gets no second answer either.

    Attributes:
        verdicts: Messages by :class:`Verdict` value (a metric), e.g. ``verdicts["deny_user"]``.
    """

    def __init__(
        self,
        rules: AccessRules,
        pairing: Pairing,
        store: AccessStore,
        channels: Mapping[str, Channel],
        clock: Clock,
    ) -> None:
        self._rules = rules
        self._pairing = pairing
        self._store = store
        self._channels = channels
        self._clock = clock
        self.verdicts: Counter[str] = Counter()

    async def __call__(self, message: InboundMessage, call_next: Next) -> None:
        """Act on the verdict for ``message``."""
        key = message.key
        access = self._rules.for_key(key, message.parent)
        if access is None:
            await call_next(message)
            return
        admin = self._rules.is_admin(message)
        verdict = evaluate(access, message, admin=admin)
        if verdict is Verdict.ASK:
            approved = await self._pairing.is_approved(key.platform, message.author.id)
            verdict = evaluate(access, message, admin=admin, approved=approved)
        self.verdicts[verdict.value] += 1
        if verdict is Verdict.PASS:
            await call_next(message)
            return
        if verdict is Verdict.IGNORE:
            log.debug("message in %s not addressed to the bot", key)
            return
        log.info("access %s: %s user %s in %s", verdict.value, key.platform, message.author.id, key)
        if verdict is Verdict.PAIR:
            await self._tell(message, await self._pairing.request(message, access.pairing))
            return
        subject, text = _denial(verdict, message)
        if await self._store.notice_once(subject, verdict.value, self._clock.now()):
            await self._tell(message, text)

    async def _tell(self, message: InboundMessage, text: str | None) -> None:
        if text is None:
            return
        channel = self._channels.get(message.key.platform)
        if channel is None:
            return
        try:
            await channel.notice(message, text)
        except ChannelError as exc:
            log.warning("could not send an access notice, session %s: %s", message.key, exc)


def _denial(verdict: Verdict, message: InboundMessage) -> tuple[str, str]:
    """Who a denial is remembered for (so it is said once), and what it says."""
    key = message.key
    if verdict is Verdict.DENY_WORKSPACE:
        return f"{key.platform}:workspace:{key.scope}", WORKSPACE_NOT_ALLOWED
    if verdict is Verdict.DENY_CHAT:
        return f"{key.platform}:chat:{key.chat}", CHAT_NOT_ALLOWED
    return f"{key.platform}:user:{message.author.id}", NOT_ALLOWED
