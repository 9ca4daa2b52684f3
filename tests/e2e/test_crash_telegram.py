"""SIGKILL during turns, then a restart: Telegram users end with exactly one complete answer, or one
answer with the restart note, whatever point of the turn the crash hit.

One ``hearth run`` holds four turns at four points when it is killed:

* alpha (a DM): accepted, the model has not answered yet (after receipt);
* bravo (a group): the answer is a posted message being edited (mid-stream, a message exists);
* charlie (a DM): the final message is on Telegram, but its answer never reached the bot (after
  the final post, before the turn was stored): the fake holds that response;
* delta (a DM): the answer shows only as a draft, which Telegram drops (mid-stream, nothing kept).

The moments are chosen with the model fake's gates and the Telegram fake's state, never sleeps.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from bot.recovery import CUT_NOTE
from tests.e2e.crash_support import (
    ANSWER_S,
    asked,
    hearth_run,
    script_three_points,
    stored,
    write_config,
)
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram, SentMessage
from tests.harness import wait_until

ALPHA, CHARLIE, DELTA, ECHO = 501, 503, 504, 505
BRAVO = -100777
FOOTER = r"\n\n⏱ \d+\.\d\d s to first token"
HOLD_S = 30.0


class HoldingTelegram(FakeTelegram):
    """Applies the final write of an answer in the chats of :attr:`hold` (the one that carries
    the footer), then keeps its response until :attr:`release` is set: the user sees the
    message, the bot never learns that it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.hold: set[int] = set()
        self.held = 0
        self.release = asyncio.Event()

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        result = await super()._api_sendMessage(params)
        await self._maybe_hold(params)
        return result

    async def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        result = await super()._api_editMessageText(params)
        await self._maybe_hold(params)
        return result

    async def _maybe_hold(self, params: dict[str, Any]) -> None:
        if int(params["chat_id"]) in self.hold and "⏱" in str(params.get("text", "")):
            self.held += 1
            await asyncio.wait_for(self.release.wait(), HOLD_S)


def section(telegram: FakeTelegram) -> dict[str, Any]:
    return {
        "token": telegram.token,
        "api_base_url": f"{telegram.url}/bot",
        "file_base_url": f"{telegram.url}/file/bot",
        "poll_timeout": "1s",
        "draft_interval": "20ms",
        "edit_interval": "100ms",
        "typing_interval": "50ms",
    }


def complete(messages: list[SentMessage], answer: str) -> bool:
    return (
        len(messages) == 1
        and re.fullmatch(re.escape(answer) + FOOTER, messages[0].text) is not None
    )


async def test_sigkill_at_four_points_of_a_turn_leaves_one_answer_each(tmp_path: Path) -> None:
    delta_gate = asyncio.Event()
    async with HoldingTelegram() as telegram, FakeAnthropic() as model:
        alpha_gate, bravo_gate = script_three_points(model)
        model.script_for("delta", Reply(Text("Delta one. ", chunks=1), Text("x", gate=delta_gate)))
        model.script_for("delta", Reply(Text("Delta, answered anew.")))
        telegram.hold.add(CHARLIE)
        config = write_config(tmp_path, model, {"telegram": section(telegram)})

        def polling() -> bool:
            return bool(telegram.calls_of("getUpdates"))

        async with hearth_run(tmp_path, config, polling) as first:
            updates = [
                telegram.user_message(ALPHA, "alpha: what is new?"),
                telegram.user_message(
                    BRAVO, f"@{BOT_USERNAME} bravo: tell us", chat_type="supergroup"
                ),
                telegram.user_message(CHARLIE, "charlie: a short one please"),
                telegram.user_message(DELTA, "delta: and you?"),
            ]

            def all_in_place() -> bool:
                group = telegram.bot_messages(BRAVO)
                drafts = [d.text for d in telegram.drafts_in(DELTA)]
                return (
                    asked(model, "alpha") == 1
                    and bool(group)
                    and "Bravo two." in group[0].text
                    and telegram.held == 1
                    and any("Delta one." in text for text in drafts)
                )

            await wait_until(all_in_place, ANSWER_S)
            await first.kill()
        alpha_gate.set()
        bravo_gate.set()
        delta_gate.set()
        telegram.release.set()

        async with hearth_run(tmp_path, config, polling) as second:

            def recovered() -> bool:
                return (
                    complete(telegram.bot_messages(ALPHA), "Alpha, answered after the restart.")
                    and telegram.bot_messages(BRAVO)[0].text.endswith(CUT_NOTE)
                    and complete(telegram.bot_messages(DELTA), "Delta, answered anew.")
                )

            await wait_until(recovered, ANSWER_S)
            # Telegram delivers every update again (as after a lost confirmation): no reply.
            for update_id in updates * 4:
                telegram.replay(update_id)
            telegram.user_message(ECHO, "echo: last one")
            await wait_until(lambda: len(telegram.bot_messages(ECHO)) == 1, ANSWER_S)
            assert await second.stop() == 0, second.stderr

    assert complete(telegram.bot_messages(ALPHA), "Alpha, answered after the restart.")
    [cut] = telegram.bot_messages(BRAVO)
    shown, note = cut.text.rsplit("\n\n", 1)
    assert shown.startswith("Bravo one.") and "never sent" not in shown
    assert note == CUT_NOTE
    assert complete(telegram.bot_messages(CHARLIE), "Charlie, complete before the crash.")
    assert complete(telegram.bot_messages(DELTA), "Delta, answered anew.")
    assert asked(model, "charlie") == 1 and asked(model, "bravo") == 1  # neither asked again
    turns, pending = await stored(tmp_path)
    assert sorted(t.status for t in turns) == ["interrupted", "ok", "ok", "ok", "ok"]
    assert pending == 0
