"""Admin commands on Telegram: ``/stats all`` and ``/stats <user>``, ``/reset <user>``; everyone
else may only look at and reset their own conversations."""

from __future__ import annotations

from pathlib import Path

from bot.commands import ADMINS_ONLY
from tests.e2e.test_access_matrix import (
    ADMIN,
    ALLOWED,
    STRANGER,
    answered_times,
    answers,
    notices,
    telegram_access_settings,
)
from tests.e2e.test_telegram import running_bot
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.telegram import FakeTelegram
from tests.harness import wait_until


def history_sizes(model: FakeAnthropic) -> dict[str, int]:
    """For each request, the person's words → how many messages the request carried."""
    return {
        r.json["messages"][-1]["content"][0]["text"]: len(r.json["messages"])
        for r in model.chat_requests()
    }


async def test_admins_see_everything_and_reset_others_while_users_only_themselves(
    tmp_path: Path,
) -> None:
    access = {"dm": "open", "admins": [f"telegram:{ADMIN}"]}
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = telegram_access_settings(tmp_path, model, telegram, access=access)
        async with running_bot(settings):
            for user, text in ((ALLOWED, "first from 501"), (STRANGER, "first from 502")):
                telegram.user_message(user, text)
                await wait_until(answered_times(telegram, user, 1))
            telegram.user_message(ALLOWED, "/stats all")
            telegram.user_message(ALLOWED, f"/reset {STRANGER}")
            telegram.user_message(ALLOWED, "/stats me")
            telegram.user_message(ADMIN, "/stats all")
            telegram.user_message(ADMIN, f"/stats {STRANGER}")
            telegram.user_message(ADMIN, f"/reset {STRANGER}")
            await wait_until(lambda: len(telegram.bot_messages(ADMIN)) == 3)
            telegram.user_message(STRANGER, "second from 502")
            telegram.user_message(ALLOWED, "/reset")
            telegram.user_message(ALLOWED, "second from 501")
            await wait_until(lambda: len(answers(telegram, STRANGER)) == 2)
            await wait_until(lambda: len(answers(telegram, ALLOWED)) == 2)

    refused_all, refused_reset, own, own_reset = notices(telegram, ALLOWED)
    assert refused_all.startswith(ADMINS_ONLY) and refused_reset.startswith(ADMINS_ONLY)
    assert own.startswith("You: 1 turn · TTFT p50")
    assert own_reset.startswith("Closed 1 conversation of yours here")
    everything, one_user, reset = (m.text for m in telegram.bot_messages(ADMIN))
    assert everything.startswith("All: 2 turns · TTFT p50")
    assert "\ntelegram: 2 turns" in everything
    assert one_user.startswith(f"User {STRANGER}: 1 turn · TTFT p50")
    assert reset.startswith(f"Closed 1 conversation of user {STRANGER} here")
    # Both second messages started afresh: no earlier turn in their requests.
    sizes = history_sizes(model)
    assert sizes == {
        "first from 501": 1,
        "first from 502": 1,
        "second from 502": 1,
        "second from 501": 1,
    }
