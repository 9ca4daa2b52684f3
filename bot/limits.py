"""Abuse limits in the inbound pipeline: a message rate per user and daily token budgets.

* Rate: a token bucket per user (``limits.user_messages_per_minute``, refilled continuously, bursts
  up to the same number).
* Budgets: tokens used today (UTC) by the user and by the workspace, from the stored turns
  (``limits.user_daily_tokens``, ``limits.workspace_daily_tokens``). Cache reads do not count (see
  :meth:`bot.store.access.AccessStore.tokens_since`). A budget is checked before a turn starts, so
  the turn that crosses it finishes; the next one is refused. The sums are read from the store
  once per user and workspace a day and then kept up to date in memory from every stored turn
  (:meth:`Limits.observe_turn`), so the check costs no query on a turn's path.

A refused message never reaches the model. Its author is told once (per burst for the rate, per day
for a budget) and then hears nothing until the limit lifts. A limit of 0 switches that limit off.
The "workspace" is the session key's scope: the Slack team, the Discord guild (all Discord DMs
count as one), the Telegram bot.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from agent.clock import Clock
from bot.access import AccessRules
from bot.store.access import AccessStore, TokensUsed
from bot.store.base import TurnRecord
from channels.base import Channel, ChannelError, InboundMessage
from config import LimitsSettings

if TYPE_CHECKING:
    from bot.pipeline import Next

log = logging.getLogger(__name__)

_PRUNE_AT = 4096  # buckets kept before full (idle) ones are dropped


def rate_notice(per_minute: int, wait_s: float) -> str:
    """What a user who writes too fast reads."""
    return (
        f"You're writing faster than I can keep up with ({per_minute} messages a minute at "
        f"most). Please wait {math.ceil(wait_s)} s, then try again."
    )


def user_budget_notice(budget: int) -> str:
    """What a user who spent their daily tokens reads."""
    return (
        f"You've used up today's budget of {budget:,} tokens, so I can't answer more today. "
        "It renews at 00:00 UTC."
    )


def workspace_budget_notice(budget: int) -> str:
    """What everyone in a workspace that spent its daily tokens reads (once each)."""
    return (
        f"This workspace has used up today's budget of {budget:,} tokens, so I can't answer "
        "more today. It renews at 00:00 UTC."
    )


class TokenBucket:
    """``capacity`` tokens, refilled at ``capacity`` per minute; one message takes one."""

    def __init__(self, capacity: int, now: float) -> None:
        self._capacity = float(capacity)
        self._rate = capacity / 60.0
        self._tokens = float(capacity)
        self._at = now

    def take(self, now: float) -> bool:
        """Take a token if there is one."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def wait_s(self, now: float) -> float:
        """Seconds until the next token."""
        self._refill(now)
        return max(0.0, (1.0 - self._tokens) / self._rate)

    def full(self, now: float) -> bool:
        """Whether the bucket has refilled completely (its user has been quiet)."""
        self._refill(now)
        return self._tokens >= self._capacity

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._at)
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._at = now


class Limits:
    """The limits middleware (after dedupe, so a replayed event is not counted twice).

    Attributes:
        rate_limited: Messages refused for the message rate (a metric).
        budget_refused: Messages refused for a budget, by ``"user"`` / ``"workspace"`` (a metric).
    """

    def __init__(
        self,
        settings: LimitsSettings,
        rules: AccessRules,
        store: AccessStore,
        channels: Mapping[str, Channel],
        clock: Clock,
        *,
        exempt_from_budget: Callable[[InboundMessage], bool],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._rules = rules
        self._store = store
        self._channels = channels
        self._clock = clock
        self._exempt = exempt_from_budget
        self._monotonic = monotonic
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._rate_told: set[tuple[str, str]] = set()
        self._budget_told: dict[tuple[str, str, str], date] = {}
        # Today's budget tokens by (platform, "user" | "workspace", id); cleared at 00:00 UTC.
        self._used: dict[tuple[str, str, str], int] = {}
        self._used_day: date | None = None
        self.rate_limited = 0
        self.budget_refused: dict[str, int] = {"user": 0, "workspace": 0}

    async def __call__(self, message: InboundMessage, call_next: Next) -> None:
        """Pass ``message`` on unless its author is over a limit."""
        if not self._rules.policed(message.key.platform):
            await call_next(message)  # the operator's own console
            return
        refusal = self._rate(message)
        if refusal is None and not self._exempt(message):
            refusal = await self._budget(message)
        if refusal is None:
            await call_next(message)
            return
        if refusal:
            channel = self._channels.get(message.key.platform)
            try:
                if channel is not None:
                    await channel.notice(message, refusal)
            except ChannelError as exc:
                log.warning("could not send a limit notice, session %s: %s", message.key, exc)

    async def tokens_today(self, platform: str, user_id: str, workspace: str) -> TokensUsed:
        """Budget tokens used today (UTC) by a user and by a workspace."""
        now = self._clock.now()
        self._roll_day(now.astimezone(UTC).date())
        user, space = (platform, "user", user_id), (platform, "workspace", workspace)
        if user not in self._used or space not in self._used:
            stored = await self._store.tokens_since(
                platform, _day_start(now), user_id=user_id, workspace=workspace
            )
            # A turn stored while this first read runs can be missed: budgets are soft anyway.
            self._used.setdefault(user, stored.user)
            self._used.setdefault(space, stored.workspace)
        return TokensUsed(self._used[user], self._used[space])

    def observe_turn(self, turn: TurnRecord) -> None:
        """Count a stored turn into today's sums (of the user and workspace already read)."""
        if turn.created_at.astimezone(UTC).date() != self._used_day:
            return
        usage = turn.usage
        spent = usage.input_tokens - usage.cache_read_tokens + usage.output_tokens
        for who in (
            (turn.platform, "user", turn.user_id),
            (turn.platform, "workspace", turn.workspace),
        ):
            if who in self._used:
                self._used[who] += spent

    def _roll_day(self, today: date) -> None:
        if today != self._used_day:
            self._used.clear()
            self._used_day = today

    @property
    def settings(self) -> LimitsSettings:
        """The configured limits."""
        return self._settings

    def _rate(self, message: InboundMessage) -> str | None:
        """None when the message may pass; else the notice ("" for silence)."""
        per_minute = self._settings.user_messages_per_minute
        if per_minute == 0:
            return None
        who = (message.key.platform, message.author.id)
        now = self._monotonic()
        bucket = self._buckets.get(who)
        if bucket is None:
            self._prune(now)
            bucket = self._buckets[who] = TokenBucket(per_minute, now)
        if bucket.take(now):
            self._rate_told.discard(who)
            return None
        self.rate_limited += 1
        log.info("rate limit: %s user %s in %s", who[0], who[1], message.key)
        if who in self._rate_told:
            return ""
        self._rate_told.add(who)
        return rate_notice(per_minute, bucket.wait_s(now))

    async def _budget(self, message: InboundMessage) -> str | None:
        key, user = message.key, message.author.id
        user_budget = self._settings.user_daily_tokens
        space_budget = self._settings.workspace_daily_tokens
        if not user_budget and not space_budget:
            return None
        today = self._clock.now().astimezone(UTC).date()
        used = await self.tokens_today(key.platform, user, key.scope)
        if user_budget and used.user >= user_budget:
            return self._refuse("user", (key.platform, "user", user), today, message)
        if space_budget and used.workspace >= space_budget:
            # Everyone in the workspace is told once, not only the first to hit the wall.
            return self._refuse("workspace", (key.platform, key.scope, user), today, message)
        return None

    def _refuse(
        self, kind: str, subject: tuple[str, str, str], today: date, message: InboundMessage
    ) -> str:
        self.budget_refused[kind] += 1
        log.info(
            "%s budget spent: %s user %s in %s", kind, subject[0], message.author.id, message.key
        )
        if self._budget_told.get(subject) == today:
            return ""
        # Yesterday's entries are done with; this keeps the dict to one day's refusals.
        self._budget_told = {s: d for s, d in self._budget_told.items() if d == today}
        self._budget_told[subject] = today
        if kind == "user":
            return user_budget_notice(self._settings.user_daily_tokens)
        return workspace_budget_notice(self._settings.workspace_daily_tokens)

    def _prune(self, now: float) -> None:
        if len(self._buckets) < _PRUNE_AT:
            return
        for who in [w for w, b in self._buckets.items() if b.full(now)]:
            del self._buckets[who]


def _day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
