"""How Slack answers are delivered: native streams and their fallbacks, edit mode, long answers,
rate limits, failures, notices and unprompted messages, with the real SDKs against the fake."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from channels.base import ChannelError, SessionKey
from tests.e2e.slack_support import answered, finished, running, settings_with
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import ApiError, Reply, Text
from tests.fakes.slack import CHANNEL_ID, TEAM_ID, FakeSlack
from tests.harness import wait_until


def spaced(*pieces: str, gap_s: float = 0.06) -> Reply:
    """A model reply whose pieces arrive ``gap_s`` apart."""
    return Reply(*(Text(p, chunks=1, delay=0 if i == 0 else gap_s) for i, p in enumerate(pieces)))


async def test_a_stream_that_expires_mid_answer_ends_as_one_complete_message(
    tmp_path: Path,
) -> None:
    gate = asyncio.Event()
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(
            Reply(
                Text("The first half of the **answer**. ", chunks=1),
                Text("And the second half.", chunks=2, gate=gate),
            )
        )
        settings = settings_with(tmp_path, model, slack)
        async with running(settings):
            question = await slack.user_message("tell me", mention=True)
            await wait_until(lambda: bool(slack.bot_replies(CHANNEL_ID, question.ts)))
            slack.expire_streams()  # Slack's ~5 minute lifetime ends while the model still talks
            gate.set()
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 1))

    [reply] = slack.bot_replies(CHANNEL_ID, question.ts)
    assert reply.stream == "expired"
    # The whole answer, once, now rendered from mrkdwn blocks by chat.update on the stream's ts.
    assert reply.body == "The first half of the *answer*. And the second half."
    assert finished(reply)
    assert reply.count("chat.update") >= 1


async def test_an_expired_stream_that_cannot_be_updated_continues_in_a_new_message(
    tmp_path: Path,
) -> None:
    gate = asyncio.Event()
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(Reply(Text("Part one. ", chunks=1), Text("Part two.", chunks=1, gate=gate)))
        settings = settings_with(tmp_path, model, slack)
        async with running(settings):
            question = await slack.user_message("tell me", mention=True)
            await wait_until(lambda: bool(slack.bot_replies(CHANNEL_ID, question.ts)))
            slack.expire_streams()
            slack.fail("chat.update", "cant_update_message", times=20)
            gate.set()
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 1))

    first, second = slack.bot_replies(CHANNEL_ID, question.ts)
    assert (first.body, first.context) == ("Part one. ", [])
    assert second.body == "Part two." and finished(second)


async def test_an_old_stream_rotates_into_a_new_message_before_slack_ends_it(
    tmp_path: Path,
) -> None:
    pieces = ("One. ", "Two. ", "Three. ", "Four. ", "Five.")
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(spaced(*pieces, gap_s=0.08))
        settings = settings_with(tmp_path, model, slack, stream_rotation="100ms")
        async with running(settings):
            question = await slack.user_message("count", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 1))

    replies = slack.bot_replies(CHANNEL_ID, question.ts)
    assert len(replies) >= 2
    assert "".join(m.body for m in replies) == "".join(pieces)
    assert all(m.stream == "stopped" for m in replies)
    assert [finished(m) for m in replies] == [False] * (len(replies) - 1) + [True]


@pytest.mark.parametrize("streaming", ["native", "edit"])
async def test_a_long_answer_continues_in_further_messages_of_the_thread(
    tmp_path: Path, streaming: str
) -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 25 for i in range(6)]
    answer = "\n\n".join(p.strip() for p in paragraphs)
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(Reply(Text(answer, chunks=12)))
        settings = settings_with(tmp_path, model, slack, streaming=streaming)
        async with running(settings, message_limit=300):
            question = await slack.user_message("essay please", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 1))

    replies = slack.bot_replies(CHANNEL_ID, question.ts)
    assert len(replies) >= 3
    assert all(len(m.body) <= 300 for m in replies)
    assert [finished(m) for m in replies] == [False] * (len(replies) - 1) + [True]
    # Every word once, in order (a stream is cut where its message fills up, at a word boundary).
    assert " ".join(" ".join(m.body.split()) for m in replies) == " ".join(answer.split())
    if streaming == "edit":  # the whole text is known when a posted message is cut: paragraphs
        assert "\n\n".join(m.body for m in replies) == answer


async def test_edit_mode_posts_then_updates_at_most_once_per_interval_and_ends_in_mrkdwn(
    tmp_path: Path,
) -> None:
    pieces = ("**Bold** start, ", "then [a link](https://example.org/?a=1&b=2) ", "and `x < y`.")
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(spaced(*pieces, gap_s=0.03))
        settings = settings_with(tmp_path, model, slack, streaming="edit", edit_interval="80ms")
        async with running(settings):
            question = await slack.user_message("format", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 1))

    [reply] = slack.bot_replies(CHANNEL_ID, question.ts)
    assert reply.writes[0][1] == "chat.postMessage"
    assert slack.calls_of("chat.startStream") == []
    assert reply.body == (
        "*Bold* start, then <https://example.org/?a=1&amp;b=2|a link> and `x &lt; y`."
    )
    assert finished(reply)
    times = [at for at, method in reply.writes]
    assert all(b - a >= 0.08 for a, b in itertools.pairwise(times))


async def test_when_slack_refuses_to_stream_the_answer_comes_by_post_and_update(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(spaced("Plain ", "delivery."))
        settings = settings_with(tmp_path, model, slack)
        async with running(settings):
            slack.fail("chat.startStream", "feature_not_enabled")
            question = await slack.user_message("hi", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 1))

    [reply] = slack.bot_replies(CHANNEL_ID, question.ts)
    assert reply.body == "Plain delivery."
    assert reply.writes[0][1] == "chat.postMessage"


async def test_a_429_is_waited_out_for_its_retry_after(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(Reply(Text("After the wait.")))
        settings = settings_with(tmp_path, model, slack)
        async with running(settings):
            slack.rate_limit("chat.startStream", retry_after=1)
            question = await slack.user_message("hi", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 1))

    [reply] = slack.bot_replies(CHANNEL_ID, question.ts)
    assert reply.body == "After the wait."
    refused, accepted = slack.times_of("chat.startStream")
    assert accepted - refused >= 1.0


async def test_a_model_failure_is_told_in_the_thread(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(ApiError(401, "authentication_error", "invalid x-api-key"))
        settings = settings_with(tmp_path, model, slack)
        async with running(settings):
            question = await slack.user_message("hi", mention=True)
            await wait_until(lambda: bool(slack.bot_replies(CHANNEL_ID, question.ts)))
            await wait_until(
                lambda: slack.bot_replies(CHANNEL_ID, question.ts)[0].stream != "streaming"
            )

    [reply] = slack.bot_replies(CHANNEL_ID, question.ts)
    assert "can't reach the model" in reply.body
    assert "invalid x-api-key" not in reply.body


async def test_commands_notices_and_unprompted_messages_go_where_they_belong(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        settings = settings_with(tmp_path, model, slack)
        async with running(settings) as channel:
            question = await slack.user_message("/help", mention=True)
            await wait_until(lambda: bool(slack.bot_replies(CHANNEL_ID, question.ts)))
            in_thread = SessionKey("slack", TEAM_ID, CHANNEL_ID, question.ts)
            await channel.send(in_thread, "Reminder: **stretch**")
            await channel.send(SessionKey("slack", TEAM_ID, CHANNEL_ID), "Maintenance at 5 pm.")
            slack.fail("chat.postMessage", "channel_not_found")
            with pytest.raises(ChannelError, match="channel_not_found"):
                await channel.send(SessionKey("slack", TEAM_ID, "C0GONE"), "lost")
            assert channel.connected

    help_text, reminder = slack.bot_replies(CHANNEL_ID, question.ts)
    assert "/new" in help_text.body
    assert reminder.body == "Reminder: *stretch*"
    [alert] = slack.top_level_bot_messages(CHANNEL_ID)
    assert alert.body == "Maintenance at 5 pm."
    assert model.chat_requests() == []
