"""SIGKILL during turns, then a restart: every Slack thread ends with exactly one complete answer,
or one answer with the restart note.

One ``hearth run`` (Socket Mode, native streaming) holds three turns when it is killed: alpha after
receipt (the model has not answered), bravo mid-stream (a stream is open and growing), charlie
after ``chat.stopStream`` reached Slack but before its response reached the bot (the fake holds
it). After the restart Slack retries every event (``retry_attempt`` 1–4), as it does when acks
go missing.
"""

from __future__ import annotations

import asyncio
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
from tests.e2e.slack_support import FOOTER, answered, finished
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import CHANNEL_ID, DM_CHANNEL_ID, FakeSlack
from tests.harness import wait_until

HOLD_S = 30.0


class HoldingSlack(FakeSlack):
    """Applies a ``chat.stopStream`` that carries the footer in threads of :attr:`hold`, then
    keeps its response until :attr:`release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.hold: set[str] = set()
        self.held = 0
        self.release = asyncio.Event()

    async def _m_chat_stopStream(self, params: dict[str, Any]) -> dict[str, Any]:
        result = await super()._m_chat_stopStream(params)
        message = self.messages[(str(params.get("channel")), str(params.get("ts")))]
        if message.thread_ts in self.hold and any("⏱" in c for c in message.context):
            self.held += 1
            await asyncio.wait_for(self.release.wait(), HOLD_S)
        return result


async def test_sigkill_at_three_points_of_a_turn_leaves_one_answer_each(tmp_path: Path) -> None:
    async with HoldingSlack() as slack, FakeAnthropic() as model:
        alpha_gate, bravo_gate = script_three_points(model)
        config = write_config(tmp_path, model, {"slack": slack.channel_config()})

        async with hearth_run(tmp_path, config, lambda: slack.connected) as first:
            alpha = await slack.user_message("alpha: what is new?", mention=True)
            bravo_q = await slack.user_message("bravo: tell us", mention=True)
            charlie = await slack.user_message("charlie: a short one", mention=True)
            slack.hold.add(charlie.ts)
            events = list(slack.bodies)

            def all_in_place() -> bool:
                cut = slack.bot_replies(CHANNEL_ID, bravo_q.ts)
                return (
                    asked(model, "alpha") == 1
                    and bool(cut)
                    and "Bravo two." in cut[0].text
                    and slack.held == 1
                )

            await wait_until(all_in_place, ANSWER_S)
            await first.kill()
        alpha_gate.set()
        bravo_gate.set()
        slack.release.set()

        async with hearth_run(
            tmp_path, config, lambda: slack.connected and slack.connections == 2
        ) as second:

            def recovered() -> bool:
                cut = slack.bot_replies(CHANNEL_ID, bravo_q.ts)
                return answered(slack, CHANNEL_ID, alpha.ts, 1) and cut[0].context == [CUT_NOTE]

            await wait_until(recovered, ANSWER_S)
            for attempt in range(1, 5):  # Slack's retries of every event, with retry headers
                for body in events:
                    await slack.deliver(body, retry_attempt=attempt, retry_reason="timeout")
            echo = await slack.user_message("echo: last one", channel=DM_CHANNEL_ID)
            await wait_until(lambda: answered(slack, DM_CHANNEL_ID, echo.ts, 1), ANSWER_S)
            assert await second.stop() == 0, second.stderr

    [rerun] = slack.bot_replies(CHANNEL_ID, alpha.ts)
    assert rerun.body == "Alpha, answered after the restart." and finished(rerun)
    [cut] = slack.bot_replies(CHANNEL_ID, bravo_q.ts)
    assert cut.body.startswith("Bravo one.") and "never sent" not in cut.body
    assert cut.context == [CUT_NOTE]
    [complete] = slack.bot_replies(CHANNEL_ID, charlie.ts)
    assert complete.body == "Charlie, complete before the crash."
    assert [FOOTER.fullmatch(line) is not None for line in complete.context] == [True]
    assert asked(model, "charlie") == 1 and asked(model, "bravo") == 1
    assert not slack.top_level_bot_messages(CHANNEL_ID)
    turns, pending = await stored(tmp_path)
    assert sorted(t.status for t in turns) == ["interrupted", "ok", "ok", "ok"]
    assert pending == 0
