"""The Slack fake speaks the wire protocol the real slack_sdk expects."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import (
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER_ID,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    SIGNING_SECRET,
    TEAM_ID,
    FakeSlack,
)
from tests.harness import wait_until


@contextlib.asynccontextmanager
async def client(slack: FakeSlack, token: str = BOT_TOKEN) -> AsyncIterator[AsyncWebClient]:
    async with aiohttp.ClientSession() as session:
        # No retry handlers: the raw answers are what these tests look at.
        yield AsyncWebClient(
            token=token, base_url=slack.api_url, session=session, retry_handlers=[]
        )


async def start(web_client: AsyncWebClient, text: str) -> str:
    """Start a stream in the channel; returns its ``ts``."""
    response = await web_client.chat_startStream(
        channel=CHANNEL_ID,
        thread_ts="1.000001",
        markdown_text=text,
        recipient_team_id=TEAM_ID,
        recipient_user_id="U1",
    )
    return str(response["ts"])


async def test_the_web_api_answers_json_form_and_query_calls_and_checks_tokens() -> None:
    async with FakeSlack() as slack, client(slack) as web_client:
        me = await web_client.auth_test()
        opened = await web_client.apps_connections_open(app_token=APP_TOKEN)
        posted = await web_client.chat_postMessage(channel=CHANNEL_ID, text="hi *there*")
        replies = await web_client.conversations_replies(channel=CHANNEL_ID, ts=posted["ts"])
        with pytest.raises(SlackApiError) as refused:
            await web_client.apps_connections_open(app_token="xapp-wrong")

    assert (me["user_id"], me["team_id"]) == (BOT_USER_ID, TEAM_ID)
    assert str(opened["url"]).startswith("ws://127.0.0.1:")
    assert [m["text"] for m in replies["messages"]] == ["hi *there*"]
    assert refused.value.response["error"] == "invalid_auth"


async def test_a_stream_runs_start_append_stop_and_refuses_appends_after_it_ended() -> None:
    async with FakeSlack() as slack, client(slack) as web_client:
        parent = await slack.user_message("question", mention=True, events=())
        started = await web_client.chat_startStream(
            channel=CHANNEL_ID,
            thread_ts=parent.ts,
            markdown_text="Hel",
            recipient_team_id=TEAM_ID,
            recipient_user_id="U1",
        )
        ts = started["ts"]
        await web_client.chat_appendStream(channel=CHANNEL_ID, ts=ts, markdown_text="lo")
        await web_client.chat_stopStream(
            channel=CHANNEL_ID,
            ts=ts,
            markdown_text="!",
            blocks=[{"type": "context", "elements": [{"type": "mrkdwn", "text": "footer"}]}],
        )
        with pytest.raises(SlackApiError) as late:
            await web_client.chat_appendStream(channel=CHANNEL_ID, ts=ts, markdown_text="more")
        with pytest.raises(SlackApiError) as no_recipient:
            await web_client.chat_startStream(
                channel=CHANNEL_ID, thread_ts=parent.ts, markdown_text="x"
            )
        in_dm = await web_client.chat_startStream(
            channel=DM_CHANNEL_ID, thread_ts=parent.ts, markdown_text="dm"
        )

    [reply, dm] = [slack.messages[(CHANNEL_ID, ts)], slack.messages[(DM_CHANNEL_ID, in_dm["ts"])]]
    assert (reply.body, reply.context, reply.stream) == ("Hello!", ["footer"], "stopped")
    assert reply.visible == "Hello!\nfooter"
    assert late.value.response["error"] == "message_not_in_streaming_state"
    assert no_recipient.value.response["error"] == "missing_recipient_user_id"
    assert dm.stream == "streaming"
    assert slack.bot_replies(CHANNEL_ID, parent.ts) == [reply]


async def test_streams_expire_by_lifetime_or_on_demand_and_can_then_be_updated() -> None:
    async with FakeSlack() as slack, client(slack) as web_client:
        first = await start(web_client, "one")
        with pytest.raises(SlackApiError) as live:
            await web_client.chat_update(channel=CHANNEL_ID, ts=first, text="too early")
        slack.expire_streams()
        with pytest.raises(SlackApiError) as expired:
            await web_client.chat_appendStream(channel=CHANNEL_ID, ts=first, markdown_text="x")
        await web_client.chat_update(
            channel=CHANNEL_ID,
            ts=first,
            text="fallback",
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*whole* answer"}}],
        )
        slack.stream_lifetime = 0.0
        second = await start(web_client, "two")
        await asyncio.sleep(0.01)  # a lifetime of 0 s has passed (bounded: one short sleep)
        with pytest.raises(SlackApiError) as aged:
            await web_client.chat_stopStream(channel=CHANNEL_ID, ts=second)

    assert live.value.response["error"] == "cant_update_message"
    assert expired.value.response["error"] == "message_not_in_streaming_state"
    assert aged.value.response["error"] == "message_not_in_streaming_state"
    message = slack.messages[(CHANNEL_ID, first)]
    assert (message.body, message.text, message.stream) == ("*whole* answer", "fallback", "expired")
    assert message.count("chat.update") == 1


async def test_injected_errors_and_rate_limits_are_served_once_each() -> None:
    async with FakeSlack() as slack, client(slack) as web_client:
        slack.rate_limit("chat.postMessage", retry_after=3)
        slack.fail("chat.postMessage", "channel_not_found")
        with pytest.raises(SlackApiError) as limited:
            await web_client.chat_postMessage(channel=CHANNEL_ID, text="a")
        with pytest.raises(SlackApiError) as failed:
            await web_client.chat_postMessage(channel=CHANNEL_ID, text="b")
        ok = await web_client.chat_postMessage(channel=CHANNEL_ID, text="c")

    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "3"
    assert limited.value.response["error"] == "ratelimited"
    assert failed.value.response["error"] == "channel_not_found"
    assert ok["ok"] is True
    assert [m.text for m in slack.top_level_bot_messages(CHANNEL_ID)] == ["c"]


async def test_socket_mode_says_hello_delivers_envelopes_records_acks_and_asks_to_reconnect() -> (
    None
):
    async with FakeSlack() as slack, client(slack, APP_TOKEN) as web_client:
        url = (await web_client.apps_connections_open(app_token=APP_TOKEN))["url"]
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
            hello = json.loads((await socket.receive()).data)
            message = await slack.user_message("hi", mention=True)
            envelopes = [json.loads((await socket.receive()).data) for _ in range(2)]
            for envelope in envelopes:
                await socket.send_str(json.dumps({"envelope_id": envelope["envelope_id"]}))
            await slack.deliver(envelopes[1]["payload"], retry_attempt=1, retry_reason="timeout")
            retried = json.loads((await socket.receive()).data)
            await slack.disconnect()
            bye = json.loads((await socket.receive()).data)
            await wait_until(lambda: len(slack.acks) == 2)

    assert hello["type"] == "hello"
    assert [e["payload"]["event"]["type"] for e in envelopes] == ["message", "app_mention"]
    assert {e["payload"]["event"]["ts"] for e in envelopes} == {message.ts}
    assert envelopes[0]["payload"]["event_id"] != envelopes[1]["payload"]["event_id"]
    assert (retried["retry_attempt"], retried["payload"]) == (1, envelopes[1]["payload"])
    assert bye["type"] == "disconnect"
    assert slack.acks == [e["envelope_id"] for e in envelopes]


async def test_http_events_are_signed_as_slack_signs_them() -> None:
    received: list[tuple[bool, str | None]] = []
    verifier = SignatureVerifier(SIGNING_SECRET)

    async def events(request: web.Request) -> web.Response:
        body = await request.read()
        received.append((verifier.is_valid_request(body, dict(request.headers)),
                         request.headers.get("X-Slack-Retry-Num")))  # fmt: skip
        return web.Response(status=200)

    app = web.Application()
    app.add_routes([web.post("/events", events)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with FakeSlack() as slack:
            slack.events_url = f"http://127.0.0.1:{runner.addresses[0][1]}/events"
            await slack.user_message("hi", channel=DM_CHANNEL_ID)
            await slack.deliver(slack.bodies[-1], retry_attempt=2, retry_reason="http_timeout")
            status, _ = await slack.post_event(slack.bodies[-1], secret="wrong")
    finally:
        await runner.cleanup()

    assert received == [(True, None), (True, "2"), (False, None)]
    assert slack.http_responses == [200, 200]
    assert status == 200  # this little server does not check; the verifier above did
