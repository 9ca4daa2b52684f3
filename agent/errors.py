"""The agent's error tree. Providers translate SDK exceptions into these in one place each."""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent core raises."""


class ProviderError(AgentError):
    """A model call failed.

    Attributes:
        kind: short machine-readable reason (``rate_limit``, ``overloaded``, ``auth``, ``bad_request``,
            ``timeout``, ``connection``, ``server``, ``stream``).
        retryable: whether the same request may succeed if tried again later.
        retry_after: seconds the provider asked us to wait, when it said so.
        status: HTTP status when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class AllModelsFailedError(ProviderError):
    """Every model of the fallback chain failed; ``attempts`` lists ``(model, error)`` in order."""

    def __init__(self, attempts: list[tuple[str, ProviderError]]) -> None:
        last = attempts[-1][1]
        summary = "; ".join(f"{model}: {err.kind}" for model, err in attempts)
        super().__init__(
            f"all models failed ({summary})",
            kind=last.kind,
            retryable=last.retryable,
            retry_after=last.retry_after,
            status=last.status,
        )
        self.attempts = attempts


class TextAlreadyShownError(ProviderError):
    """A model failed after part of its answer was streamed; it is not silently regenerated."""


class ToolError(AgentError):
    """A tool could not run; the message goes back to the model as an error result."""
