"""The agent core: one turn = model calls along a fallback chain, with a tool-call loop.

The agent never sees a platform: it gets a conversation id, the transcript, the new user message and
a profile, and yields :data:`AgentEvent` values. The runtime stamps the TTFT timeline from them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from agent.errors import AllModelsFailedError, ProviderError, TextAlreadyShownError
from agent.messages import Block, ChatMessage, TextBlock, ToolResultBlock, ToolUseBlock, Usage
from agent.prompt import SUMMARY_INSTRUCTIONS, summary_request, system_text
from agent.providers.base import ModelProvider
from agent.request import ModelRequest, ResponseDone, TextDelta, ToolCallRequest, ToolSpec
from agent.routing import Backoff, CircuitBreaker
from agent.tools.context import NO_CONTEXT, ToolContext
from agent.tools.registry import ToolExecutor, ToolRegistry
from config import ModelRef, ModelsSettings, Profile

log = logging.getLogger(__name__)

ROUND_LIMIT_RESULT = "error: tool round limit reached for this turn; answer with what you have"


@dataclass(frozen=True, slots=True)
class TurnInput:
    """Everything the agent needs for one turn."""

    conversation_id: str
    transcript: tuple[ChatMessage, ...]
    user_message: ChatMessage
    profile: Profile
    model_override: str | None = None
    summary: str = ""
    tool_context: ToolContext = NO_CONTEXT  # where tool calls of this turn come from


@dataclass(frozen=True, slots=True)
class RequestSent:
    """A model request is about to be written (``model`` is ``provider:model``).

    ``fallback`` marks a model that is not the first of its chain.
    """

    model: str
    round: int
    fallback: bool = False


@dataclass(frozen=True, slots=True)
class ToolStarted:
    """The model asked for a tool; it is running."""

    call_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolFinished:
    """A tool call ended."""

    call_id: str
    name: str
    ok: bool
    duration_ns: int


@dataclass(frozen=True, slots=True)
class Finished:
    """The turn's answer is complete; ``messages`` follow the user message in the transcript."""

    usage: Usage
    model: str
    stop_reason: str
    messages: tuple[ChatMessage, ...]
    prompt_tokens: int = 0  # the last request's prompt size (what compaction watches)


AgentEvent = RequestSent | TextDelta | ToolStarted | ToolFinished | Finished


class UnknownModelError(ValueError):
    """A ``/model`` argument names neither a tier nor a configured ``provider:model``."""


class Agent:
    """Answers turns with the configured providers and tools."""

    def __init__(
        self,
        providers: Mapping[str, ModelProvider],
        models: ModelsSettings,
        tools: ToolRegistry,
        executor: ToolExecutor,
        *,
        max_tool_rounds: int,
        breaker: CircuitBreaker,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._providers = providers
        self._models = models
        self._tools = tools
        self._executor = executor
        self._max_tool_rounds = max_tool_rounds
        self._backoff = Backoff(models.retry)
        self._breaker = breaker
        self._sleep = sleep

    def chain(self, tier_or_model: str) -> list[ModelRef]:
        """The fallback chain for a tier name or a single ``provider:model``.

        Raises:
            UnknownModelError: when it is neither.
        """
        if tier_or_model in self._models.tiers:
            return self._models.chain(tier_or_model)
        try:
            ref = ModelRef.parse(tier_or_model)
        except ValueError as exc:
            raise UnknownModelError(str(exc)) from exc
        if ref.provider not in self._providers:
            raise UnknownModelError(f"unknown provider {ref.provider!r}")
        return [ref]

    async def respond(self, turn: TurnInput) -> AsyncIterator[AgentEvent]:
        """Run one turn, yielding events; raises :class:`ProviderError` when no answer came."""
        chain = self.chain(turn.model_override or turn.profile.tier)
        tools = self._tools.specs(turn.profile.tools)
        system = system_text(turn.profile.instructions, turn.summary)
        history = (*turn.transcript, turn.user_message)
        new_messages: list[ChatMessage] = []
        usage = Usage()
        for round_ in range(self._max_tool_rounds + 1):
            blocks: list[Block] = []
            calls: list[ToolCallRequest] = []
            done: ResponseDone | None = None
            async for event in self._call_chain(
                chain=chain, round_=round_, system=system, tools=tools, history=history, turn=turn
            ):
                match event:
                    case RequestSent():
                        yield event
                    case TextDelta(text):
                        _append_text(blocks, text)
                        yield event
                    case ToolCallRequest():
                        calls.append(event)
                    case ResponseDone():
                        done = event
            assert done is not None  # _call_chain always ends with one or raises
            usage += done.usage
            model = done.model
            if round_ == self._max_tool_rounds:
                calls = []  # the model was told the limit; further calls are dropped
            blocks += [ToolUseBlock(c.id, c.name, c.arguments) for c in calls]
            reply = ChatMessage("assistant", tuple(blocks))
            new_messages.append(reply)
            history = (*history, reply)
            if not calls:
                yield Finished(
                    usage, model, done.stop_reason, tuple(new_messages), done.usage.input_tokens
                )
                return
            for call in calls:
                yield ToolStarted(call.id, call.name)
            results, finished = await self._run_tools(calls, turn, round_)
            for ended in finished:
                yield ended
            history = (*history, results)
            new_messages.append(results)
        raise AssertionError("unreachable: the last round never runs tools")  # pragma: no cover

    async def summarize(
        self, messages: Sequence[ChatMessage], previous: str, tier: str, conversation_id: str
    ) -> str:
        """A summary of ``messages`` (and of the ``previous`` summary) written by ``tier``.

        Raises:
            ProviderError: when no model of the tier answered.
        """
        request = ChatMessage.user_text(summary_request(messages, previous))
        text: list[str] = []
        calls = self._call_chain(
            chain=self.chain(tier),
            round_=0,
            system=SUMMARY_INSTRUCTIONS,
            tools=(),
            history=(request,),
            turn=TurnInput(conversation_id, (), request, Profile(tools=[])),
        )
        async for event in calls:
            if isinstance(event, TextDelta):
                text.append(event.text)
        return "".join(text).strip()

    async def _call_chain(
        self,
        *,
        chain: Sequence[ModelRef],
        round_: int,
        system: str,
        tools: tuple[ToolSpec, ...],
        history: tuple[ChatMessage, ...],
        turn: TurnInput,
    ) -> AsyncIterator[RequestSent | TextDelta | ToolCallRequest | ResponseDone]:
        attempts: list[tuple[str, ProviderError]] = []
        for position, ref in enumerate(chain):
            name = str(ref)
            if not self._breaker.allow(name):
                log.info("skipping %s: circuit open (conversation %s)", name, turn.conversation_id)
                attempts.append(
                    (name, ProviderError("circuit open", kind="circuit_open", retryable=True))
                )
                continue
            settings = self._models.model(ref)
            request = ModelRequest(
                model=ref.model,
                system=system,
                tools=tools,
                messages=history,
                cache_key=turn.conversation_id,
                cache_ttl=self._models.cache_ttl,
                max_output_tokens=settings.max_output_tokens or self._models.max_output_tokens,
            )
            for attempt in range(self._backoff.attempts):
                shown = False
                yield RequestSent(name, round_, fallback=position > 0)
                try:
                    async for event in self._providers[ref.provider].stream(request):
                        shown = shown or isinstance(event, TextDelta)
                        yield event
                except ProviderError as exc:
                    self._breaker.failed(name)
                    if shown:
                        raise TextAlreadyShownError(
                            f"{name} failed after streaming part of the answer: {exc}",
                            kind=exc.kind,
                            retryable=False,
                            status=exc.status,
                        ) from exc
                    attempts.append((name, exc))
                    delay = self._backoff.delay(attempt, exc)
                    log.warning(
                        "model %s failed (%s, try %d), conversation %s; %s",
                        name,
                        exc,
                        attempt + 1,
                        turn.conversation_id,
                        "next model" if delay is None else f"retrying in {delay:.2f} s",
                    )
                    if delay is None:
                        break
                    await self._sleep(delay)
                    continue
                except BaseException:
                    self._breaker.abandoned(name)
                    raise
                self._breaker.succeeded(name)
                return
        raise AllModelsFailedError(attempts)

    async def _run_tools(
        self, calls: list[ToolCallRequest], turn: TurnInput, round_: int
    ) -> tuple[ChatMessage, list[ToolFinished]]:
        outcomes = await self._executor.run_all(calls, turn.profile.tools, turn.tool_context)
        # Before the last round, tell the model that no further tool calls will run.
        last_chance = round_ == self._max_tool_rounds - 1
        results: list[Block] = []
        finished: list[ToolFinished] = []
        for call, outcome in zip(calls, outcomes, strict=True):
            result = outcome.result
            if last_chance:
                result = ToolResultBlock(
                    result.tool_use_id, f"{result.content}\n{ROUND_LIMIT_RESULT}", result.is_error
                )
            results.append(result)
            finished.append(
                ToolFinished(call.id, call.name, not result.is_error, outcome.duration_ns)
            )
        return ChatMessage("user", tuple(results)), finished


def _append_text(blocks: list[Block], text: str) -> None:
    if blocks and isinstance(blocks[-1], TextBlock):
        blocks[-1] = TextBlock(blocks[-1].text + text)
    else:
        blocks.append(TextBlock(text))
