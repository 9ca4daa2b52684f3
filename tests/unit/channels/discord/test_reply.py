"""The streamed reply: first post at once, throttled edits, background flush, chunks, typing."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from channels.base import ChannelError
from channels.discord.reply import EMPTY_ANSWER, StreamedReply, render_final
from tests.harness import wait_until

INTERVAL = 0.05


class Recorder:
    """A reply target that keeps every write with its loop time."""

    def __init__(self) -> None:
        self.writes: list[list[tuple[float, str]]] = []  # per message
        self.typing_calls = 0
        self.fail_posts = False
        self.fail_edits = False

    def contents(self) -> list[str]:
        return [writes[-1][1] for writes in self.writes]

    async def post(self, content: str) -> Posted:
        if self.fail_posts:
            raise ChannelError("post refused")
        self.writes.append([(asyncio.get_running_loop().time(), content)])
        return Posted(self, len(self.writes) - 1)

    async def typing(self) -> None:
        self.typing_calls += 1


class Posted:
    def __init__(self, recorder: Recorder, index: int) -> None:
        self._recorder = recorder
        self._index = index

    async def edit(self, content: str) -> None:
        if self._recorder.fail_edits:
            raise ChannelError("edit refused")
        self._recorder.writes[self._index].append((asyncio.get_running_loop().time(), content))


def reply_to(recorder: Recorder, *, limit: int = 2000, typing: float = 10.0) -> StreamedReply:
    return StreamedReply(recorder, edit_interval=INTERVAL, typing_interval=typing, limit=limit)


async def test_first_text_is_posted_at_once_and_later_text_is_edited_in_throttled() -> None:
    recorder = Recorder()
    reply = reply_to(recorder)

    assert await reply.append("   ") is False  # nothing visible yet: no empty message
    assert recorder.writes == []
    assert await reply.append("Hello") is True
    assert recorder.contents() == ["   Hello"]
    for word in [" there", ",", " how", " are", " you", "?"]:
        assert await reply.append(word) is True
    await reply.finish("⏱ 0.42 s to first token")

    assert recorder.contents() == ["   Hello there, how are you?\n-# ⏱ 0.42 s to first token"]
    times = [t for t, _ in recorder.writes[0]]
    assert len(times) <= 3  # post, at most one coalesced edit, the final edit
    assert all(b - a >= INTERVAL for a, b in itertools.pairwise(times))


async def test_text_arriving_before_a_pause_is_flushed_without_another_call() -> None:
    recorder = Recorder()
    reply = reply_to(recorder)
    await reply.append("one")
    await reply.append(" two")  # within the interval: waits for the pump

    await wait_until(lambda: recorder.contents() == ["one two"], timeout=2)
    await reply.close()


async def test_a_long_answer_continues_in_new_messages_and_settles_the_earlier_ones() -> None:
    recorder = Recorder()
    reply = reply_to(recorder, limit=40)
    text = "The first paragraph is here.\n\nThe second paragraph follows it.\n\nThird and last."
    for piece in [text[i : i + 9] for i in range(0, len(text), 9)]:
        await reply.append(piece)
    await reply.finish("")

    assert recorder.contents() == [
        "The first paragraph is here.",
        "The second paragraph follows it.",
        "Third and last.",
    ]
    for writes in recorder.writes:
        assert all(b - a >= INTERVAL for (a, _), (b, _) in itertools.pairwise(writes))


@pytest.mark.parametrize(
    ("text", "tail", "expected"),
    [
        ("Answer.", "-# ⏱ 1.00 s to first token", "Answer.\n-# ⏱ 1.00 s to first token"),
        ("Answer.\n\n", "", "Answer."),
        ("```\ncode", "-# f", "```\ncode\n```\n-# f"),  # the footer never lands inside code
        ("", "", EMPTY_ANSWER),
        ("  ", "-# f", "-# f"),
    ],
)
def test_render_final(text: str, tail: str, expected: str) -> None:
    assert render_final(text, tail) == expected


async def test_fail_keeps_the_text_and_adds_the_notice() -> None:
    recorder = Recorder()
    reply = reply_to(recorder)
    await reply.append("Partial answer")
    await reply.fail("⚠ The answer above is incomplete.")

    assert recorder.contents() == ["Partial answer\n\n⚠ The answer above is incomplete."]


async def test_fail_before_any_text_posts_just_the_notice() -> None:
    recorder = Recorder()
    await reply_to(recorder).fail("⚠ Sorry.")

    assert recorder.contents() == ["⚠ Sorry."]


async def test_typing_is_renewed_while_working_and_stops_when_text_arrives() -> None:
    recorder = Recorder()
    reply = reply_to(recorder, typing=0.02)
    await reply.set_status("is thinking…")
    await wait_until(lambda: recorder.typing_calls >= 3, timeout=2)

    await reply.append("Hi")
    stopped_at = recorder.typing_calls
    await reply.finish("")
    assert recorder.typing_calls == stopped_at


async def test_a_failed_post_raises_channel_error_from_append() -> None:
    recorder = Recorder()
    recorder.fail_posts = True
    reply = reply_to(recorder)
    await reply.set_status("is thinking…")

    with pytest.raises(ChannelError):
        await reply.append("Hello")
    with pytest.raises(ChannelError):
        await reply.append(" again")


async def test_a_failed_edit_surfaces_at_finish() -> None:
    recorder = Recorder()
    reply = reply_to(recorder)
    await reply.append("Hello")
    recorder.fail_edits = True
    await reply.append(" world")

    with pytest.raises(ChannelError, match="edit refused"):
        await reply.finish("footer")
    assert recorder.contents() == ["Hello"]
