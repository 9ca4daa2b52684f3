"""SIGKILL during turns, then a restart: on Discord every conversation ends with exactly one
complete answer, or one answer with the restart note.

One ``hearth run`` holds three turns, each in the thread its @mention opened, when it is killed:
alpha after receipt (the model has not answered), bravo mid-stream (a message is being edited),
charlie after the final edit reached Discord but before its response reached the bot (the fake
holds it). After the restart the gateway delivers every message again, as a resumed session may.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from aiohttp import web

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
from tests.fakes.base import recorded
from tests.fakes.discord import DM_CHANNEL_ID, TEXT_CHANNEL_ID, FakeChannel, FakeDiscord
from tests.harness import wait_until

FOOTER = r"\n-# ⏱ \d+\.\d\d s to first token"
HOLD_S = 30.0


class HoldingDiscord(FakeDiscord):
    """Applies an edit that carries the footer (the final write of an answer) in the channels of
    :attr:`hold`, then keeps its response until :attr:`release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.hold: set[str] = set()
        self.held = 0
        self.release = asyncio.Event()

    async def _edit_message(self, request: web.Request) -> web.Response:
        response = await super()._edit_message(request)
        body = recorded(request).json
        content = body.get("content", "") if isinstance(body, dict) else ""
        if request.match_info["cid"] in self.hold and "⏱" in content:
            self.held += 1
            await asyncio.wait_for(self.release.wait(), HOLD_S)
        return response


def complete(channel: FakeChannel, answer: str) -> bool:
    messages = channel.bot_messages()
    return (
        len(messages) == 1
        and re.fullmatch(re.escape(answer) + FOOTER, messages[0].content) is not None
    )


async def test_sigkill_at_three_points_of_a_turn_leaves_one_answer_each(tmp_path: Path) -> None:
    async with HoldingDiscord() as discord, FakeAnthropic() as model:
        alpha_gate, bravo_gate = script_three_points(model)
        config = write_config(tmp_path, model, {"discord": discord.channel_config()})

        async with hearth_run(tmp_path, config, lambda: discord.connected) as first:
            sent: list[dict[str, Any]] = []
            for text in ("alpha: what is new?", "bravo: tell us", "charlie: a short one"):
                sent.append(await discord.user_message(TEXT_CHANNEL_ID, text, mention_bot=True))
            alpha, bravo_id, charlie = (str(p["id"]) for p in sent)
            discord.hold.add(charlie)

            def all_in_place() -> bool:
                threads = {t.id: t for t in discord.threads()}
                bravo_thread = threads.get(bravo_id)
                return (
                    asked(model, "alpha") == 1
                    and bravo_thread is not None
                    and any("Bravo two." in m.content for m in bravo_thread.bot_messages())
                    and discord.held == 1
                )

            await wait_until(all_in_place, ANSWER_S)
            await first.kill()
        alpha_gate.set()
        bravo_gate.set()
        discord.release.set()

        async with hearth_run(tmp_path, config, lambda: len(discord.identifies) == 2) as second:

            def recovered() -> bool:
                cut = discord.channel(bravo_id).bot_messages()
                return (
                    complete(discord.channel(alpha), "Alpha, answered after the restart.")
                    and len(cut) == 1
                    and cut[0].content.endswith(CUT_NOTE)
                )

            await wait_until(recovered, ANSWER_S)
            # A resumed gateway may deliver messages again: none of them is answered twice.
            for payload in sent * 2:
                await discord.redeliver(payload)
            await discord.user_message(DM_CHANNEL_ID, "echo: last one")
            await wait_until(lambda: len(discord.channel(DM_CHANNEL_ID).bot_messages()) == 1)
            assert await second.stop() == 0, second.stderr

    assert complete(discord.channel(alpha), "Alpha, answered after the restart.")
    [cut] = discord.channel(bravo_id).bot_messages()
    assert cut.content.startswith("Bravo one.") and "never sent" not in cut.content
    assert cut.content.endswith(f"\n-# {CUT_NOTE}")
    assert complete(discord.channel(charlie), "Charlie, complete before the crash.")
    assert asked(model, "charlie") == 1 and asked(model, "bravo") == 1
    assert len(discord.threads()) == 3  # the redelivered mentions opened no new thread
    turns, pending = await stored(tmp_path)
    assert sorted(t.status for t in turns) == ["interrupted", "ok", "ok", "ok"]
    assert pending == 0
