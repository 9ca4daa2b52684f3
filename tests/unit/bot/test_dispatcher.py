"""Lanes: order within a session, concurrency across sessions, and the three lane modes."""

from __future__ import annotations

import asyncio

import pytest

from bot.dispatcher import Dispatcher, DispatcherClosedError, LaneMode
from channels.base import Author, InboundMessage, SessionKey
from tests.harness import wait_until


def message(chat: str, text: str, ident: str | None = None) -> InboundMessage:
    return InboundMessage(
        key=SessionKey("test", "scope", chat),
        message_id=ident or text,
        author=Author("u1", "user"),
        text=text,
        received_ns=0,
    )


class Recorder:
    """A turn handler whose turns block until the test releases them."""

    def __init__(self) -> None:
        self.started: list[list[str]] = []
        self.finished: list[list[str]] = []
        self.cancelled: list[list[str]] = []
        self.running = 0
        self.peak = 0
        self.release = asyncio.Event()

    async def __call__(self, batch: list[InboundMessage]) -> None:
        texts = [m.text for m in batch]
        self.started.append(texts)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.append(texts)
            raise
        finally:
            self.running -= 1
        self.finished.append(texts)


def dispatcher(recorder: Recorder, mode: LaneMode, cap: int = 8) -> Dispatcher:
    return Dispatcher(
        recorder, mode=mode, max_concurrent=cap, is_barrier=lambda m: m.text.startswith("/")
    )


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("queue", [["a"], ["b"], ["c"]]),
        ("collect", [["a"], ["b", "c"]]),
    ],
)
async def test_messages_arriving_mid_turn(mode: LaneMode, expected: list[list[str]]) -> None:
    recorder = Recorder()
    lanes = dispatcher(recorder, mode)
    await lanes.submit(message("1", "a"))
    await wait_until(lambda: recorder.started == [["a"]])
    await lanes.submit(message("1", "b"))
    await lanes.submit(message("1", "c"))
    assert lanes.queue_depth == 2
    recorder.release.set()
    await wait_until(lambda: lanes.active_lanes == 0)
    assert recorder.finished == expected


async def test_interrupt_cancels_the_running_turn_and_starts_anew() -> None:
    recorder = Recorder()
    lanes = dispatcher(recorder, "interrupt")
    await lanes.submit(message("1", "a"))
    await wait_until(lambda: recorder.started == [["a"]])
    await lanes.submit(message("1", "b"))
    await wait_until(lambda: recorder.started == [["a"], ["b"]])
    recorder.release.set()
    await wait_until(lambda: lanes.active_lanes == 0)
    assert recorder.cancelled == [["a"]]
    assert recorder.finished == [["b"]]


async def test_commands_are_never_merged_or_interrupting() -> None:
    recorder = Recorder()
    lanes = dispatcher(recorder, "interrupt")
    await lanes.submit(message("1", "a"))
    await wait_until(lambda: recorder.started == [["a"]])
    await lanes.submit(message("1", "/stats"))
    await lanes.submit(message("1", "b"))
    await wait_until(lambda: len(recorder.started) == 2)
    recorder.release.set()
    await wait_until(lambda: lanes.active_lanes == 0)
    # "b" interrupted "a"; the command ran alone, then "b".
    assert recorder.cancelled == [["a"]]
    assert recorder.finished == [["/stats"], ["b"]]


async def test_sessions_run_in_parallel_under_the_global_cap() -> None:
    recorder = Recorder()
    lanes = dispatcher(recorder, "collect", cap=2)
    for chat in "123":
        await lanes.submit(message(chat, f"hello {chat}"))
    await wait_until(lambda: len(recorder.started) == 2)
    assert lanes.active_lanes == 3  # the third lane waits for a slot
    recorder.release.set()
    await wait_until(lambda: len(recorder.finished) == 3)
    assert recorder.peak == 2


async def test_a_failing_turn_does_not_stop_its_lane() -> None:
    seen: list[str] = []

    async def handler(batch: list[InboundMessage]) -> None:
        seen.append(batch[0].text)
        if batch[0].text == "boom":
            raise RuntimeError("bug in a turn")

    lanes = Dispatcher(handler, mode="queue", max_concurrent=1)
    await lanes.submit(message("1", "boom"))
    await lanes.submit(message("1", "after"))
    await wait_until(lambda: seen == ["boom", "after"] and lanes.active_lanes == 0)


async def test_close_waits_for_running_turns_then_refuses_new_ones() -> None:
    recorder = Recorder()
    lanes = dispatcher(recorder, "queue")
    await lanes.submit(message("1", "a"))
    await lanes.submit(message("1", "queued"))
    await wait_until(lambda: recorder.started == [["a"]])
    closing = asyncio.create_task(lanes.aclose(grace_s=5))
    await wait_until(lambda: lanes.queue_depth == 0)
    recorder.release.set()
    await closing
    assert recorder.finished == [["a"]]  # the running turn finished; queued work was dropped
    with pytest.raises(DispatcherClosedError):
        await lanes.submit(message("1", "late"))


async def test_close_cancels_turns_that_outlive_the_grace_period() -> None:
    recorder = Recorder()
    lanes = dispatcher(recorder, "queue")
    await lanes.submit(message("1", "stuck"))
    await wait_until(lambda: recorder.started == [["stuck"]])
    await lanes.aclose(grace_s=0.01)
    assert recorder.cancelled == [["stuck"]]


async def test_a_lane_is_idle_until_a_message_arrives_and_again_when_its_turns_end() -> None:
    recorder = Recorder()
    lanes = dispatcher(recorder, "collect")
    key = message("1", "a").key
    assert lanes.idle(key)
    await lanes.submit(message("1", "a"))
    assert not lanes.idle(key)  # a turn starts: the next message would wait for it
    assert lanes.idle(message("2", "x").key)  # other sessions are not concerned
    recorder.release.set()
    await wait_until(lambda: lanes.active_lanes == 0)
    assert lanes.idle(key)
