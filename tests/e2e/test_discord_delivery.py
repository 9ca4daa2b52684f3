"""How Discord answers arrive: throttled edits, long answers in valid pieces, 429s survived."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from tests.e2e.discord_support import FOOTER, answered, running, settings_with
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.discord import DM_CHANNEL_ID, FakeDiscord
from tests.fakes.script import Reply, Text
from tests.harness import wait_until


def fences_balanced(content: str) -> bool:
    return sum(line.strip().startswith("```") for line in content.split("\n")) % 2 == 0


def reading(contents: list[str]) -> list[str]:
    """The lines a reader reads across messages (fences and blank lines aside)."""
    return [
        line
        for content in contents
        for line in content.split("\n")
        if line.strip() and not line.strip().startswith("```")
    ]


async def test_edits_per_message_stay_within_the_throttle_while_streaming(tmp_path: Path) -> None:
    interval = 0.1
    words = [f"word{i} " for i in range(40)]
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        # 40 deltas, 10 ms apart: a stream of about 0.4 s.
        model.script(Reply(*[Text(word, chunks=1, delay=0.01) for word in words]))
        settings = settings_with(tmp_path, model, discord, edit_interval="100ms")
        dm = discord.channel(DM_CHANNEL_ID)
        async with running(settings):
            await discord.user_message(DM_CHANNEL_ID, "count for me")
            await wait_until(lambda: answered(dm, 1))

    [message] = dm.bot_messages()
    assert FOOTER.sub("", message.content) == "".join(words).rstrip()
    times = [at for at, _ in message.writes]
    first_content = message.writes[0][1]
    assert len(first_content) < len("".join(words)) / 2  # posted early, not at the end
    assert all(later - earlier >= interval for earlier, later in itertools.pairwise(times))
    assert 2 <= message.edits <= math.ceil((times[-1] - times[0]) / interval) + 1
    assert [content for _, content in message.writes] == sorted(
        (content for _, content in message.writes), key=len
    )  # every edit shows more, never less


async def test_a_5000_character_answer_with_code_arrives_as_three_valid_messages(
    tmp_path: Path,
) -> None:
    prose = "\n".join(f"Step {i}: explain what happens here in plain words." for i in range(10))
    code = (
        "```python\n"
        + "\n".join(f"total_{i} = add(total_{i - 1}, {i})" for i in range(1, 110))
        + "\n```"
    )
    answer = (
        prose + "\n\n" + code + "\n\nAnd that is the whole program, explained.\n" + prose * 3
    )[:5000]
    answer = answer.rstrip()
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        model.script(Reply(Text(answer, chunks=40)))
        settings = settings_with(tmp_path, model, discord, edit_interval="20ms")
        dm = discord.channel(DM_CHANNEL_ID)
        async with running(settings):
            await discord.user_message(DM_CHANNEL_ID, "write me a long program")
            await wait_until(lambda: answered(dm, 3))

    contents = [m.content for m in dm.bot_messages()]
    assert len(answer) >= 4990 and "```python" in answer
    assert len(contents) == 3
    assert all(len(content) <= 2000 for content in contents)
    assert all(fences_balanced(content) for content in contents)
    assert contents[0].rstrip().endswith("```") and contents[1].startswith("```python\n")
    assert reading(contents) == reading([answer]) + reading([FOOTER.search(contents[-1]).group()])  # type: ignore[union-attr]
    for body in discord.all_bot_writes():
        assert body["allowed_mentions"] == {"parse": []}


async def test_rate_limited_writes_are_retried_after_retry_after(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        model.script(Reply(Text("Rate limits do not lose text.", chunks=6, delay=0.05)))
        discord.rate_limit_next("POST", 0.05)
        discord.rate_limit_next("PATCH", 0.05)
        settings = settings_with(tmp_path, model, discord)
        dm = discord.channel(DM_CHANNEL_ID)
        async with running(settings):
            await discord.user_message(DM_CHANNEL_ID, "hello")
            await wait_until(lambda: answered(dm, 1))

    assert len(discord.rate_limited) == 2
    assert [m.split(" ")[0] for m in discord.rate_limited] == ["POST", "PATCH"]
    assert [FOOTER.sub("", m.content) for m in dm.bot_messages()] == [
        "Rate limits do not lose text."
    ]
