"""A simulated provider: how long a model fake waits before its first token and between tokens.

Real providers charge time for every input token they have to prefill and almost nothing for a
prompt-cache hit, then stream the answer at a steady token rate. Attached to a model fake, a
:class:`SimulatedLatency` makes the fake wait::

    first token = base + prefill per uncached input token × uncached + cached cost × cache reads
    each later delta = its tokens / output rate

so warm sessions and cache hits show up in TTFT as they would against a real provider. Uncached
input is what the provider must prefill: plain input plus cache writes (Anthropic's
``input_tokens + cache_creation_input_tokens``; OpenAI's ``prompt_tokens - cached_tokens``).

Every model call leaves a :class:`SimulatedCall` in :attr:`SimulatedLatency.calls`, with what was
simulated and how long the fake actually waited (asyncio timers fire late under load), so a
benchmark can subtract exactly the time the fake spent standing in for the model.

Usage::

    fake = FakeAnthropic()
    fake.latency = SimulatedLatency(LatencyModel(base_s=0.3, prefill_s_per_token=0.0001))
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from .script import estimate_tokens, last_user_texts

LABEL_LIMIT = 80
"""Characters of the last user text kept as a call's label."""
_TAG = re.compile(r"\[[^\]]{1,60}\]")


@dataclass(frozen=True)
class LatencyModel:
    """Timing of a simulated provider; all zero means "answer at once".

    Attributes:
        base_s: Fixed time to first token (network, queueing, scheduling at the provider).
        prefill_s_per_token: Extra time to first token per uncached input token.
        cached_s_per_token: Extra time to first token per cache-read input token.
        output_tokens_per_s: Streaming rate after the first token; 0 streams without pauses.
    """

    base_s: float = 0.0
    prefill_s_per_token: float = 0.0
    cached_s_per_token: float = 0.0
    output_tokens_per_s: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")

    def first_token_s(self, uncached_tokens: int, cached_tokens: int) -> float:
        """Seconds from the request to the first token."""
        return (
            self.base_s
            + uncached_tokens * self.prefill_s_per_token
            + cached_tokens * self.cached_s_per_token
        )

    def delta_s(self, tokens: int) -> float:
        """Seconds it takes to generate ``tokens`` more output tokens."""
        if self.output_tokens_per_s <= 0:
            return 0.0
        return tokens / self.output_tokens_per_s

    def scaled(self, factor: float) -> LatencyModel:
        """The same provider ``factor`` times as fast to answer (quick benchmark runs)."""
        return LatencyModel(
            base_s=self.base_s * factor,
            prefill_s_per_token=self.prefill_s_per_token * factor,
            cached_s_per_token=self.cached_s_per_token * factor,
            output_tokens_per_s=self.output_tokens_per_s / factor if factor else 0.0,
        )

    def as_dict(self) -> dict[str, float]:
        """The parameters, for result files."""
        return asdict(self)


@dataclass
class SimulatedCall:
    """One model call as the simulated provider timed it.

    Attributes:
        label: The bracketed tag in the last user text (e.g. ``[t17#3]``), else its first
            characters; benchmarks tag their messages to match calls with turns.
        uncached_tokens: Input tokens that had to be prefilled.
        cached_tokens: Input tokens read from the prompt cache.
        first_token_s: The simulated time to first token.
        slept_s: How long the fake actually waited for it (``>= first_token_s``).
        until_ns: ``time.perf_counter_ns()`` when the wait ended. It is CLOCK_MONOTONIC on
            Linux, the same clock in every process, so it can be set against a client's stamps.
        emitted_ns: ``time.perf_counter_ns()`` when the fake had written the first content
            delta of a streamed answer (0 if it streamed none): the first token left the
            provider.
    """

    label: str
    uncached_tokens: int
    cached_tokens: int
    first_token_s: float
    slept_s: float
    until_ns: int = 0
    emitted_ns: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The call as plain data."""
        return asdict(self)


def mark_emitted(call: SimulatedCall | None) -> None:
    """Note that the first content delta of ``call``'s answer was written (once)."""
    if call is not None and not call.emitted_ns:
        call.emitted_ns = time.perf_counter_ns()


Prefill = Callable[[], Awaitable[SimulatedCall]]
"""A model fake's wait for the first token of one call (bound to its prompt and usage)."""


class SimulatedLatency:
    """The hook a model fake awaits before its first token and before each later delta.

    Args:
        model: The timing parameters; :attr:`model` may be replaced between calls.
        keep: How many recent calls :attr:`calls` keeps (a soak makes tens of thousands).
    """

    def __init__(self, model: LatencyModel, *, keep: int = 100_000) -> None:
        self.model = model
        self.calls: deque[SimulatedCall] = deque(maxlen=keep)

    async def first_token(
        self, body: dict[str, Any], *, uncached: int, cached: int
    ) -> SimulatedCall:
        """Wait the simulated time to first token of a request with this prompt and usage.

        Returns the recorded call; the fake sets its ``emitted_ns`` with :func:`mark_emitted`.
        """
        target = self.model.first_token_s(uncached, cached)
        started = time.perf_counter_ns()
        if target > 0:
            await asyncio.sleep(target)
        until = time.perf_counter_ns()
        slept = (until - started) / 1e9
        call = SimulatedCall(label_of(body), uncached, cached, target, slept, until)
        self.calls.append(call)
        return call

    async def next_delta(self, text: str) -> None:
        """Wait the time the model takes to generate ``text`` (a delta after the first)."""
        pause = self.model.delta_s(estimate_tokens(len(text)))
        if pause > 0:
            await asyncio.sleep(pause)

    def take_calls(self) -> list[SimulatedCall]:
        """The recorded calls, oldest first; the record is emptied."""
        taken = list(self.calls)
        self.calls.clear()
        return taken


def label_of(body: dict[str, Any]) -> str:
    """The label of a request: the first ``[tag]`` of its last user text, else the text's start."""
    texts = last_user_texts(body.get("messages"))
    if not texts:
        return ""
    found = _TAG.search(texts[0])
    return found.group(0) if found else texts[0][:LABEL_LIMIT]
