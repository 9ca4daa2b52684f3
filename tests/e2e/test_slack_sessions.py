"""Slack conversations end to end: real slack-bolt/slack-sdk over Socket Mode against the fake.

A mention opens a thread on the user's message and the thread is the session; follow-ups there
need no mention (also after a restart); DMs are a session per thread; retried events, the
``app_mention`` + ``message`` pair, the bot's own messages, edits and joins never cause a reply.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from channels.base import ChannelError, InboundMessage
from channels.slack import SlackChannel
from tests.e2e.slack_support import answered, finished, running, settings_with
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.fakes.slack import (
    BOT_USER_ID,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    USER_ID,
    FakeSlack,
)
from tests.harness import stored_turns, wait_until


def prompts(model: FakeAnthropic) -> list[str]:
    """What the person wrote, per model request (the first block of the new user message; the
    volatile context follows in a block of its own)."""
    return [r.json["messages"][-1]["content"][0]["text"] for r in model.chat_requests()]


async def test_a_mention_is_answered_by_a_stream_in_its_thread_and_follow_ups_need_no_mention(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(
            Reply(
                Text("Hello, I am **Hearth**. ", chunks=1),
                Text("Ask me ", chunks=1, delay=0.1),
                Text("anything.", chunks=1, delay=0.1),
            ),
            Reply(Text("Still the same thread.")),
        )
        settings = settings_with(tmp_path, model, slack)
        async with running(settings):
            await slack.user_message("just chatting, not for the bot")
            question = await slack.user_message("who are you?", mention=True)
            thread = functools.partial(answered, slack, CHANNEL_ID, question.ts)
            await wait_until(lambda: thread(1))
            await slack.user_message("and now?", thread_ts=question.ts)  # no mention
            await wait_until(lambda: thread(2))
        turns = await stored_turns(settings)

    first, second = slack.bot_replies(CHANNEL_ID, question.ts)
    assert first.body == "Hello, I am **Hearth**. Ask me anything."
    assert first.stream == "stopped" and finished(first)
    # A small first flush, then appends, then the stop that carries the footer.
    assert next(m for _, m in first.writes) == "chat.startStream"
    assert first.count("chat.appendStream") >= 1 and first.count("chat.stopStream") == 1
    assert slack.calls_of("chat.startStream")[0]["markdown_text"] == "Hello, I am **Hearth**. "
    assert second.body == "Still the same thread."
    assert slack.top_level_bot_messages(CHANNEL_ID) == []
    assert (CHANNEL_ID, question.ts, "is thinking…") in slack.statuses
    assert slack.status == {}  # the replies cleared it
    assert prompts(model) == ["who are you?", "and now?"]
    assert [(t.ordinal, t.warm, t.status) for t in turns] == [(1, False, "ok"), (2, True, "ok")]
    assert len({t.session_id for t in turns}) == 1


async def test_dms_are_a_session_per_thread(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(Reply(Text("First.")), Reply(Text("Second.")), Reply(Text("First again.")))
        settings = settings_with(tmp_path, model, slack)
        async with running(settings):
            one = await slack.user_message("hello", channel=DM_CHANNEL_ID)
            await wait_until(lambda: answered(slack, DM_CHANNEL_ID, one.ts, 1))
            two = await slack.user_message("another topic", channel=DM_CHANNEL_ID)
            await wait_until(lambda: answered(slack, DM_CHANNEL_ID, two.ts, 1))
            await slack.user_message("back to the first", channel=DM_CHANNEL_ID, thread_ts=one.ts)
            await wait_until(lambda: answered(slack, DM_CHANNEL_ID, one.ts, 2))
        turns = await stored_turns(settings)

    assert [m.body for m in slack.bot_replies(DM_CHANNEL_ID, one.ts)] == ["First.", "First again."]
    assert [m.body for m in slack.bot_replies(DM_CHANNEL_ID, two.ts)] == ["Second."]
    assert [(t.ordinal, t.warm) for t in turns] == [(1, False), (1, False), (2, True)]
    assert turns[0].session_id == turns[2].session_id != turns[1].session_id
    # In a DM the stream needs no recipient, but naming it is harmless; every stream is a reply.
    assert all(call["thread_ts"] for call in slack.calls_of("chat.startStream"))


async def test_a_retried_event_and_the_mention_plus_message_pair_each_get_one_reply(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(Reply(Text("Once.")), Reply(Text("Twice.")), Reply(Text("Thrice.")))
        settings = settings_with(tmp_path, model, slack)
        async with running(settings):
            question = await slack.user_message("count", mention=True, events=("app_mention",))
            await slack.deliver(slack.bodies[-1], retry_attempt=1, retry_reason="http_timeout")
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 1))
            # Both kinds of event for one message ("message" first, as Slack often sends them).
            pair = await slack.user_message(
                "again", mention=True, events=("message", "app_mention")
            )
            await wait_until(lambda: answered(slack, CHANNEL_ID, pair.ts, 1))
            # A later message in each thread is answered after any duplicate would have been.
            await slack.user_message("and?", thread_ts=question.ts)
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 2))
            await wait_until(lambda: len(slack.acks) == len(slack.envelopes))

    assert [e["retry_attempt"] for e in slack.envelopes[:2]] == [0, 1]
    assert len(slack.bot_replies(CHANNEL_ID, question.ts)) == 2
    assert len(slack.bot_replies(CHANNEL_ID, pair.ts)) == 1
    assert len(model.chat_requests()) == 3
    assert {e["envelope_id"] for e in slack.envelopes} == set(slack.acks)  # every envelope acked


async def test_its_own_messages_edits_joins_and_other_bots_are_ignored(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(Reply(Text("Only this.")))
        settings = settings_with(tmp_path, model, slack)
        async with running(settings):
            question = await slack.user_message("hi", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 1))
            base = {"channel": CHANNEL_ID, "channel_type": "channel", "team": "T0HEARTH"}
            mention = f"<@{BOT_USER_ID}> hello"
            ignored: list[dict[str, Any]] = [
                {**base, "type": "message", "subtype": "message_changed", "ts": "1.000001",
                 "message": {"user": USER_ID, "text": mention, "ts": question.ts}},
                {**base, "type": "message", "subtype": "channel_join", "user": USER_ID,
                 "text": f"<@{USER_ID}> has joined the channel", "ts": "1.000002"},
                {**base, "type": "message", "user": "U0OTHERBOT", "bot_id": "B0OTHER",
                 "text": mention, "ts": "1.000003"},
                {**base, "type": "message", "subtype": "message_deleted", "ts": "1.000004"},
            ]  # fmt: skip
            for event in ignored:
                await slack.deliver(slack.event_body(event))
            later = await slack.user_message("still there?", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, later.ts, 1))
            await wait_until(lambda: len(slack.acks) == len(slack.envelopes))

    # Two user questions, two model calls: the bot's own streamed messages came back as events
    # too (the fake echoes them as Slack does) and were acknowledged but not answered.
    assert len(model.chat_requests()) == 2
    echoes = [b for b in slack.bodies if b["event"].get("bot_id") == "B0HEARTH"]
    assert len(echoes) == 2


async def test_without_thread_followups_a_follow_up_needs_a_mention(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(Reply(Text("First.")), Reply(Text("Second.")))
        settings = settings_with(tmp_path, model, slack, thread_followups=False)
        async with running(settings):
            question = await slack.user_message("hi", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 1))
            await slack.user_message("unaddressed", thread_ts=question.ts)
            await slack.user_message("addressed", thread_ts=question.ts, mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 2))

    assert prompts(model) == ["hi", "addressed"]


async def test_after_a_restart_a_follow_up_in_its_thread_is_still_answered(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(Reply(Text("Before.")), Reply(Text("After.")))
        settings = settings_with(tmp_path, model, slack)
        async with running(settings):
            question = await slack.user_message("hi", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 1))
            other = await slack.user_message("a thread without the bot")
        async with running(settings):  # a new process: it remembers no thread
            await slack.user_message("not for the bot", thread_ts=other.ts)
            await slack.user_message("still there?", thread_ts=question.ts)
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 2))
        turns = await stored_turns(settings)

    looked_up = [call["ts"] for call in slack.calls_of("conversations.replies")]
    assert sorted(looked_up) == sorted([other.ts, question.ts])
    assert prompts(model) == ["hi", "still there?"]
    assert [(t.ordinal, t.warm) for t in turns] == [(1, False), (2, False)]  # restored cold
    assert turns[0].session_id == turns[1].session_id
    assert slack.bot_replies(CHANNEL_ID, other.ts) == []


async def test_a_socket_refresh_reconnects_and_messages_keep_flowing(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(Reply(Text("Before.")), Reply(Text("After.")))
        settings = settings_with(tmp_path, model, slack)
        async with running(settings) as channel:
            first = await slack.user_message("one", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, first.ts, 1))
            await slack.disconnect()
            await wait_until(lambda: slack.connections == 2 and slack.connected)
            await wait_until(lambda: channel.connected)
            second = await slack.user_message("two", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, second.ts, 1))
            assert channel.connected
        assert not channel.connected

    assert len(slack.calls_of("apps.connections.open")) == 2
    assert [m.body for m in slack.bot_replies(CHANNEL_ID, second.ts)] == ["After."]


async def nowhere(message: InboundMessage) -> None:
    raise AssertionError(f"nothing should arrive: {message}")


@pytest.mark.parametrize(
    ("section", "reason"),
    [
        ({"bot_token": "xoxb-wrong"}, r"auth\.test: invalid_auth"),
        ({"app_token": "xapp-wrong", "connect_timeout": "300ms"}, r"not connected within 0\.3 s"),
    ],
)
async def test_a_refused_token_fails_start_with_the_reason_and_leaves_nothing_open(
    tmp_path: Path, section: dict[str, str], reason: str
) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        settings = settings_with(tmp_path, model, slack, **section)
        assert settings.channels.slack is not None
        channel = SlackChannel(settings.channels.slack)
        with pytest.raises(ChannelError, match=reason):
            await channel.start(nowhere)

        assert not channel.connected
        assert not slack.connected
