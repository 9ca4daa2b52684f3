"""Pairing end to end on Telegram: a stranger's DM gets a code, an admin approves it with
``hearth pair approve`` (another process's view of the same database) or ``/pair`` in a chat, and
the stranger can chat; an expired code admits nobody. Time is an injected clock, never a sleep."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands import ADMINS_ONLY
from bot.pairing import APPROVAL_RECHECK, APPROVED_NOTICE
from bot.wiring import open_runtime
from channels.telegram import TelegramChannel
from config import Settings
from tests.e2e.test_access_matrix import (
    ADMIN,
    ALLOWED,
    STRANGER,
    answers,
    notices,
    said_to_model,
    telegram_access_settings,
)
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.telegram import FakeTelegram
from tests.harness import wait_until

CODE = re.compile(r"code: ([2-9A-Z]{8}) \(valid for 1h\)")
ACCESS = {"dm": "pairing", "allow_users": [str(ALLOWED)], "admins": [f"telegram:{ADMIN}"]}


class ManualClock:
    """The runtime's wall clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: ManualClock) -> AsyncIterator[None]:
    assert settings.channels.telegram is not None
    channel = TelegramChannel(settings.channels.telegram)
    async with open_runtime(settings, [channel], clock=clock):
        yield


def cli_config(tmp_path: Path) -> str:
    """A config file for ``hearth pair``: it only needs to find the database."""
    path = tmp_path / "hearth.yaml"
    path.write_text(f"data_dir: '{tmp_path}'\n", encoding="utf-8")
    return str(path)


async def hearth(*argv: str) -> int:
    """Run the CLI in a thread (it runs its own event loop), as an admin's shell would."""
    return await asyncio.to_thread(main, list(argv))


def the_code(telegram: FakeTelegram, chat: int, index: int = -1) -> str:
    match = CODE.search(notices(telegram, chat)[index])
    assert match is not None, notices(telegram, chat)
    return match.group(1)


async def test_a_code_approved_with_hearth_pair_approve_lets_the_stranger_chat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cli_config(tmp_path)
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = telegram_access_settings(tmp_path, model, telegram, access=ACCESS)
        async with running(settings, ManualClock(datetime.now(UTC))):
            telegram.user_message(STRANGER, "hello?")
            telegram.user_message(STRANGER, "hello??")  # no second code, no reply
            telegram.user_message(ALLOWED, "barrier")
            await wait_until(lambda: len(answers(telegram, ALLOWED)) == 1)
            code = the_code(telegram, STRANGER)
            assert len(notices(telegram, STRANGER)) == 1

            assert await hearth("-c", config, "pair", "list") == 0
            listed = capsys.readouterr().out
            assert await hearth("-c", config, "pair", "approve", code.lower()) == 0
            approved = capsys.readouterr().out
            assert await hearth("-c", config, "pair", "list") == 0
            listed_after = capsys.readouterr().out

            telegram.user_message(STRANGER, "am I in now?")
            await wait_until(lambda: len(answers(telegram, STRANGER)) == 1)

    assert re.search(
        rf"{code}  telegram user {STRANGER} \(User{STRANGER}\), expires in \d+ min", listed
    )
    assert approved.startswith(f"Approved telegram user {STRANGER} (User{STRANGER})")
    assert "No pairing codes are waiting." in listed_after
    assert f"telegram user {STRANGER} (User{STRANGER}), by cli" in listed_after
    assert said_to_model(model) == ["barrier", "am I in now?"]


async def test_an_expired_code_admits_nobody_and_a_fresh_one_is_approved_in_chat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cli_config(tmp_path)
    # The service's clock runs two hours behind the admin's shell: the code it hands out has
    # already expired for `hearth pair approve`, while the service still counts it as live.
    clock = ManualClock(datetime.now(UTC) - timedelta(hours=2))
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = telegram_access_settings(tmp_path, model, telegram, access=ACCESS)
        async with running(settings, clock):
            telegram.user_message(STRANGER, "hello?")
            await wait_until(lambda: len(notices(telegram, STRANGER)) == 1)
            expired = the_code(telegram, STRANGER)
            assert await hearth("-c", config, "pair", "approve", expired) == 1
            refused = capsys.readouterr().err

            clock.current += timedelta(minutes=61)  # now the service sees it expired too
            telegram.user_message(ADMIN, f"/pair {expired}")
            telegram.user_message(ALLOWED, f"/pair {expired}")  # not an admin
            telegram.user_message(STRANGER, "still there?")  # a new code
            telegram.user_message(STRANGER, "hello???")  # silence: the new code is live
            telegram.user_message(ADMIN, "/pair")
            await wait_until(lambda: len(telegram.bot_messages(ADMIN)) == 2)
            fresh = the_code(telegram, STRANGER)

            telegram.user_message(ADMIN, f"/pair {fresh}")
            await wait_until(lambda: len(notices(telegram, STRANGER)) == 3)
            telegram.user_message(STRANGER, "finally")
            await wait_until(lambda: len(answers(telegram, STRANGER)) == 1)

    assert refused.startswith(f"hearth: Code {expired} for telegram user {STRANGER}")
    assert "expired 1 h" in refused
    expired_in_chat, listing, approved = (m.text for m in telegram.bot_messages(ADMIN))
    assert expired_in_chat.startswith(f"Code {expired} for telegram user {STRANGER}")
    assert "expired" in expired_in_chat
    assert notices(telegram, ALLOWED) == [ADMINS_ONLY]
    assert fresh != expired
    assert f"{fresh}  telegram user {STRANGER}" in listing
    assert approved.startswith(f"Approved telegram user {STRANGER}")
    # The stranger got two codes (one per expiry) and the news, nothing more.
    assert notices(telegram, STRANGER)[2] == APPROVED_NOTICE
    assert said_to_model(model) == ["finally"]


async def test_an_admin_revokes_in_chat_and_the_next_dm_gets_a_new_code(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = telegram_access_settings(tmp_path, model, telegram, access=ACCESS)
        async with running(settings, ManualClock(datetime.now(UTC))):
            telegram.user_message(STRANGER, "hello?")
            await wait_until(lambda: len(notices(telegram, STRANGER)) == 1)
            first = the_code(telegram, STRANGER)
            telegram.user_message(ADMIN, f"/pair {first}")
            await wait_until(lambda: len(notices(telegram, STRANGER)) == 2)  # the news
            telegram.user_message(STRANGER, "paired now")
            await wait_until(lambda: len(answers(telegram, STRANGER)) == 1)

            telegram.user_message(ADMIN, "/pair")
            telegram.user_message(ALLOWED, f"/pair revoke {STRANGER}")  # not an admin
            telegram.user_message(ADMIN, "/pair revoke 424242")  # never approved
            telegram.user_message(ADMIN, f"/pair revoke {STRANGER}")
            await wait_until(lambda: len(telegram.bot_messages(ADMIN)) == 4)
            await wait_until(lambda: len(notices(telegram, ALLOWED)) == 1)

            telegram.user_message(STRANGER, "still in?")  # a stranger again: a new code
            telegram.user_message(STRANGER, "hello??")  # silence: that code is live
            telegram.user_message(ADMIN, "/pair")
            await wait_until(lambda: len(telegram.bot_messages(ADMIN)) == 5)
            second = the_code(telegram, STRANGER)
            telegram.user_message(ADMIN, f"/pair {second}")  # let back in: chats again
            await wait_until(lambda: len(notices(telegram, STRANGER)) == 4)
            telegram.user_message(STRANGER, "back again")
            await wait_until(lambda: len(answers(telegram, STRANGER)) == 2)
            await wait_until(lambda: len(telegram.bot_messages(ADMIN)) == 6)

    _approved, listed, unknown, revoked, relisted, _again = (
        m.text for m in telegram.bot_messages(ADMIN)
    )
    assert f"Approved:\n  telegram user {STRANGER} (User{STRANGER}), by telegram:{ADMIN}" in listed
    assert listed.endswith("Revoke with: /pair revoke <user id>")
    assert notices(telegram, ALLOWED) == [ADMINS_ONLY]
    assert unknown.startswith("No telegram user 424242 is approved by pairing")
    assert revoked.startswith(
        f"Revoked telegram user {STRANGER} (User{STRANGER}), approved by telegram:{ADMIN} at "
    )
    assert f"{second}  telegram user {STRANGER}" in relisted
    assert "No users are approved by pairing." in relisted
    assert second != first
    assert notices(telegram, STRANGER)[1::2] == [APPROVED_NOTICE, APPROVED_NOTICE]
    # Nothing the revoked person wrote reached the model.
    assert said_to_model(model) == ["paired now", "back again"]


async def test_hearth_pair_revoke_takes_effect_in_the_running_service_within_the_recheck(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cli_config(tmp_path)
    clock = ManualClock(datetime.now(UTC))
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = telegram_access_settings(tmp_path, model, telegram, access=ACCESS)
        async with running(settings, clock):
            telegram.user_message(STRANGER, "hello?")
            await wait_until(lambda: len(notices(telegram, STRANGER)) == 1)
            first = the_code(telegram, STRANGER)
            assert await hearth("-c", config, "pair", "approve", first) == 0
            telegram.user_message(STRANGER, "am I in?")
            await wait_until(lambda: len(answers(telegram, STRANGER)) == 1)
            capsys.readouterr()

            assert await hearth("-c", config, "pair") == 0  # no subcommand: the list
            listed = capsys.readouterr().out
            assert await hearth("-c", config, "pair", "revoke", f"telegram:{STRANGER}") == 0
            revoked = capsys.readouterr().out
            assert await hearth("-c", config, "pair", "revoke", f"telegram:{STRANGER}") == 1
            twice = capsys.readouterr().err
            assert await hearth("-c", config, "pair", "revoke", str(STRANGER)) == 2
            no_platform = capsys.readouterr().err
            assert await hearth("-c", config, "pair", "list") == 0
            listed_after = capsys.readouterr().out

            # The service trusts its last look-up for APPROVAL_RECHECK (its clock has not moved).
            telegram.user_message(STRANGER, "inside the window")
            await wait_until(lambda: len(answers(telegram, STRANGER)) == 2)
            clock.current += APPROVAL_RECHECK
            telegram.user_message(STRANGER, "after the window")
            telegram.user_message(ALLOWED, "barrier")
            await wait_until(lambda: len(answers(telegram, ALLOWED)) == 1)
            await wait_until(lambda: len(notices(telegram, STRANGER)) == 2)
            second = the_code(telegram, STRANGER)

    assert f"telegram user {STRANGER} (User{STRANGER}), by cli at " in listed
    assert listed.rstrip().endswith(
        f"Revoke with: hearth pair revoke PLATFORM:USER_ID (e.g. telegram:{STRANGER})"
    )
    assert revoked.startswith(
        f"Revoked telegram user {STRANGER} (User{STRANGER}), approved by cli at "
    )
    assert "A running hearth stops answering them within 10 s." in revoked
    assert twice.startswith(f"hearth: No telegram user {STRANGER} is approved by pairing")
    assert no_platform == "hearth: pair revoke takes PLATFORM:USER_ID, e.g. telegram:123456\n"
    assert "No users are approved by pairing." in listed_after
    assert second != first
    assert said_to_model(model) == ["am I in?", "inside the window", "barrier"]
