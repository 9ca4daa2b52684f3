"""Resilience along a fallback chain: backoff with full jitter, and a circuit breaker per model.

Policy lives here in one place: which errors are retried on the same model, how long to wait, and
when a model is skipped altogether.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.errors import ProviderError
from config import CircuitSettings, RetrySettings


class Backoff:
    """Waits between tries of one model."""

    def __init__(self, settings: RetrySettings, rng: random.Random | None = None) -> None:
        self._settings = settings
        self._rng = rng or random.Random()

    @property
    def attempts(self) -> int:
        """Tries per model, the first included."""
        return self._settings.attempts

    def delay(self, attempt: int, error: ProviderError) -> float | None:
        """Seconds to wait before try ``attempt + 1``, or None to move on to the next model.

        A ``retry-after`` longer than the cap means this model will not answer soon: move on.
        """
        if not error.retryable or attempt + 1 >= self._settings.attempts:
            return None
        if error.retry_after is not None:
            cap = self._settings.retry_after_cap.total_seconds()
            return error.retry_after if error.retry_after <= cap else None
        ceiling = min(
            self._settings.max_delay.total_seconds(),
            self._settings.base_delay.total_seconds() * 2**attempt,
        )
        return self._rng.uniform(0, ceiling)  # full jitter


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class CircuitBreaker:
    """Per-model breaker: opens after N consecutive failures, probes once after a cool-down."""

    def __init__(
        self, settings: CircuitSettings, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = settings.failures
        self._cooldown = settings.cooldown.total_seconds()
        self._monotonic = monotonic
        self._circuits: dict[str, _Circuit] = {}

    def allow(self, model: str) -> bool:
        """Whether a request to ``model`` may go out now (an open circuit lets one probe through)."""
        circuit = self._circuits.get(model)
        if circuit is None or circuit.opened_at is None:
            return True
        if circuit.probing or self._monotonic() - circuit.opened_at < self._cooldown:
            return False
        circuit.probing = True
        return True

    def is_open(self, model: str) -> bool:
        """Whether ``model`` is being skipped."""
        circuit = self._circuits.get(model)
        return circuit is not None and circuit.opened_at is not None

    def succeeded(self, model: str) -> None:
        """A request answered: close the circuit."""
        self._circuits.pop(model, None)

    def failed(self, model: str) -> None:
        """A request failed: count it; open (or re-open after a failed probe) at the threshold."""
        circuit = self._circuits.setdefault(model, _Circuit())
        circuit.failures += 1
        if circuit.probing or circuit.failures >= self._threshold:
            circuit.opened_at = self._monotonic()
            circuit.probing = False

    def abandoned(self, model: str) -> None:
        """A request ended without an outcome (cancelled): a probe slot opens again."""
        circuit = self._circuits.get(model)
        if circuit is not None:
            circuit.probing = False
