"""One turn: session → agent → reply stream → store, with the TTFT timeline stamped on the way."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent.clock import Clock
from agent.errors import ProviderError, TextAlreadyShownError
from agent.messages import ChatMessage, TextBlock, Usage
from agent.pricing import cost
from agent.prompt import user_message
from agent.request import TextDelta
from agent.responder import Agent, Finished, RequestSent, ToolFinished, ToolStarted, TurnInput
from agent.tools.context import ToolContext
from bot.compaction import Compactor
from bot.inbox import ref_of
from bot.ledger import DeliveryTracker, Ledger
from bot.logs import bind_turn
from bot.recall import Recall
from bot.sessions import Session, SessionPool
from bot.store.base import Store, ToolCallRecord, TurnRecord
from bot.store.ledger import InboxRef
from bot.timeline import FooterMode, Timeline, footer
from channels.base import (
    Author,
    Channel,
    ChannelError,
    InboundMessage,
    ReplyStream,
    ReportingReply,
    SessionKey,
)
from config import ModelRef, Price, Settings

log = logging.getLogger(__name__)

THINKING = "is thinking…"
INTERRUPTED_NOTE = "[interrupted]"
INTERRUPTED_NOTICE = "⏹ interrupted"
RESTARTING_NOTICE = "↻ Cut short: the bot is restarting. Please ask again in a moment."
TurnObserver = Callable[[TurnRecord, BaseException | None], None]
"""Told about every stored turn, with the error that ended it (metrics)."""


def failure_notice(error: ProviderError) -> str:
    """What the user reads when the model could not answer (kept short, no internals)."""
    if isinstance(error, TextAlreadyShownError):
        return f"⚠ The answer above is incomplete: the model failed mid-reply ({error.kind})."
    if error.kind == "auth":
        return "⚠ I can't reach the model: its credentials were refused. An admin needs to check."
    return f"⚠ Sorry, the model is unavailable right now ({error.kind}). Please try again shortly."


@dataclass
class _Turn:
    """One turn in flight: its inputs and what it produced so far (for the failure paths too)."""

    session: Session
    sent: ChatMessage
    timeline: Timeline
    warm: bool
    profile: str
    ingress_lag_ms: float | None
    text: list[str] = field(default_factory=list)
    tools: list[ToolCallRecord] = field(default_factory=list)
    model: str = ""
    fallback: bool = False
    usage: Usage = field(default_factory=Usage)
    author: Author | None = None  # who wrote the last message (budgets, /reset @user)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    settled: tuple[InboxRef, ...] = ()  # the inbox messages the stored turn answers
    tracker: DeliveryTracker | None = None  # the delivery ledger of the reply


class TurnRunner:
    """Runs a batch of messages of one session as one turn."""

    def __init__(
        self,
        *,
        settings: Settings,
        pool: SessionPool,
        store: Store,
        agent: Agent,
        channels: Mapping[str, Channel],
        clock: Clock,
        compactor: Compactor,
        observer: TurnObserver | None = None,
        ledger: Ledger | None = None,
        recall: Recall | None = None,
    ) -> None:
        self._observer = observer
        self._recall = recall
        self._ledger = ledger
        self._cut_notice = INTERRUPTED_NOTICE
        self._settings = settings
        self._pool = pool
        self._store = store
        self._agent = agent
        self._channels = channels
        self._clock = clock
        self._compactor = compactor
        self._footer: FooterMode = settings.reply.footer

    def shutting_down(self) -> None:
        """Turns cancelled from now on are cut by a shutdown: tell the user it is a restart."""
        self._cut_notice = RESTARTING_NOTICE

    async def run(self, batch: list[InboundMessage], timeline: Timeline) -> None:
        """Answer ``batch`` (messages of one session, oldest first) in one reply."""
        message = batch[-1]
        channel = self._channels[message.key.platform]
        session, warm = await self._pool.acquire(message.key)
        timeline.stamp("session_ready")
        key = message.key
        profile_name, profile = self._settings.profile_for(
            key.platform, key.scope, key.chat, message.author.id
        )
        text = "\n\n".join(m.text for m in batch)
        # The id exists before the tool context so tools (``remember``) can record their turn.
        turn_id = uuid.uuid4().hex
        tool_context = ToolContext(
            session_key=str(key),
            session_id=session.id,
            platform=key.platform,
            workspace=key.scope,
            chat=key.chat,
            user_id=message.author.id,
            turn_id=turn_id,
        )
        sent = await self._user_message(batch, text, tool_context, session)
        turn = TurnInput(
            conversation_id=session.id,
            transcript=session.transcript,
            user_message=sent,
            profile=profile,
            model_override=session.model_override,
            summary=session.summary,
            tool_context=tool_context,
        )
        stream = channel.open_reply(message)
        lag = _ingress_lag_ms(message)
        state = _Turn(
            session, sent, timeline, warm, profile_name, lag, author=message.author, id=turn_id
        )
        self._track(state, batch, stream)
        bind_turn(state.id)
        try:
            await stream.set_status(THINKING)
            finished = await self._stream_answer(turn, stream, state)
            if not timeline.has("first_visible") and timeline.has("first_token"):
                timeline.stamp("first_visible")  # the platform shows text only on finish
            tail = footer(
                self._footer,
                timeline.segments(),
                finished.usage,
                warm,
                model=state.model,
                fallback=state.fallback,
            )
            if state.tracker is not None:
                await state.tracker.finishing("".join(state.text), tail)
            await stream.finish(tail)
        except ProviderError as exc:
            log.warning("turn failed, session %s: %s", key, exc)
            await _quietly(stream.fail(failure_notice(exc)), key)
            await self._persist_partial(state, exc)
            return
        except ChannelError as exc:
            log.warning("delivery failed, session %s: %s", key, exc)
            await self._persist_partial(state, exc)
            return
        except asyncio.CancelledError:
            await _quietly(stream.fail(self._cut_notice), key)
            await self._persist_partial(state, None)
            raise
        timeline.stamp("done")
        messages = (sent, *finished.messages)
        record = _record(state, "ok", None, self._price(state))
        tracker = state.tracker
        await self._store.record_delivered_turn(
            record,
            messages,
            settled=state.settled,
            delivery=None if tracker is None else tracker.final("".join(state.text)),
        )
        self._observe(record, None)
        session.append(messages)
        if self._compactor.due(state.model, finished.prompt_tokens):
            try:
                await self._compactor.compact(session, profile.tier)
            except ProviderError as exc:
                log.warning("compaction failed, session %s: %s", key, exc)

    def _track(self, state: _Turn, batch: list[InboundMessage], stream: ReplyStream) -> None:
        """Tie the turn to its inbox messages and its reply to the delivery ledger."""
        state.settled = tuple(ref_of(m) for m in batch)
        # A reply that cannot report its messages (the console) has nothing to finish after a
        # crash: no ledger writes for it.
        if self._ledger is not None and isinstance(stream, ReportingReply):
            state.tracker = self._ledger.track(state.id, batch)
            stream.report_to(state.tracker)

    async def _user_message(
        self, batch: list[InboundMessage], text: str, context: ToolContext, session: Session
    ) -> ChatMessage:
        """What the person wrote, then the volatile context: the time, the chat metadata and the
        long-term memories recalled for it (all after the cached prefix)."""
        author = batch[-1].author
        metadata = {"channel": context.platform, "author": author.name or author.id}
        memories = (
            await self._recall.for_messages(batch, context, text, not_before=session.last_turn_at)
            if self._recall
            else []
        )
        return user_message(text, self._clock.now(), metadata, memories)

    def _price(self, state: _Turn) -> Price:
        if not state.model:
            return Price()
        return self._settings.models.model(ModelRef.parse(state.model)).price

    async def _stream_answer(self, turn: TurnInput, stream: ReplyStream, state: _Turn) -> Finished:
        timeline = state.timeline
        async for event in self._agent.respond(turn):
            match event:
                case RequestSent(model, _round, fallback):
                    timeline.stamp("request_sent")
                    state.model, state.fallback = model, fallback
                case TextDelta(text):
                    timeline.stamp("first_token")
                    state.text.append(text)
                    if await stream.append(text):
                        timeline.stamp("first_visible")
                    if state.tracker is not None:
                        await state.tracker.progress(state.text)
                case ToolStarted(_, name):
                    await stream.set_status(f"is using {name}…")
                case ToolFinished(_, name, ok, duration_ns):
                    state.tools.append(ToolCallRecord(name, ok, duration_ns))
                case Finished():
                    state.usage = event.usage
                    return event
        raise RuntimeError("agent ended a turn without Finished")

    async def _persist_partial(self, state: _Turn, error: BaseException | None) -> None:
        # Keep what was said so the conversation continues sensibly: the user's message and what
        # the model had streamed, or a marker that there was no answer (roles keep alternating).
        shown = "".join(state.text)
        if error is None:
            status, reason, note = "interrupted", None, f"{shown}\n{INTERRUPTED_NOTE}".strip()
        else:
            status = "failed_partial" if shown else "failed"
            reason = f"{type(error).__name__}: {error}"
            note = shown or "[no answer: the model call failed]"
        state.timeline.stamp("done")
        messages = (state.sent, ChatMessage("assistant", (TextBlock(note),)))
        record = _record(state, status, reason, self._price(state))
        tracker = state.tracker
        try:
            await self._store.record_delivered_turn(
                record,
                messages,
                settled=state.settled,
                delivery=None if tracker is None else tracker.final(shown, failed=True),
            )
        except Exception:
            log.exception("could not store the failed turn, session %s", state.session.key)
            return
        self._observe(record, error)
        state.session.append(messages)

    def _observe(self, record: TurnRecord, error: BaseException | None) -> None:
        if self._observer is None:
            return
        try:
            self._observer(record, error)
        except Exception:  # metrics must never cost a user their answer
            log.exception("turn observer failed")


def _record(state: _Turn, status: str, error: str | None, price: Price) -> TurnRecord:
    session = state.session
    spent = cost(state.usage, price)
    return TurnRecord(
        id=state.id,
        session_id=session.id,
        ordinal=session.turn_count + 1,
        platform=session.key.platform,
        profile=state.profile,
        model=state.model,
        warm=state.warm,
        status=status,
        created_at=datetime.now(UTC),
        segments=state.timeline.segments(),
        total_ns=state.timeline.total_ns(),
        usage=state.usage,
        error=error,
        ingress_lag_ms=state.ingress_lag_ms,
        tools=tuple(state.tools),
        cost_usd=spent.usd,
        cache_savings_usd=spent.cache_savings_usd,
        user_id=state.author.id if state.author is not None else "",
        user_name=state.author.name if state.author is not None else "",
        workspace=session.key.scope,
    )


async def _quietly(call: Awaitable[None], key: SessionKey) -> None:
    try:
        await call
    except Exception:
        log.exception("could not tell the user about a failed turn, session %s", key)


def _ingress_lag_ms(message: InboundMessage) -> float | None:
    """How long the platform took to hand us the event, when it stamped it."""
    if message.event_time is None:
        return None
    return (datetime.now(UTC) - message.event_time).total_seconds() * 1000
