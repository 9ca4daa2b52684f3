"""Lanes under pressure: bounded queues, per-platform slots, and the hold of crash recovery."""

from __future__ import annotations

import asyncio

import pytest

from bot.dispatcher import Dispatcher, LaneFullError
from channels.base import Author, InboundMessage, SessionKey
from tests.harness import wait_until


def message(text: str, *, chat: str = "1", platform: str = "test") -> InboundMessage:
    return InboundMessage(
        key=SessionKey(platform, "scope", chat),
        message_id=text,
        author=Author("u1", "user"),
        text=text,
        received_ns=0,
    )


class Blocking:
    """A turn handler whose turns wait until their platform is released."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.open: dict[str, asyncio.Event] = {}

    def gate(self, platform: str) -> asyncio.Event:
        return self.open.setdefault(platform, asyncio.Event())

    async def __call__(self, batch: list[InboundMessage]) -> None:
        self.started.extend(m.text for m in batch)
        await self.gate(batch[0].key.platform).wait()
        self.finished.extend(m.text for m in batch)


async def test_a_full_lane_refuses_and_says_first_only_once_per_flood() -> None:
    turns = Blocking()
    lanes = Dispatcher(turns, mode="queue", max_concurrent=4, max_pending=2)
    await lanes.submit(message("running"))
    await wait_until(lambda: turns.started == ["running"])
    await lanes.submit(message("a"))
    await lanes.submit(message("b"))
    firsts = []
    for text in ("c", "d", "e"):
        with pytest.raises(LaneFullError) as refused:
            await lanes.submit(message(text))
        firsts.append(refused.value.first)
    await lanes.submit(message("other chat", chat="2"))  # other lanes are not affected
    assert firsts == [True, False, False]
    assert lanes.refused == 3
    turns.gate("test").set()
    await wait_until(lambda: lanes.active_lanes == 0)
    assert sorted(turns.finished) == ["a", "b", "other chat", "running"]
    assert turns.finished.index("a") < turns.finished.index("b")  # in order within the lane
    await lanes.submit(message("f"))
    with pytest.raises(LaneFullError):  # the lane had room again: a new flood is told anew
        for text in ("g", "h", "i"):
            await lanes.submit(message(text))
    assert lanes.refused == 4


async def test_a_slow_platform_holds_its_own_slots_only() -> None:
    turns = Blocking()
    lanes = Dispatcher(turns, mode="queue", max_concurrent=2)
    for chat in "123":
        await lanes.submit(message(f"slow {chat}", chat=chat, platform="slow"))
    await lanes.submit(message("fast", chat="9", platform="fast"))
    turns.gate("fast").set()
    await wait_until(lambda: turns.finished == ["fast"])
    assert sorted(turns.started) == ["fast", "slow 1", "slow 2"]  # the third slow one waits
    turns.gate("slow").set()
    await wait_until(lambda: lanes.active_lanes == 0)
    assert len(turns.finished) == 4


async def test_held_lanes_run_recovered_messages_before_newer_ones() -> None:
    turns = Blocking()
    turns.gate("test").set()
    lanes = Dispatcher(turns, mode="queue", max_concurrent=4)
    lanes.hold()
    await lanes.submit(message("new"))
    lanes.submit_first([message("old 1"), message("old 2")])
    await asyncio.sleep(0)  # the lane worker gets to run, and must wait
    assert turns.started == []
    lanes.release()
    await wait_until(lambda: lanes.active_lanes == 0)
    assert turns.finished == ["old 1", "old 2", "new"]
