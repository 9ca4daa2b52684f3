"""Chat commands, the same on every channel.

Everyone: ``/new``, ``/model``, ``/stats`` (this thread; ``/stats me``: your own figures),
``/compact``, ``/reset`` (your own conversations here), ``/memory`` (what the bot remembers
about you here), ``/forget`` (one memory, or all of yours here), ``/help``. Admins
(``access.admins``) also: ``/stats all``, ``/stats @user``, ``/reset @user`` (that user's conversations in this
workspace), ``/pair CODE`` (approve a pairing code; ``/pair`` lists the waiting ones and the
approved users) and ``/pair revoke USER_ID`` (withdraw an approval).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agent.clock import Clock
from agent.errors import ProviderError
from agent.responder import Agent, UnknownModelError
from bot.access import AccessRules
from bot.compaction import Compactor
from bot.limits import Limits
from bot.pairing import (
    APPROVED_NOTICE,
    Pairing,
    approval_text,
    listing_lines,
    parse_person,
    revoke_text,
)
from bot.recall import Recall
from bot.sessions import SessionPool
from bot.stats import StatsRow, summarize
from bot.store.access import AccessStore
from bot.store.base import Store, TurnRecord
from bot.timeline import seconds
from channels.base import Channel, ChannelError, InboundMessage, SessionKey
from config import Settings

log = logging.getLogger(__name__)

HELP = """Commands:
/new: start a fresh conversation in this thread
/model: show the model; /model <tier or provider:model> switches this thread
/stats: time-to-first-token, cache and cost figures for this thread; /stats me: your own
/compact: fold older turns into a summary now
/reset: close your conversations here
/memory: what I remember about you here; /forget <number> or /forget all deletes it
/help: this list
Admins: /stats all, /stats @user, /reset @user, /pair CODE (approve), /pair (list codes and
approved users), /pair revoke <user id> (withdraw an approval)"""

COMMANDS = frozenset(
    {"new", "model", "stats", "compact", "reset", "pair", "memory", "forget", "help"}
)
ADMINS_ONLY = "Only an admin of this bot can do that."
_MENTION = re.compile(r"^<@!?([^>]+)>$")


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command: ``/model fast`` → ``Command("model", "fast")``."""

    name: str
    argument: str


def parse_command(text: str) -> Command | None:
    """The command in ``text``, or None. ``/model@HearthBot fast`` (Telegram) is accepted."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return None
    head, _, rest = stripped[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    if name not in COMMANDS:
        return None
    return Command(name, rest.strip())


def is_command(message: InboundMessage) -> bool:
    """Whether ``message`` is a command (commands are never merged into a turn)."""
    return parse_command(message.text) is not None


def user_reference(text: str) -> str:
    """The user an argument names: ``<@U123>`` / ``<@!42>`` (Slack, Discord), ``@name`` or a bare
    id or display name."""
    text = text.strip()
    mention = _MENTION.match(text)
    if mention is not None:
        return mention.group(1)
    return text.removeprefix("@")


@dataclass(frozen=True, slots=True)
class AccessTools:
    """What the access-related commands use."""

    rules: AccessRules
    pairing: Pairing
    store: AccessStore
    limits: Limits
    channels: Mapping[str, Channel]
    clock: Clock


class CommandHandler:
    """Answers commands; each answer is one short message."""

    def __init__(
        self,
        *,
        settings: Settings,
        pool: SessionPool,
        store: Store,
        agent: Agent,
        compactor: Compactor,
        access: AccessTools,
        recall: Recall | None = None,
    ) -> None:
        self._recall = recall
        self._settings = settings
        self._pool = pool
        self._store = store
        self._agent = agent
        self._compactor = compactor
        self._access = access

    async def handle(self, command: Command, message: InboundMessage) -> str:
        """Run ``command`` for ``message``'s session and return the answer text."""
        if command.name == "new":
            await self._pool.reset(message.key)
            return "Started a new conversation."
        if command.name == "model":
            return await self._model(command.argument, message)
        if command.name == "stats":
            return await self._stats(command.argument, message)
        if command.name == "compact":
            return await self._compact(message)
        if command.name == "reset":
            return await self._reset(command.argument, message)
        if command.name == "pair":
            return await self._pair(command.argument, message)
        if command.name in ("memory", "forget"):
            if self._recall is None:
                return "Long-term memory is off."
            if command.name == "memory":
                return await self._recall.listing(message)
            return await self._recall.forget(command.argument, message)
        return HELP

    async def _compact(self, message: InboundMessage) -> str:
        session, _warm = await self._pool.acquire(message.key)
        key = message.key
        _name, profile = self._settings.profile_for(
            key.platform, key.scope, key.chat, message.author.id
        )
        try:
            done = await self._compactor.compact(session, profile.tier)
        except ProviderError as exc:
            return f"Could not compact now ({exc.kind}); the conversation is unchanged."
        if not done:
            return "Nothing to compact yet."
        return f"Compacted: older turns are now a summary; {len(session.transcript)} messages kept."

    async def _model(self, argument: str, message: InboundMessage) -> str:
        session, _warm = await self._pool.acquire(message.key)
        key = message.key
        _name, profile = self._settings.profile_for(
            key.platform, key.scope, key.chat, message.author.id
        )
        if not argument:
            current = session.model_override or profile.tier
            refs = ", ".join(str(ref) for ref in self._agent.chain(current))
            tiers = ", ".join(sorted(self._settings.models.tiers))
            return f"Model: {current} ({refs}). Tiers: {tiers}."
        choice = None if argument in ("default", "reset") else argument
        if choice is not None:
            try:
                chain = self._agent.chain(choice)
            except UnknownModelError as exc:
                tiers = ", ".join(sorted(self._settings.models.tiers))
                return f"Unknown model {argument!r} ({exc}). Tiers: {tiers}."
        await self._store.set_model_override(session.id, choice)
        session.model_override = choice
        if choice is None:
            return f"Model reset to the profile's tier ({profile.tier})."
        return f"This thread now uses {choice} ({', '.join(str(r) for r in chain)})."

    async def _stats(self, argument: str, message: InboundMessage) -> str:
        target = user_reference(argument)
        if not target:
            return await self._thread_stats(message)
        if target == "me":
            return await self._user_stats(message.author.id, message)
        if not self._access.rules.is_admin(message):
            return f"{ADMINS_ONLY} /stats shows this thread, /stats me your own figures."
        if target in ("all", "everything"):
            return _overall(await self._store.turns())
        return await self._user_stats(target, message)

    async def _thread_stats(self, message: InboundMessage) -> str:
        session, _warm = await self._pool.acquire(message.key)
        turns = await self._store.turns(session_id=session.id)
        if not turns:
            return "No turns in this conversation yet."
        return _figures(summarize(turns)[0])

    async def _user_stats(self, user: str, message: InboundMessage) -> str:
        """A user's figures on this platform (by id or display name), and today's tokens."""
        key = message.key
        turns = [
            t for t in await self._store.turns() if t.platform == key.platform and _is_user(t, user)
        ]
        who = "You" if user == message.author.id else f"User {user}"
        if not turns:
            return f"{who}: no turns yet."
        user_id = turns[-1].user_id
        limits = self._access.limits
        used = (await limits.tokens_today(key.platform, user_id, key.scope)).user
        budget = limits.settings.user_daily_tokens
        today = f"today {used:,} tokens" + (f" of {budget:,}" if budget else "")
        return f"{who}: {_figures(summarize(turns)[0])} · {today}"

    async def _reset(self, argument: str, message: InboundMessage) -> str:
        key = message.key
        target = user_reference(argument) or message.author.id
        yourself = target in (message.author.id, message.author.name)
        if not yourself and not self._access.rules.is_admin(message):
            return f"{ADMINS_ONLY} /reset closes your own conversations."
        if yourself:
            target = message.author.id  # by id: another person may share the display name
        keys = await self._access.store.user_sessions(key.platform, key.scope, target)
        if yourself and str(key) not in keys:
            keys.append(str(key))
        for session_key in keys:
            await self._pool.reset(SessionKey.parse(session_key))
        log.info("reset %d sessions of %s in %s by %s", len(keys), target, key, message.author.id)
        who = "yours" if yourself else f"user {target}"
        noun = "conversation" if len(keys) == 1 else "conversations"
        return f"Closed {len(keys)} {noun} of {who} here; the next message starts afresh."

    async def _pair(self, argument: str, message: InboundMessage) -> str:
        tools = self._access
        if not tools.rules.is_admin(message):
            return ADMINS_ONLY
        if not argument:
            pending, approved = await tools.pairing.listing()
            hint = "Revoke with: /pair revoke <user id>" if approved else ""
            return listing_lines(pending, approved, tools.clock.now(), hint)
        by = f"{message.key.platform}:{message.author.id}"
        verb, _, rest = argument.partition(" ")
        if verb.lower() == "revoke":  # never a code: codes have no O
            # A bare id is a user of the admin's platform; "slack:U123" names another one.
            person = parse_person(user_reference(rest), message.key.platform)
            if person is None:
                return "Usage: /pair revoke <user id>; /pair lists the approved users."
            return revoke_text(await tools.pairing.revoke(*person, by), *person)
        approval = await tools.pairing.approve(argument, by)
        text = approval_text(approval, argument, tools.clock.now())
        code = approval.code
        if approval.status != "approved" or code is None:
            return text
        channel = tools.channels.get(code.platform)
        try:
            if channel is not None:
                await channel.send(SessionKey.parse(code.chat_key), APPROVED_NOTICE)
        except ChannelError as exc:
            log.warning("could not tell %s user %s: %s", code.platform, code.user_id, exc)
            return f"{text} (I could not tell them: {exc})"
        return text


def _is_user(turn: TurnRecord, user: str) -> bool:
    return turn.user_id == user or (bool(turn.user_name) and turn.user_name.lower() == user.lower())


def _figures(row: StatsRow) -> str:
    p50 = "-" if row.ttft_p50_ns is None else seconds(row.ttft_p50_ns)
    p90 = "-" if row.ttft_p90_ns is None else seconds(row.ttft_p90_ns)
    return (
        f"{row.turns} turn{'s' if row.turns != 1 else ''} · TTFT p50 {p50} s · p90 {p90} s · "
        f"cache read {row.cache_read_share:.0%} of input tokens · "
        f"cost ${row.cost_usd:.4f} (cache saved ${row.cache_savings_usd:.4f})"
    )


def _overall(turns: Iterable[TurnRecord]) -> str:
    """``/stats all``: every turn, then one line per channel."""
    rows = [r for r in summarize(turns) if r.group in ("all", "channel")]
    if not rows:
        return "No turns stored yet."
    return "\n".join(f"{'All' if r.group == 'all' else r.value}: {_figures(r)}" for r in rows)
