"""Pairing: a stranger's DM gets a one-time code; an admin's approval of the code admits them.

Codes are 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L, U), expire after
``access.pairing.code_ttl`` (1 h) and at most ``max_pending`` (3) wait per channel, so a crowd of
strangers cannot flood the store or the admin. An admin approves with ``hearth pair approve CODE``
or ``/pair CODE`` in a chat with the bot; approvals are stored and survive restarts. An approval is
withdrawn with ``hearth pair revoke PLATFORM:USER_ID`` or ``/pair revoke USER_ID``: the person is a
stranger again, and their next DM gets a new code.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from agent.clock import Clock
from bot.store.access import AccessStore, Approval, ApprovedUser, PairingCode
from channels.base import InboundMessage
from config import format_duration
from config.access import PairingSettings

log = logging.getLogger(__name__)

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
_SEPARATORS = re.compile(r"[\s\-_.]+")
_MAX_DRAWS = 5  # a clash with a stored code is astronomically rare; a few redraws settle it

APPROVAL_RECHECK = timedelta(seconds=10)
"""How long a positive "is approved?" answer is trusted before the store is asked again.

A revocation in this process takes effect at once; one by ``hearth pair revoke`` (another
process) within this time. Asking the store on every message would add a database round trip to
each DM of every paired user.
"""

PAIRING_FULL = (
    "Sorry, too many people are waiting for access to this bot right now. Please write again later."
)


def new_code(choice: Callable[[str], str] = secrets.choice) -> str:
    """A fresh random code (``choice`` is injectable for tests)."""
    return "".join(choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str:
    """What the admin typed, as stored: upper case, spaces and dashes removed."""
    return _SEPARATORS.sub("", text).upper()


def code_notice(code: str, ttl_text: str) -> str:
    """The message that hands a stranger their code."""
    return (
        "Hi! I don't know you yet, so an admin of this bot needs to let you in. "
        f"Send them this code: {code} (valid for {ttl_text}). "
        f"They approve it with `hearth pair approve {code}` or by sending me /pair {code}. "
        "I'll stay quiet until then."
    )


APPROVED_NOTICE = "An admin approved your access. You can chat with me now."


class Pairing:
    """Issues codes, approves and revokes, and answers "is this user admitted?" (a "yes" is
    trusted for :data:`APPROVAL_RECHECK`)."""

    def __init__(self, store: AccessStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        # (platform, user id) → when the store last said "approved". Bounded by the approved
        # users who write; a revoked user's entry goes at the next look-up.
        self._approved: dict[tuple[str, str], datetime] = {}
        self._revoke_epoch = 0  # moves on each revocation; see is_approved
        # One request at a time: two quick messages from a stranger must not yield two codes.
        self._lock = asyncio.Lock()
        self.codes_issued = 0
        """Codes handed out (a metric)."""
        self.approvals = 0
        """Codes approved through this process (a metric; CLI approvals count in the CLI)."""
        self.revocations = 0
        """Approvals withdrawn through this process (a metric)."""

    async def is_approved(self, platform: str, user_id: str) -> bool:
        """Whether the user is admitted; a "yes" is remembered for :data:`APPROVAL_RECHECK`."""
        key = (platform, user_id)
        now = self._clock.now()
        checked = self._approved.get(key)
        # A clock set back makes the age negative: ask the store rather than trust it longer.
        if checked is not None and timedelta(0) <= now - checked < APPROVAL_RECHECK:
            return True
        # Not cached when false: `hearth pair approve` in another process may admit them any time.
        epoch = self._revoke_epoch
        if await self._store.is_approved(platform, user_id):
            # A revocation that finished while the store was asked may not be in this answer:
            # good enough for the message at hand, not to be remembered.
            if epoch == self._revoke_epoch:
                self._approved[key] = now
            return True
        self._approved.pop(key, None)
        return False

    async def request(self, message: InboundMessage, settings: PairingSettings) -> str | None:
        """Handle a DM from a stranger: the text to answer with, or None for silence.

        A stranger with a live code hears nothing more (no reply storms); once the code expires,
        their next message brings a new one. When ``max_pending`` codes are waiting, the stranger
        is told once to come back later.
        """
        platform, user = message.key.platform, message.author.id
        async with self._lock:
            now = self._clock.now()
            if await self._store.pending_code(platform, user, now) is not None:
                return None
            if await self._store.count_pending(platform, now) >= settings.max_pending:
                told = await self._store.notice_once(f"{platform}:user:{user}", "pairing_full", now)
                return PAIRING_FULL if told else None
            code = await self._issue(message, now, now + settings.code_ttl)
        log.info("pairing code issued to %s user %s (session %s)", platform, user, message.key)
        return code_notice(code.code, format_duration(settings.code_ttl))

    async def approve(self, code: str, by: str) -> Approval:
        """Approve ``code`` (as typed) on behalf of ``by`` (``platform:user_id`` or ``cli``)."""
        approval = await self._store.approve(normalize_code(code), self._clock.now(), by)
        if approval.status == "approved" and approval.code is not None:
            self._approved[(approval.code.platform, approval.code.user_id)] = self._clock.now()
            self.approvals += 1
            log.info(
                "pairing: %s user %s approved by %s",
                approval.code.platform,
                approval.code.user_id,
                by,
            )
        return approval

    async def revoke(self, platform: str, user_id: str, by: str) -> ApprovedUser | None:
        """Withdraw the approval of ``platform`` user ``user_id`` on behalf of ``by``.

        Returns:
            The approval that was withdrawn, or None when the user was not approved by pairing
            (people in ``allow_users`` or ``admins`` are let in by the config, not by pairing).
        """
        revoked = await self._store.revoke(platform, user_id)
        self._approved.pop((platform, user_id), None)
        self._revoke_epoch += 1
        if revoked is not None:
            self.revocations += 1
            log.info("pairing: %s user %s revoked by %s", platform, user_id, by)
        return revoked

    async def listing(self) -> tuple[list[PairingCode], list[ApprovedUser]]:
        """Pending codes and approved users."""
        return await self._store.pairing(self._clock.now())

    async def _issue(
        self, message: InboundMessage, now: datetime, expires: datetime
    ) -> PairingCode:
        for _ in range(_MAX_DRAWS):
            code = PairingCode(
                code=new_code(),
                platform=message.key.platform,
                user_id=message.author.id,
                user_name=message.author.name,
                chat_key=str(message.key),
                created_at=now,
                expires_at=expires,
            )
            if await self._store.add_code(code):
                self.codes_issued += 1
                return code
        raise RuntimeError("could not draw an unused pairing code")


def approval_text(approval: Approval, code: str, now: datetime) -> str:
    """What the approving admin reads (in chat or from ``hearth pair approve``)."""
    found = approval.code
    typed = normalize_code(code)
    if approval.status == "unknown" or found is None:
        return f"No pairing code {typed} is known. Check the code, or ask them to write again."
    who = f"{found.platform} user {found.user_id} ({found.user_name or 'no name'})"
    if approval.status == "used":
        return f"Code {typed} was already used: {who} is approved."
    if approval.status == "expired":
        ago = about(now - found.expires_at)
        return (
            f"Code {typed} for {who} expired {ago} ago. They get a new code when they write again."
        )
    return f"Approved {who}. They can chat now."


def parse_person(text: str, platform: str = "") -> tuple[str, str] | None:
    """``PLATFORM:USER_ID`` as ``(platform, user id)``; a bare id takes ``platform`` when given.

    None when a part is missing (no id, or no platform and no default).
    """
    head, colon, tail = text.strip().partition(":")
    found = (head, tail) if colon else (platform, head)
    return found if all(found) else None


def revoke_text(revoked: ApprovedUser | None, platform: str, user_id: str) -> str:
    """What the revoking admin reads (in chat or from ``hearth pair revoke``)."""
    if revoked is None:
        return (
            f"No {platform} user {user_id} is approved by pairing; see the list of approved users. "
            "People in allow_users or admins are let in by the config: remove them there."
        )
    return (
        f"Revoked {platform} user {user_id} ({revoked.user_name or 'no name'}), approved by "
        f"{revoked.approved_by} at {revoked.approved_at.isoformat(timespec='minutes')}. "
        "They are a stranger again: under dm: pairing their next DM gets a new code."
    )


def listing_lines(
    pending: list[PairingCode], approved: list[ApprovedUser], now: datetime, revoke_hint: str = ""
) -> str:
    """``hearth pair list`` / ``/pair``: waiting codes, then approved users, then ``revoke_hint``
    (how to withdraw an approval, when there is one to withdraw)."""
    lines: list[str] = []
    if pending:
        lines.append("Waiting for approval:")
        for code in pending:
            left = about(code.expires_at - now)
            lines.append(
                f"  {code.code}  {code.platform} user {code.user_id}"
                f" ({code.user_name or 'no name'}), expires in {left}"
            )
    else:
        lines.append("No pairing codes are waiting.")
    if approved:
        lines.append("Approved:")
        for user in approved:
            lines.append(
                f"  {user.platform} user {user.user_id} ({user.user_name or 'no name'}),"
                f" by {user.approved_by} at {user.approved_at.isoformat(timespec='minutes')}"
            )
        if revoke_hint:
            lines.append(revoke_hint)
    else:
        lines.append("No users are approved by pairing.")
    return "\n".join(lines)


def about(delta: timedelta) -> str:
    """A rough, readable length of time: ``"under a minute"``, ``"42 min"``, ``"3 h 5 min"``."""
    minutes = int(max(delta, timedelta(0)).total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
