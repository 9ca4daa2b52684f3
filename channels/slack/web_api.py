"""The Web API calls the Slack channel makes, with slack_sdk's exceptions translated in one place.

The client is built with ``AsyncRateLimitErrorRetryHandler``: an HTTP 429 is waited out for its
``Retry-After`` and retried by slack_sdk itself (``AsyncWebClient`` retries only connection errors
by default, ``slack_sdk/http_retry/builtin_async_handlers.py``). What is still rate limited after
that surfaces as :class:`~channels.base.ChannelError` with ``retry_after``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from channels.base import ChannelError
from channels.slack.events import BotIdentity

log = logging.getLogger(__name__)

Block = dict[str, Any]
REQUEST_TIMEOUT_S = 30


class StreamExpiredError(ChannelError):
    """``message_not_in_streaming_state``: the stream ended (or expired after ~5 min)."""


class SlackRefusedError(ChannelError):
    """Slack answered ``ok: false`` with ``code`` (not a rate limit)."""

    def __init__(self, method: str, code: str) -> None:
        super().__init__(f"slack {method}: {code}")
        self.code = code


def build_client(
    token: str, base_url: str, session: aiohttp.ClientSession, *, rate_limit_retries: int
) -> AsyncWebClient:
    """An ``AsyncWebClient`` on ``base_url`` that honours 429 ``Retry-After`` by itself."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        session=session,
        timeout=REQUEST_TIMEOUT_S,
        logger=logging.getLogger("channels.slack.sdk"),
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        ],
    )


def translate(method: str, error: Exception) -> ChannelError:
    """The one place where slack_sdk and transport exceptions become ours.

    Slack reports failures as a machine-readable ``error`` code in the JSON body; the message text
    (which may quote user content) is never logged.
    """
    if isinstance(error, SlackApiError):
        data = error.response.data
        found = data.get("error") if isinstance(data, dict) else None  # a non-JSON body is a str
        code = str(found or f"http_{error.response.status_code}")
        if error.response.status_code == 429 or code == "ratelimited":
            return ChannelError(
                f"slack {method}: rate limited", retry_after=_retry_after(error.response)
            )
        if code == "message_not_in_streaming_state":
            return StreamExpiredError(f"slack {method}: {code}")
        return SlackRefusedError(method, code)
    if isinstance(error, TimeoutError):
        return ChannelError(f"slack {method}: timed out")
    return ChannelError(f"slack {method}: {type(error).__name__}")


def _retry_after(response: AsyncSlackResponse) -> float:
    for name, value in response.headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                break
    return 1.0


async def _call(method: str, call: Awaitable[AsyncSlackResponse]) -> AsyncSlackResponse:
    try:
        return await call
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        raise translate(method, exc) from exc


def context_block(text: str) -> Block:
    """A context block: the small grey line under a message (the TTFT footer)."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def section_blocks(mrkdwn_pieces: Sequence[str]) -> list[Block]:
    """One section block per piece of mrkdwn text (each at most 3,000 characters)."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": p}} for p in mrkdwn_pieces]


class SlackApi:
    """Typed, translated wrappers of the Web API methods the channel uses."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def identify(self) -> BotIdentity:
        """``auth.test``: who this token belongs to."""
        response = await _call("auth.test", self.client.auth_test())
        user_id, bot_id, team_id = (
            response.get("user_id"),
            response.get("bot_id"),
            response.get("team_id"),
        )
        if not isinstance(user_id, str) or not isinstance(team_id, str):
            raise ChannelError("slack auth.test: not a bot token (no user_id/team_id)")
        return BotIdentity(user_id, bot_id if isinstance(bot_id, str) else "", team_id)

    async def post(
        self, channel: str, thread_ts: str | None, text: str, blocks: Sequence[Block] = ()
    ) -> str:
        """``chat.postMessage`` of mrkdwn ``text``; returns the new message's ``ts``."""
        response = await _call(
            "chat.postMessage",
            self.client.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                text=text,
                blocks=list(blocks) or None,
                unfurl_links=False,
                unfurl_media=False,
            ),
        )
        return _ts(response, "chat.postMessage")

    async def update(
        self, channel: str, ts: str, text: str, blocks: Sequence[Block] | None = None
    ) -> None:
        """``chat.update``: replace the text (and blocks) of a message."""
        await _call(
            "chat.update",
            self.client.chat_update(
                channel=channel, ts=ts, text=text, blocks=None if blocks is None else list(blocks)
            ),
        )

    async def start_stream(
        self, channel: str, thread_ts: str, markdown: str, *, team_id: str, user_id: str
    ) -> str:
        """``chat.startStream`` with the first text; returns the stream message's ``ts``.

        ``recipient_team_id``/``recipient_user_id`` are required when streaming to channels.
        """
        response = await _call(
            "chat.startStream",
            self.client.chat_startStream(
                channel=channel,
                thread_ts=thread_ts,
                markdown_text=markdown,
                recipient_team_id=team_id,
                recipient_user_id=user_id,
            ),
        )
        return _ts(response, "chat.startStream")

    async def append_stream(self, channel: str, ts: str, markdown: str) -> None:
        """``chat.appendStream``: more text for a live stream."""
        await _call(
            "chat.appendStream",
            self.client.chat_appendStream(channel=channel, ts=ts, markdown_text=markdown),
        )

    async def stop_stream(
        self, channel: str, ts: str, markdown: str | None, blocks: Sequence[Block] = ()
    ) -> None:
        """``chat.stopStream``: the last text, and blocks shown under the message."""
        await _call(
            "chat.stopStream",
            self.client.chat_stopStream(
                channel=channel, ts=ts, markdown_text=markdown or None, blocks=list(blocks) or None
            ),
        )

    async def set_status(self, channel: str, thread_ts: str, status: str) -> None:
        """``assistant.threads.setStatus`` ("is thinking…"); an empty status clears it."""
        await _call(
            "assistant.threads.setStatus",
            self.client.assistant_threads_setStatus(
                channel_id=channel, thread_ts=thread_ts, status=status
            ),
        )

    async def thread_has(self, channel: str, thread_ts: str, bot: BotIdentity) -> bool:
        """Whether the bot wrote in the thread (``conversations.replies``, first page)."""
        response = await _call(
            "conversations.replies",
            self.client.conversations_replies(channel=channel, ts=thread_ts, limit=200),
        )
        messages = response.get("messages")
        if not isinstance(messages, list):
            return False
        return any(
            isinstance(m, dict)
            and (m.get("user") == bot.user_id or (bot.bot_id and m.get("bot_id") == bot.bot_id))
            for m in messages
        )


def _ts(response: AsyncSlackResponse, method: str) -> str:
    ts = response.get("ts")
    if not isinstance(ts, str) or not ts:
        raise ChannelError(f"slack {method}: no ts in the answer")
    return ts


async def quietly(call: Awaitable[None], what: str) -> None:
    """Make a cosmetic call (a status, a clean-up); a failure is logged, never raised."""
    try:
        await call
    except ChannelError as exc:
        log.debug("slack %s skipped: %s", what, exc)
