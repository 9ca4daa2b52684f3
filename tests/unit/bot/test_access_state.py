"""Pairing codes, approvals, notices and budgets in the SQLite store; the rate bucket; redaction."""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.messages import Usage
from bot.access import AccessRules
from bot.limits import Limits, TokenBucket
from bot.pairing import ALPHABET, CODE_LENGTH, Pairing, new_code, normalize_code
from bot.redaction import MASK, Redactor, configured_secrets, redacting
from bot.store.access import SqliteAccessStore, TokensUsed
from bot.store.base import SessionRecord, TurnRecord
from bot.store.sqlite import SqliteStore
from channels.base import Author, InboundMessage, SessionKey
from channels.console import ConsoleChannel
from config.access import PairingSettings
from config.settings import parse_settings
from tests.harness import Lines

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


class ManualClock:
    """A wall clock that moves only when told."""

    def __init__(self, now: datetime = START) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "h.db") as sqlite:
        yield sqlite


def dm(user: str, platform: str = "telegram") -> InboundMessage:
    return InboundMessage(
        key=SessionKey(platform, "bot", user),
        message_id="1",
        author=Author(user, f"Person {user}"),
        text="hello",
        received_ns=0,
    )


def turn_of(
    ident: str, user: str, at: datetime, usage: Usage, *, workspace: str = "bot", name: str = ""
) -> TurnRecord:
    """A stored Telegram turn of ``user`` in session s1 (what budgets are summed from)."""
    return TurnRecord(
        id=ident,
        session_id="s1",
        ordinal=1,
        platform="telegram",
        profile="default",
        model="m",
        warm=False,
        status="ok",
        created_at=at,
        segments=None,
        total_ns=0,
        usage=usage,
        user_id=user,
        user_name=name,
        workspace=workspace,
    )


def test_codes_use_an_unambiguous_alphabet() -> None:
    assert not set("01OILU") & set(ALPHABET)
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == CODE_LENGTH and set(c) <= set(ALPHABET) for c in codes)
    assert normalize_code(" k7mx-3qpa ") == "K7MX3QPA"


async def test_a_stranger_gets_one_code_until_it_expires_and_approval_is_stored(
    store: SqliteStore, tmp_path: Path
) -> None:
    clock = ManualClock()
    pairing = Pairing(SqliteAccessStore(store), clock)
    rules = PairingSettings(code_ttl=timedelta(hours=1), max_pending=3)

    first = await pairing.request(dm("u1"), rules)
    assert first is not None and "valid for 1h" in first
    code = first.split("code: ")[1][:CODE_LENGTH]
    assert await pairing.request(dm("u1"), rules) is None  # no second message while it waits

    clock.current += timedelta(minutes=61)
    assert (await pairing.approve(code, "telegram:1")).status == "expired"
    renewed = await pairing.request(dm("u1"), rules)
    assert renewed is not None
    new = renewed.split("code: ")[1][:CODE_LENGTH]
    assert new != code
    assert (await pairing.approve(code, "telegram:1")).status == "unknown"  # replaced
    approval = await pairing.approve(new.lower(), "telegram:1")
    assert approval.status == "approved" and approval.code is not None
    assert approval.code.user_id == "u1" and approval.code.chat_key == "telegram:bot:u1:"
    assert (await pairing.approve(new, "telegram:1")).status == "used"

    # Approvals survive a restart (a fresh Pairing, a fresh connection).
    async with SqliteStore(tmp_path / "h.db") as reopened:
        again = Pairing(SqliteAccessStore(reopened), clock)
        assert await again.is_approved("telegram", "u1")
        assert not await again.is_approved("discord", "u1")  # per platform
        pending, approved = await again.listing()
    assert pending == [] and [(a.user_id, a.approved_by) for a in approved] == [
        ("u1", "telegram:1")
    ]


async def test_at_most_max_pending_codes_wait_and_the_rest_hear_once_to_come_back(
    store: SqliteStore,
) -> None:
    clock = ManualClock()
    pairing = Pairing(SqliteAccessStore(store), clock)
    rules = PairingSettings(max_pending=2)
    answers = [await pairing.request(dm(u), rules) for u in ("a", "b", "c", "c")]
    assert answers[0] is not None and answers[1] is not None
    assert answers[2] is not None and answers[2].startswith("Sorry, too many")
    assert answers[3] is None
    other = await pairing.request(dm("a", platform="discord"), rules)  # per channel
    assert other is not None and "code" in other
    clock.current += timedelta(hours=2)  # the waiting codes expired: room again
    later = await pairing.request(dm("c"), rules)
    assert later is not None and "code" in later
    assert pairing.codes_issued == 4


async def test_notices_are_once_per_subject_and_reason(store: SqliteStore) -> None:
    access = SqliteAccessStore(store)
    assert await access.notice_once("telegram:user:1", "deny_user", START)
    assert not await access.notice_once("telegram:user:1", "deny_user", START)
    assert await access.notice_once("telegram:user:1", "pairing_full", START)
    assert await access.notice_once("telegram:user:2", "deny_user", START)


async def test_budget_tokens_leave_out_cache_reads_and_other_days_and_people(
    store: SqliteStore,
) -> None:
    await store.create_session(SessionRecord("s1", "telegram:bot:1:", START))

    async def turn(ident: str, user: str, workspace: str, at: datetime, usage: Usage) -> None:
        await store.record_turn(
            turn_of(ident, user, at, usage, workspace=workspace, name=f"Name {user}"), []
        )

    await turn("t1", "1", "bot", START, Usage(1000, 50, 800, 100))  # 1000 - 800 + 50 = 250
    await turn("t2", "1", "bot", START + timedelta(hours=1), Usage(10, 5))  # 15
    await turn("t3", "1", "bot", START - timedelta(days=1), Usage(999, 999))  # yesterday
    await turn("t4", "2", "bot", START, Usage(100, 0))
    access = SqliteAccessStore(store)
    today = START.replace(hour=0)
    used = await access.tokens_since("telegram", today, user_id="1", workspace="bot")
    assert (used.user, used.workspace) == (265, 365)
    other = await access.tokens_since("discord", today, user_id="1", workspace="bot")
    assert (other.user, other.workspace) == (0, 0)
    assert await access.user_sessions("telegram", "bot", "name 2") == ["telegram:bot:1:"]
    assert await access.user_sessions("telegram", "other", "1") == []


def test_the_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    bucket = TokenBucket(3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_s(0.0) == pytest.approx(20.0)
    assert not bucket.take(19.0)
    assert bucket.take(20.5)
    assert not bucket.full(20.5) and bucket.full(200.0)


def test_configured_secrets_are_found_everywhere_and_masked() -> None:
    settings = parse_settings(
        {
            "models": {"providers": {"a": {"kind": "anthropic", "api_key": "sk-ant-123456"}}},
            "channels": {
                "telegram": {"token": "111:AAA-bbb", "webhook_secret": "hook-secret"},
                "discord": {"token": "x"},  # too short to mask without mangling every line
            },
        }
    )
    secrets = configured_secrets(settings)
    assert set(secrets) == {"sk-ant-123456", "111:AAA-bbb", "hook-secret"}
    redact = Redactor(secrets)
    assert (
        redact("GET /bot111:AAA-bbb/getMe key=sk-ant-123456") == f"GET /bot{MASK}/getMe key={MASK}"
    )


def test_redacting_masks_log_records_and_the_error_that_leaves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("tests.redaction")
    caplog.set_level(logging.DEBUG)
    with (
        pytest.raises(RuntimeError) as caught,
        redacting(["s3cr3t-value"]),
    ):
        log.info("calling %s", {"token": "s3cr3t-value"})
        try:
            raise ValueError("rejected s3cr3t-value")
        except ValueError:
            log.exception("failed")
        raise RuntimeError("token s3cr3t-value was refused") from ValueError("s3cr3t-value")
    log.info("after: s3cr3t-value")  # outside the block: no longer masked
    assert "s3cr3t-value" not in str(caught.value)
    assert caught.value.__cause__ is not None and "s3cr3t-value" not in str(caught.value.__cause__)
    inside = caplog.records[:2]
    assert [r.getMessage() for r in inside] == [f"calling {{'token': '{MASK}'}}", "failed"]
    assert "s3cr3t-value" not in caplog.text.split("after:")[0]
    assert inside[1].exc_text is not None and MASK in inside[1].exc_text
    assert caplog.records[-1].getMessage() == "after: s3cr3t-value"


async def test_limits_renew_the_budget_at_utc_midnight_and_tell_once_per_burst(
    store: SqliteStore,
) -> None:
    settings = parse_settings(
        {
            "channels": {"telegram": {"token": "t"}},
            "limits": {"user_messages_per_minute": 1, "user_daily_tokens": 100},
        }
    )
    clock = ManualClock(START.replace(hour=23, minute=50))
    seconds = [0.0]
    out = io.StringIO()
    # The console channel only serves here as a real channel whose notices land in ``out``.
    console = ConsoleChannel(Lines(), out, user="ops", interactive=False)
    limits = Limits(
        settings.limits,
        AccessRules(settings),
        SqliteAccessStore(store),
        {"telegram": console},
        clock,
        exempt_from_budget=lambda _m: False,
        monotonic=lambda: seconds[0],
    )
    passed: list[str] = []

    async def endpoint(message: InboundMessage) -> None:
        passed.append(message.text)

    async def send(text: str) -> None:
        await limits(dataclasses.replace(dm("u1"), text=text), endpoint)

    await send("first")  # passes
    await send("too fast")  # told
    await send("still too fast")  # silent
    seconds[0] += 60
    await store.create_session(SessionRecord("s1", "telegram:bot:u1:", START))
    turn = turn_of("t1", "u1", clock.now(), Usage(90, 20))
    await store.record_turn(turn, [])
    limits.observe_turn(turn)  # as the runtime's turn observer does
    await send("over budget")  # told
    seconds[0] += 60
    await send("over budget again")  # silent
    clock.current += timedelta(minutes=15)  # 00:05 UTC: a new day
    seconds[0] += 60
    await send("new day")  # passes
    seconds[0] += 0.5
    await send("fast again")  # told again: a new burst

    assert passed == ["first", "new day"]
    told = [line for line in out.getvalue().split("\n\n") if line]
    assert [t.split(" (")[0].split(" today")[0] for t in told] == [
        "You're writing faster than I can keep up with",
        "You've used up",
        "You're writing faster than I can keep up with",
    ]
    assert limits.rate_limited == 3 and limits.budget_refused == {"user": 2, "workspace": 0}


class CountingAccessStore(SqliteAccessStore):
    """The SQLite access store, counting the budget queries."""

    def __init__(self, store: SqliteStore) -> None:
        super().__init__(store)
        self.budget_reads = 0

    async def tokens_since(
        self, platform: str, since: datetime, *, user_id: str, workspace: str
    ) -> TokensUsed:
        self.budget_reads += 1
        return await super().tokens_since(platform, since, user_id=user_id, workspace=workspace)


async def test_budget_sums_are_read_once_a_day_then_kept_from_observed_turns(
    store: SqliteStore,
) -> None:
    settings = parse_settings({"limits": {"user_daily_tokens": 10_000}})
    clock = ManualClock()
    access = CountingAccessStore(store)
    limits = Limits(
        settings.limits,
        AccessRules(settings),
        access,
        {},
        clock,
        exempt_from_budget=lambda _m: False,
    )
    await store.create_session(SessionRecord("s1", "telegram:bot:u1:", START))
    ordinal = iter(range(1, 100))

    async def stored(user: str, usage: Usage) -> None:
        turn = turn_of(f"t{next(ordinal)}", user, clock.now(), usage)
        await store.record_turn(turn, [])
        limits.observe_turn(turn)

    async def truth(user: str) -> TokensUsed:
        day = clock.now().replace(hour=0)
        return await SqliteAccessStore(store).tokens_since(
            "telegram", day, user_id=user, workspace="bot"
        )

    await stored("u1", Usage(100, 20))  # before anyone asked (as before a restart): 120
    assert await limits.tokens_today("telegram", "u1", "bot") == TokensUsed(120, 120)
    await stored("u1", Usage(1000, 50, cache_read_tokens=900))  # 150: cache reads do not count
    await stored("u2", Usage(10, 5))  # u2 not read yet: only the workspace sum moves
    assert await limits.tokens_today("telegram", "u1", "bot") == TokensUsed(270, 285)
    assert access.budget_reads == 1
    assert await limits.tokens_today("telegram", "u2", "bot") == await truth("u2")
    assert await limits.tokens_today("telegram", "u1", "bot") == await truth("u1")
    assert access.budget_reads == 2

    clock.current += timedelta(days=1)  # a new day: read again, from zero
    assert await limits.tokens_today("telegram", "u1", "bot") == TokensUsed(0, 0)
    assert access.budget_reads == 3
